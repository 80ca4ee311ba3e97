"""The statistics behind a report's verdicts: agreement with scipy and statsmodels, and calibration by
simulation on synthetic trial tables run through the same functions the report calls on MLflow data."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf

from analysis.calibration import best_set_coverage, detection_rate, false_verdict_rate, trials_table, welch_power
from analysis.conclusions import effect_sentence
from analysis.stats import (
    BETTER, NEEDS_SEEDS, NO_DIFFERENCE, WORSE, Interval, analyse_effects, best_set, cell_table, contrast, format_interval,
    interval,
    variance_components,
)

METRIC = "fid"


table = trials_table


def test_cell_interval_is_scipys_t_interval_and_bootstrap_from_20_runs():
    values = [201.3, 197.6, 215.0]
    iv = interval(values)
    low, high = scipy.stats.t.interval(0.95, 2, loc=np.mean(values), scale=scipy.stats.sem(values))
    assert (iv.method, iv.n) == ("t", 3)
    assert iv.low == pytest.approx(low) and iv.high == pytest.approx(high)
    many = np.random.default_rng(0).normal(100, 10, 25)
    boot = interval(many)
    assert boot.method == "bootstrap" and boot.low < many.mean() < boot.high
    t_low, t_high = scipy.stats.t.interval(0.95, 24, loc=many.mean(), scale=scipy.stats.sem(many))
    assert boot.half_width == pytest.approx((t_high - t_low) / 2, rel=0.25)  # same scale as the t-interval
    assert interval([5.0]).method == "none" and math.isnan(interval([5.0]).low)
    assert interval([1.0, math.inf, math.nan, 3.0]).n == 2  # diverged runs do not count


def test_cells_read_mean_plus_minus_half_width_and_n_rounded_to_the_interval():
    assert format_interval(Interval(197.6, 181.2, 214.0, 3, "t")) == "198 ± 16 (3)"
    assert format_interval(Interval(0.90251, 0.89941, 0.90561, 5, "t")) == "0.9025 ± 0.0031 (5)"
    assert format_interval(Interval(361.3, math.nan, math.nan, 1, "none")) == "361 (1)"


def test_two_groups_are_scipys_welch_test():
    rng = np.random.default_rng(3)
    a, b = rng.normal(200, 15, 3), rng.normal(170, 4, 5)
    data = table({(8,): list(b), (32,): list(a)}, ["model.g_width"])
    (e,) = analyse_effects(data, METRIC, "min", ["model.g_width"], {"model.g_width": 8}).effects
    ref = scipy.stats.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert e.estimate == pytest.approx(a.mean() - b.mean())
    assert (e.low, e.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert e.p == pytest.approx(ref.pvalue) and e.df == pytest.approx(ref.df)
    assert e.method == "welch" and e.averaged_over == []


def test_factorial_contrast_matches_statsmodels_heteroscedastic_standard_error():
    """The main effect averaged over the other factor has Welch's variance: statsmodels' HC2 covariance of
    a cell-means regression is exactly that, computed independently."""
    rng = np.random.default_rng(7)
    params = ["a", "b"]
    cells = {(x, y): list(rng.normal(10 * x + 3 * y, 1 + 2 * x + y, 3 + x)) for x in (0, 1) for y in (0, 1)}
    data = table(cells, params)
    analysis = analyse_effects(data, METRIC, "min", params, {"a": 0, "b": 0})
    effect_a = next(e for e in analysis.effects if e.parameter == "a")
    fit = smf.ols("fid ~ C(a):C(b) - 1", data=data).fit(cov_type="HC2")
    names = {(x, y): f"C(a)[{x}]:C(b)[{y}]" for x in (0, 1) for y in (0, 1)}
    weights = pd.Series(0.0, index=fit.params.index)
    for y in (0, 1):
        weights[names[(1, y)]] += 0.5
        weights[names[(0, y)]] -= 0.5
    test = fit.t_test(weights.to_numpy()[None, :])
    assert effect_a.estimate == pytest.approx(float(test.effect[0]))
    assert effect_a.se == pytest.approx(float(test.sd[0][0]))
    # Welch-Satterthwaite degrees of freedom, written out independently
    parts = [0.25 * np.var(v, ddof=1) / len(v) for v in cells.values()]
    df = sum(parts) ** 2 / sum(p * p / (len(v) - 1) for p, v in zip(parts, cells.values()))
    assert effect_a.df == pytest.approx(df)
    # with equal variances and sizes the df are those of the pooled model, N - k
    equal = contrast([(c, np.array([0.0, 1.0, 2.0])) for c in (0.5, 0.5, -0.5, -0.5)])
    assert equal.df == pytest.approx(8)


def test_single_runs_need_seeds_and_verdicts_follow_the_metric_direction():
    one = table({(8,): [360.0], (32,): [200.0]}, ["model.g_width"])
    (e,) = analyse_effects(one, METRIC, "min", ["model.g_width"]).effects
    assert e.verdict == NEEDS_SEEDS and "needs >= 2 seeds" in effect_sentence(e, METRIC)
    clear = table({(8,): [360.0, 355.0, 365.0], (32,): [200.0, 205.0, 195.0]}, ["model.g_width"])
    assert analyse_effects(clear, METRIC, "min", ["model.g_width"]).effects[0].verdict == BETTER
    assert analyse_effects(clear, METRIC, "max", ["model.g_width"]).effects[0].verdict == WORSE
    flat = table({(8,): [200.0, 230.0, 215.0], (32,): [210.0, 225.0, 205.0]}, ["model.g_width"])
    (e,) = analyse_effects(flat, METRIC, "min", ["model.g_width"]).effects
    assert e.verdict == NO_DIFFERENCE and e.detectable > abs(e.estimate)
    assert "could have detected about" in effect_sentence(e, METRIC)


@pytest.mark.parametrize("design, n", [("levels", 3), ("factorial", 2)])
def test_no_planted_difference_gives_a_false_verdict_in_at_most_8_percent_of_studies(design, n):
    assert false_verdict_rate(design, n, studies=400, seed=2024) <= 0.08  # 5% plus simulation error


@pytest.mark.parametrize("n, delta", [(3, 25.0), (5, 18.0)])
def test_detection_rate_of_a_planted_difference_matches_the_welch_tests_power(n, delta):
    expected = welch_power(delta, 10.0, n)
    assert 0.3 < expected < 0.9  # a rate where a miscalibration would show
    # 1000 studies: the binomial SD of the rate is at most 1.6 points, so 5 points is 3 SDs
    rate = detection_rate(n, delta, studies=1000, seed=n)
    assert abs(rate - expected) <= 0.05, (rate, expected)


def test_welch_power_is_the_exact_power_not_students():
    # at n = 3 Welch's estimated degrees of freedom cost power that Student's t with 4 df would claim
    student = scipy.stats.nct.sf(scipy.stats.t.ppf(0.975, 4), 4, 25 / (10 * math.sqrt(2 / 3)))
    assert welch_power(25.0, 10.0, 3) < student - 0.05
    assert 0.03 < welch_power(0.0, 10.0, 5) <= 0.05  # its size: Welch is slightly conservative with equal variances


def test_best_set_keeps_the_true_best_configuration_at_least_95_percent_of_the_time():
    coverage, size = best_set_coverage(studies=400, seed=11)
    assert coverage >= 0.93  # 95% target, less 2 binomial SDs
    assert size < 4.5  # and it is not the whole sweep: the clearly worse ones drop out


def test_best_set_cannot_say_with_single_runs():
    best = best_set(table({(8,): [360.0], (32,): [200.0]}, ["p"]), METRIC, "min", ["p"])
    assert best["in_best_set"].isna().all() and best.iloc[0]["p"] == 32


def test_variance_components_pool_seed_spread_and_compare_it_with_sampling_spread():
    rng = np.random.default_rng(5)
    data = table({(lv,): list(rng.normal(100 + 50 * lv, 12, 4)) for lv in range(3)}, ["p"])
    data["fid_std"] = 3.0
    vc = variance_components(data, METRIC, ["p"], "fid_std")
    pooled = np.mean([np.var(g, ddof=1) for _, g in data.groupby("p")[METRIC]])
    assert vc["seed_sd"] == pytest.approx(math.sqrt(pooled)) and vc["seed_df"] == 9
    assert vc["sampling_sd"] == pytest.approx(3.0) and vc["ratio"] == pytest.approx(math.sqrt(pooled) / 3.0)
    assert variance_components(table({(0,): [1.0], (1,): [2.0]}, ["p"]), METRIC, ["p"], None) is None


def test_cell_table_has_one_row_per_configuration():
    data = table({(8, 16): [1.0, 2.0], (8, 100): [3.0, 5.0], (32, 16): [4.0]}, ["g", "z"])
    cells = cell_table(data, METRIC, ["g", "z"])
    assert len(cells) == 3 and list(cells["n"]) == [2, 2, 1]
    assert cells.loc[1, "cell"] == format_interval(interval([3.0, 5.0]))
