"""One fitted model behind every verdict of a report.

**The model.** Every finished run's final metric, on the metric's analysis scale, is fitted by OLS on
one mean per configuration (statsmodels: a cell-means regression, the saturated model of the design).
In a full factorial grid that is the model with every swept factor and every interaction; in
sum-to-zero coding its main effects are exactly the equal-weight averages of `stats.layout`. From
that one fit come:

- each effect of a level against its baseline and each two-way interaction (linear contrasts of the
  configuration means, `stats.layout.Layout`), with HC2 standard errors (statsmodels) and
  Bell-McCaffrey degrees of freedom: for a contrast that weighs every configuration alike (the main
  effects and interactions of a balanced grid) exactly the pooled residual variance with N - k degrees
  of freedom; for one that compares a few configurations, their variance (with equal seeds, Student's
  t-test of those configurations). Pooling over every configuration for every comparison would let one
  noisy configuration make others look different (the calibration measures 8.5-12% false verdicts in
  one-way designs with a noisy baseline);
- each configuration's interval: its mean +- t * s / sqrt(n), with the pooled s and its N - k df;
- the best set (Gupta's subset selection, each pair's one-sided margin, Bonferroni over k - 1);
- the variance components, and the seeds each undecided comparison would need (`stats.layout`).

**The scale.** Metrics the registry declares positive (FID, KID, IS) are fitted on the log scale:
their seed-to-seed SD grows with their size (about 5-15% of FID), so the log makes it constant, and
effects become ratios ("lowers FID by 29%"). Intervals are back-transformed, so they stay above zero;
a configuration's centre is then its geometric mean over seeds. Other metrics are fitted as they are,
and their intervals are clipped to the metric's range. A positive metric with a value <= 0 in some
run falls back to the raw scale, and the report says so.

**Unequal variances.** Rule: Bartlett's test (scipy) over the configurations with at least two runs,
on the analysis scale, at the 1% level. When it rejects, the report says so and every interval, test
and the best set use each configuration's own variance (Welch-Satterthwaite degrees of freedom), which
is valid whatever the variances, at a cost in power.

**Multiplicity and verdicts.** Holm's step-down correction (statsmodels) over every effect and
interaction of the report keeps the chance of any false `better`, `worse` or `interaction` at 5%. A
comparison that a configuration with a single run enters gets `needs >= 2 seeds`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats
import statsmodels.api as sm

from stats.claims import ClaimVerdict, NotTestable, claim_contrast, ends_weights, judge_claim, NOT_COMPARABLE
from stats.collapse import FailureComparison, failure_comparisons, failure_rates, find_collapses
from stats.layout import DEFAULT_MIN_EFFECT, LOG, RAW, Layout, bell_mccaffrey_df, model_difference, seeds_needed
from stats.contrasts import (
    ALPHA, BETTER, INTERACTION, NEEDS_SEEDS, NO_DIFFERENCE, NO_INTERACTION, WORSE, Effect, EffectAnalysis, decimals_for,
    _holm, contrast, detectable_difference, format_number, usable_trials,
)
from record.claims import TREND
from record.metrics import OUTPUTS
from record.status import Status

__all__ = ["BARTLETT_ALPHA", "TESTS", "DesignFit", "analysis_scale", "fit_design"]

BARTLETT_ALPHA = 0.01  # below this Bartlett p-value the variances are taken to differ: Welch instead of pooling
TESTS = {  # how a fit's comparisons get their standard errors, as a report states it
    "hc2": "HC2 standard errors with Bell-McCaffrey degrees of freedom (for a contrast that weighs every "
           "configuration alike, exactly the pooled residual variance with N - k df; for one that compares a few, "
           "those configurations' own variance)",
    "welch": "each configuration's own variance (Welch-Satterthwaite degrees of freedom)",
    "pooled": "the residual variance pooled over every configuration",
}


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
    # the runs that collapsed (stats.collapse): params, seed, the metric, z (nan for a diverged run), left out of the
    # fit; and each factor's levels against its baseline in how often their runs collapse
    collapsed: pd.DataFrame = field(default_factory=pd.DataFrame)
    failures: list[FailureComparison] = field(default_factory=list)
    failure_rates: pd.DataFrame = field(default_factory=pd.DataFrame)  # per configuration, Clopper-Pearson intervals
    claims: list[ClaimVerdict] = field(default_factory=list)  # each claim about this metric, judged (stats.claims)


def fit_design(trials: pd.DataFrame, metric: str, mode: str, params: list[str],
               baselines: dict[str, Any] | None = None, *, uncertainty: str | None = None,
               min_effect: float | None = None, scale: str | None = None, variance: str = "auto",
               plan: bool = True, alpha: float = ALPHA, collapses: str = "exclude", claims=()) -> DesignFit:
    """Fit the design's one model to the finished runs and derive every statement from it.

    `scale` forces "log" or "raw" (default: the metric's, see `analysis_scale`); `variance` forces
    "pooled" or "own" (Welch) instead of Bartlett's rule. `scale="raw", variance="own"` is the method
    reports used before this model: Welch contrasts of raw configuration means, which the calibration
    measures the model against. `plan=False` skips the seeds each undecided comparison needs. `alpha`:
    the family-wise level of the verdicts and of the best set (intervals stay 95%); a sequential design
    spends its 5% over several looks with a smaller one at each. `collapses="keep"` fits every finished run, as
    reports did before collapsed runs were set aside (stats.collapse), which the calibration compares with.
    `claims` (record.claims) about this metric are tested in the same family and judged (stats.claims)."""
    claims = [c for c in claims if (c.metric or metric) == metric]
    data = usable_trials(trials, metric)
    requested = list(params)
    params = [p for p in params if p in data and data[p].nunique() > 1]
    values = data[metric].to_numpy(dtype=float) if len(data) else np.array([])
    natural = analysis_scale(metric)
    scale = scale or analysis_scale(metric, values)
    note = ("" if scale == natural else
            f"{metric} is fitted on the raw scale: some run has {metric} <= 0, which the log scale cannot take.")
    y = np.log(values) if scale == LOG else values
    collapsed = pd.DataFrame()
    failures, rates = [], pd.DataFrame()
    if collapses == "exclude" and len(data):
        data, y, values, collapsed, failures, rates = _set_aside_collapses(trials, data, y, values, metric, mode,
                                                                           params, baselines, requested)
    empty = EffectAnalysis(metric, mode, params, dict(baselines or {}), False, [], [], 0)
    if not len(data):
        return DesignFit(metric, mode, scale, note, layout=None, tests="hc2", equal_variances=True,
                         bartlett_p=math.nan, residual_var=math.nan, residual_df=0.0, analysis=empty,
                         cells=_empty_cells(params), variance=None, min_effect=min_effect,
                         claims=[ClaimVerdict(c, NOT_COMPARABLE, None, "no finished run") for c in claims])
    keys = _keys(data, params)
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
    pooled = tests != "welch"  # configuration intervals from the pooled variance
    residual_df, residual_var = float(fit.df_resid), (float(fit.scale) if fit.df_resid > 0 else math.nan)
    means = np.array([g.mean() for g in groups])
    cov = None
    if residual_df > 0:
        with np.errstate(divide="ignore", invalid="ignore"):  # a single-run configuration has leverage 1
            cov = np.asarray(fit.cov_params() if tests == "pooled" else fit.cov_HC2)

    effects, interactions = [], []
    for kind, p, level, base, w, how, over in layout.comparisons():
        e = _comparison(fit, cov, groups, layout, w, tests, kind, p, level, base, how, over, scale, means)
        (effects if kind == "effect" else interactions).append(e)
    tested, extra = _claim_contrasts(claims, effects + interactions, fit, cov, groups, layout, tests, scale, means)
    m = _judge(effects + interactions + extra, mode, alpha, residual_var if plan else math.nan, min_effect, scale,
               failures if not collapsed.empty else [])
    verdicts = [judge_claim(c, _flipped(e) if flip else e, mode, m, min_effect, scale, alpha) if isinstance(e, Effect)
                else ClaimVerdict(c, NOT_COMPARABLE, None, e) for c, e, flip in tested]
    analysis = EffectAnalysis(metric, mode, params, dict(layout.baselines), layout.factorial, effects, interactions, m)
    cells = _cells(layout, groups, means, residual_var, residual_df, pooled, tests, scale, metric, mode, alpha)
    for p in requested:  # a parameter at one level among the finished runs: a constant column, not a factor
        if p not in params and p in data:
            cells.insert(requested.index(p), p, data[p].iloc[0])
    variance = _variance(data, values, groups, residual_var, residual_df, scale, uncertainty, metric)
    return DesignFit(metric, mode, scale, note, layout, tests, pooled, bartlett_p, residual_var, residual_df, analysis,
                     cells, variance, min_effect, collapsed, failures, rates, verdicts)


def _claim_contrasts(claims, comparisons, fit, cov, groups, layout, tests, scale, means):
    """Each claim with the comparison that tests it (one of `comparisons` when it is the same contrast, else a
    new one) or the reason it cannot be tested; and the new comparisons, which join the Holm family."""
    tested, extra = [], []
    for c in claims:
        try:
            kind, p, level, base, w, how, over = claim_contrast(layout, c)
        except NotTestable as e:
            tested.append((c, str(e), False))
            continue
        known = [e for e in [*comparisons, *extra] if e.weights is not None and e.weights.shape == w.shape]
        same = next((e for e in known if np.allclose(e.weights, w)), None)
        flip = next((e for e in known if np.allclose(e.weights, -w)), None) if same is None else None
        if flip is not None:  # the same test the other way round (baseline against level): one family member
            tested.append((c, flip, True))
            continue
        if same is None:
            same = _comparison(fit, cov, groups, layout, w, tests, kind, p, level, base, how, over, scale, means)
            if c.kind == TREND:  # the two ends' means, at the claim's setting, averaged over the other factors
                ends = ends_weights(layout, c, level, base)
                back = math.exp if scale == LOG else (lambda v: v)
                same.level_mean = back(float(np.clip(ends, 0, None) @ means))
                same.baseline_mean = back(float(np.clip(-ends, 0, None) @ means))
                same.difference = same.level_mean - same.baseline_mean
            extra.append(same)
        tested.append((c, same, False))
    return tested, extra


def _flipped(e: Effect) -> Effect:
    """A comparison the other way round: the same test and p-values, the estimate and interval negated."""
    import dataclasses

    inv = lambda v: 1 / v if v else math.inf  # noqa: E731
    return dataclasses.replace(
        e, level=e.baseline, baseline=e.level, estimate=-e.estimate, low=-e.high, high=-e.low,
        level_mean=e.baseline_mean, baseline_mean=e.level_mean, difference=-e.difference, ratio=inv(e.ratio),
        ratio_low=inv(e.ratio_high), ratio_high=inv(e.ratio_low), weights=-e.weights, simple=())


def _keys(table: pd.DataFrame, params: list[str]) -> list[tuple]:
    """Each run's configuration: its levels of `params`, in order."""
    if not params:
        return [()] * len(table)
    return list(zip(*(iter(table[p]) for p in params)))  # each column's scalars, as itertuples gives them


def _set_aside_collapses(trials, data, y, values, metric, mode, params, baselines, requested):
    """The finished runs less the collapsed ones (stats.collapse), and what collapsed: the flagged and the diverged
    runs, each configuration's rate, and each factor's levels compared in how often they collapse (a factor of
    `requested` counts there when its levels differ among all these runs, even if its finished runs share one)."""
    keys = _keys(data, params)
    found = find_collapses(y, keys, mode)
    flagged = found.flagged.to_numpy()
    shown = data.assign(z=found.z.to_numpy())[flagged]
    diverged = trials[trials["status"] == Status.DIVERGED] if "status" in trials else trials.iloc[0:0]
    collapsed = pd.concat([shown, diverged.assign(z=math.nan)]) if len(diverged) else shown
    every = pd.concat([data.assign(collapsed=flagged), diverged.assign(collapsed=True)])
    factors = [p for p in requested if p in every and every[p].nunique() > 1]
    every = every[factors + ["collapsed"]].dropna(subset=factors)
    every_keys = _keys(every, factors)
    rates = failure_rates(every["collapsed"], every_keys)
    for i, p in enumerate(factors if len(rates) else ()):  # each configuration's levels, as columns of their own
        rates.insert(i, p, [k[i] for k in rates["key"]])
    failures = failure_comparisons(every[factors], every["collapsed"], dict(baselines or {}))
    return data[~flagged], y[~flagged], values[~flagged], collapsed, failures, rates


def _judge(comparisons: list, mode: str, alpha: float, residual_var: float, min_effect, scale: str,
           failures: list = ()) -> int:
    """Holm-adjust the comparisons' p-values over the family (with the failure-rate comparisons, when some run
    collapsed), give each its verdict, and where a comparison finds no difference (and `residual_var` is finite)
    the seeds it needs for `min_effect`; returns the family's size."""
    family = [e for e in [*comparisons, *failures] if math.isfinite(e.p)]
    m = len(family)
    if m:
        for e, pa in zip(family, _holm([e.p for e in family])):
            e.p_adjusted = float(pa)
    for f in failures:
        if not (f.runs_level and f.runs_baseline):  # a level none of whose runs ended (all errored): no rate
            f.verdict = NO_DIFFERENCE
            continue
        more = f.collapsed_level / f.runs_level > f.collapsed_baseline / f.runs_baseline
        f.verdict = (("collapses more often" if more else "collapses less often")
                     if math.isfinite(f.p_adjusted) and f.p_adjusted < alpha else NO_DIFFERENCE)
    for e in comparisons:
        e.detectable = detectable_difference(e.se, e.df, alpha / max(m, 1))
        e.verdict = _verdict(e, mode, alpha)
        if e.verdict in (NO_DIFFERENCE, NO_INTERACTION) and math.isfinite(residual_var):
            target = min_effect if min_effect is not None else DEFAULT_MIN_EFFECT * abs(e.baseline_mean)
            e.target = float(target)
            e.seeds_needed = seeds_needed(e.weights, residual_var, alpha / max(m, 1),
                                          model_difference(target, e.baseline_mean, scale))
    return m


def _comparison(fit, cov, groups, layout: Layout, w, tests, kind, p, level, base, how, over, scale,
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


def _verdict(e: Effect, mode: str, alpha: float = ALPHA) -> str:
    if not math.isfinite(e.se):
        return NEEDS_SEEDS
    if math.isfinite(e.p_adjusted) and e.p_adjusted < alpha:
        if e.kind == "interaction":
            return INTERACTION
        return BETTER if (e.estimate < 0) == (mode == "min") else WORSE
    return NO_INTERACTION if e.kind == "interaction" else NO_DIFFERENCE


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
    q_pooled = _t_quantile(1 - alpha / (k - 1), residual_df)  # one-sided, Bonferroni over k - 1
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
                se_ij, q_ij = c.se, _t_quantile(1 - alpha / (k - 1), df)
            margin = q_ij * se_ij if se_ij > 0 else 0.0
            gaps.append(sign * (sorted_means[i] - sorted_means[jj]) - margin)
            if jj == 0:
                margins.append(margin)
        if i == 0:
            margins.append(0.0)
        keep.append(bool(max(gaps) <= 0))
    return table.assign(in_best_set=keep, margin=margins)


@functools.lru_cache(maxsize=4096)
def _t_quantile(p: float, df: float) -> float:
    """Student's t quantile: the best set asks it once per pair of configurations, mostly at the same few df."""
    return float(scipy.stats.t.ppf(p, df))


def _cell_text(centre: float, low: float, high: float, n: int) -> str:
    half = (high - low) / 2
    d = decimals_for(half, centre)
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

