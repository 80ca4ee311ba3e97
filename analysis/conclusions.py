"""Plain sentences from the statistics: one per comparison, the best configurations, where the variance
comes from, whether early stopping could be trusted, and how our figures stand beside published ones."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.asha import GRACE_CORRELATION_WARNING, RELIABLE_CORRELATION, AshaReplay
from analysis.design import Factor, PublishedFigure, level_label, variant_settings
from analysis.stats import (
    ALPHA, BETTER, NEEDS_SEEDS, WORSE, Effect, EffectAnalysis, Interval, _decimals, format_interval, format_number,
    interval, usable_trials,
)

__all__ = ["Scorecard", "asha_sentences", "best_set_sentence", "effect_sentence", "effect_table", "interacting",
           "interaction_sentence", "scorecard", "significance_note", "variance_sentence"]


def short(name: str) -> str:
    """`model.g_width` -> `g_width`; a variant's label stays as it is."""
    return name.split(".")[-1]


def _range(low: float, high: float, d: int) -> str:
    return f"{format_number(low, d)} to {format_number(high, d)}"


def effect_sentence(e: Effect, metric: str, depends_on: list[str] = ()) -> str:
    """One comparison in words; `depends_on` names the parameters it has a real interaction with, whose
    level changes this effect (the average over them then hides that)."""
    d = _decimals((e.high - e.low) / 2, e.estimate)
    caveat = (f" Its size depends on {' and '.join(short(p) for p in depends_on)} (a real interaction, below)."
              if depends_on else "")
    head = f"{short(e.parameter)} {level_label(e.baseline)} -> {level_label(e.level)}"
    over = f"; averaged over {', '.join(short(p) for p in e.averaged_over)}" if e.averaged_over else ""
    runs = f"{e.n_level} vs {e.n_baseline} runs{over}"
    if e.verdict == NEEDS_SEEDS:
        return (f"{head}: {metric} {format_number(e.estimate, d if math.isfinite(e.estimate) else 2)} "
                f"({runs}), but a configuration has a single run: needs >= 2 seeds to tell an effect from noise.")
    if e.verdict in (BETTER, WORSE):
        verb = "lowers" if e.estimate < 0 else "raises"
        low, high = sorted((abs(e.low), abs(e.high)))
        return (f"{head} {verb} {metric} by {format_number(abs(e.estimate), d)} (95% CI {_range(low, high, d)}; "
                f"{runs}): real, {e.verdict} (Holm-adjusted p = {e.p_adjusted:.2g}).{caveat}")
    uncorrected = (" (this interval alone excludes 0; with every comparison of the report corrected for, the "
                   "difference is within noise)" if e.low > 0 or e.high < 0 else "")
    return (f"{head}: no detectable difference ({metric} {'+' if e.estimate >= 0 else ''}"
            f"{format_number(e.estimate, d)}, 95% CI {_range(e.low, e.high, d)}{uncorrected}; {runs}; "
            f"could have detected about {format_number(e.detectable, _decimals(e.detectable, e.detectable))})."
            f"{caveat}")


def interacting(analysis: EffectAnalysis, parameter: str) -> list[str]:
    """The parameters `parameter` has a real (Holm-significant) interaction with."""
    out = []
    for e in analysis.interactions:
        p, q = e.parameter.split(" x ")
        if e.verdict == "interaction" and parameter in (p, q):
            other = q if parameter == p else p
            if other not in out:
                out.append(other)
    return out


def interaction_sentence(e: Effect, metric: str) -> str:
    d = _decimals((e.high - e.low) / 2, e.estimate)
    p, q = e.parameter.split(" x ")  # the interaction's two parameters
    what = (f"{short(p)} {level_label(e.baseline[0])} -> {level_label(e.level[0])} changes {metric} by "
            f"{format_number(e.estimate, d)} more when {short(q)} is {level_label(e.level[1])} than when it is "
            f"{level_label(e.baseline[1])}")
    if e.verdict == NEEDS_SEEDS:
        return f"Largest two-way interaction: {what}; with single runs it cannot be told from noise."
    real = "a real interaction" if e.verdict == "interaction" else "within noise"
    return (f"Largest two-way interaction: {what} (95% CI {_range(e.low, e.high, d)}): {real} "
            f"(Holm-adjusted p = {e.p_adjusted:.2g}).")


