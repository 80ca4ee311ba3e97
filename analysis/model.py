"""One fitted model behind every verdict of a report.

**The model.** Every finished run's final metric, on the metric's analysis scale, is fitted by OLS on
one mean per configuration (statsmodels: a cell-means regression, the saturated model of the design).
In a full factorial grid that is the model with every swept factor and every interaction; in
sum-to-zero coding its main effects are exactly the equal-weight averages below. Its residual
variance, the seed-to-seed variance pooled over every configuration with N - k degrees of freedom, is
the one noise estimate behind every statement of the report:

- each effect of a level against its baseline: a linear contrast of the configuration means (in a
  factorial grid averaged with equal weight over the other factors; where the others were not
  crossed, as in random or Optuna search, the plain means of the level's runs and the baseline's),
  tested with `fit.t_test`;
- each two-way interaction of a factorial grid: (a, b) - (a0, b) - (a, b0) + (a0, b0), averaged over
  the other factors, likewise;
- each configuration's interval: its mean +- t * s / sqrt(n), with the pooled s and its N - k df;
- the best set (Gupta's subset selection with the pooled variance);
- the variance components, and the seeds each undecided comparison would need.

**The scale.** Metrics the registry declares positive (FID, KID, IS) are fitted on the log scale:
their seed-to-seed SD grows with their size (about 5-15% of FID), so the log makes it constant, and
effects become ratios ("lowers FID by 29%"). Intervals are back-transformed, so they stay above zero;
a configuration's centre is then its geometric mean over seeds. Other metrics are fitted as they are,
and their intervals are clipped to the metric's range. A positive metric with a value <= 0 in some
run falls back to the raw scale, and the report says so.

**Unequal variances.** The pooled variance assumes every configuration has the same seed-to-seed
variance on the analysis scale. Rule: Bartlett's test (scipy) over the configurations with at least
two runs, at the 1% level. When it rejects, the report says so and every interval, test and the best
set use each configuration's own variance instead (Welch's standard errors with Welch-Satterthwaite
degrees of freedom), which is valid whatever the variances, at a cost in power.

**Multiplicity and verdicts.** Holm's step-down correction (statsmodels) over every effect and
interaction of the report keeps the chance of any false `better`, `worse` or `interaction` at 5%. A
comparison that a configuration with a single run enters gets `needs >= 2 seeds`.

**The plan.** For every undecided comparison: the seeds per configuration at which the design would
detect a stated difference (`min_effect`, in metric units; default 10% of the comparison's baseline)
with 80% power at the Bonferroni level 0.05/m (noncentral t, scipy), given the fitted residual variance.
On the log scale a difference d at a baseline of b is the ratio 1 + d/b, the harder to detect of the
two directions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats
import statsmodels.api as sm

from analysis.stats import (
    ALPHA, BETTER, INTERACTION, NEEDS_SEEDS, NO_DIFFERENCE, NO_INTERACTION, POWER, WORSE, Effect, EffectAnalysis,
    _holm, _sort_key, contrast, detectable_difference, usable_trials,
)
from gan.metrics import OUTPUTS

__all__ = ["BARTLETT_ALPHA", "DEFAULT_MIN_EFFECT", "MAX_SEEDS", "DesignFit", "Layout", "analysis_scale",
           "bell_mccaffrey_df", "fit_design", "plan_comparisons", "seeds_needed"]

BARTLETT_ALPHA = 0.01  # below this Bartlett p-value the variances are taken to differ: Welch instead of pooling
DEFAULT_MIN_EFFECT = 0.10  # the difference worth detecting, as a share of the comparison's baseline
MAX_SEEDS = 1000  # the plan looks no further than this many seeds per configuration
LOG, RAW = "log", "raw"


def analysis_scale(metric: str, values=None) -> str:
    """"log" for a metric the registry declares positive, when every value is > 0; else "raw"."""
    out = OUTPUTS.get(metric)
    if out is None or not out.positive:
        return RAW
    if values is not None:
        v = np.asarray(values, dtype=float)
        if len(v) and not (v > 0).all():
            return RAW
    return LOG


# -------------------------------------------------------------------------------------------------
# What the design can estimate: its configurations and the contrasts over them


@dataclass
class Layout:
    """The configurations of a design (cells), how many runs each has, and the contrasts over them."""

    params: list[str]
    cells: list[tuple]  # one key per configuration, sorted
    counts: np.ndarray  # runs per configuration
    baselines: dict[str, Any]

    @classmethod
    def from_keys(cls, keys: list[tuple], params: list[str], baselines: dict[str, Any] | None = None) -> "Layout":
        """`keys`: one tuple of levels per run (or per planned run)."""
        counted: dict[tuple, int] = {}
        for k in keys:
            counted[k] = counted.get(k, 0) + 1
        cells = sorted(counted, key=lambda t: tuple(map(_sort_key, t)))
        layout = cls(list(params), cells, np.array([counted[c] for c in cells], dtype=float), {})
        for i, p in enumerate(params):
            levels = layout.levels(p)
            base = (baselines or {}).get(p, levels[0])
            layout.baselines[p] = base if base in levels else levels[0]
        return layout

    def levels(self, p: str) -> list:
        i = self.params.index(p)
        return sorted({c[i] for c in self.cells}, key=_sort_key)

    @property
    def factorial(self) -> bool:
        return len(self.params) >= 2 and len(self.cells) == math.prod(len(self.levels(p)) for p in self.params)

    def index(self, key: tuple) -> int:
        return self.cells.index(key)

    def effect_weights(self, p: str, level, base) -> tuple[np.ndarray, str, list[str]]:
        """(weights over cells, "averaged" or "groups", the parameters averaged over) of level minus base."""
        i = self.params.index(p)
        others = [q for q in self.params if q != p]
        rest = lambda lv: {c[:i] + c[i + 1:] for c in self.cells if c[i] == lv}  # noqa: E731
        at_level, at_base = rest(level), rest(base)
        shared = at_level & at_base
        w = np.zeros(len(self.cells))
        if not others or (shared and at_level == shared and at_base == shared):
            for r in shared:
                w[self.index(r[:i] + (level,) + r[i:])] += 1 / len(shared)
                w[self.index(r[:i] + (base,) + r[i:])] -= 1 / len(shared)
            return w, "averaged", others
        # not crossed (random or Optuna search): the plain means of the two groups of runs
        for j, c in enumerate(self.cells):
            if c[i] == level:
                w[j] = self.counts[j]
            elif c[i] == base:
                w[j] = -self.counts[j]
        w[w > 0] /= w[w > 0].sum()
        w[w < 0] /= -w[w < 0].sum()
        return w, "groups", []

    def interaction_weights(self, p: str, a, q: str, b) -> tuple[np.ndarray, list[str]]:
        """Weights of (a, b) - (a0, b) - (a, b0) + (a0, b0), averaged over the other parameters (factorial grids)."""
        ip, iq = self.params.index(p), self.params.index(q)
        a0, b0 = self.baselines[p], self.baselines[q]
        rest_idx = [j for j in range(len(self.params)) if j not in (ip, iq)]
        others = sorted({tuple(c[j] for j in rest_idx) for c in self.cells}, key=lambda t: tuple(map(_sort_key, t)))
        w = np.zeros(len(self.cells))
        for o in others:
            for lp, lq, sign in ((a, b, 1), (a0, b, -1), (a, b0, -1), (a0, b0, 1)):
                key, it = [], iter(o)
                for j in range(len(self.params)):
                    key.append(lp if j == ip else lq if j == iq else next(it))
                w[self.index(tuple(key))] += sign / len(others)
        return w, [self.params[j] for j in rest_idx]

    def comparisons(self) -> list[tuple[str, str, Any, Any, np.ndarray, str, list[str]]]:
        """Every comparison a report makes: (kind, parameter, level, baseline, weights, how, averaged over)."""
        out = []
        for p in self.params:
            base = self.baselines[p]
            for level in self.levels(p):
                if level != base:
                    w, how, over = self.effect_weights(p, level, base)
                    out.append(("effect", p, level, base, w, how, over))
        if self.factorial:
            for p, q in combinations(self.params, 2):
                for a in self.levels(p):
                    for b in self.levels(q):
                        if a != self.baselines[p] and b != self.baselines[q]:
                            w, over = self.interaction_weights(p, a, q, b)
                            out.append(("interaction", f"{p} x {q}", (a, b), (self.baselines[p], self.baselines[q]),
                                        w, "averaged", over))
        return out


# -------------------------------------------------------------------------------------------------
# The fit


@dataclass
class DesignFit:
    metric: str
    mode: str
    scale: str  # "log" or "raw"
    scale_note: str  # why the scale was chosen, when it is not the metric's natural one ("" otherwise)
    layout: Layout | None
    tests: str  # how comparisons get their standard error: "hc2" (HC2 with Bell-McCaffrey df), "welch" or "pooled"
    equal_variances: bool  # Bartlett's test did not reject: configuration intervals use the pooled variance
    bartlett_p: float  # nan when fewer than two configurations have two runs
    residual_var: float  # pooled seed-to-seed variance on the analysis scale (nan without replication)
    residual_df: float
    analysis: EffectAnalysis
    cells: pd.DataFrame  # one row per configuration: params, n, mean, low, high, cell, in_best_set, margin
    variance: dict | None  # seed against sampling spread (see variance_sentence)
    min_effect: float | None  # the difference the plan targets, in metric units (None: 10% of each baseline)

    @property
    def best(self) -> pd.DataFrame:
        return self.cells

    def to_original(self, v: float) -> float:
        return math.exp(v) if self.scale == LOG else v


def fit_design(trials: pd.DataFrame, metric: str, mode: str, params: list[str],
               baselines: dict[str, Any] | None = None, *, uncertainty: str | None = None,
               min_effect: float | None = None, scale: str | None = None, variance: str = "auto",
               plan: bool = True, alpha: float = ALPHA) -> DesignFit:
    """Fit the design's one model to the finished runs and derive every statement from it.

    `scale` forces "log" or "raw" (default: the metric's, see `analysis_scale`); `variance` forces
    "pooled" or "own" (Welch) instead of Bartlett's rule. `scale="raw", variance="own"` is the method
    reports used before this model: Welch contrasts of raw configuration means, which the calibration
    measures the model against. `plan=False` skips the seeds each undecided comparison needs. `alpha`:
    the family-wise level of the verdicts and of the best set (intervals stay 95%); a sequential design
    spends its 5% over several looks with a smaller one at each."""
    data = usable_trials(trials, metric)
    requested = list(params)
    params = [p for p in params if p in data and data[p].nunique() > 1]
    values = data[metric].to_numpy(dtype=float) if len(data) else np.array([])
    natural = analysis_scale(metric)
    scale = scale or analysis_scale(metric, values)
    note = ("" if scale == natural else
            f"{metric} is fitted on the raw scale: some run has {metric} <= 0, which the log scale cannot take.")
    y = np.log(values) if scale == LOG else values
    empty = EffectAnalysis(metric, mode, params, dict(baselines or {}), False, [], [], 0)
    if not len(data):
        return DesignFit(metric, mode, scale, note, layout=None, tests="hc2", equal_variances=True,
                         bartlett_p=math.nan, residual_var=math.nan, residual_df=0.0, analysis=empty,
                         cells=_empty_cells(params), variance=None, min_effect=min_effect)
    keys = [tuple(r) for r in data[params].itertuples(index=False)] if params else [()] * len(data)
    layout = Layout.from_keys(keys, params, baselines)
    k = len(layout.cells)
    X = np.zeros((len(y), k))
    X[np.arange(len(y)), [layout.index(key) for key in keys]] = 1.0
    fit = sm.OLS(y, X).fit()
    groups = [y[X[:, j] == 1] for j in range(k)]
    replicated = [g for g in groups if len(g) >= 2]
    bartlett_p = math.nan
    if len(replicated) >= 2 and all(np.ptp(g) > 0 for g in replicated):
        bartlett_p = float(scipy.stats.bartlett(*replicated).pvalue)
    equal = not (bartlett_p < BARTLETT_ALPHA)
    tests = {"pooled": "pooled", "own": "welch"}.get(variance, "hc2" if equal else "welch")
    pooled = tests == "pooled" or (tests == "hc2" and equal)  # configuration intervals from the pooled variance
    residual_df = float(fit.df_resid)
    residual_var = float(fit.scale) if residual_df > 0 else math.nan
    means = np.array([g.mean() for g in groups])
    cov = None
    if residual_df > 0:
        with np.errstate(divide="ignore", invalid="ignore"):  # a single-run configuration has leverage 1
            cov = np.asarray(fit.cov_params() if tests == "pooled" else fit.cov_HC2)

    effects, interactions = [], []
    for kind, p, level, base, w, how, over in layout.comparisons():
        e = _comparison(fit, cov, groups, layout, w, tests, kind, p, level, base, how, over, data, scale, means)
        (effects if kind == "effect" else interactions).append(e)
    family = [e for e in effects + interactions if math.isfinite(e.p)]
    m = len(family)
    if m:
        for e, pa in zip(family, _holm([e.p for e in family])):
            e.p_adjusted = float(pa)
    for e in effects + interactions:
        e.detectable = detectable_difference(e.se, e.df, alpha / max(m, 1))
        e.verdict = _verdict(e, mode, alpha)
        if plan and e.verdict in (NO_DIFFERENCE, NO_INTERACTION) and math.isfinite(residual_var):
            target = min_effect if min_effect is not None else DEFAULT_MIN_EFFECT * abs(e.baseline_mean)
            e.target = float(target)
            e.seeds_needed = seeds_needed(e.weights, residual_var, alpha / max(m, 1),
                                          _model_difference(target, e.baseline_mean, scale))
    analysis = EffectAnalysis(metric, mode, params, dict(layout.baselines), layout.factorial, effects, interactions, m)
    cells = _cells(layout, groups, means, residual_var, residual_df, pooled, tests, scale, metric, mode, alpha)
    for p in requested:  # a parameter at one level among the finished runs: a constant column, not a factor
        if p not in params and p in data:
            cells.insert(requested.index(p), p, data[p].iloc[0])
    variance = _variance(data, values, groups, residual_var, residual_df, scale, uncertainty, metric)
    return DesignFit(metric, mode, scale, note, layout, tests, pooled, bartlett_p, residual_var, residual_df, analysis,
                     cells, variance, min_effect)


def _model_difference(target: float, baseline: float, scale: str) -> float:
    """A difference in metric units as a difference on the analysis scale (for log: the ratio 1 + d/b)."""
    if scale == LOG:
        return math.log1p(abs(target) / baseline) if baseline > 0 else math.nan
    return abs(target)


def _comparison(fit, cov, groups, layout: Layout, w, tests, kind, p, level, base, how, over, data, scale,
                means) -> Effect:
    used = w != 0
    if kind == "effect":
        i = layout.params.index(p)
        n_level = int(sum(layout.counts[j] for j, c in enumerate(layout.cells) if c[i] == level and used[j]))
        n_base = int(sum(layout.counts[j] for j, c in enumerate(layout.cells) if c[i] == base and used[j]))
    else:
        q, r = p.split(" x ")
        iq, ir = layout.params.index(q), layout.params.index(r)
        n_level = int(sum(layout.counts[j] for j, c in enumerate(layout.cells) if (c[iq], c[ir]) == level))
        n_base = int(sum(layout.counts[j] for j, c in enumerate(layout.cells) if (c[iq], c[ir]) == base))
    estimate = float(w @ means)
    single = any(layout.counts[j] < 2 for j in np.flatnonzero(used))
    if single or fit.df_resid < 1:
        se, df = math.nan, math.nan
    elif tests == "pooled":  # the fit's homoscedastic covariance of the configuration means
        se, df = math.sqrt(float(w @ cov @ w)), float(fit.df_resid)
    elif tests == "hc2":
        se, df = math.sqrt(float(w @ cov @ w)), bell_mccaffrey_df(w[used], layout.counts[used])
    else:
        c = contrast([(float(w[j]), groups[j]) for j in np.flatnonzero(used)])
        se, df = c.se, c.df
    if math.isfinite(se) and se > 0:
        p_value = float(2 * scipy.stats.t.sf(abs(estimate) / se, df))
        q = scipy.stats.t.ppf(1 - ALPHA / 2, df)
        low, high = estimate - q * se, estimate + q * se
    elif se == 0:
        p_value, low, high = (0.0 if estimate else 1.0), estimate, estimate
    else:
        p_value, low, high = math.nan, math.nan, math.nan
    # the two sides of the comparison, back in metric units: positive and negative weights, each summing to 1
    pos, neg = np.clip(w, 0, None), np.clip(-w, 0, None)
    back = math.exp if scale == LOG else (lambda v: v)
    if kind == "effect":
        level_mean, baseline_mean = back(float(pos @ means)), back(float(neg @ means))
    else:  # the interaction's reference: the baseline-baseline configurations, averaged over the rest
        ref = np.array([1.0 if (c[iq], c[ir]) == base else 0.0 for c in layout.cells])
        baseline_mean = back(float(ref @ means / ref.sum()))
        level_mean = math.nan
        # the first parameter's step at the second's level and at its baseline (simple effects)
        at_level = np.array([w[j] if c[ir] == level[1] else 0.0 for j, c in enumerate(layout.cells)])
        at_base = np.array([-w[j] if c[ir] == base[1] else 0.0 for j, c in enumerate(layout.cells)])
        steps = (float(at_level @ means), float(at_base @ means))
        simple = tuple(math.exp(v) if scale == LOG else v for v in steps)
    method = tests + ("-contrast" if how == "averaged" and over else "")
    e = Effect(p, level, base, kind, method, estimate, low, high, se, df, p_value, n_level, n_base,
               averaged_over=list(over) if how == "averaged" else [])
    e.scale, e.weights = scale, w
    e.seeds_now = int(min(layout.counts[j] for j in np.flatnonzero(used)))
    e.level_mean, e.baseline_mean = level_mean, baseline_mean
    e.difference = level_mean - baseline_mean if kind == "effect" else math.nan
    if kind == "interaction":
        e.simple = simple
    if scale == LOG:
        e.ratio, e.ratio_low, e.ratio_high = math.exp(estimate), math.exp(low), math.exp(high)
    return e


def bell_mccaffrey_df(weights, counts) -> float:
    """Degrees of freedom of a contrast's HC2 variance, sum(w_c^2 s_c^2 / n_c), when the configurations
    share one variance (Bell and McCaffrey 2002; Imbens and Kolesar 2016): Satterthwaite's for that sum
    of independent chi-squares. N - k for a contrast that weighs every configuration alike, 2(n - 1) for
    two configurations of n runs."""
    w, n = np.asarray(weights, dtype=float), np.asarray(counts, dtype=float)
    a = w * w / n
    return float(a.sum() ** 2 / np.sum(a * a / (n - 1)))


def _verdict(e: Effect, mode: str, alpha: float = ALPHA) -> str:
    if not math.isfinite(e.se):
        return NEEDS_SEEDS
    if math.isfinite(e.p_adjusted) and e.p_adjusted < alpha:
        if e.kind == "interaction":
            return INTERACTION
        return BETTER if (e.estimate < 0) == (mode == "min") else WORSE
    return NO_INTERACTION if e.kind == "interaction" else NO_DIFFERENCE


def seeds_needed(weights: np.ndarray, residual_var: float, alpha: float, difference: float,
                 power: float = POWER) -> int | None:
    """Smallest number of seeds per configuration (the same in each) at which a contrast with these
    weights over the configurations detects `difference` (analysis scale) with `power` at `alpha`,
    given the residual variance (the test: HC2 with Bell-McCaffrey df); None beyond MAX_SEEDS."""
    if not (math.isfinite(residual_var) and residual_var > 0 and math.isfinite(difference) and difference > 0):
        return None
    w = np.asarray(weights, dtype=float)
    ss, used = float(np.sum(w ** 2)), w[w != 0]

    def enough(n: int) -> bool:
        df = bell_mccaffrey_df(used, np.full(len(used), float(n)))
        d = detectable_difference(math.sqrt(residual_var * ss / n), df, alpha, power)
        return math.isfinite(d) and d <= difference

    if not enough(MAX_SEEDS):
        return None
    low, high = 2, MAX_SEEDS
    if enough(low):
        return low
    while high - low > 1:  # enough(high) and not enough(low)
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def plan_comparisons(layout: Layout, residual_var: float, scale: str, grand_mean: float, seeds: int,
                     min_effect: float | None = None) -> list[dict]:
    """For a planned design (every configuration with `seeds` runs) and a pilot's residual variance: each
    comparison's detectable difference at `seeds` and the seeds it needs to detect `min_effect` (metric
    units; default 10% of the pilot's mean), both at 80% power and the Bonferroni level."""
    comps = layout.comparisons()
    m = max(len(comps), 1)
    target = min_effect if min_effect is not None else DEFAULT_MIN_EFFECT * abs(grand_mean)
    diff = _model_difference(target, grand_mean, scale)
    rows = []
    for kind, p, level, base, w, how, over in comps:
        ss, used = float(np.sum(w ** 2)), w[w != 0]
        df = bell_mccaffrey_df(used, np.full(len(used), float(seeds))) if seeds >= 2 else math.nan
        detectable = (detectable_difference(math.sqrt(residual_var * ss / seeds), df, ALPHA / m)
                      if seeds >= 2 else math.nan)
        rows.append({"kind": kind, "parameter": p, "level": level, "baseline": base, "target": target,
                     "detectable": (math.expm1(detectable) * grand_mean if scale == LOG else detectable),
                     "seeds_needed": seeds_needed(w, residual_var, ALPHA / m, diff)})
    return rows


# -------------------------------------------------------------------------------------------------
# Configurations, the best set and the variance components, from the same fit


def _empty_cells(params) -> pd.DataFrame:
    return pd.DataFrame(columns=[*params, "n", "mean", "low", "high", "half_width", "interval", "cell", "in_best_set",
                                 "margin"])


def _cells(layout: Layout, groups, means, residual_var, residual_df, pooled, tests, scale, metric, mode,
           alpha: float = ALPHA) -> pd.DataFrame:
    k = len(layout.cells)
    n = layout.counts
    if pooled and residual_df > 0:
        se = np.sqrt(residual_var / n)
        q = np.full(k, scipy.stats.t.ppf(1 - ALPHA / 2, residual_df))
    else:  # each configuration's own variance
        se = np.array([np.std(g, ddof=1) / math.sqrt(len(g)) if len(g) >= 2 else math.nan for g in groups])
        q = np.array([scipy.stats.t.ppf(1 - ALPHA / 2, len(g) - 1) if len(g) >= 2 else math.nan for g in groups])
    lo_b, hi_b = OUTPUTS[metric].bounds if metric in OUTPUTS else (-math.inf, math.inf)
    rows = []
    for j, key in enumerate(layout.cells):
        low, high = means[j] - q[j] * se[j], means[j] + q[j] * se[j]
        if scale == LOG:
            centre, low, high = math.exp(means[j]), math.exp(low), math.exp(high)
        else:
            centre, low, high = means[j], max(low, lo_b), min(high, hi_b)
        rows.append({**dict(zip(layout.params, key)), "n": int(n[j]), "mean": float(centre), "low": float(low),
                     "high": float(high), "half_width": (high - low) / 2,
                     "interval": ("pooled" if pooled else "own") + (" log" if scale == LOG else ""),
                     "cell": _cell_text(centre, low, high, int(n[j]))})
    table = pd.DataFrame(rows)
    order = np.argsort(means if mode == "min" else -means, kind="stable")
    table = table.iloc[order].reset_index(drop=True)
    sorted_means, sorted_groups = means[order], [groups[j] for j in order]
    if k == 1:
        return table.assign(in_best_set=True, margin=0.0)
    if (n < 2).any() or not (residual_df >= 1):
        return table.assign(in_best_set=None, margin=math.nan)
    sign = 1.0 if mode == "min" else -1.0
    q_pooled = scipy.stats.t.ppf(1 - alpha / (k - 1), residual_df)  # one-sided, Bonferroni over k - 1
    keep, margins = [], []
    for i in range(k):
        gaps = []
        for jj in range(k):
            if jj == i:
                continue
            ni, nj = len(sorted_groups[i]), len(sorted_groups[jj])
            if tests == "pooled":
                se_ij = math.sqrt(residual_var * (1 / ni + 1 / nj))
                q_ij = q_pooled
            else:  # the pair's HC2 variance: its own two configurations'
                c = contrast([(1.0, sorted_groups[i]), (-1.0, sorted_groups[jj])])
                df = bell_mccaffrey_df([1.0, -1.0], [ni, nj]) if tests == "hc2" else c.df
                se_ij, q_ij = c.se, scipy.stats.t.ppf(1 - alpha / (k - 1), df)
            margin = q_ij * se_ij if se_ij > 0 else 0.0
            gaps.append(sign * (sorted_means[i] - sorted_means[jj]) - margin)
            if jj == 0:
                margins.append(margin)
        if i == 0:
            margins.append(0.0)
        keep.append(bool(max(gaps) <= 0))
    return table.assign(in_best_set=keep, margin=margins)


def _cell_text(centre: float, low: float, high: float, n: int) -> str:
    from analysis.stats import _decimals, format_number

    half = (high - low) / 2
    d = _decimals(half, centre)
    if not math.isfinite(half):
        return f"{format_number(centre, d)} ({n})"
    return f"{format_number(centre, d)} [{format_number(low, d)}, {format_number(high, d)}] ({n})"


def _variance(data, values, groups, residual_var, residual_df, scale, uncertainty, metric) -> dict | None:
    if not (residual_df >= 1 and math.isfinite(residual_var)):
        return None
    out = {"scale": scale, "seed_sd": math.sqrt(residual_var), "seed_df": residual_df, "runs": int(len(values))}
    if uncertainty and uncertainty in data and data[uncertainty].notna().any():
        spread = data[uncertainty].astype(float).to_numpy()
        if scale == LOG:  # the SD of log(metric) of one model's samples: its relative SD (delta method)
            spread = spread / values
        sampling_var = float(np.nanmean(spread ** 2))
        out.update({"sampling_sd": math.sqrt(sampling_var),
                    "training_sd": math.sqrt(max(0.0, residual_var - sampling_var)),
                    "ratio": math.sqrt(residual_var / sampling_var) if sampling_var > 0 else math.inf})
    return out

