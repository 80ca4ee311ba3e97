"""Fréchet Inception Distance (Heusel et al.): torch-fidelity's statistics and distance, plus the bootstrap
spread of the generated side behind `fid_std`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from gan.metrics.registry import FID, FID_STD

if TYPE_CHECKING:  # type hints only: the evaluator module sits above the metrics
    from gan.metrics.evaluator import EvalContext
    from gan.metrics.reference import RealReference

__all__ = ["bootstrap_fid", "fid_metric", "frechet_distance"]


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between two Gaussians, through torch-fidelity's implementation."""
    from torch_fidelity.metric_fid import fid_statistics_to_metric  # torch-fidelity loads in about 1 s: on use

    return fid_statistics_to_metric({"mu": mu1, "sigma": sigma1}, {"mu": mu2, "sigma": sigma2}, verbose=False)[
        "frechet_inception_distance"
    ]


def bootstrap_fid(features: torch.Tensor, real: RealReference, resamples: int, seed: int,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """FID of `resamples` bootstrap resamples (n of n, with replacement) of the generated features against the
    fixed real statistics: their spread is the evaluation-sampling uncertainty of the FID at this n.

    The same Fréchet distance as torch-fidelity's `fid_statistics_to_metric` (a test checks each resample
    against it), computed as tr sqrt(S Σg S) with S = Σr^½ cached once per reference, where
    torch-fidelity takes sqrtm(Σg Σr): one symmetric eigenvalue problem per resample instead of a general
    matrix square root, so all resamples cost about as much as extracting the features.
    """
    x = features.to(device=device, dtype=torch.float64)  # (n, D)
    n = x.shape[0]
    root, mu_r, trace_r = (t.to(device) for t in real.sqrt_sigma())
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(resamples):
        xb = x[torch.randint(n, (n,), generator=gen).to(device)]
        mu = xb.mean(0)
        centred = xb - mu
        sigma = centred.T @ centred / (n - 1)  # (D, D), unbiased like np.cov
        eig = torch.linalg.eigvalsh(root @ sigma @ root).clamp_(min=0)
        values.append((mu - mu_r).square().sum() + sigma.trace() + trace_r - 2 * eig.sqrt().sum())
    return torch.stack(values).cpu()


def fid_metric(ctx: EvalContext) -> dict[str, float]:
    from torch_fidelity.metric_fid import fid_features_to_statistics

    stats = fid_features_to_statistics(ctx.features["features"])
    out = {FID: frechet_distance(stats["mu"], stats["sigma"], ctx.real.mu, ctx.real.sigma)}
    cfg = ctx.evaluator.config
    if cfg.fid_bootstrap:
        fids = bootstrap_fid(ctx.features["features"], ctx.real, cfg.fid_bootstrap, cfg.seed, ctx.evaluator.device)
        out[FID_STD] = float(fids.std(correction=1))
    return out
