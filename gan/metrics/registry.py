"""The metric registry: each metric is `fn(ctx) -> {output: value}`, registered with the outputs it reports
(their names fix the protocol, as stylegan2-ada's `metric_main`) and with what it needs from the evaluator.

Output names are constants, used unchanged as MLflow metric names and table columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from gan._registry import Registry

__all__ = [
    "CLASS_KL", "FID", "FID_STD", "GAN_TEST", "GAN_TEST_STD", "GAN_TRAIN", "IS", "IS_STD", "KID", "KID_STD",
    "METRICS", "NEEDS", "NN_DISTANCE", "OUTPUTS", "PRECISION", "RECALL", "MetricOutput", "metric_direction",
    "metric_needs", "register_metric",
]

# metric names (MLflow metric names and table columns)
FID, FID_STD, KID, KID_STD, IS, IS_STD = "fid", "fid_std", "kid", "kid_std", "is", "is_std"
PRECISION, RECALL = "precision", "recall"
GAN_TRAIN, GAN_TEST, GAN_TEST_STD = "gan_train_acc", "gan_test_acc", "gan_test_acc_std"
CLASS_KL, NN_DISTANCE = "class_kl", "nn_distance"

METRICS: Registry = Registry("metric")

# what a metric can need from the evaluator, declared when it registers:
#   classifier: the dataset's domain classifier (and its test split), trained or loaded when the evaluator is built
#   labels: a conditional generator, whose samples carry the class they were generated for
NEED_KINDS = ("classifier", "labels")
NEEDS: dict[str, frozenset[str]] = {}  # metric registry name -> what it needs, filled by register_metric


@dataclass(frozen=True)
class MetricOutput:
    """One value a registered metric reports: its name, which way is better, and who computes it."""

    name: str  # MLflow metric name and table column
    direction: str | None  # "min" or "max" (which value is better); None for the uncertainty of another output
    producer: str  # registry name of the metric function that computes it (what `evaluation.metrics` lists)
    uncertainty_of: str | None = None  # for a `*_std` output: the output whose spread it measures
    positive: bool = False  # values are > 0 and their seed-to-seed spread grows with them: analysed on the log scale
    bounds: tuple[float, float] = (-math.inf, math.inf)  # the range values can take; intervals stay inside it


OUTPUTS: dict[str, MetricOutput] = {}  # every reported value by name, filled by register_metric


def register_metric(name: str, outputs: Mapping[str, str], *, positive: tuple[str, ...] = (),
                    bounds: Mapping[str, tuple[float, float]] | None = None, needs: tuple[str, ...] = ()):
    """Register `fn(ctx) -> {output: value}` under `name`. `outputs` maps each output it reports to its
    direction: "min" or "max" (which value is better), or "std of <output>" for an uncertainty.
    `positive` names the outputs that are > 0 with a seed spread that grows with their size (FID): the
    statistics compare them as ratios, on the log scale. `bounds` gives an output's range (e.g. (0, 1) for
    an accuracy); a positive output's range starts at 0. `needs` lists what the metric needs from the
    evaluator (NEED_KINDS): the evaluator prepares it, or refuses the metric, from this alone."""
    bounds = dict(bounds or {})
    for need in needs:
        if need not in NEED_KINDS:
            raise ValueError(f"The need `{need}` of metric `{name}` is unknown, but must be one of {', '.join(NEED_KINDS)}.")

    def decorator(fn):
        declared = {}
        for out, direction in outputs.items():
            if out in OUTPUTS or out in declared:
                raise ValueError(f"The metric output `{out}` is already registered.")
            if direction in ("min", "max"):
                low, high = bounds.get(out, (0.0 if out in positive else -math.inf, math.inf))
                declared[out] = MetricOutput(out, direction, name, positive=out in positive, bounds=(low, high))
            elif isinstance(direction, str) and direction.startswith("std of ") and direction[7:] in outputs:
                declared[out] = MetricOutput(out, None, name, uncertainty_of=direction[7:])
            else:
                raise ValueError(f"The direction of `{out}` is {direction!r}, but must be min, max or 'std of <output>'.")
        METRICS.add(name, fn)
        OUTPUTS.update(declared)
        NEEDS[name] = frozenset(needs)
        return fn

    return decorator


def metric_direction(name: str) -> str | None:
    """"min" or "max" for a registered output that can rank runs, else None."""
    out = OUTPUTS.get(name)
    return out.direction if out else None


def metric_needs(name: str) -> frozenset[str]:
    """What the registered metric `name` needs from the evaluator (a subset of NEED_KINDS)."""
    METRICS.get(name)  # an unknown name fails here, listing the valid ones
    return NEEDS[name]
