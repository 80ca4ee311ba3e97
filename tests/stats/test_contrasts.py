"""The building blocks of the statistics: a configuration's own interval, Welch's contrast and the detectable
difference, each against scipy."""

import math

import numpy as np
import pytest
import scipy.stats

from stats.calibration import welch_power
from stats.contrasts import Interval, cell_table, contrast, detectable_difference, format_interval, interval
from stats.calibration import trials_table as table

METRIC = "fid"


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


def test_welch_contrast_of_two_groups_is_scipys_welch_test():
    rng = np.random.default_rng(3)
    a, b = rng.normal(200, 15, 3), rng.normal(170, 4, 5)
    c = contrast([(1.0, a), (-1.0, b)])
    ref = scipy.stats.ttest_ind(a, b, equal_var=False)
    assert c.estimate == pytest.approx(a.mean() - b.mean())
    assert c.p_value() == pytest.approx(ref.pvalue) and c.df == pytest.approx(ref.df)
    assert c.ci() == (pytest.approx(ref.confidence_interval().low), pytest.approx(ref.confidence_interval().high))
    # with equal variances and sizes the degrees of freedom are those of the pooled model, N - k
    equal = contrast([(w, np.array([0.0, 1.0, 2.0])) for w in (0.5, 0.5, -0.5, -0.5)])
    assert equal.df == pytest.approx(8)


def test_detectable_difference_is_where_the_noncentral_t_reaches_80_percent_power():
    df, alpha = 6.0, 0.05 / 3
    crit = scipy.stats.t.ppf(1 - alpha / 2, df)
    # the noncentrality is solved once per (df, alpha, power) and reused: each standard error still gets its own
    for se in (2.0, 0.5, 7.0):
        d = detectable_difference(se, df, alpha)
        power = scipy.stats.nct.sf(crit, df, d / se) + scipy.stats.nct.cdf(-crit, df, d / se)
        assert power == pytest.approx(0.8, abs=1e-6)
    assert detectable_difference(7.0, df, alpha) > detectable_difference(2.0, df, alpha)


def test_welch_power_is_the_exact_power_not_students():
    # at n = 3 Welch's estimated degrees of freedom cost power that Student's t with 4 df would claim
    student = scipy.stats.nct.sf(scipy.stats.t.ppf(0.975, 4), 4, 25 / (10 * math.sqrt(2 / 3)))
    assert welch_power(25.0, 10.0, 3) < student - 0.05
    assert 0.03 < welch_power(0.0, 10.0, 5) <= 0.05  # its size: Welch is slightly conservative with equal variances


def test_cell_table_has_one_row_per_configuration():
    data = table({(8, 16): [1.0, 2.0], (8, 100): [3.0, 5.0], (32, 16): [4.0]}, ["g", "z"])
    cells = cell_table(data, METRIC, ["g", "z"])
    assert len(cells) == 3 and list(cells["n"]) == [2, 2, 1]
    assert cells.loc[1, "cell"] == format_interval(interval([3.0, 5.0]))
    # against an independent reference: scipy's t half-width t(0.975, n - 1) s / sqrt(n), and the text written
    # by hand at the half-width's second significant digit (6.353 -> 6.4, 12.71 -> 13; the mean to 3 digits
    # when a single run has no interval)
    half_widths = [scipy.stats.t.ppf(0.975, 1) * scipy.stats.sem(v) for v in ([1.0, 2.0], [3.0, 5.0])]
    assert half_widths == [pytest.approx(6.3531, abs=1e-4), pytest.approx(12.7062, abs=1e-4)]
    assert list(cells["mean"]) == [1.5, 4.0, 4.0] and list(cells["half_width"][:2]) == pytest.approx(half_widths)
    assert list(cells["cell"]) == ["1.5 ± 6.4 (2)", "4 ± 13 (2)", "4.00 (1)"]
