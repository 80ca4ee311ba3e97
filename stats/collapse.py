"""Collapsed runs: seeds whose training failed, found by one documented rule, and how often each level fails.

GAN training fails in a way most training does not: now and then a seed collapses or stalls, and its final
FID lands at 1.5 to 3 times its configuration's usual value. A collapse is a finding about the
configuration, not seed noise, so it is neither averaged into the configuration's mean nor into the pooled
seed-to-seed variance (either would widen every interval of the report and move the means).

**The rule.** On the fitted scale (log FID for a positive metric), the model of stats.fit (one mean per
configuration, OLS) is fitted and each run's externally studentized residual is taken (statsmodels, with each run's
leave-one-out variance in closed form: its deviation from its configuration's mean over the others' seed-to-seed
SD, with that run left out of both):
under normal seed noise it follows Student's t with N - k - 1 degrees of freedom. A run is collapsed when the
one-sided p-value of its residual on the bad side (higher for a metric to minimise), Bonferroni-corrected over
the runs that can be judged, is below FLAG_ALPHA = 1%: in a sweep without collapses the rule flags any run in
at most 1% of sweeps. The run is then set aside and the rule is applied again to the rest, so that a second
collapse is not hidden by the first, up to MAX_SHARE of the runs. A run that diverged (NaN or inf losses) has
collapsed by definition. A configuration with a single usable run cannot tell a collapse from its level's
effect: its run is never flagged by the rule.

**What it finds** (`python -m stats.calibration --collapses`; 2x2 grid, seed SD 6% of FID, 400 studies per
line): without collapses it flagged some run in 1.0%, 1.2% and 1.5% of studies at 2, 3 and 5 seeds per
configuration. One seed made 1.5, 2 and 3 times worse was flagged in 15%, 45% and 86% of studies at 2 seeds,
66%, 100% and 100% at 3, and 95%, 100% and 100% at 5: with 2 seeds the other run's noise counts fully
against the collapse, and only a collapse by 2 or more stands out. docs/statistics.md has what setting them
aside does to the verdicts' error control and power.

**Failure rates.** Each configuration's collapse count over its runs comes with an exact (Clopper-Pearson)
95% interval (statsmodels). For each factor, each level's collapse rate, pooled over the other factors, is
compared with its baseline's by Fisher's exact test (scipy), two-sided. Those p-values join the report's
Holm family (stats.fit) whenever some run of the sweep collapsed; in a sweep without any, every rate is 0
and there is nothing to test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats
import statsmodels.api as sm
from statsmodels.stats.proportion import proportion_confint

__all__ = ["FLAG_ALPHA", "MAX_SHARE", "Collapses", "FailureComparison", "failure_comparisons", "failure_rates",
           "find_collapses"]

FLAG_ALPHA = 0.01  # the chance, per sweep without collapses, that the rule flags any run (one-sided, Bonferroni)
MAX_SHARE = 0.25  # the rule sets aside at most this share of a sweep's runs: more is no longer a rare failure


@dataclass(frozen=True)
class Collapses:
    flagged: pd.Series  # bool per run (in the order given), True for a collapsed run
    # each run's externally studentized residual, bad side positive (nan: alone in its configuration); a flagged
    # run's at the pass that flagged it, the others' before any run was set aside
    z: pd.Series


def find_collapses(y: np.ndarray, keys: list[tuple], mode: str, alpha: float = FLAG_ALPHA) -> Collapses:
    """Flag the runs whose value `y` (on the fitted scale) sits far on the bad side of the other runs of its
    configuration (`keys`, one per run), by the rule in this module's docstring."""
    y = np.asarray(y, dtype=float)
    sign = 1.0 if mode == "min" else -1.0
    cells = sorted(set(keys), key=str)
    column = np.array([cells.index(k) for k in keys])
    active = np.ones(len(y), dtype=bool)
    flagged = np.zeros(len(y), dtype=bool)
    z = np.full(len(y), math.nan)
    while active.sum() > 2:
        t, p = _bad_side(y[active], column[active], sign)
        if not flagged.any():
            z[active] = t  # each run's studentized deviation before any run was set aside
        if not np.isfinite(p).any() or np.nanmin(p) >= alpha or flagged.sum() >= MAX_SHARE * len(y):
            break
        local = int(np.nanargmin(p))
        worst = np.flatnonzero(active)[local]
        z[worst] = t[local]  # how far it lay when it was flagged (a second collapse hides behind the first)
        flagged[worst] = True
        active[worst] = False
    return Collapses(pd.Series(flagged), pd.Series(z))


