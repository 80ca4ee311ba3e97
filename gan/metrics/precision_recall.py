"""Improved precision and recall (Kynkäänniemi et al.), as torch-fidelity computes them, with the real
k-NN radii cached by the reference."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from gan.metrics.kernels import knn_radii, squared_distances
from gan.metrics.registry import PRECISION, RECALL

if TYPE_CHECKING:  # type hints only: the reference imports this module, so importing it back would be a circle
    from gan.metrics.evaluator import EvalContext
    from gan.metrics.reference import RealReference

__all__ = ["precision_recall", "precision_recall_metric"]


def precision_recall(features: torch.Tensor, real: RealReference, k: int, chunk: int = 4096) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al.) as torch-fidelity's `prc_features_to_metric`
    (a test checks them equal), with the real k-NN radii cached by the reference and each real-generated
    distance computed once for both: precision = share of generated samples inside some real ball, recall
    = share of real samples inside some generated ball."""
    gen_radii2 = knn_radii(features, k, chunk).square()  # squared, as the distances compared with them
    real_feats, real_radii2 = real.features, real.knn_radii(k).square()
    inside_real = torch.zeros(features.shape[0], dtype=torch.bool)
    covered = []
    for start in range(0, real_feats.shape[0], chunk):
        d2 = squared_distances(real_feats[start : start + chunk], features)  # (real chunk, generated)
        covered.append((d2 <= gen_radii2[None, :]).any(dim=1))
        inside_real |= (d2 <= real_radii2[start : start + chunk, None]).any(dim=0)
    return inside_real.float().mean().item(), torch.cat(covered).float().mean().item()


def precision_recall_metric(ctx: EvalContext) -> dict[str, float]:
    precision, recall = precision_recall(ctx.features["features"], ctx.real, ctx.evaluator.config.prc_neighborhood)
    return {PRECISION: precision, RECALL: recall}
