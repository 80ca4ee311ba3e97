"""Inception Score (Salimans et al.) of the extractor's logits, through torch-fidelity: with the `domain`
extractor it is the classifier Inception Score of the domain classifier."""

from __future__ import annotations

from typing import TYPE_CHECKING


from gan.metrics.registry import IS, IS_STD

if TYPE_CHECKING:  # type hints only: the evaluator module sits above the metrics
    from gan.metrics.evaluator import EvalContext

__all__ = ["inception_score_metric"]  # the metric `is` (gan.builtins)


def inception_score_metric(ctx: EvalContext) -> dict[str, float]:
    from torch_fidelity.metric_isc import isc_features_to_metric  # torch-fidelity loads in about 1 s: on use

    out = isc_features_to_metric(ctx.features["logits"], splits=10, rng_seed=ctx.evaluator.config.seed)
    return {IS: out["inception_score_mean"], IS_STD: out["inception_score_std"]}