def effect_table(analysis: EffectAnalysis) -> pd.DataFrame:
    rows = []
    for e in analysis.effects + analysis.interactions:
        d = _decimals((e.high - e.low) / 2, e.estimate)
        rows.append({
            "comparison": (f"{short(e.parameter)} {level_label(e.baseline)} -> {level_label(e.level)}"
                           if e.kind == "effect" else
                           " x ".join(f"{short(p)} {level_label(b)} -> {level_label(a)}" for p, a, b in
                                      zip(e.parameter.split(" x "), e.level, e.baseline)) + " (interaction)"),
            "difference": format_number(e.estimate, d), "95% CI": _range(e.low, e.high, d),
            "runs": f"{e.n_level} vs {e.n_baseline}", "method": e.method,
            "averaged over": ", ".join(short(p) for p in e.averaged_over),
            "p": f"{e.p:.2g}" if math.isfinite(e.p) else "-",
            "Holm p": f"{e.p_adjusted:.2g}" if math.isfinite(e.p_adjusted) else "-",
            "detectable": format_number(e.detectable, _decimals(e.detectable, e.detectable)), "verdict": e.verdict,
        })
    return pd.DataFrame(rows)


def best_set_sentence(table: pd.DataFrame, params: list[str], metric: str) -> str:
    if table.empty:
        return f"No trial finished with a finite {metric}: nothing to rank."
    top = table.iloc[0]
    config = lambda row: ", ".join(f"{short(p)}={level_label(row[p])}" for p in params) or "the base config"  # noqa: E731
    cell = format_interval(Interval(top["mean"], top["low"], top["high"], int(top["n"]), top["interval"]))
    if len(table) == 1:  # e.g. a partial sweep: no other configuration has finished yet
        return f"Only one configuration has finished runs ({config(top)}, {metric} {cell}): nothing to rank it against."
    if table["in_best_set"].isna().any():
        return (f"Best configuration: cannot be told from noise with one run per configuration (the best single run: "
                f"{config(top)}, {metric} {cell}). Run at least 2 seeds to know which configurations tie.")
    kept = table[table["in_best_set"] == True]  # noqa: E712  (object column)
    names = "; ".join(f"{config(r)} ({format_interval(Interval(r['mean'], r['low'], r['high'], int(r['n']), r['interval']))})"
                      for _, r in kept.iterrows())
    if len(kept) == 1:
        return f"Best configuration: {names}, distinguishable from every other at 95%."
    return (f"Best configurations: {len(kept)} of {len(table)} cannot be told apart at 95% (Gupta's subset selection): "
            f"{names}. Any of them may be the best; the order among them is noise.")


def variance_sentence(vc: dict | None, metric: str, uncertainty: str | None) -> str:
    if vc is None:
        return f"Seed-to-seed spread of {metric}: unknown (no configuration has two finished runs)."
    d = _decimals(vc["seed_sd"] / 2, vc["seed_sd"])
    text = (f"Seed-to-seed SD of the final {metric}: {format_number(vc['seed_sd'], d)} "
            f"(pooled over configurations, {vc['seed_df']:.0f} degrees of freedom)")
    if "sampling_sd" in vc:
        text += (f"; evaluation-sampling SD ({uncertainty}): {format_number(vc['sampling_sd'], d)}, so retraining with "
                 f"a new seed moves {metric} {vc['ratio']:.1f} times more than redrawing the samples of one model")
    return text + "."


def asha_sentences(correlations: pd.DataFrame, early_stopping: dict, replay: AshaReplay | None,
                   best_label: str | None, best_stopped: tuple[int, int] | None) -> list[str]:
    """Rank correlation at the grace rung (with a warning below GRACE_CORRELATION_WARNING) and, for a sweep
    that ran without early stopping, what a replayed ASHA would have done."""
    out = []
    grace = int(early_stopping.get("grace_period") or 1)
    rf = early_stopping.get("reduction_factor") or 2
    if not correlations.empty:
        at = correlations.set_index("evaluation")
        if grace in at.index:
            rho, n = at.loc[grace, "rho"], int(at.loc[grace, "trials"])
            text = (f"Early stopping: at the grace rung (evaluation {grace}) the rank correlation with the final "
                    f"metric is {rho:.2f} (Spearman, {n} trials that finished)")
            if rho < GRACE_CORRELATION_WARNING:
                later = correlations[(correlations["evaluation"] > grace) & (correlations["rho"] >= RELIABLE_CORRELATION)]
                hint = (f"; a grace period of {int(later['evaluation'].iloc[0])} evaluations (rho "
                        f"{later['rho'].iloc[0]:.2f}) would rank reliably" if not later.empty else
                        "; no evaluation before the last ranks reliably, so run without early stopping")
                text += f": below {GRACE_CORRELATION_WARNING}, so early stopping is unreliable for this study{hint}."
            else:
                text += "."
            out.append(text)
    if replay is not None:
        text = (f"Replayed ASHA (grace {grace}, reduction factor {rf:g}) over these histories would have stopped "
                f"{len(replay.stopped)} trials and saved {replay.saved_fraction:.0%} of the evaluations")
        if best_label and best_stopped is not None:
            stopped, runs = best_stopped
            fate = ("kept all its runs" if stopped == 0 else
                    f"lost {stopped} of its {runs} runs to early stopping")
            text += f"; the best configuration by final mean ({best_label}) would have {fate}"
        out.append(text + ".")
    return out


