"""The early stopping check: how well each evaluation's ranking foretells the final one, ASHA replayed over
a sweep that ran without early stopping, and the seed-aware race replayed beside it."""

from __future__ import annotations

import hashlib
import html

import pandas as pd

from stats.asha import replay_asha, rung_correlations
from analysis.conclusions import asha_sentences, race_sentence, short
from analysis.load import Sweep
from stats.race import compare_rules, replay_race
from analysis.report._page import Page
from stats.contrasts import usable_trials
from record.design import level_label


def _evaluation_results(sweep: Sweep, metric: str) -> pd.DataFrame:
    """trial_id, evaluation, value and timestamp of every evaluation of the metric, in arrival order."""
    h = sweep.histories
    values = h[h["metric"] == metric][["run_id", "trial_id", "step", "value", "timestamp"]]
    counter = h[h["metric"] == "evaluation"][["run_id", "step", "value"]].rename(columns={"value": "evaluation"})
    if counter.empty:  # older sweeps: number the evaluations of each trial in step order
        values = values.sort_values(["run_id", "step"])
        values["evaluation"] = values.groupby("run_id").cumcount() + 1
    else:
        values = values.merge(counter, on=["run_id", "step"], how="left")
    values["evaluation"] = values["evaluation"].astype(int)
    return values.sort_values(["timestamp", "evaluation"]).reset_index(drop=True)


def _canonical_order(results: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """The results in an order they could arrive in when every trial runs at once at the same speed:
    evaluation by evaluation, and within one in a fixed pseudo-random order of the trials, by a hash of
    their run names (their swept values and seed). The sweep's own arrival order depends on scheduling, and
    Tune's trial ids are drawn afresh by every sweep, so a replay in either differs between two runs of one
    sweep whose every FID is the same; an order by the names themselves would not, but it sorts the main
    job's best configuration (width 32) first, and ASHA's decisions depend on the order (docs/statistics.md, "Early
    stopping, replayed"), so it would favour whatever sorts first."""
    names = trials.set_index("trial_id")["run_name"].astype(str)
    key = names.map(lambda n: hashlib.sha256(n.encode()).hexdigest())
    return (results.assign(order=results["trial_id"].map(key))
            .sort_values(["evaluation", "order", "trial_id"], kind="stable").drop(columns="order"))


def _early_stopping_check(sweep: Sweep, factors: list[str], best: pd.DataFrame):
    """Rank correlations at every evaluation against the final metric, the replayed ASHA (for sweeps that
    ran without early stopping), and their sentences."""
    metric, trials = sweep.metric, sweep.trials
    results = _evaluation_results(sweep, metric)
    finished = usable_trials(trials, metric).set_index("trial_id")[metric]
    correlations = rung_correlations(results, finished)
    es = (
        dict(sweep.design.early_stopping) if sweep.design else {"type": sweep.params.get("spec.early_stopping", "none")}
    )
    replay, best_label, best_stopped = None, None, None
    if es.get("type") in (None, "none") and not results.empty and results["evaluation"].max() > 1:
        es.setdefault("grace_period", 1)
        es["grace_period"] = es.get("grace_period") or 1
        es["reduction_factor"] = es.get("reduction_factor") or 2
        canonical = _canonical_order(results, trials)
        replay = replay_asha(canonical, sweep.mode, int(es["grace_period"]), float(es["reduction_factor"]))
        if not best.empty:
            top = best.iloc[0]
            runs = trials
            for f in factors:
                runs = runs[runs[f].map(level_label) == level_label(top[f])]
            best_label = ", ".join(f"{short(f)}={level_label(top[f])}" for f in factors) or "the base config"
            best_stopped = (sum(1 for t in runs["trial_id"] if t in replay.stopped), len(runs))
    sentences = asha_sentences(correlations, es, replay, best_label, best_stopped)
    rules = None
    if replay is not None and factors and len(best) > 1:
        rules = _race_beside_asha(sweep, factors, best, canonical, replay, es)
        sentences.append(race_sentence(rules, int(es["grace_period"]), float(es["reduction_factor"])))
    return correlations, replay, sentences, rules


def _race_beside_asha(sweep: Sweep, factors: list[str], best: pd.DataFrame, results: pd.DataFrame, replay,
                      es: dict) -> pd.DataFrame:
    """The seed-aware race (`stats.race`) replayed over the same histories at ASHA's rungs below the
    last, beside the replayed ASHA, both judged by the final fit."""
    def label(row) -> str:
        return ", ".join(f"{short(f)}={level_label(row[f])}" for f in factors)

    configuration = {str(r["trial_id"]): label(r) for _, r in sweep.trials.iterrows()}
    rungs = [int(r) for r in replay.rungs if r < results["evaluation"].max()]
    min_effect = sweep.design.min_effect if sweep.design else None
    race = replay_race(results.assign(trial_id=results["trial_id"].astype(str)), configuration, sweep.metric,
                       sweep.mode, rungs, min_effect)
    return compare_rules({str(t): e for t, e in replay.stopped.items()}, replay.saved_fraction, race, configuration,
                         best, [label(r) for _, r in best.iterrows()], sweep.mode, min_effect)


def early_stopping_tables(page: Page, correlations: pd.DataFrame, replay, sentences: list[str],
                          rules: pd.DataFrame | None) -> None:
    """The tables of `_early_stopping_check`'s results: the rank correlations, and ASHA beside the race."""
    if not correlations.empty or replay is not None:
        page.add_table("early_stopping", "Early stopping check: rank correlation with the final metric", correlations,
                       note="<p>" + html.escape(" ".join(sentences)) + "</p>")
    if rules is not None:
        page.add_table("early_stopping_rules",
                       "Early stopping replayed: ASHA on single runs beside the race on configurations",
                       rules, note="<p>Both rules replayed over this sweep's histories with every run at once, judged "
                                   "by the final fit: <i>near-best</i> configurations ended within min_effect (default "
                                   "10%) of the best final mean.</p>")
