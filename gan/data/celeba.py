"""CelebA: aligned JPEGs, center-cropped to 178x178 and resized to 64x64, decoded once and cached."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from record.files import atomic_path
from gan.config import DataConfig
from gan.data.info import DatasetInfo, cache_dir

if TYPE_CHECKING:  # torch is imported by the readers: checking a spec reads this module's entries, never torch
    import torch

__all__ = ["celeba_download", "celeba_files", "read_celeba_dataset"]

_CELEBA_SPLITS = {"train": {0}, "test": {2}, "all": {0, 1, 2}}


def celeba_files(split: str) -> list[str]:
    return ["img_align_celeba", "list_eval_partition.txt"]


def _celeba_select(folder: Path, split: str) -> list[str]:
    wanted = _CELEBA_SPLITS[split]
    names = []
    for line in (folder / "list_eval_partition.txt").read_text().split("\n"):
        parts = line.split()
        if len(parts) == 2 and int(parts[1]) in wanted:
            names.append(parts[0])
    return names


def _read_celeba(info: DatasetInfo, folder: Path, split: str, keep: np.ndarray | None = None):
    from PIL import Image

    names = _celeba_select(folder, split)
    if keep is not None:
        names = [names[i] for i in keep]
    key = hashlib.md5(f"{folder.resolve()}|{split}|{info.image_size}|{'|'.join(names)}".encode()).hexdigest()
    cached = cache_dir() / "decoded" / f"celeba-{key}.npy"
    if cached.is_file():
        images = np.load(cached)
    else:
        images = np.empty((len(names), info.image_size, info.image_size, 3), dtype=np.uint8)
        for i, name in enumerate(names):
            with Image.open(folder / "img_align_celeba" / name) as im:
                w, h = im.size
                side = min(w, h, 178)
                left, top = (w - side) // 2, (h - side) // 2
                im = im.convert("RGB").crop((left, top, left + side, top + side))
                images[i] = np.asarray(im.resize((info.image_size,) * 2, Image.BICUBIC))
        _atomic_save_npy(cached, images)
    return images, np.zeros(len(names), dtype=np.int64)


def read_celeba_dataset(
    info: DatasetInfo, folder: Path, cfg: DataConfig, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The configured split and subset of CelebA: uint8 (N, 3, H, W) and all-zero labels."""
    import torch

    from gan.data.subsets import stratified_subset

    names = _celeba_select(folder, cfg.split)
    keep = None
    if cfg.num_images is not None or cfg.dataset_fraction < 1.0:
        # CelebA has no classes: a seeded uniform subset, selected before decoding to save time
        keep = stratified_subset(
            torch.zeros(len(names), dtype=torch.long),
            fraction=cfg.dataset_fraction, count=cfg.num_images, seed=seed,
        ).numpy()
    images, labels = _read_celeba(info, folder, cfg.split, keep)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


def celeba_download(root: Path, split: str) -> Path:
    import torchvision.datasets as tvd

    tvd.CelebA(root=str(root), split="all", download=True)
    return root / "celeba"


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)
