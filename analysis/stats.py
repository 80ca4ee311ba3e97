"""How sure a sweep is: intervals over seeds, effects against a baseline with verdicts, factorial main
effects and interactions, the configurations indistinguishable from the best, and variance components.

Every function takes the trials DataFrame of `load_sweep` (one row per trial, a column per parameter,
the final metric in the metric's column) and uses scipy and statsmodels for the math. The methods:

- **Cell interval.** Mean of the trials of one configuration (its seeds) with a 95% t-interval; from
  `BOOTSTRAP_MIN_N` trials on, a BCa bootstrap interval instead (scipy.stats.bootstrap).
- **Effect of a level against the baseline.** The difference of means, level minus baseline, averaged
  with equal weight over every combination of the other swept parameters that was run at both
  levels (in a full factorial grid: the main effect). Its standard error and degrees of freedom are
  Welch's: each configuration keeps its own variance, and the degrees of freedom come from the
  Welch-Satterthwaite equation; with no other parameter this is exactly scipy's Welch t-test. Where
  the other parameters were not crossed (random or Optuna search), the groups are compared as they
  are, with scipy's Welch t-test.
- **Two-way interactions** in full factorial grids: for two parameters, (a, b) - (a0, b) - (a, b0) +
  (a0, b0) averaged over the others, with the same Welch standard error.
- **Multiplicity.** Holm's step-down correction (statsmodels) over every effect and interaction of the
  report, so the chance of any false "better"/"worse" in a report stays at 5%.
- **Verdicts.** `better` or `worse` (by the metric's direction, from the metric registry) when the
  Holm-adjusted p < 0.05; otherwise `no detectable difference`, with the smallest difference the test
  would have found with 80% power at the Bonferroni level 0.05/m (noncentral t, scipy); `needs >= 2
  seeds` when a configuration it depends on has fewer than two finished runs.
- **Best configurations.** Gupta's subset selection: a configuration is kept when no other beats it by
  more than the one-sided 95% margin, Bonferroni-corrected over the k - 1 comparisons, with the
  pooled seed-to-seed variance of all configurations (statsmodels OLS). The kept set holds the truly
  best configuration with probability >= 95%.
- **Variance components.** Seed-to-seed variance of the final metric (pooled within configurations)
  against the evaluation-sampling variance (the mean squared `<metric>_std` of the same runs).
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.stats
import statsmodels.formula.api as smf
from statsmodels.stats.multitest import multipletests

from gan.status import Status

__all__ = [
    "ALPHA", "BOOTSTRAP_MIN_N", "BETTER", "INTERACTION", "NEEDS_SEEDS", "NO_DIFFERENCE", "NO_INTERACTION", "POWER",
    "WORSE",
    "Effect", "EffectAnalysis", "Interval", "analyse_effects", "best_set", "cell_table", "contrast",
    "detectable_difference", "format_interval", "format_number", "interval", "usable_trials",
    "variance_components",
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


def _decimals(half_width: float, mean: float) -> int:
    """Decimals that show the half-width to two significant digits (three for the mean when there is none)."""
    ref = half_width if math.isfinite(half_width) and half_width > 0 else abs(mean) if math.isfinite(mean) else 0
    if ref == 0:
        return 2
    digits = 2 if math.isfinite(half_width) and half_width > 0 else 3
    return max(0, digits - 1 - math.floor(math.log10(ref)))


def format_interval(iv: Interval, with_n: bool = True) -> str:
    """`mean ± half-width (n)`, both rounded to the half-width's second significant digit."""
    d = _decimals(iv.half_width, iv.mean)
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
    return float(scipy.optimize.brentq(shortfall, 0.0, high)) * se


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
        rows = [{k: v for k, v in vars(e).items()} for e in self.effects + self.interactions]
        for r in rows:
            r["averaged_over"] = ", ".join(r["averaged_over"])
        return pd.DataFrame(rows)

    def largest_interaction(self) -> Effect | None:
        found = [e for e in self.interactions if math.isfinite(e.estimate)]
        return max(found, key=lambda e: abs(e.estimate)) if found else None


def _levels(data: pd.DataFrame, param: str) -> list:
    return sorted(data[param].dropna().unique().tolist(), key=_sort_key)


def _sort_key(v):
    return (0, v, "") if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else (1, 0, str(v))


def _cells(data: pd.DataFrame, params: list[str], metric: str) -> dict[tuple, np.ndarray]:
    return {(k if isinstance(k, tuple) else (k,)): g[metric].to_numpy(dtype=float)
            for k, g in data.groupby(params, dropna=False, sort=False)}


def _is_factorial(data: pd.DataFrame, params: list[str]) -> bool:
    if len(params) < 2:
        return False
    combos = data[params].drop_duplicates()
    return len(combos) == math.prod(data[p].nunique() for p in params)