@dataclass
class Scorecard:
    table: pd.DataFrame
    sentences: list[str]


def _figure_trials(trials: pd.DataFrame, params: dict, factors: list[Factor]) -> pd.DataFrame:
    """The trials of a published figure's configuration. Keys that a variant factor sets are matched as a
    whole level, the figure's unset keys at their base values: a figure of the level `label_dim: 64` does
    not claim the trials of the level `epochs: 200`, though those also run with label_dim 64."""
    match, direct = trials, dict(params)
    for f in factors:
        if not f.variant or f.name not in trials or not set(f.keys) & set(params):
            continue
        wanted = {k: level_label(params.get(k, (f.defaults or {}).get(k))) for k in f.keys}
        levels = [lv for lv in f.levels or [] if wanted == {
            k: level_label({**(f.defaults or {}), **variant_settings(lv)}.get(k)) for k in f.keys}]
        if not levels:
            return trials.iloc[0:0]
        match = match[match[f.name].map(level_label) == level_label(levels[0])]
        for k in f.keys:
            direct.pop(k, None)
    for k, v in direct.items():
        if k not in trials:
            return trials.iloc[0:0]
        match = match[match[k].map(level_label) == level_label(v)]
    return match


def scorecard(trials: pd.DataFrame, figures: list[PublishedFigure], *, extractor: str, final_samples: int,
              dataset: str | None, factors: list[Factor] = ()) -> Scorecard:
    """Published figures beside ours: our mean and 95% interval over the runs of the same configuration,
    and whether the published value lies inside it, unless the two cannot be compared. `factors`: the
    design's, so that a figure of a variant's level is matched to that level's trials alone."""
    rows, notes = [], []
    for f in figures:
        match = _figure_trials(trials, f.params, list(factors))
        config = ", ".join(f"{short(k)}={level_label(v)}" for k, v in f.params.items())
        column = f"best_{f.metric}" if f.statistic == "best" else f.metric  # compare like with like
        ours = interval(usable_trials(match, column)[column]) if column in match else interval([])
        published = f"{f.value:g}" + (f" ± {f.spread:g}" if f.spread is not None else "")
        reasons = []
        if ours.n == 0:
            verdict = "not run at this scale" if match.empty else "no finished run"
        else:
            if f.extractor and f.extractor != extractor:
                reasons.append(f"measured with {f.extractor}, ours with the {extractor} extractor")
            if f.dataset and dataset and f.dataset != dataset:
                reasons.append(f"published on {f.dataset}, ours on {dataset}")
            if reasons:
                verdict = "not comparable: " + "; ".join(reasons)
            elif ours.n < 2:
                verdict = "one run: no interval to compare against"
            elif ours.low <= f.value <= ours.high:
                verdict = "published value inside our 95% interval"
            else:
                verdict = f"published value outside our 95% interval (ours {'higher' if ours.mean > f.value else 'lower'})"
        samples = f"{f.samples or 'not stated'} / {final_samples}"
        if ours.n and f.samples and f.samples != final_samples and not reasons:
            verdict += f"; sample counts differ ({f.samples} vs {final_samples}), which biases FID-type metrics"
        metric = f"{f.metric} (best over training)" if f.statistic == "best" else f.metric
        rows.append({"configuration": config, "metric": metric, "published": published,
                     "ours (mean ± 95% CI (n))": format_interval(ours) if ours.n else "-",
                     "samples (study / ours)": samples, "verdict": verdict, "source": f.source})
    table = pd.DataFrame(rows)
    if not table.empty:
        comparable = table[table["verdict"].str.startswith("published value")]
        inside = table["verdict"].str.startswith("published value inside").sum()
        blocked = table["verdict"].str.startswith("not comparable").sum()
        absent = table["verdict"].isin(["not run at this scale", "no finished run"]).sum()
        text = f"Published figures: {len(table)} listed"
        if absent:
            text += f"; {absent} belong to configurations without a finished run here"
        if len(comparable):
            text += f"; {inside} of {len(comparable)} comparable ones lie inside our 95% intervals"
        if blocked:
            text += f"; {blocked} cannot be compared (different feature extractor or dataset), so we do not compare them"
        notes.append(text + ".")
    return Scorecard(table, notes)


def significance_note(family: int) -> str:
    return (f"Verdicts: Welch t-tests (contrasts of configuration means averaged over the other parameters), "
            f"Holm-corrected over the {family} comparisons of this report at family-wise {ALPHA:.0%}; \"could have "
            f"detected\" is the difference found with 80% power at the Bonferroni level.")
