"""Was early stopping trustworthy for this study? Rung correlations and an ASHA replay.

- `rung_correlations`: Spearman's rank correlation (scipy) between each trial's metric at an
  evaluation and its final metric, over the trials that ran to the end. A low value at the grace rung
  means ASHA ranked trials there by noise.
- `replay_asha`: runs the asynchronous successive-halving rule over stored histories, in the order the
  results arrived, and says which trials it would have stopped and when. It makes the same decisions
  as Ray Tune's `ASHAScheduler` with one bracket (a test feeds both the same results): rungs at
  grace_period * reduction_factor**k evaluations below max_t; a trial reaching a rung is stopped when
  its metric is worse than the (1 - 1/reduction_factor) quantile of the values recorded there before it
  (numpy's nanpercentile, linear interpolation), and its value is recorded either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

__all__ = ["AshaReplay", "GRACE_CORRELATION_WARNING", "asha_rungs", "replay_asha", "rung_correlations"]

GRACE_CORRELATION_WARNING = 0.5  # below this rank correlation at the grace rung, early stopping is called unreliable
RELIABLE_CORRELATION = 0.8  # the correlation a suggested later grace period should reach


def asha_rungs(grace_period: int, reduction_factor: float, max_t: int) -> list[float]:
    """Milestones (in evaluations) of ASHA's single bracket, lowest first, as Ray Tune lays them out."""
    count = int(np.log(max_t / grace_period) / np.log(reduction_factor) + 1)
    return [grace_period * reduction_factor ** k for k in range(count)]


@dataclass
class AshaReplay:
    rungs: list[float]
    stopped: dict[str, int]  # trial id -> the evaluation at which ASHA would have stopped it
    evaluations_run: int  # evaluations all trials ran (the histories)
    evaluations_kept: int  # evaluations they would have run under ASHA

    @property
    def saved_fraction(self) -> float:
        return 1 - self.evaluations_kept / self.evaluations_run if self.evaluations_run else 0.0


def replay_asha(results: pd.DataFrame, mode: str, grace_period: int, reduction_factor: float,
                max_t: int | None = None) -> AshaReplay:
    """Replay ASHA over `results` (columns trial_id, evaluation, value), in row order: the order the
    results arrived. Results of a trial after its stop are dropped, as they would never have existed."""
    max_t = int(max_t or results["evaluation"].max())
    rungs = asha_rungs(grace_period, reduction_factor, max_t)
    recorded: dict[float, dict[str, float]] = {r: {} for r in rungs}
    sign = -1.0 if mode == "min" else 1.0  # ASHA maximises a reward
    stopped: dict[str, int] = {}
    kept = 0
    for trial_id, evaluation, value in results[["trial_id", "evaluation", "value"]].itertuples(index=False):
        if trial_id in stopped:
            continue
        kept += 1
        if evaluation >= max_t:  # the natural end (Ray's stop_last_trials)
            continue
        reward = sign * float(value) if value is not None and math.isfinite(value) else -math.inf
        for milestone in reversed(rungs):  # the highest rung reached and not yet recorded
            if evaluation < milestone or trial_id in recorded[milestone]:
                continue
            seen = recorded[milestone]
            cutoff = np.nanpercentile(list(seen.values()), (1 - 1 / reduction_factor) * 100) if seen else None
            if cutoff is not None and reward < cutoff:
                stopped[trial_id] = int(evaluation)
            seen[trial_id] = reward
            break
    return AshaReplay(rungs, stopped, int(len(results)), kept)


def rung_correlations(histories: pd.DataFrame, finals: pd.Series) -> pd.DataFrame:
    """Spearman's rho between the metric at each evaluation and the final metric, over the trials in
    `finals` (trial_id -> final value; those that ran to the end). `histories`: trial_id, evaluation, value."""
    rows = []
    for evaluation, group in histories.groupby("evaluation"):
        at = group.set_index("trial_id")["value"]
        common = [t for t in finals.index if t in at.index and math.isfinite(at[t]) and math.isfinite(finals[t])]
        if len(common) < 4:
            continue
        x, y = at[common].to_numpy(float), finals[common].to_numpy(float)
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        rho, p = scipy.stats.spearmanr(x, y)
        rows.append({"evaluation": int(evaluation), "rho": float(rho), "p": float(p), "trials": len(common)})
    return pd.DataFrame(rows, columns=["evaluation", "rho", "p", "trials"])
