"""IDX files (MNIST, Fashion-MNIST, EMNIST): reading, their file names, and torchvision's download."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from gan.config import DataConfig
from gan.data.info import DatasetInfo

if TYPE_CHECKING:  # torch is imported by the readers: checking a spec reads this module's entries, never torch
    import torch

__all__ = ["idx_names", "read_idx", "read_idx_dataset", "torchvision_downloader"]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r}).")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=_IDX_DTYPES[data[2]], offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: header says shape {shape}, found {arr.size} values.")
    return arr.reshape(shape)


def _find_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def idx_names(prefix: str) -> Callable[[str], list[str]]:
    def files(split: str) -> list[str]:
        stem = {"train": "train", "test": "t10k"}[split] if not prefix else split
        return [f"{prefix}{stem}-images-idx3-ubyte", f"{prefix}{stem}-labels-idx1-ubyte"]

    return files


def _read_idx_split(info: DatasetInfo, folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_name, label_name = info.files(split)
    images = read_idx(_find_file(folder, image_name))
    labels = read_idx(_find_file(folder, label_name)).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{folder}: {images.shape[0]} images but {labels.shape[0]} labels for split {split!r}.")
    if info.transposed:
        # EMNIST stores each image transposed (column-major); transposing rights it, which equals
        # the rotate-270-then-flip the EMNIST study applied per image.
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    return images, labels


def read_idx_dataset(info: DatasetInfo, folder: Path, cfg: DataConfig, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The configured split of a grayscale IDX dataset and its class-stratified subset: uint8 (N, 1, H, W), labels."""
    import torch

    from gan.data.subsets import stratified_subset

    parts = [_read_idx_split(info, folder, s) for s in info.file_splits(cfg.split)]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts])).unsqueeze(1)
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    if cfg.num_images is not None or cfg.dataset_fraction < 1.0:
        idx = stratified_subset(labels, fraction=cfg.dataset_fraction, count=cfg.num_images, seed=seed)
        images, labels = images[idx], labels[idx]
    return images, labels


def torchvision_downloader(cls_name: str, folder: str, **kwargs) -> Callable[[Path, str], Path]:
    def download(root: Path, split: str) -> Path:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        for train in (True, False):
            cls(root=str(root), train=train, download=True, **kwargs)
        return root / folder / "raw"

    return download
