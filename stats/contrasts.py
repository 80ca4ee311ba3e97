"""The building blocks of a sweep's statistics: one configuration's interval over its seeds, Welch's
standard error of a contrast of independent groups, the smallest difference a t-test detects, Holm's
correction, the verdict words and the record of one comparison. `stats.fit` fits the one model
that a report's verdicts come from; this module holds what that model and the other analyses (the
budget split, the tables, the scorecard) share. scipy and statsmodels do the math:

- **Interval of one configuration on its own.** Mean of its runs with a 95% t-interval; from
  `BOOTSTRAP_MIN_N` runs on, a BCa bootstrap interval (scipy.stats.bootstrap). Used where a figure is
  read on its own (the summary of every metric, the scorecard); the report's configurations of the
  ranking metric take their intervals from the fitted model instead.
- **Welch's contrast.** For sum(c_i * mean_i) of independent groups: variance sum(c_i^2 s_i^2 / n_i) with
  Welch-Satterthwaite degrees of freedom; with two groups this is scipy's Welch t-test.
- **Detectable difference.** The smallest |difference| a two-sided t-test at a given level, standard
  error and df finds with 80% power (noncentral t).
- **Holm's correction** (statsmodels) over every comparison of a report.
"""

from __future__ import annotations

import functools
import gc
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.stats
from statsmodels.stats.multitest import multipletests

from record.status import Status

__all__ = [
    "ALPHA", "BOOTSTRAP_MIN_N", "BETTER", "INTERACTION", "NEEDS_SEEDS", "NO_DIFFERENCE", "NO_INTERACTION", "POWER",
    "WORSE", "Effect", "EffectAnalysis", "Interval", "cell_table", "contrast", "detectable_difference",
    "decimals_for", "format_interval", "format_number", "interval", "usable_trials",
]

ALPHA = 0.05  # family-wise error rate of a report's verdicts; intervals are 1 - ALPHA
POWER = 0.8  # power at which the smallest detectable difference is stated
BOOTSTRAP_MIN_N = 20  # from this many runs per cell on, a BCa bootstrap interval replaces the t-interval
BETTER, WORSE, NO_DIFFERENCE, NEEDS_SEEDS = "better", "worse", "no detectable difference", "needs >= 2 seeds"
INTERACTION, NO_INTERACTION = "interaction", "no detectable interaction"


# -------------------------------------------------------------------------------------------------
# Intervals of one configuration


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float  # nan when n < 2
    high: float
    n: int
    method: str  # "t", "bootstrap" or "none" (n < 2)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def interval(values, confidence: float = 1 - ALPHA, seed: int = 0) -> Interval:
    """Mean with its confidence interval over the finite values (a t-interval, or BCa bootstrap from
    BOOTSTRAP_MIN_N values on)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "none")
    mean = float(v.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, "none")
    if np.ptp(v) == 0:
        return Interval(mean, mean, mean, n, "t")
    if n >= BOOTSTRAP_MIN_N:
        res = scipy.stats.bootstrap((v,), np.mean, confidence_level=confidence, method="BCa",
                                    rng=np.random.default_rng(seed))
        return Interval(mean, float(res.confidence_interval.low), float(res.confidence_interval.high), n, "bootstrap")
    ci = scipy.stats.ttest_1samp(v, 0.0).confidence_interval(confidence)
    return Interval(mean, float(ci.low), float(ci.high), n, "t")


def format_number(x: float, decimals: int) -> str:
    return "-" if not math.isfinite(x) else f"{x:.{max(0, decimals)}f}"


def decimals_for(half_width: float, mean: float) -> int:
    """Decimals that show the half-width to two significant digits (three for the mean when there is none)."""
    ref = half_width if math.isfinite(half_width) and half_width > 0 else abs(mean) if math.isfinite(mean) else 0
    if ref == 0:
        return 2
    digits = 2 if math.isfinite(half_width) and half_width > 0 else 3
    return max(0, digits - 1 - math.floor(math.log10(ref)))


def format_interval(iv: Interval, with_n: bool = True) -> str:
    """`mean ± half-width (n)`, both rounded to the half-width's second significant digit."""
    d = decimals_for(iv.half_width, iv.mean)
    text = format_number(iv.mean, d)
    if math.isfinite(iv.half_width):
        text += f" ± {format_number(iv.half_width, d)}"
    return text + (f" ({iv.n})" if with_n else "")


