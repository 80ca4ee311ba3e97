"""The metrics' vocabulary: each output's name, which way is better, its range and its scale.

A metric function lives in `gan.metrics` (it needs torch); what its outputs mean is said here, so that
the statistics (`stats/`), the spec check and the report can read a metric's direction and scale
without importing torch. The built-in outputs are declared below; `gan.metrics.register_metric`
declares a plugin's outputs into the same table when it registers the function.

Output names are constants, used unchanged as MLflow metric names and table columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from record.names import Result

__all__ = [
    "CLASS_KL", "FID", "FID_STD", "GAN_TEST", "GAN_TEST_STD", "GAN_TRAIN", "IS", "IS_STD", "KID", "KID_STD",
    "NN_DISTANCE", "OUTPUTS", "PRECISION", "RECALL", "TRAINING", "MetricOutput", "declare_outputs", "metric_direction",
]

# metric names (MLflow metric names and table columns)
FID, FID_STD, KID, KID_STD, IS, IS_STD = "fid", "fid_std", "kid", "kid_std", "is", "is_std"
PRECISION, RECALL = "precision", "recall"
GAN_TRAIN, GAN_TEST, GAN_TEST_STD = "gan_train_acc", "gan_test_acc", "gan_test_acc_std"
CLASS_KL, NN_DISTANCE = "class_kl", "nn_distance"
# the producer of what every trial's training loop reports, whatever its evaluation computes: its training time
# (a claim may compare it: "WGAN-GP costs twice the time of WGAN"); no metric function has this name
TRAINING = "training"


@dataclass(frozen=True)
class MetricOutput:
    """One value a registered metric reports: its name, which way is better, and who computes it."""

    name: str  # MLflow metric name and table column
    direction: str | None  # "min" or "max" (which value is better); None for the uncertainty of another output
    producer: str  # registry name of the metric function that computes it (what `evaluation.metrics` lists)
    uncertainty_of: str | None = None  # for a `*_std` output: the output whose spread it measures
    positive: bool = False  # values are > 0 and their seed-to-seed spread grows with them: analysed on the log scale
    bounds: tuple[float, float] = (-math.inf, math.inf)  # the range values can take; intervals stay inside it

    @property
    def ranks(self) -> bool:
        """Whether it can rank a sweep's runs: an evaluation's output with a better direction (not an
        uncertainty, not the training time, which a claim may compare but a search does not optimise)."""
        return self.direction is not None and self.producer != TRAINING


OUTPUTS: dict[str, MetricOutput] = {}  # every reported value by name: the built-ins below, then plugins'


def declare_outputs(producer: str, outputs: Mapping[str, str], *, positive: tuple[str, ...] = (),
                    bounds: Mapping[str, tuple[float, float]] | None = None) -> dict[str, MetricOutput]:
    """The outputs metric `producer` reports, checked against the table and each other (nothing is added:
    the caller adds them once the metric itself is accepted). `outputs` maps each output to its direction:
    "min" or "max" (which value is better), or "std of <output>" for an uncertainty. `positive` names the
    outputs that are > 0 with a seed spread that grows with their size (FID): the statistics compare them
    as ratios, on the log scale. `bounds` gives an output's range (e.g. (0, 1) for an accuracy); a positive
    output's range starts at 0."""
    bounds = dict(bounds or {})
    declared: dict[str, MetricOutput] = {}
    for out, direction in outputs.items():
        if out in OUTPUTS or out in declared:
            raise ValueError(f"The metric output `{out}` is already registered.")
        if direction in ("min", "max"):
            low, high = bounds.get(out, (0.0 if out in positive else -math.inf, math.inf))
            declared[out] = MetricOutput(out, direction, producer, positive=out in positive, bounds=(low, high))
        elif isinstance(direction, str) and direction.startswith("std of ") and direction[7:] in outputs:
            declared[out] = MetricOutput(out, None, producer, uncertainty_of=direction[7:])
        else:
            raise ValueError(f"The direction of `{out}` is {direction!r}, but must be min, max or 'std of <output>'.")
    return declared


def metric_direction(name: str) -> str | None:
    """"min" or "max" for a declared output that can rank runs, else None."""
    out = OUTPUTS.get(name)
    return out.direction if out and out.ranks else None


# the built-in metrics' outputs (their functions: gan/metrics/fid.py, kid.py, inception_score.py,
# precision_recall.py, classifier_metrics.py)
for _producer, _outputs, _options in (
    ("fid", {FID: "min", FID_STD: f"std of {FID}"}, {"positive": (FID,)}),
    ("kid", {KID: "min", KID_STD: f"std of {KID}"}, {"positive": (KID,), "bounds": {KID: (-math.inf, math.inf)}}),
    ("is", {IS: "max", IS_STD: f"std of {IS}"}, {"positive": (IS,)}),
    ("precision_recall", {PRECISION: "max", RECALL: "max"}, {"bounds": {PRECISION: (0.0, 1.0), RECALL: (0.0, 1.0)}}),
    ("gan_test", {GAN_TEST: "max", GAN_TEST_STD: f"std of {GAN_TEST}"}, {"bounds": {GAN_TEST: (0.0, 1.0)}}),
    ("gan_train", {GAN_TRAIN: "max"}, {"bounds": {GAN_TRAIN: (0.0, 1.0)}}),
    ("class_histogram", {CLASS_KL: "min"}, {"bounds": {CLASS_KL: (0.0, math.inf)}}),
    ("memorization", {NN_DISTANCE: "max"}, {"bounds": {NN_DISTANCE: (0.0, math.inf)}}),
    (TRAINING, {Result.WALL_TIME: "min"}, {"positive": (Result.WALL_TIME,)}),
):
    OUTPUTS.update(declare_outputs(_producer, _outputs, **_options))
del _producer, _outputs, _options