def _bad_side(y: np.ndarray, column: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Each run's externally studentized residual from the cell-means OLS (statsmodels), signed so that the bad
    side is positive, and its one-sided Bonferroni p-value over the runs that can be judged (nan for a run
    alone in its configuration, whose residual is 0 by construction)."""
    cells = np.unique(column)
    X = (column[:, None] == cells[None, :]).astype(float)
    fit = sm.OLS(y, X).fit()
    t, p = np.full(len(y), math.nan), np.full(len(y), math.nan)
    if fit.df_resid < 2:
        return t, p
    influence = fit.get_influence()
    h = influence.hat_matrix_diag
    judged = h < 1 - 1e-9
    # each run's leave-one-out residual variance without refitting (Belsley, Kuh and Welsch 1980, eq. 2.8):
    # s_(i)^2 = ((n - p) s^2 - e_i^2 / (1 - h_i)) / (n - p - 1); statsmodels' own refits once per run
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = (fit.df_resid * fit.scale - fit.resid ** 2 / (1 - h)) / (fit.df_resid - 1)
        t[judged] = sign * influence.get_resid_studentized_external(sigma=np.sqrt(np.clip(loo, 0, None)))[judged]
    p[judged] = np.minimum(1.0, scipy.stats.t.sf(t[judged], fit.df_resid - 1) * judged.sum())
    return t, p


def failure_rates(collapsed: pd.Series, keys: list[tuple]) -> pd.DataFrame:
    """Each configuration's collapsed runs out of its runs, with a Clopper-Pearson 95% interval of the rate."""
    counts: dict[tuple, list[int]] = {}  # each configuration's [collapsed, runs], in the order they first appear
    for key, flag in zip(keys, collapsed.to_numpy(dtype=bool)):
        c = counts.setdefault(key, [0, 0])
        c[0] += int(flag)
        c[1] += 1
    if not counts:
        return pd.DataFrame()
    k, n = np.array(list(counts.values())).T
    low, high = proportion_confint(k, n, alpha=0.05, method="beta")
    return pd.DataFrame([{"key": key, "collapsed": int(k[i]), "runs": int(n[i]), "rate": int(k[i]) / int(n[i]),
                          "low": float(low[i]), "high": float(high[i])} for i, key in enumerate(counts)])


@dataclass
class FailureComparison:
    parameter: str
    level: object
    baseline: object
    collapsed_level: int
    runs_level: int
    collapsed_baseline: int
    runs_baseline: int
    p: float  # Fisher's exact test, two-sided, unadjusted
    p_adjusted: float = math.nan  # Holm over the report's whole family
    verdict: str = ""  # "collapses more often", "collapses less often" or "no detectable difference"


def failure_comparisons(levels: pd.DataFrame, collapsed: pd.Series, baselines: dict) -> list[FailureComparison]:
    """Each factor's levels against its baseline in how often their runs collapse (pooled over the other
    factors), by Fisher's exact test. `levels`: one column per factor, one row per run (diverged runs too)."""
    out = []
    flags = collapsed.to_numpy(dtype=bool)
    for p in levels.columns:
        column = levels[p].to_numpy()
        base = baselines.get(p, column[0])
        at_base = column == base
        for level in pd.unique(column):
            if level == base:
                continue
            at_level = column == level
            a, b = int(flags[at_level].sum()), int(at_level.sum())
            c, d = int(flags[at_base].sum()), int(at_base.sum())
            pvalue = float(scipy.stats.fisher_exact([[a, b - a], [c, d - c]]).pvalue) if b and d else math.nan
            out.append(FailureComparison(p, level, base, a, b, c, d, pvalue))
    return out
