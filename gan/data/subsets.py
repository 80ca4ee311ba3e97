"""Seeded, class-stratified subsets: how `data.dataset_fraction` and `data.num_images` pick their images."""

from __future__ import annotations

import torch

__all__ = ["stratified_subset"]


def stratified_subset(
    labels: torch.Tensor, *, fraction: float | None = None, count: int | None = None, seed: int = 0
) -> torch.Tensor:
    """Seeded, class-stratified subset: each class keeps floor or ceil of its exact share.

    Class quotas follow the largest-remainder method, so the total is exactly round(fraction * N)
    (or `count`) and no class is off its proportional share by one image or more.
    Returns sorted indices.
    """
    n = labels.numel()
    if count is None:
        assert fraction is not None and 0 < fraction <= 1
        count = max(1, round(fraction * n))
    if not 1 <= count <= n:
        raise ValueError(f"Asked for {count} images, but the split has {n}.")
    if count == n:
        return torch.arange(n)
    classes, counts = torch.unique(labels, return_counts=True)
    exact = counts.double() * count / n
    quota = exact.floor().long()
    remainder = exact - quota
    short = count - int(quota.sum())
    # largest remainders first; ties broken by class order so the result is deterministic
    order = torch.argsort(-remainder, stable=True)
    quota[order[:short]] += 1
    gen = torch.Generator().manual_seed(seed)
    chosen = []
    for cls, k in zip(classes.tolist(), quota.tolist()):
        members = torch.nonzero(labels == cls).flatten()
        chosen.append(members[torch.randperm(members.numel(), generator=gen)[:k]])
    return torch.sort(torch.cat(chosen)).values