def analyse_effects(trials: pd.DataFrame, metric: str, mode: str, params: list[str],
                    baselines: dict[str, Any] | None = None) -> EffectAnalysis:
    """Every non-baseline level of every categorical (or grid) param against its baseline, plus the
    two-way interactions of a factorial grid, with Holm-adjusted p-values and verdicts."""
    data = usable_trials(trials, metric)
    baselines = dict(baselines or {})
    params = [p for p in params if p in data and data[p].nunique() > 1]
    factorial = _is_factorial(data, params)
    cells = _cells(data, params, metric) if params else {}
    effects: list[Effect] = []
    for p in params:
        levels = _levels(data, p)
        base = baselines.get(p, levels[0])
        if base not in levels:
            base = levels[0]
        baselines[p] = base
        others = [q for q in params if q != p]
        for level in levels:
            if level == base:
                continue
            effects.append(_level_effect(data, cells, params, p, level, base, others, metric))
    interactions: list[Effect] = []
    if factorial:
        for p, q in combinations(params, 2):
            rest = [r for r in params if r not in (p, q)]
            for a in _levels(data, p):
                for b in _levels(data, q):
                    if a == baselines[p] or b == baselines[q]:
                        continue
                    interactions.append(_interaction(data, cells, params, (p, a, baselines[p]), (q, b, baselines[q]),
                                                     rest, metric))
    family = [e for e in effects + interactions if math.isfinite(e.p)]
    m = len(family)
    if m:
        adjusted = _holm([e.p for e in family])
        for e, pa in zip(family, adjusted):
            e.p_adjusted = float(pa)
    for e in effects + interactions:
        e.detectable = detectable_difference(e.se, e.df, ALPHA / max(m, 1))
        e.verdict = _verdict(e, mode)
    return EffectAnalysis(metric, mode, params, baselines, factorial, effects, interactions, m)


def _level_effect(data, cells, params, p, level, base, others, metric) -> Effect:
    n_level = int((data[p] == level).sum())
    n_base = int((data[p] == base).sum())
    i = params.index(p)
    # combinations of the other params run at both levels: the estimate averages over exactly those
    shared = sorted({k[:i] + k[i + 1:] for k in cells if k[i] == level} &
                    {k[:i] + k[i + 1:] for k in cells if k[i] == base}, key=lambda t: tuple(map(_sort_key, t)))
    crossed = others and shared and all(
        len({k[:i] + k[i + 1:] for k in cells if k[i] == lv}) == len(shared) for lv in (level, base))
    if not others or crossed:
        w = 1.0 / max(len(shared), 1)
        parts = []
        for rest in shared or [()]:
            parts.append((w, cells[rest[:i] + (level,) + rest[i:]]))
            parts.append((-w, cells[rest[:i] + (base,) + rest[i:]]))
        c = contrast(parts)
        method = "welch-contrast" if others else "welch"
        if not others:  # exactly the two-sample Welch test: take scipy's numbers
            a, b = parts[0][1], parts[1][1]
            if len(a) >= 2 and len(b) >= 2 and (np.var(a) + np.var(b)) > 0:
                res = scipy.stats.ttest_ind(a, b, equal_var=False)
                c = Contrast(float(np.mean(a) - np.mean(b)), float(c.se), float(res.df), 2)
    else:  # not crossed (random or Optuna search): plain groups, Welch
        method = "welch"
        a = data.loc[data[p] == level, metric].to_numpy(dtype=float)
        b = data.loc[data[p] == base, metric].to_numpy(dtype=float)
        c = contrast([(1.0, a), (-1.0, b)])
    low, high = c.ci()
    return Effect(p, level, base, "effect", method, c.estimate, low, high, c.se, c.df, c.p_value(), n_level, n_base,
                  averaged_over=list(others) if method == "welch-contrast" else [])


def _interaction(data, cells, params, first, second, rest, metric) -> Effect:
    (p, a, a0), (q, b, b0) = first, second
    ip, iq = params.index(p), params.index(q)
    others = sorted({tuple(k[j] for j, name in enumerate(params) if name in rest) for k in cells})
    w = 1.0 / max(len(others), 1)
    parts = []
    for o in others:
        for lp, lq, sign in ((a, b, 1), (a0, b, -1), (a, b0, -1), (a0, b0, 1)):
            key, it = [], iter(o)
            for j, name in enumerate(params):
                key.append(lp if j == ip else lq if j == iq else next(it))
            parts.append((sign * w, cells[tuple(key)]))
    c = contrast(parts)
    low, high = c.ci()
    n_level = int(((data[p] == a) & (data[q] == b)).sum())
    n_base = int(((data[p] == a0) & (data[q] == b0)).sum())
    return Effect(f"{p} x {q}", (a, b), (a0, b0), "interaction", "welch-contrast", c.estimate, low, high, c.se, c.df,
                  c.p_value(), n_level, n_base, averaged_over=list(rest))


