"""record.metrics: the built-in outputs are declared once, as the metric functions report them, and a plugin's
outputs are checked before they join the table."""

from __future__ import annotations

import math

import pytest

from gan.metrics import METRICS
from record.metrics import FID, FID_STD, OUTPUTS, TRAINING, declare_outputs, metric_direction


def test_every_registered_metric_has_its_outputs_declared_and_every_declared_producer_is_registered():
    producers = {out.producer for out in OUTPUTS.values()}
    assert producers - {TRAINING} <= set(METRICS.names())  # the training loop reports its time, no metric function
    assert TRAINING not in METRICS.names() and not OUTPUTS["wall_time_s"].ranks
    assert OUTPUTS["wall_time_s"].positive and metric_direction("wall_time_s") is None  # a claim's, not a ranking
    assert {"fid", "kid", "is", "precision_recall", "gan_test", "gan_train", "class_histogram",
            "memorization"} <= producers


def test_fid_is_positive_minimised_and_its_std_is_its_uncertainty():
    assert OUTPUTS[FID].positive and OUTPUTS[FID].bounds == (0.0, math.inf) and metric_direction(FID) == "min"
    assert OUTPUTS[FID_STD].direction is None and OUTPUTS[FID_STD].uncertainty_of == FID
    assert metric_direction("no_such_output") is None


@pytest.mark.parametrize("outputs, match", [
    ({FID: "min"}, "already registered"),
    ({"score": "up"}, "must be min, max"),
    ({"score_std": "std of score"}, "must be min, max"),
])
def test_a_bad_declaration_is_refused_and_adds_nothing(outputs, match):
    before = dict(OUTPUTS)
    with pytest.raises(ValueError, match=match):
        declare_outputs("plugin_metric", outputs)
    assert OUTPUTS == before


def test_a_declaration_is_checked_but_not_added():
    declared = declare_outputs("plugin_metric", {"score": "max", "score_std": "std of score"}, positive=("score",))
    assert declared["score"].positive and declared["score"].bounds[0] == 0.0
    assert "score" not in OUTPUTS
