"""record.names: one configuration label, run names by short keys, result keys and search filters."""

from __future__ import annotations

import pytest

from record.names import (BASE_CONFIG, SEED, Result, by_role, configuration_label, run_name, short_names)


def test_short_names_keep_a_key_whole_only_where_two_share_a_last_part():
    assert short_names(["model.g_width", "optim.g_lr"]) == ["g_width", "g_lr"]
    assert short_names(["optim.g_betas", "other.g_betas", "model.depth"]) == ["optim.g_betas", "other.g_betas",
                                                                              "depth"]


def test_a_configuration_label_leaves_the_seed_out_and_writes_levels_as_the_design_does():
    levels = {"model.g_width": 32, "optim.g_betas": [0.5, 0.999], SEED: 3}
    assert configuration_label(levels) == "g_width=32, g_betas=(0.5, 0.999)"
    assert configuration_label({**levels, SEED: 4}) == configuration_label(levels)  # seeds are replicates
    assert configuration_label({"optim.g_betas": (0.5, 0.999)}) == configuration_label({"optim.g_betas": [0.5, 0.999]})
    assert configuration_label({SEED: 0}) == configuration_label({}) == BASE_CONFIG


def test_a_run_name_keeps_the_seed_and_shortens_floats():
    assert run_name({"optim.g_lr": 0.000200000001, SEED: 1}) == "g_lr=0.0002 seed=1"
    assert run_name({}) == BASE_CONFIG
    assert len(run_name({f"k{i}.x{i}": "v" * 40 for i in range(20)})) == 250  # MLflow's run name limit


def test_result_flags_are_not_metrics_and_the_evaluation_counter_is_one_name():
    from record.names import EVALUATION

    assert Result.EVALUATION == EVALUATION and set(Result.FLAGS) == {Result.IS_FINAL, Result.DIVERGED}


def test_a_search_filter_quotes_every_tag_and_refuses_a_quote():
    assert by_role("trial", sweep_id="s1") == "tags.role = 'trial' and tags.sweep_id = 's1'"
    with pytest.raises(AssertionError):
        by_role("trial", sweep_id="x' or '1'='1")