def _holm(p_values: list[float]) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels). Its Holm branch calls gc.collect(), which walks every object of
    the process (0.4 s with Ray and MLflow loaded); objects alive now are frozen out of that walk."""
    gc.freeze()
    try:
        return multipletests(p_values, alpha=ALPHA, method="holm")[1]
    finally:
        gc.unfreeze()


def _verdict(e: Effect, mode: str) -> str:
    if not math.isfinite(e.se):
        return NEEDS_SEEDS
    if math.isfinite(e.p_adjusted) and e.p_adjusted < ALPHA:
        if e.kind == "interaction":
            return INTERACTION
        lower_is_better = mode == "min"
        return BETTER if (e.estimate < 0) == lower_is_better else WORSE
    return NO_INTERACTION if e.kind == "interaction" else NO_DIFFERENCE


# -------------------------------------------------------------------------------------------------
# The best configurations, and where the variance comes from


def _pooled_fit(data: pd.DataFrame, params: list[str], metric: str):
    """OLS of the metric on one mean per configuration: its residual variance is the pooled seed-to-seed
    variance, with N - k degrees of freedom."""
    frame = pd.DataFrame({"y": data[metric].astype(float).to_numpy(),
                          "config": data[params].astype(str).agg(" | ".join, axis=1).to_numpy() if params else "all"})
    fit = smf.ols("y ~ C(config)", data=frame).fit()
    return fit


def best_set(trials: pd.DataFrame, metric: str, mode: str, params: list[str],
             confidence: float = 1 - ALPHA) -> pd.DataFrame:
    """Configurations ranked by mean, each with `in_best_set` (Gupta's subset selection: not beaten by any
    other by more than the Bonferroni one-sided margin) and `margin` (how far behind the best mean it
    may be to stay in). With fewer than 2 runs in some configuration, or no replication at all,
    `in_best_set` is None: one run per configuration cannot say."""
    table = cell_table(trials, metric, params)
    if table.empty:
        return table.assign(in_best_set=pd.Series(dtype=object), margin=pd.Series(dtype=float))
    sign = 1.0 if mode == "min" else -1.0
    table = table.sort_values("mean", ascending=mode == "min", key=lambda s: s.astype(float)).reset_index(drop=True)
    k = len(table)
    data = usable_trials(trials, metric)
    if k == 1:
        return table.assign(in_best_set=True, margin=0.0)
    if (table["n"] < 2).any():
        return table.assign(in_best_set=None, margin=math.nan)
    fit = _pooled_fit(data, params, metric)
    if fit.df_resid < 1:
        return table.assign(in_best_set=None, margin=math.nan)
    q = scipy.stats.t.ppf(1 - (1 - confidence) / (k - 1), fit.df_resid)
    means, ns = table["mean"].to_numpy(float), table["n"].to_numpy(float)
    keep, margins = [], []
    for i in range(k):
        # kept when, against every other configuration j, mean_i - mean_j <= q * se_ij (for min)
        se = np.sqrt(fit.scale * (1 / ns[i] + 1 / ns))
        gaps = sign * (means[i] - means) - q * se
        gaps[i] = -np.inf
        keep.append(bool(gaps.max() <= 0))
        margins.append(float(q * se[0]) if i else 0.0)
    return table.assign(in_best_set=keep, margin=margins)


def variance_components(trials: pd.DataFrame, metric: str, params: list[str], uncertainty: str | None) -> dict | None:
    """Seed-to-seed against evaluation-sampling spread of the final metric, both as standard deviations.

    `seed_sd` is the pooled within-configuration SD over seeds (it includes sampling noise);
    `sampling_sd` the root mean square of the runs' `uncertainty` column (e.g. fid_std);
    `training_sd` what is left for the training seed, sqrt(max(0, seed^2 - sampling^2)).
    None when no configuration has two finished runs."""
    data = usable_trials(trials, metric)
    largest = (data.groupby(params, dropna=False).size().max() if params else len(data)) if len(data) else 0
    if largest < 2:
        return None
    fit = _pooled_fit(data, params, metric)
    if fit.df_resid < 1:
        return None
    seed_var = float(fit.scale)
    out = {"seed_sd": math.sqrt(seed_var), "seed_df": float(fit.df_resid), "runs": int(len(data))}
    if uncertainty and uncertainty in data and data[uncertainty].notna().any():
        sampling_var = float(np.nanmean(data[uncertainty].astype(float) ** 2))
        out.update({"sampling_sd": math.sqrt(sampling_var),
                    "training_sd": math.sqrt(max(0.0, seed_var - sampling_var)),
                    "ratio": math.sqrt(seed_var / sampling_var) if sampling_var > 0 else math.inf})
    return out
