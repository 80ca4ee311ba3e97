"""The report's factors: read from the `swept.` params a trial logs, and, for a sweep of the release before
them, worked out from its config params; both ways give the same factors, levels and baselines."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.load import _cell, _swept_columns
from gan.config import flatten
from record.names import SWEPT_PARAM
from sweeps.plan import sweep_design
from sweeps.specfile import load_spec
from tests.helpers import REPO

SPECS = ["hidden_dims", "dcgan_variants", "cgan_variants", "label_smoothing", "mlp_cgan", "dataset_fraction"]


def _trials(spec) -> pd.DataFrame:
    """What the loader reads for each trial of `spec`: its config params and its logged levels, as typed cells."""
    rows = []
    for swept in spec.trial_configs():
        row = {k: _cell(v) for k, v in flatten(spec.trial_config(swept).to_dict()).items()}
        row.update({SWEPT_PARAM + k: _cell(v) for k, v in spec.factor_levels(swept).items()})
        rows.append({**row, "status": "completed"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name", SPECS)
def test_logged_levels_give_the_factors_an_earlier_release_worked_out(name):
    spec = load_spec(REPO / "search_spaces" / f"{name}.yaml", "smoke")
    design, order = sweep_design(spec), [p.key for p in spec.parameters]
    logged = _trials(spec)
    earlier = logged.drop(columns=[c for c in logged.columns if c.startswith(SWEPT_PARAM)])
    factors, baselines = _swept_columns(logged, design, order)
    old_factors, old_baselines = _swept_columns(earlier, design, order)
    assert factors == old_factors and baselines == old_baselines, (factors, old_factors)
    assert factors  # every shipped spec sweeps something at its smoke scale
    for f in factors:
        assert logged[f].astype(str).tolist() == earlier[f].astype(str).tolist(), f


def test_a_parameter_held_at_one_level_that_a_variant_sets_is_not_a_factor_of_its_own():
    """architecture's claims scale holds `loss.name` at bce and lets each loss variant set it: the loss varies
    with the variant alone, and a second factor aliased with it would leave no comparison made `at` a budget
    plan formable (each variant level at every setting of the other factors)."""
    spec = load_spec(REPO / "search_spaces" / "architecture.yaml", "claims")
    design, order = sweep_design(spec), [p.key for p in spec.parameters]
    logged = _trials(spec)
    assert logged["loss.name"].nunique() == 3  # the column does vary, with the variant
    factors, baselines = _swept_columns(logged, design, order)
    assert factors == ["variant", "budget"] and baselines == {"variant": "dcgan", "budget": "iterations"}
    # worked out from the config params (a sweep of an earlier release): the loss is not a factor there either
    earlier = logged.drop(columns=[c for c in logged.columns if c.startswith(SWEPT_PARAM)])
    assert "loss.name" not in _swept_columns(earlier, design, order)[0]


def test_a_variant_is_logged_by_its_level_name():
    spec = load_spec(REPO / "search_spaces" / "dcgan_variants.yaml", "smoke")
    variants = [p for p in spec.parameters if p.variant]
    assert variants
    names = {spec.factor_levels(t)[variants[0].key] for t in spec.trial_configs()}
    assert None not in names and len(names) == len(variants[0].values)


@pytest.mark.parametrize("name", ["cgan_variants", "label_smoothing", "dcgan_variants"])
def test_each_variant_keys_a_configuration_of_its_own_even_when_its_settings_are_part_of_anothers(name):
    """label_smoothing's `random 0.15` sets label_smoothing 0.15 and more; cgan_variants' `G-D balance` and
    `extended` share settings. The adaptive seeds, the console and the report key configurations by these
    levels, so two variants must never share one."""
    from sweeps.schedulers import levels

    spec = load_spec(REPO / "search_spaces" / f"{name}.yaml")
    variant = next(p for p in spec.parameters if p.variant)
    labels = [levels(spec, c)[variant.key] for c in spec.configurations()]
    assert len(set(labels)) == len(variant.values) == len(labels), labels


def test_a_sweep_resumed_across_releases_whose_older_runs_logged_no_levels_is_worked_out_as_before():
    spec = load_spec(REPO / "search_spaces" / "cgan_variants.yaml", "smoke")
    design, order = sweep_design(spec), [p.key for p in spec.parameters]
    trials = _trials(spec)
    older = trials.index < len(trials) // 2  # these runs were logged by the release before, without levels
    mixed = trials.copy()
    for c in [c for c in trials.columns if c.startswith(SWEPT_PARAM)]:
        mixed[c] = mixed[c].astype(object).where(~older, None)
    earlier = trials.drop(columns=[c for c in trials.columns if c.startswith(SWEPT_PARAM)])
    assert _swept_columns(mixed, design, order) == _swept_columns(earlier, design, order)
    assert mixed["variant"].notna().all()
