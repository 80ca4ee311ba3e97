"""What every part of the data package shares: a dataset's registry entry, a decoded split, the cache folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from record.errors import GansweepError
from gan.config import DataConfig

if TYPE_CHECKING:  # a dataset's entry is read when a spec is checked, which imports no torch
    import torch

__all__ = ["DataError", "DataNotFoundError", "DatasetInfo", "ImageData", "cache_dir"]


class DataNotFoundError(GansweepError, FileNotFoundError):
    """The raw files of a dataset are not on this machine; the message says where we looked and how to get them."""


class DataError(GansweepError, ValueError):
    """The user's data files are there but cannot be used as they are; the message names the file and what is
    wrong with it."""


def cache_dir() -> Path:
    return Path(os.environ.get("GANSWEEP_CACHE_DIR", Path.home() / ".cache" / "gansweep"))


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str  # human-readable name for messages and reports
    channels: int
    image_size: int  # native side in pixels (after the dataset's standard crop)
    num_classes: int  # 1 = unlabelled
    class_names: tuple[str, ...]
    # (info, folder, config, seed) -> the configured split and subset: uint8 (N, C, H, W) and int64 (N,) labels
    reader: Callable[["DatasetInfo", Path, DataConfig, int], tuple[torch.Tensor, torch.Tensor]]
    files: Callable[[str], list[str]]  # split -> the file names that must be in a folder
    split_sizes: tuple[tuple[str, int], ...] = ()  # images per split, for planning before any file is read
    system_dirs: tuple[str, ...] = ()
    downloader: Callable[[Path, str], Path] | None = None  # (cache root, split) -> folder with the raw files
    how_to_get: str = ""
    # the `all` split is read as train + test; False = its files list `all` themselves (CelebA)
    all_is_train_and_test: bool = True
    transposed: bool = False  # images are stored column-major (EMNIST) and are transposed when read
    # for a dataset whose shape is in the user's files (image_folder, npz): config -> the entry of what those
    # files hold (channels, side, classes, sizes), read before any training; None = this entry is complete. Called
    # once per version of the files, with the config's subset (dataset_fraction, num_images) left out: it must not
    # depend on it
    describe: Callable[[DataConfig], "DatasetInfo"] | None = None
    fingerprint: str = ""  # of the files read (names, sizes, times) where the entry was described; enters cache keys

    def file_splits(self, split: str) -> list[str]:
        """The splits whose files are read for `split`."""
        return ["train", "test"] if split == "all" and self.all_is_train_and_test else [split]


@dataclass
class ImageData:
    """A decoded dataset split: images (N, C, H, W) uint8 and labels (N,) int64, on the CPU."""

    images: torch.Tensor
    labels: torch.Tensor
    info: DatasetInfo
    source: str  # folder the raw files were read from

    def __len__(self) -> int:
        return self.images.shape[0]

    def class_counts(self) -> torch.Tensor:
        import torch

        return torch.bincount(self.labels, minlength=self.info.num_classes)
