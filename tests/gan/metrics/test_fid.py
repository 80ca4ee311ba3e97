"""Each bootstrap FID behind `fid_std` is the Fréchet distance of its resample, computed independently."""

import numpy as np
import pytest
import scipy.linalg
import torch

from gan.metrics import bootstrap_fid
from gan.metrics.reference import RealReference


def scipy_frechet(f: np.ndarray, mu_r: np.ndarray, sigma_r: np.ndarray) -> float:
    """Independent reference: numpy statistics and scipy's general matrix square root."""
    mu, sigma = f.mean(0), np.cov(f, rowvar=False)
    covmean = scipy.linalg.sqrtm(sigma @ sigma_r).real
    return float(((mu - mu_r) ** 2).sum() + np.trace(sigma + sigma_r - 2 * covmean))


@pytest.mark.parametrize("shift", [0.0, 0.5])  # the same law and another one
def test_each_bootstrap_resample_is_the_frechet_distance_of_that_resample(tmp_path, shift):
    gen = torch.Generator().manual_seed(0)
    real_f = torch.randn(2000, 16, generator=gen, dtype=torch.float64)
    gen_f = (torch.randn(800, 16, generator=gen, dtype=torch.float64) * 1.2 + shift).float()
    mu_r, sigma_r = real_f.mean(0).numpy(), np.cov(real_f.numpy(), rowvar=False)
    real = RealReference(torch.zeros(2000, 1, 2, 2, dtype=torch.uint8), torch.zeros(2000, dtype=torch.long),
                         real_f.float(), torch.zeros(2000, 2), mu_r, sigma_r, tmp_path / "real.pt", False)
    resamples, seed = 6, 3
    fids = bootstrap_fid(gen_f, real, resamples, seed)
    assert fids.shape == (resamples,)
    # replay the resamples: n indices with replacement per resample, drawn in turn from one seeded generator
    draws = torch.Generator().manual_seed(seed)
    n = gen_f.shape[0]
    x = gen_f.double().numpy()
    for value in fids.tolist():
        idx = torch.randint(n, (n,), generator=draws).numpy()
        assert value == pytest.approx(scipy_frechet(x[idx], mu_r, sigma_r), rel=1e-6, abs=1e-9)
    assert fids.std() > 0  # distinct resamples, not one repeated
