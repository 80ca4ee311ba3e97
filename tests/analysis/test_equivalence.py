"""Equivalence of two levels (analysis.equivalence) against statsmodels' TOST on the same log values, and
its verdicts on noise shaped like FID's (no training)."""

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.weightstats import ttost_ind

from analysis.equivalence import equivalence, pooled
from analysis.load import Sweep


def _trials(fp32, bf16):
    return pd.DataFrame({"train.precision": ["fp32"] * len(fp32) + ["bf16"] * len(bf16), "status": "completed",
                         "fid": list(fp32) + list(bf16)})


def test_the_tost_p_value_is_statsmodels_on_the_log_fid_and_the_ratio_is_of_geometric_means():
    rng = np.random.default_rng(3)
    fp32, bf16 = 80 * np.exp(rng.normal(0, 0.02, 5)), 81 * np.exp(rng.normal(0, 0.02, 5))
    r = equivalence(_trials(fp32, bf16), "fid", "min", "train.precision", "fp32", 0.05)
    p, _, _ = ttost_ind(np.log(bf16), np.log(fp32), math.log(0.95), math.log(1.05), usevar="unequal")
    assert r.p == pytest.approx(p) and r.level == "bf16" and r.runs == (5, 5)
    assert r.ratio == pytest.approx(math.exp(np.log(bf16).mean() - np.log(fp32).mean()))
    assert r.ci95[0] < r.ratio < r.ci95[1]


def test_equivalence_is_found_for_equal_levels_and_refused_for_a_10_percent_difference():
    # 2% seed noise (the main job measures 4 to 5% on log FID at 1000 steps; 64 wide nets are steadier)
    rng = np.random.default_rng(0)
    same = [equivalence(_trials(80 * np.exp(rng.normal(0, 0.02, 5)), 80 * np.exp(rng.normal(0, 0.02, 5))),
                        "fid", "min", "train.precision", "fp32").equivalent for _ in range(200)]
    apart = [equivalence(_trials(80 * np.exp(rng.normal(0, 0.02, 5)), 88 * np.exp(rng.normal(0, 0.02, 5))),
                         "fid", "min", "train.precision", "fp32").equivalent for _ in range(200)]
    # power at 2% noise and 5 seeds: 0.96 of these 200 studies; a 10% shift is outside the margin, so
    # calling it equivalent is TOST's error, at most 5% (binomial SD 1.5 points at 200 studies)
    assert np.mean(same) > 0.75 and np.mean(apart) < 0.05 + 3 * 0.015


def test_a_factor_without_two_levels_is_refused():
    with pytest.raises(ValueError, match="compares two"):
        equivalence(_trials([80.0, 81.0], []), "fid", "min", "train.precision")


def _sweep(fp32, bf16, seeds, metric="fid"):
    trials = _trials(fp32, bf16).assign(**{"train.seed": list(seeds) * 2})
    return Sweep("precision", "sqlite:///unused.db", f"run-{seeds[0]}", metric, "min", trials, pd.DataFrame(),
                 ["train.precision"])


def test_another_seed_set_pools_into_one_test_and_a_seed_in_both_is_refused():
    rng = np.random.default_rng(5)
    draw = lambda mean: mean * np.exp(rng.normal(0, 0.04, 5))  # noqa: E731
    first, second = _sweep(draw(80), draw(80), range(5)), _sweep(draw(80), draw(80), range(5, 10))
    both = pooled(first, [second], "train.precision")
    alone = equivalence(first.trials, "fid", "min", "train.precision", "fp32")
    pooled_result = equivalence(both, "fid", "min", "train.precision", "fp32")
    assert pooled_result.runs == (10, 10) and alone.runs == (5, 5)
    # the pooled test is the same TOST on all twenty log FIDs
    x0, x1 = (np.log(both.loc[both["train.precision"] == v, "fid"].to_numpy()) for v in ("fp32", "bf16"))
    assert pooled_result.p == pytest.approx(ttost_ind(x1, x0, math.log(0.95), math.log(1.05), usevar="unequal")[0])
    with pytest.raises(ValueError, match="seed 3 at train.precision=fp32 is in more than one"):
        pooled(first, [_sweep(draw(80), draw(80), range(3, 8))], "train.precision")
    with pytest.raises(ValueError, match="ranks by kid"):
        pooled(first, [_sweep(draw(80), draw(80), range(5, 10), metric="kid")], "train.precision")
