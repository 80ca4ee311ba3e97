"""The metric registry: each metric is `fn(ctx) -> {output: value}`, registered with the outputs it reports
(their names fix the protocol, as stylegan2-ada's `metric_main`) and with what it needs from the evaluator.

What an output means (its direction, range and scale) is the shared vocabulary of `record.metrics`, which
declares the built-in outputs; a plugin's metric declares its own when it registers here.
"""

from __future__ import annotations

from typing import Mapping

from gan._registry import Lazy, Registry
from record.metrics import (CLASS_KL, FID, FID_STD, GAN_TEST, GAN_TEST_STD, GAN_TRAIN, IS, IS_STD, KID, KID_STD,
                            NN_DISTANCE, OUTPUTS, PRECISION, RECALL, TRAINING, MetricOutput, declare_outputs,
                            metric_direction)

__all__ = [
    "CLASS_KL", "EXTRACTORS", "FID", "FID_STD", "GAN_TEST", "GAN_TEST_STD", "GAN_TRAIN", "IS", "IS_STD", "KID",
    "KID_STD", "METRICS", "NEEDS", "NN_DISTANCE", "OUTPUTS", "PRECISION", "RECALL", "TRAINING", "MetricOutput",
    "metric_direction", "metric_needs", "register_metric",
]

METRICS: Registry = Registry("metric")
EXTRACTORS: Registry = Registry("feature extractor")  # `evaluation.extractor`: fn(**options) -> features.Extractor

# what a metric can need from the evaluator, declared when it registers:
#   classifier: the dataset's domain classifier (and its test split), trained or loaded when the evaluator is built
#   labels: a conditional generator, whose samples carry the class they were generated for
NEED_KINDS = ("classifier", "labels")
NEEDS: dict[str, frozenset[str]] = {}  # metric registry name -> what it needs, filled by register_metric


def register_metric(name: str, outputs: Mapping[str, str] | None = None, *, positive: tuple[str, ...] = (),
                    bounds: Mapping[str, tuple[float, float]] | None = None, needs: tuple[str, ...] = ()):
    """Register `fn(ctx) -> {output: value}` under `name`. `outputs`, `positive` and `bounds` declare what
    it reports, as `record.metrics.declare_outputs` says; a built-in metric leaves them out, since
    `record.metrics` declares its outputs. `needs` lists what the metric needs from the evaluator
    (NEED_KINDS): the evaluator prepares it, or refuses the metric, from this alone."""
    if name == TRAINING:
        raise ValueError(f"The metric name `{name}` is taken: it names what every trial's training loop reports.")
    for need in needs:
        if need not in NEED_KINDS:
            raise ValueError(
                f"The need `{need}` of metric `{name}` is unknown, but must be one of {', '.join(NEED_KINDS)}."
            )

    def decorator(fn):
        if not (callable(fn) or isinstance(fn, Lazy)):  # a built-in is declared, and imported when used
            raise ValueError(f"The metric `{name}` must be registered on a function fn(ctx) -> {{output: value}}; "
                             f"got {type(fn).__name__}.")
        if outputs is None:
            declared = {}
            if not any(out.producer == name for out in OUTPUTS.values()):
                raise ValueError(f"The metric `{name}` declares no outputs, but must name them (`outputs=`).")
        else:
            declared = declare_outputs(name, outputs, positive=positive, bounds=bounds)
        METRICS.add(name, fn)
        OUTPUTS.update(declared)
        NEEDS[name] = frozenset(needs)
        return fn

    return decorator


def metric_needs(name: str) -> frozenset[str]:
    """What the registered metric `name` needs from the evaluator (a subset of NEED_KINDS)."""
    METRICS.get(name)  # an unknown name fails here, listing the valid ones
    return NEEDS[name]
