"""The calibration of the report's verdicts, by simulation on FID-shaped noise (stats.calibration),
with fixed seeds: false verdicts, power against independent power formulas, and the best set's coverage."""

import pytest

from stats.calibration import best_set_coverage, calibrate, detection_rate, student_power, welch_power


# 400 studies: a rate's binomial SD at 5% is 1.1 points, so 5% plus 3 SDs is 8.3%
@pytest.mark.parametrize("design, n, scenario", [
    ("one-way", 2, "noisy"), ("one-way", 3, "null"), ("2x2", 2, "null"), ("2x2x2", 3, "noisy"),
    ("2x2x2", (2, 3, 5), "effect"),
])
def test_false_verdicts_stay_within_5_percent_on_fid_shaped_noise(design, n, scenario):
    rates = calibrate(design, n, scenario, studies=400, seed=2024)
    assert rates["model"].false_verdicts <= 0.083, rates


def test_the_model_finds_a_planted_effect_far_more_often_than_welch_on_the_same_studies():
    rates = calibrate("2x2x2", 2, "effect", studies=300, seed=7)
    # about 75% against 30%: the gap is 20 binomial SDs, and 25 points is far inside it
    assert rates["model"].power > rates["welch"].power + 0.25, rates


@pytest.mark.parametrize("n, delta", [(3, 0.25), (5, 0.18)])
def test_detection_rate_of_a_planted_ratio_matches_students_exact_power(n, delta):
    expected = student_power(delta, 0.1, n)
    assert 0.3 < expected < 0.95  # a rate where a miscalibration would show
    # 1000 studies: the binomial SD of the rate is at most 1.6 points, so 5 points is 3 SDs
    rate = detection_rate(n, delta, studies=1000, seed=n, sigma=0.1, method="model", lognormal=True)
    assert abs(rate - expected) <= 0.05, (rate, expected)


def test_the_old_methods_detection_rate_matches_the_welch_tests_power():
    expected = welch_power(25.0, 10.0, 3)
    rate = detection_rate(3, 25.0, studies=1000, seed=3)
    assert abs(rate - expected) <= 0.05, (rate, expected)


def test_best_set_keeps_the_true_best_configuration_at_least_95_percent_of_the_time():
    coverage, size = best_set_coverage(studies=400, seed=11)
    assert coverage >= 0.93  # 95% target, less 2 binomial SDs
    assert size < 4.5  # and it is not the whole sweep: the clearly worse ones drop out
