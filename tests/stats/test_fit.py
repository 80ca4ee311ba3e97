"""The report's one fitted model: agreement with independent statsmodels and scipy computations, its rule
for unequal variances, its plan, (no training). Its calibration by simulation is tests/stats/test_calibration.py."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

from analysis.conclusions import effect_sentence, model_sentences
from stats.layout import Layout, bell_mccaffrey_df, plan_comparisons, seeds_needed
from stats.fit import fit_design
from stats.contrasts import BETTER, NEEDS_SEEDS, NO_DIFFERENCE, WORSE
from stats.calibration import trials_table

METRIC = "fid"
table = trials_table

# the main job's final FIDs on one machine (2 seeds per configuration, g_width x d_width)
MAIN_JOB = {(32, 32): [84.7, 90.4], (32, 8): [114.5, 143.7], (8, 32): [143.2, 146.2], (8, 8): [152.6, 159.2]}


def test_a_factorial_grid_is_the_ols_fit_of_log_fid_with_every_interaction_in_sum_to_zero_coding():
    data = table(MAIN_JOB, ["g", "d"])
    fit = fit_design(data, METRIC, "min", ["g", "d"], {"g": 8, "d": 8})
    assert fit.scale == "log" and fit.residual_df == 4
    ref = smf.ols("np.log(fid) ~ C(g, Sum) * C(d, Sum)", data=data).fit()
    # two levels in sum-to-zero coding: level 8 is +coef, level 32 is -coef, so 32 - 8 = -2 coef (4 for the interaction)
    names = {"g": "C(g, Sum)[S.8]", "d": "C(d, Sum)[S.8]"}
    ci = ref.conf_int()
    for e in fit.analysis.effects:
        name = names[e.parameter]
        assert e.estimate == pytest.approx(-2 * ref.params[name], abs=1e-9)
        assert e.p == pytest.approx(ref.pvalues[name], abs=1e-9)
        assert (e.low, e.high) == (
            pytest.approx(-2 * ci.loc[name, 1], abs=1e-9),
            pytest.approx(-2 * ci.loc[name, 0], abs=1e-9),
        )
        assert e.df == 4 and e.method == "hc2-contrast"
    (inter,) = fit.analysis.interactions
    name = "C(g, Sum)[S.8]:C(d, Sum)[S.8]"
    assert inter.estimate == pytest.approx(4 * ref.params[name]) and inter.p == pytest.approx(ref.pvalues[name])
    # the independent figures: g_width multiplies FID by 0.71 (0.60 to 0.83), and Holm over all three
    g = next(e for e in fit.analysis.effects if e.parameter == "g")
    assert (round(g.ratio, 2), round(g.ratio_low, 2), round(g.ratio_high, 2)) == (0.71, 0.60, 0.83)
    adjusted = multipletests([e.p for e in fit.analysis.effects + fit.analysis.interactions], method="holm")[1]
    assert [e.p_adjusted for e in fit.analysis.effects + fit.analysis.interactions] == pytest.approx(list(adjusted))
    assert g.verdict == BETTER
    # configuration intervals: the same fit's prediction intervals of each cell mean, back-transformed
    cells = fit.cells.set_index(["g", "d"])
    for (gv, dv), row in cells.iterrows():
        pred = ref.get_prediction(pd.DataFrame({"g": [gv], "d": [dv]})).conf_int()[0]
        assert (row["low"], row["high"]) == (pytest.approx(math.exp(pred[0])), pytest.approx(math.exp(pred[1])))
        assert row["low"] > 0  # a FID interval never reaches below zero


def test_the_main_jobs_numbers_no_longer_contradict_each_other():
    fit = fit_design(table(MAIN_JOB, ["g", "d"]), METRIC, "min", ["g", "d"], {"g": 8, "d": 8})
    text = model_sentences(fit, ["g", "d"], None)
    # the report said "no detectable difference" for both factors beside a best configuration
    # "distinguishable from every other"; the one fit calls both factors real, and its best set holds 32/32
    assert text[0].startswith("g 8 -> 32 lowers fid by 29% (95% CI 17% to 40%") and "real, better" in text[0]
    assert text[1].startswith("d 8 -> 32 lowers fid by 20%") and "real, better" in text[1]
    kept = fit.cells[fit.cells["in_best_set"] == True]  # noqa: E712
    assert (32, 32) in set(zip(kept["g"], kept["d"]))


def test_unequal_seeds_use_hc2_standard_errors_with_bell_mccaffrey_degrees_of_freedom():
    rng = np.random.default_rng(7)
    cells = {
        (x, y): list(np.exp(rng.normal(4 + 0.3 * x + 0.1 * y, 0.1, 2 + x + 2 * y))) for x in (0, 1) for y in (0, 1)
    }
    data = table(cells, ["a", "b"])
    fit = fit_design(data, METRIC, "min", ["a", "b"], {"a": 0, "b": 0})
    e = next(e for e in fit.analysis.effects if e.parameter == "a")
    data["y"] = np.log(data[METRIC])
    hc2 = smf.ols("y ~ C(a):C(b) - 1", data=data).fit(cov_type="HC2")
    weights = pd.Series(0.0, index=hc2.params.index)
    for y in (0, 1):
        weights[f"C(a)[1]:C(b)[{y}]"] += 0.5
        weights[f"C(a)[0]:C(b)[{y}]"] -= 0.5
    test = hc2.t_test(weights.to_numpy()[None, :])
    assert e.estimate == pytest.approx(float(test.effect[0])) and e.se == pytest.approx(float(test.sd[0][0]))
    # Bell-McCaffrey: Satterthwaite's df of sum(w^2 s^2 / n) when the variances are equal, written out here
    n = {k: len(v) for k, v in cells.items()}
    a = [0.25 / n[k] for k in cells]
    assert e.df == pytest.approx(sum(a) ** 2 / sum(x * x / (n[k] - 1) for x, k in zip(a, cells)))
    assert bell_mccaffrey_df([1, -1], [3, 3]) == 4  # two configurations of 3 runs: Student's 2(n - 1)


def test_two_configurations_with_equal_seeds_are_students_t_test_on_log_fid():
    rng = np.random.default_rng(3)
    a, b = np.exp(rng.normal(5.3, 0.08, 3)), np.exp(rng.normal(5.0, 0.08, 3))
    fit = fit_design(table({(8,): list(a), (32,): list(b)}, ["g"]), METRIC, "min", ["g"])
    assert fit.equal_variances
    (e,) = fit.analysis.effects
    ref = scipy.stats.ttest_ind(np.log(b), np.log(a), equal_var=True)
    assert e.p == pytest.approx(ref.pvalue) and e.df == 4
    assert (e.low, e.high) == (
        pytest.approx(ref.confidence_interval().low),
        pytest.approx(ref.confidence_interval().high),
    )
    # the method reports used before: Welch on raw FID, scipy's Welch test
    (w,) = fit_design(table({(8,): list(a), (32,): list(b)}, ["g"]), METRIC, "min", ["g"], scale="raw",
                      variance="own").analysis.effects
    welch = scipy.stats.ttest_ind(b, a, equal_var=False)
    assert w.p == pytest.approx(welch.pvalue) and w.df == pytest.approx(welch.df) and w.method == "welch"


def test_clearly_unequal_variances_are_said_and_tested_with_each_configurations_own():
    rng = np.random.default_rng(1)
    cells = {(0,): list(rng.normal(100, 1, 6)), (1,): list(rng.normal(100, 1, 6)), (2,): list(rng.normal(100, 30, 6))}
    fit = fit_design(table(cells, ["p"]), METRIC, "min", ["p"])
    assert fit.bartlett_p < 0.01 and not fit.equal_variances and fit.tests == "welch"
    assert all(e.method == "welch" for e in fit.analysis.effects)
    assert any("Bartlett" in s for s in model_sentences(fit, ["p"], None))
    quiet = fit_design(table({k: v for k, v in cells.items() if k != (2,)}, ["p"]), METRIC, "min", ["p"])
    assert quiet.equal_variances and not any("Bartlett" in s for s in model_sentences(quiet, ["p"], None))


def test_intervals_respect_the_metrics_range():
    # one wild configuration: on the log scale its interval stays above 0
    fit = fit_design(table({(0,): [20.0, 300.0], (1,): [150.0, 152.0]}, ["p"]), METRIC, "min", ["p"])
    assert (fit.cells["low"] > 0).all()
    # an accuracy is fitted as it is, its intervals clipped to [0, 1]
    acc = pd.DataFrame({"p": [0, 0, 1, 1], "status": "completed", "gan_test_acc": [0.99, 0.6, 0.5, 0.52]})
    fit = fit_design(acc, "gan_test_acc", "max", ["p"])
    assert fit.scale == "raw" and (fit.cells["high"] <= 1).all() and (fit.cells["low"] >= 0).all()
    # a positive metric with a value <= 0 in some run falls back to the raw scale, and says so
    kid = pd.DataFrame({"p": [0, 0, 1, 1], "status": "completed", "kid": [-0.001, 0.002, 0.01, 0.012]})
    fit = fit_design(kid, "kid", "min", ["p"])
    assert fit.scale == "raw" and "raw scale" in fit.scale_note


def test_single_runs_need_seeds_and_verdicts_follow_the_metric_direction():
    one = table({(8,): [360.0], (32,): [200.0]}, ["g"])
    (e,) = fit_design(one, METRIC, "min", ["g"]).analysis.effects
    assert e.verdict == NEEDS_SEEDS and "needs >= 2 seeds" in effect_sentence(e, METRIC)
    assert fit_design(one, METRIC, "min", ["g"]).cells["in_best_set"].isna().all()
    clear = table({(8,): [360.0, 355.0, 365.0], (32,): [200.0, 205.0, 195.0]}, ["g"])
    assert fit_design(clear, METRIC, "min", ["g"]).analysis.effects[0].verdict == BETTER
    assert fit_design(clear, METRIC, "max", ["g"]).analysis.effects[0].verdict == WORSE
    flat = table({(8,): [200.0, 230.0, 215.0], (32,): [210.0, 225.0, 205.0]}, ["g"])
    (e,) = fit_design(flat, METRIC, "min", ["g"]).analysis.effects
    assert e.verdict == NO_DIFFERENCE and "seeds per configuration" in effect_sentence(e, METRIC)


def test_seeds_needed_is_the_sample_size_of_students_test_at_80_percent_power():
    # two configurations: the contrast's test is Student's t; statsmodels' power solver, independently
    sigma, delta, alpha = 0.08, math.log(1.1), 0.05
    n = seeds_needed(np.array([1.0, -1.0]), sigma**2, alpha, delta)
    exact = TTestIndPower().solve_power(effect_size=delta / sigma, alpha=alpha, power=0.8, ratio=1.0)
    assert n == math.ceil(exact)
    assert seeds_needed(np.array([1.0, -1.0]), sigma**2, alpha, 1e-6) is None  # beyond any sweep
    # the undecided comparison of a report states it, for 10% of its baseline by default
    flat = table({(8,): [200.0, 230.0, 215.0], (32,): [210.0, 225.0, 205.0]}, ["g"])
    fit = fit_design(flat, METRIC, "min", ["g"])
    (e,) = fit.analysis.effects
    assert e.target == pytest.approx(0.1 * e.baseline_mean)
    assert e.seeds_needed == seeds_needed(e.weights, fit.residual_var, 0.05, math.log1p(0.1))
    wider = fit_design(flat, METRIC, "min", ["g"], min_effect=0.3 * e.baseline_mean).analysis.effects[0]
    assert wider.seeds_needed < e.seeds_needed


def test_a_pilots_plan_for_a_design_matches_the_fit_of_the_same_design():
    data = table(MAIN_JOB, ["g", "d"])
    fit = fit_design(data, METRIC, "min", ["g", "d"], {"g": 8, "d": 8})
    layout = Layout.from_keys([k for k, v in MAIN_JOB.items() for _ in range(3)], ["g", "d"], {"g": 8, "d": 8})
    rows = plan_comparisons(layout, fit.residual_var, fit.scale, 140.0, 3)
    assert [r["parameter"] for r in rows] == ["g", "d", "g x d"]
    for r, e in zip(rows, fit.analysis.effects + fit.analysis.interactions):
        assert r["seeds_needed"] == seeds_needed(e.weights, fit.residual_var, 0.05 / 3, math.log1p(0.1))
    assert rows[2]["seeds_needed"] > rows[0]["seeds_needed"]  # an interaction needs more seeds than a main effect


def test_variance_components_are_the_fits_residual_sd_against_the_relative_sampling_sd():
    rng = np.random.default_rng(5)
    data = table({(lv,): list(np.exp(rng.normal(4 + lv, 0.1, 4))) for lv in range(3)}, ["p"])
    data["fid_std"] = 0.02 * data[METRIC]
    vc = fit_design(data, METRIC, "min", ["p"], uncertainty="fid_std").variance
    pooled = np.mean([np.var(np.log(g), ddof=1) for _, g in data.groupby("p")[METRIC]])
    assert vc["seed_sd"] == pytest.approx(math.sqrt(pooled)) and vc["seed_df"] == 9
    assert vc["sampling_sd"] == pytest.approx(0.02) and vc["ratio"] == pytest.approx(math.sqrt(pooled) / 0.02)
    assert fit_design(table({(0,): [1.0], (1,): [2.0]}, ["p"]), METRIC, "min", ["p"]).variance is None
