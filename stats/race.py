"""Seed-aware early stopping: a race over configurations, decided on all of a configuration's seeds at once.

ASHA stops single runs: at a rung it compares one seed's metric with the others', so a contender can be
stopped on one unlucky seed, and a configuration's mean then mixes rungs. The race rule instead looks at
a rung only once every live run has reached it (runs that get there first wait), and then, on that
rung's values:

- the incumbent is the configuration with the best mean there (on the analysis scale: log for FID);
- every other configuration is tested against it with the report's model (`stats.fit.fit_design`
  on one mean per configuration; the contrast of two configurations is Student's t on their runs,
  HC2 / Bell-McCaffrey in general): it is stopped, all of its seeds together, when a one-sided test
  shows it worse than the incumbent by more than the margin (`min_effect`, default 10% of the
  incumbent's mean), at this rung's share of the 5% (the power family of `stats.adaptive.alpha_at`
  over the rungs), Bonferroni over the configurations tested.

A false stop is stopping a configuration whose true mean at that rung is within the margin of the
incumbent's; summed over the rungs the chance of any is at most 5% (union bound), however the earlier
rungs steered the race. A configuration with a single run at the rung is never stopped.
`replay_race` runs the rule over stored histories; the report sets it beside a replayed ASHA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import scipy.stats

from stats.adaptive import alpha_at
from stats.layout import DEFAULT_MIN_EFFECT, model_difference
from record.status import Status

__all__ = ["RaceReplay", "RaceStep", "compare_rules", "race_step", "replay_race"]


@dataclass
class RaceStep:
    incumbent: str | None  # the configuration with the best mean at the rung
    stopped: dict[str, float]  # configuration -> one-sided p of "worse than the incumbent by more than the margin"
    level: float  # the share of the 5% this rung spent


def race_step(values: dict[str, list[float]], metric: str, mode: str, *, rung: int, rungs: int,
              min_effect: float | None = None) -> RaceStep:
    """One rung of the race: `values` holds each live configuration's runs' metric at this rung (rung
    `rung` of `rungs`, 1-based); returns the incumbent and the configurations to stop."""
    from stats.fit import fit_design

    level = alpha_at(rung, rungs)
    rows = [{"configuration": c, "status": Status.COMPLETED, metric: float(v)}
            for c, vs in values.items() for v in vs if v is not None and math.isfinite(v)]
    if len({r["configuration"] for r in rows}) < 2:
        return RaceStep(next(iter(values), None), {}, level)
    data = pd.DataFrame(rows)
    means = data.groupby("configuration")[metric].apply(
        lambda v: float(scipy.stats.gmean(v)) if (v > 0).all() else float(v.mean()))
    incumbent = str(means.idxmin() if mode == "min" else means.idxmax())
    fit = fit_design(data, metric, mode, ["configuration"], {"configuration": incumbent}, plan=False)
    tested = [e for e in fit.analysis.effects if math.isfinite(e.se) and e.se > 0 and e.df > 0]
    target = min_effect if min_effect is not None else DEFAULT_MIN_EFFECT * float(means[incumbent])
    margin = model_difference(target, float(means[incumbent]), fit.scale)
    stopped = {}
    for e in tested:
        worse = e.estimate if mode == "min" else -e.estimate  # > 0: worse than the incumbent
        p = float(scipy.stats.t.sf((worse - margin) / e.se, e.df))
        if p < level / len(tested):
            stopped[str(e.level)] = p
    return RaceStep(incumbent, stopped, level)


@dataclass
class RaceReplay:
    rungs: list[int]
    stopped: dict[str, int]  # configuration -> the evaluation at which the race stops all its runs
    trials_stopped: dict[str, int]  # trial id -> that evaluation
    evaluations_run: int
    evaluations_kept: int

    @property
    def saved_fraction(self) -> float:
        return 1 - self.evaluations_kept / self.evaluations_run if self.evaluations_run else 0.0


def replay_race(results: pd.DataFrame, configuration: dict[str, str], metric: str, mode: str, rungs: list[int],
                min_effect: float | None = None) -> RaceReplay:
    """The race over stored histories (`results`: trial_id, evaluation, value; `configuration`: trial id ->
    its configuration's label), every run of the sweep racing at once. `rungs`: the evaluations it looks
    at, below the last."""
    live = set(configuration.values())
    stopped: dict[str, int] = {}
    at = results.set_index(["trial_id", "evaluation"])["value"]
    for i, rung in enumerate(rungs, start=1):
        values: dict[str, list[float]] = {}
        for trial, config in configuration.items():
            if config in live and (trial, rung) in at.index:
                values.setdefault(config, []).append(float(at[(trial, rung)]))
        step = race_step(values, metric, mode, rung=i, rungs=len(rungs), min_effect=min_effect)
        for config in step.stopped:
            stopped[config] = rung
            live.discard(config)
    trials_stopped = {t: stopped[c] for t, c in configuration.items() if c in stopped}
    kept = sum(1 for t, e in results[["trial_id", "evaluation"]].itertuples(index=False)
               if t not in trials_stopped or e <= trials_stopped[t])
    return RaceReplay(list(rungs), stopped, trials_stopped, int(len(results)), kept)



def compare_rules(asha_stopped: dict[str, int], asha_saved: float, race: RaceReplay, configuration: dict[str, str],
                  cells: pd.DataFrame, labels: list[str], mode: str, min_effect: float | None) -> pd.DataFrame:
    """ASHA's and the race's replays side by side, judged by the final fit (`cells`, the report's
    configurations in `labels` order): runs and configurations each stopped, evaluations saved, whether
    every configuration of the final best set kept all its runs, and how many stopped configurations
    ended within `min_effect` (default 10%) of the best final mean."""
    best = float(cells["mean"].min() if mode == "min" else cells["mean"].max())
    reach = min_effect if min_effect is not None else DEFAULT_MIN_EFFECT * abs(best)
    near = {lab for lab, m in zip(labels, cells["mean"]) if abs(float(m) - best) <= reach}
    best_set = {lab for lab, b in zip(labels, cells["in_best_set"]) if b is True}
    rows = []
    for rule, trials_stopped, saved in (("ASHA (single runs)", asha_stopped, asha_saved),
                                        ("race (configurations)", race.trials_stopped, race.saved_fraction)):
        hit = {configuration[t] for t in trials_stopped if t in configuration}
        rows.append({"rule": rule, "runs stopped": len(trials_stopped), "configurations touched": len(hit),
                     "evaluations saved": f"{saved:.0%}", "best set kept whole": "yes" if not hit & best_set else "no",
                     "near-best configurations stopped": len(hit & near)})
    return pd.DataFrame(rows)