def usable_trials(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Finished trials with a finite final metric: the runs every statistic is computed from."""
    if metric not in trials:
        return trials.iloc[0:0]
    ok = trials[(trials["status"] == Status.COMPLETED) & trials[metric].map(_finite)]
    return ok


def _finite(v) -> bool:
    return isinstance(v, (int, float, np.number)) and math.isfinite(v)


def cell_table(trials: pd.DataFrame, metric: str, params: list[str]) -> pd.DataFrame:
    """One row per configuration: the params, n, mean, 95% interval (low, high, half_width) and method."""
    data = usable_trials(trials, metric)
    rows = []
    groups = data.groupby(params, dropna=False, sort=True) if params else [((), data)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        iv = interval(g[metric])
        rows.append({**dict(zip(params, key)), "n": iv.n, "mean": iv.mean, "low": iv.low, "high": iv.high,
                     "half_width": iv.half_width, "interval": iv.method, "cell": format_interval(iv)})
    return pd.DataFrame(rows, columns=[*params, "n", "mean", "low", "high", "half_width", "interval", "cell"])


# -------------------------------------------------------------------------------------------------
# Contrasts of configuration means


@dataclass(frozen=True)
class Contrast:
    estimate: float
    se: float  # nan when a cell has fewer than 2 runs
    df: float
    n_cells: int

    def p_value(self) -> float:
        if not (math.isfinite(self.se) and self.se > 0):
            return math.nan
        return float(2 * scipy.stats.t.sf(abs(self.estimate) / self.se, self.df))

    def ci(self, confidence: float = 1 - ALPHA) -> tuple[float, float]:
        if not (math.isfinite(self.se) and self.se > 0):
            return (self.estimate, self.estimate) if self.se == 0 else (math.nan, math.nan)
        q = scipy.stats.t.ppf(0.5 + confidence / 2, self.df)
        return self.estimate - q * self.se, self.estimate + q * self.se


def contrast(cells: list[tuple[float, np.ndarray]]) -> Contrast:
    """Welch's t for a linear contrast sum(c_i * mean_i) of independent groups: the variance is
    sum(c_i^2 s_i^2 / n_i) and the degrees of freedom Welch-Satterthwaite's. With two groups and
    coefficients +1, -1 this is scipy's Welch t-test."""
    est = sum(c * float(np.mean(v)) for c, v in cells)
    if any(len(v) < 2 for _, v in cells):
        return Contrast(est, math.nan, math.nan, len(cells))
    parts = np.array([c * c * np.var(v, ddof=1) / len(v) for c, v in cells])
    var = float(parts.sum())
    if var == 0:
        return Contrast(est, 0.0, math.inf, len(cells))
    dof = np.array([len(v) - 1 for _, v in cells], dtype=float)
    df = var * var / float((parts * parts / dof).sum())
    return Contrast(est, math.sqrt(var), df, len(cells))


def detectable_difference(se: float, df: float, alpha: float, power: float = POWER) -> float:
    """Smallest |difference| a two-sided t-test at `alpha` with this standard error and df finds with
    probability `power` (noncentral t)."""
    if not (math.isfinite(se) and se > 0 and df > 0):
        return math.nan
    return _noncentrality(float(df), float(alpha), float(power)) * se


@functools.lru_cache(maxsize=4096)
def _noncentrality(df: float, alpha: float, power: float) -> float:
    """The noncentrality at which a two-sided t-test at `alpha` with `df` has `power`: it does not depend on the
    standard error, so a design's comparisons (and the adaptive rule's looks) share each root."""
    crit = scipy.stats.t.ppf(1 - alpha / 2, df)

    def shortfall(nc: float) -> float:
        # the far tail below -crit is negligible for nc > 0, and scipy returns nan for it when nc is large
        lower = float(np.nan_to_num(scipy.stats.nct.cdf(-crit, df, nc), nan=0.0))
        return float(scipy.stats.nct.sf(crit, df, nc)) + lower - power

    high = crit + 1.0  # power grows with the noncentrality: widen the bracket until it is reached
    while shortfall(high) < 0:
        high *= 1.5
        if high > 1e4:
            return math.nan
    return float(scipy.optimize.brentq(shortfall, 0.0, high))


# -------------------------------------------------------------------------------------------------
# Effects against a baseline, interactions, verdicts


@dataclass
class Effect:
    parameter: str  # the swept parameter; "a x b" for an interaction
    level: Any  # the level compared (for an interaction: (level of a, level of b))
    baseline: Any  # the baseline level (for an interaction: (baseline of a, baseline of b))
    kind: str  # "effect" or "interaction"
    method: str  # "welch-contrast" (averaged over the other parameters) or "welch" (plain groups)
    estimate: float  # level minus baseline, in metric units
    low: float  # 95% interval (unadjusted)
    high: float
    se: float
    df: float
    p: float  # two-sided, unadjusted
    n_level: int  # runs at the level
    n_baseline: int  # runs at the baseline
    averaged_over: list[str] = field(default_factory=list)  # other parameters the estimate averages over
    p_adjusted: float = math.nan  # Holm over the whole report
    detectable: float = math.nan  # smallest |difference| detectable with 80% power at alpha / m
    verdict: str = ""
    scale: str = "raw"  # the scale estimate, low, high, se and detectable are on: "raw", or "log" (differences of logs)
    level_mean: float = math.nan  # the two sides' means in metric units (on the log scale: geometric means)
    baseline_mean: float = math.nan
    difference: float = math.nan  # level_mean - baseline_mean, in metric units
    ratio: float = math.nan  # log scale: level / baseline, with its 95% interval
    ratio_low: float = math.nan
    ratio_high: float = math.nan
    target: float = math.nan  # the difference (metric units) the plan is for
    seeds_needed: int | None = None  # seeds per configuration that detect `target` with 80% power; None: beyond reach
    seeds_now: int = 0  # the fewest runs of a configuration the comparison uses
    # an interaction's first step at the second's level and at its baseline (ratios on the log scale)
    simple: tuple = ()
    weights: Any = None  # the contrast's weights over the design's configurations (not written out)


@dataclass
class EffectAnalysis:
    metric: str
    mode: str  # min or max
    params: list[str]
    baselines: dict[str, Any]
    factorial: bool  # every combination of the params' levels was run
    effects: list[Effect]  # each non-baseline level of each param against its baseline
    interactions: list[Effect]  # every two-way interaction contrast (factorial grids only)
    family_size: int  # comparisons the Holm correction covers

    def to_frame(self) -> pd.DataFrame:
        """Every effect and interaction with its numbers, one row each (what effects.csv holds)."""
        rows = [{k: v for k, v in vars(e).items() if k != "weights"} for e in self.effects + self.interactions]
        for r in rows:
            r["averaged_over"] = ", ".join(r["averaged_over"])
        return pd.DataFrame(rows)

    def largest_interaction(self) -> Effect | None:
        found = [e for e in self.interactions if math.isfinite(e.estimate)]
        return max(found, key=lambda e: abs(e.estimate)) if found else None


def _sort_key(v):
    return (0, v, "") if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else (1, 0, str(v))


def _holm(p_values: list[float]) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels). Its Holm branch calls gc.collect(), which walks every object of
    the process (0.4 s with Ray and MLflow loaded); objects alive now are frozen out of that walk."""
    gc.freeze()
    try:
        return multipletests(p_values, alpha=ALPHA, method="holm")[1]
    finally:
        gc.unfreeze()
