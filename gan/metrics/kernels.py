"""The tensor math two metrics share with the real-data reference that caches their real-side terms:
KID's polynomial kernel sums and precision/recall's k-NN radii. Pure torch, no other gan module."""

from __future__ import annotations

import torch

__all__ = ["kid_kernel_sum", "knn_radii", "squared_distances"]


def kid_kernel_sum(x: torch.Tensor, y: torch.Tensor, off_diagonal: bool = False) -> float:
    """Sum of torch-fidelity's KID kernel (x·y / D + 1)^3 over all pairs (without the diagonal, for x = y)."""
    k = torch.addmm(torch.ones(()), x, y.T, alpha=1.0 / x.shape[1]).pow_(3)
    total = k.sum(dtype=torch.float64)
    return float(total - k.diagonal().sum(dtype=torch.float64)) if off_diagonal else float(total)


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """|x_i - y_j|^2 for every pair, by one matrix product: torch.cdist's matrix-product path without its
    square root, which comparisons with a radius do not need."""
    return torch.addmm((x * x).sum(1, keepdim=True), x, y.T, alpha=-2.0).add_((y * y).sum(1)).clamp_min_(0)


def knn_radii(features: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    """Distance of each feature to its k-th nearest other one (the (k+1)-th counting itself), as
    torch-fidelity's precision/recall balls."""
    return torch.cat([squared_distances(part, features).topk(k + 1, dim=1, largest=False).values[:, -1]
                      for part in features.split(chunk)]).sqrt_()
