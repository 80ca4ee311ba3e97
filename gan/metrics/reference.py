"""The real-data side of every metric: reference images, their features and FID statistics, computed once
per (dataset, split, fraction, extractor, sample count) and cached on disk under an md5 of all of them,
written atomically (as stylegan2-ada's `metric_utils`), plus the real-only terms KID, precision/recall
and the bootstrap FID reuse across evaluations."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from record.files import atomic_path
from gan.config import DataConfig
from gan.data import cache_dir, load_dataset
from gan.metrics.features import Extractor
from gan.metrics.kernels import kid_kernel_sum, knn_radii

__all__ = ["RealReference", "load_real_reference"]


def _atomic_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _digest(t: torch.Tensor) -> str:
    return hashlib.md5(t.contiguous().numpy().tobytes()).hexdigest()


@dataclass
class RealReference:
    images: torch.Tensor  # uint8 (N, C, H, W) reference images
    labels: torch.Tensor  # (N,)
    features: torch.Tensor  # (N, D) float32
    logits: torch.Tensor  # (N, K) float32
    mu: np.ndarray
    sigma: np.ndarray
    cache_path: Path
    from_cache: bool
    _sqrt: tuple | None = field(default=None, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)

    def knn_radii(self, k: int) -> torch.Tensor:
        """Distance from each reference feature to its k-th nearest other one: the real k-NN balls of
        precision. They never change during a sweep, so they are computed once and cached beside the
        statistics."""
        key = ("radii", k)
        if key not in self._memo:
            path = self.cache_path.with_name(f"{self.cache_path.stem}.radii{k}.pt")
            radii = None
            if path.is_file():
                with contextlib.suppress(Exception):
                    radii = torch.load(path, map_location="cpu", weights_only=True)
            if radii is None or radii.shape != (self.features.shape[0],):
                radii = knn_radii(self.features, k)
                _atomic_save(radii, path)
            self._memo[key] = radii
        return self._memo[key]

    def kid_plan(
        self, n_generated: int, subset: int, subsets: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """torch-fidelity's KID subsets for n_generated samples (its random draws, replayed), with the
        real-real kernel sum of each: (generated indices, real indices, sum of K_YY off its diagonal)."""
        key = ("kid", n_generated, subset, subsets, seed)
        if key not in self._memo:
            rng = np.random.RandomState(seed)
            gen_idx, real_idx = [], []
            for _ in range(subsets):  # the order torch-fidelity draws them in
                gen_idx.append(rng.choice(n_generated, subset, replace=False))
                real_idx.append(rng.choice(self.features.shape[0], subset, replace=False))
            real_idx = torch.from_numpy(np.stack(real_idx))
            off_diag = torch.empty(subsets, dtype=torch.float64)
            for i, idx in enumerate(real_idx):
                off_diag[i] = kid_kernel_sum(self.features[idx], self.features[idx], off_diagonal=True)
            self._memo[key] = (torch.from_numpy(np.stack(gen_idx)), real_idx, off_diag)
        return self._memo[key]

    def sqrt_sigma(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(Σr^½, mu_r, tr Σr) in float64, computed once: what every bootstrap FID against this reference needs."""
        if self._sqrt is None:
            sigma = torch.from_numpy(np.asarray(self.sigma, dtype=np.float64))
            eig, vec = torch.linalg.eigh(sigma)
            root = (vec * eig.clamp(min=0).sqrt()) @ vec.T
            self._sqrt = (root, torch.from_numpy(np.asarray(self.mu, dtype=np.float64)), sigma.trace())
        return self._sqrt


def load_real_reference(extractor: Extractor, data_cfg: DataConfig, n: int, seed: int) -> RealReference:
    """Reference features for (dataset, split, fraction, extractor, sample count), cached atomically."""
    data = load_dataset(data_cfg, seed=seed)
    n = min(n, len(data))
    key_src = json.dumps(
        {
            "data": data_cfg.images_key(),
            "source": data.source,
            "extractor": extractor.key,
            "n": n,
            "seed": seed,
            **({"content": data.info.fingerprint} if data.info.fingerprint else {}),
        },  # the user's files, where they define it
        sort_keys=True,
    )
    path = (
        cache_dir() / "real_stats" / f"{data_cfg.name}-{extractor.name}-{hashlib.md5(key_src.encode()).hexdigest()}.pt"
    )
    gen = torch.Generator().manual_seed(seed)
    idx = torch.sort(torch.randperm(len(data), generator=gen)[:n]).values
    images, labels = data.images[idx], data.labels[idx]
    if path.is_file():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob["digest"] == _digest(blob["features"]) and blob["features"].shape[0] == n:
                return RealReference(images, labels, blob["features"], blob["logits"], blob["mu"].numpy(),
                                     blob["sigma"].numpy(), path, True)
        except Exception:  # noqa: BLE001 (a cache file unreadable for any reason is recomputed, never trusted)
            pass  # recomputed and overwritten below
    out = extractor(images)
    from torch_fidelity.metric_fid import fid_features_to_statistics  # torch-fidelity loads in about 1 s: on use

    stats = fid_features_to_statistics(out["features"])
    blob = {
        "features": out["features"], "logits": out["logits"], "mu": torch.from_numpy(stats["mu"]),
        "sigma": torch.from_numpy(stats["sigma"]), "digest": _digest(out["features"]),
    }
    _atomic_save(blob, path)
    return RealReference(images, labels, out["features"], out["logits"], stats["mu"], stats["sigma"], path, False)
