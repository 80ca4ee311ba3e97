"""Datasets: decoded once into uint8 tensors, subsetted by class-stratified fraction, batched on device.

Raw files are looked for, in order, in: `data.root`; `$GANSWEEP_DATA_DIR/<name>`; the dataset's system
folders (Debian's `dataset-fashion-mnist` for Fashion-MNIST); the download cache
(`$GANSWEEP_CACHE_DIR`, default `~/.cache/gansweep`). With `data.download: true` a missing dataset is
fetched through torchvision into that cache. Nothing here touches the network otherwise.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from gan._io import atomic_path
from gan._registry import DATASETS
from gan.config import DataConfig

__all__ = [
    "Batches",
    "DatasetInfo",
    "DataNotFoundError",
    "ImageData",
    "cache_dir",
    "load_dataset",
    "planned_size",
    "read_idx",
    "stratified_subset",
]


class DataNotFoundError(FileNotFoundError):
    """The raw files of a dataset are not on this machine; the message says where we looked and how to get them."""


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
    reader: Callable[["DatasetInfo", Path, str], tuple[np.ndarray, np.ndarray]]  # (folder, split) -> (uint8 NHW(C), int64 labels)
    files: Callable[[str], list[str]]  # split -> the file names that must be in a folder
    split_sizes: tuple[tuple[str, int], ...] = ()  # images per split, for planning before any file is read
    system_dirs: tuple[str, ...] = ()
    downloader: Callable[[Path, str], Path] | None = None  # (cache root, split) -> folder with the raw files
    how_to_get: str = ""


def planned_size(cfg: DataConfig) -> int:
    """Images a data config will yield, from the published split sizes (no file is read)."""
    sizes = dict(DATASETS.get(cfg.name).split_sizes)
    n = sizes.get(cfg.split) or sizes["train"] + sizes["test"]
    if cfg.num_images is not None:
        return min(cfg.num_images, n)
    return max(1, round(cfg.dataset_fraction * n))


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
        return torch.bincount(self.labels, minlength=self.info.num_classes)


# ---------------------------------------------------------------------------------------------
# IDX files (MNIST, Fashion-MNIST, EMNIST)

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


def _idx_names(prefix: str) -> Callable[[str], list[str]]:
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
    if info.name == "emnist_balanced":
        # EMNIST stores each image transposed (column-major); transposing rights it, which equals
        # the rotate-270-then-flip the EMNIST study applied per image.
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    return images, labels


def _torchvision_downloader(cls_name: str, folder: str, **kwargs) -> Callable[[Path, str], Path]:
    def download(root: Path, split: str) -> Path:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        for train in (True, False):
            cls(root=str(root), train=train, download=True, **kwargs)
        return root / folder / "raw"

    return download


_DIGITS = tuple(str(i) for i in range(10))
_EMNIST_BALANCED = _DIGITS + tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + tuple("abdefghnqrt")
_FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

DATASETS.add(
    "mnist",
    DatasetInfo(
        name="mnist", title="MNIST", channels=1, image_size=28, num_classes=10, class_names=_DIGITS,
        reader=_read_idx_split, files=_idx_names(""), split_sizes=(("train", 60000), ("test", 10000)),
        downloader=_torchvision_downloader("MNIST", "MNIST"),
        how_to_get="set `data.download: true` on a machine with network access, or copy the four "
        "MNIST IDX files (train-*, t10k-*) into one of the folders above",
    ),
)
DATASETS.add(
    "fashion_mnist",
    DatasetInfo(
        name="fashion_mnist", title="Fashion-MNIST", channels=1, image_size=28, num_classes=10,
        class_names=_FASHION, reader=_read_idx_split, files=_idx_names(""),
        split_sizes=(("train", 60000), ("test", 10000)),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        downloader=_torchvision_downloader("FashionMNIST", "FashionMNIST"),
        how_to_get="on Debian/Ubuntu run `apt-get install dataset-fashion-mnist`, or set "
        "`data.download: true` on a machine with network access",
    ),
)


def _emnist_download(root: Path, split: str) -> Path:
    import torchvision.datasets as tvd

    for train in (True, False):
        tvd.EMNIST(root=str(root), split="balanced", train=train, download=True)
    return root / "EMNIST" / "raw"


DATASETS.add(
    "emnist_balanced",
    DatasetInfo(
        name="emnist_balanced", title="EMNIST balanced", channels=1, image_size=28, num_classes=47,
        class_names=_EMNIST_BALANCED, reader=_read_idx_split, files=_idx_names("emnist-balanced-"),
        split_sizes=(("train", 112800), ("test", 18800)),
        downloader=_emnist_download,
        how_to_get="set `data.download: true` on a machine with network access, or copy "
        "emnist-balanced-{train,test}-{images-idx3,labels-idx1}-ubyte(.gz) from the EMNIST 'gzip' "
        "archive into one of the folders above",
    ),
)


# ---------------------------------------------------------------------------------------------
# CelebA: aligned JPEGs, center-cropped to 178x178 and resized to 64x64, decoded once and cached.

_CELEBA_SPLITS = {"train": {0}, "test": {2}, "all": {0, 1, 2}}


def _celeba_files(split: str) -> list[str]:
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


def _celeba_download(root: Path, split: str) -> Path:
    import torchvision.datasets as tvd

    tvd.CelebA(root=str(root), split="all", download=True)
    return root / "celeba"


DATASETS.add(
    "celeba",
    DatasetInfo(
        name="celeba", title="CelebA 64x64", channels=3, image_size=64, num_classes=1, class_names=("face",),
        reader=_read_celeba, files=_celeba_files, downloader=_celeba_download,
        split_sizes=(("train", 162770), ("test", 19962), ("all", 202599)),
        how_to_get="set `data.download: true` on a machine with network access (torchvision fetches it from "
        "Google Drive), or unpack img_align_celeba.zip and list_eval_partition.txt into one of the folders above",
    ),
)


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


# ---------------------------------------------------------------------------------------------
# Finding, loading and subsetting


def _candidate_dirs(cfg: DataConfig, info: DatasetInfo) -> list[Path]:
    dirs = []
    if cfg.root:
        dirs.append(Path(cfg.root).expanduser())
    if os.environ.get("GANSWEEP_DATA_DIR"):
        dirs.append(Path(os.environ["GANSWEEP_DATA_DIR"]).expanduser() / info.name)
    dirs += [Path(d) for d in info.system_dirs]
    dirs.append(cache_dir() / "datasets" / info.name)
    return dirs


def _has_split(folder: Path, info: DatasetInfo, split: str) -> bool:
    return all((folder / n).exists() or (folder / f"{n}.gz").exists() for n in info.files(split))


def _splits(split: str, info: DatasetInfo) -> list[str]:
    if info.name == "celeba":
        return [split]
    return ["train", "test"] if split == "all" else [split]


def _locate(cfg: DataConfig, info: DatasetInfo) -> Path:
    splits = _splits(cfg.split, info)
    dirs = _candidate_dirs(cfg, info)
    for folder in dirs:
        if all(_has_split(folder, info, s) for s in splits):
            return folder
    if cfg.download and info.downloader is not None:
        folder = info.downloader(cache_dir() / "datasets" / info.name, cfg.split)
        if all(_has_split(folder, info, s) for s in splits):
            return folder
    needed = sorted({n for s in splits for n in info.files(s)})
    looked = "\n".join(f"  - {d}" + ("" if d.exists() else " (does not exist)") for d in dirs)
    raise DataNotFoundError(
        f"{info.title} ({cfg.split} split) not found. Looked for {', '.join(needed)} "
        f"(IDX files may be gzipped) in:\n{looked}\nTo get it: {info.how_to_get}."
    )


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


def load_dataset(cfg: DataConfig, seed: int = 0) -> ImageData:
    """Decode the configured split, keep the configured subset, resize once; uint8 on the CPU."""
    info = DATASETS.get(cfg.name)
    folder = _locate(cfg, info)
    if info.name == "celeba":
        names = _celeba_select(folder, cfg.split)
        keep = None
        if cfg.num_images is not None or cfg.dataset_fraction < 1.0:
            # CelebA has no classes: a seeded uniform subset, selected before decoding to save time
            keep = stratified_subset(
                torch.zeros(len(names), dtype=torch.long),
                fraction=cfg.dataset_fraction, count=cfg.num_images, seed=seed,
            ).numpy()
        images, labels = _read_celeba(info, folder, cfg.split, keep)
        images_t = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        labels_t = torch.from_numpy(labels)
    else:
        parts = [info.reader(info, folder, s) for s in _splits(cfg.split, info)]
        images_t = torch.from_numpy(np.concatenate([p[0] for p in parts])).unsqueeze(1)
        labels_t = torch.from_numpy(np.concatenate([p[1] for p in parts]))
        if cfg.num_images is not None or cfg.dataset_fraction < 1.0:
            idx = stratified_subset(labels_t, fraction=cfg.dataset_fraction, count=cfg.num_images, seed=seed)
            images_t, labels_t = images_t[idx], labels_t[idx]
    if labels_t.numel() and int(labels_t.max()) >= info.num_classes:
        raise ValueError(f"{folder}: label {int(labels_t.max())} outside the {info.num_classes} classes of {info.title}.")
    size = cfg.image_size or info.image_size
    if size != images_t.shape[-1]:
        images_t = resize_uint8(images_t, size)
    return ImageData(images=images_t, labels=labels_t, info=info, source=str(folder))


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 (N, C, H, W) -> (N, C, size, size): bilinear with antialiasing, rounded; how datasets are resized."""
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, images.shape[0], chunk):
        x = images[i : i + chunk].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[i : i + chunk] = y.round().clamp(0, 255).to(torch.uint8)
    return out


# ---------------------------------------------------------------------------------------------
# Batches on the training device


@dataclass
class Batches:
    """Epoch-style batches drawn without replacement from uint8 images held on the training device.

    Pixels are scaled to [-1, 1] (`tanh` generators) or [0, 1] (`sigmoid`) per batch, on device;
    there is no per-batch PIL or DataLoader work. The permutation and generator state are part of
    the training checkpoint, so resumed runs see the same batches.
    """

    images: torch.Tensor  # (N, C, H, W) uint8 on the training device
    labels: torch.Tensor  # (N,) int64 on the training device
    batch_size: int
    seed: int
    pixel_range: str = "tanh"  # tanh -> [-1, 1], sigmoid -> [0, 1]
    _gen: torch.Generator = field(init=False, repr=False)
    _perm: torch.Tensor = field(init=False, repr=False)
    _pos: int = field(init=False, default=0)

    def __post_init__(self):
        if self.batch_size > self.images.shape[0]:
            raise ValueError(
                f"The value of `train.batch_size` is {self.batch_size}, but the dataset subset has only "
                f"{self.images.shape[0]} images; use a smaller batch or a larger fraction."
            )
        self._gen = torch.Generator().manual_seed(self.seed)
        self._perm = torch.randperm(self.images.shape[0], generator=self._gen)
        self._pos = 0

    @property
    def batches_per_epoch(self) -> int:
        return self.images.shape[0] // self.batch_size

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._pos + self.batch_size > self._perm.numel():
            self._perm = torch.randperm(self.images.shape[0], generator=self._gen)
            self._pos = 0
        idx = self._perm[self._pos : self._pos + self.batch_size].to(self.images.device, non_blocking=True)
        self._pos += self.batch_size
        return scale_pixels(self.images[idx], self.pixel_range), self.labels[idx]

    def state_dict(self) -> dict:
        return {"gen": self._gen.get_state(), "perm": self._perm.clone(), "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        self._gen.set_state(state["gen"])
        self._perm = state["perm"].clone()
        self._pos = int(state["pos"])


def scale_pixels(images_u8: torch.Tensor, pixel_range: str) -> torch.Tensor:
    x = images_u8.float().div_(255.0)
    return x.mul_(2.0).sub_(1.0) if pixel_range == "tanh" else x


def to_uint8(images: torch.Tensor, pixel_range: str) -> torch.Tensor:
    """Inverse of `scale_pixels`: generator output to uint8 pixels."""
    x = (images + 1.0) / 2.0 if pixel_range == "tanh" else images
    return x.clamp(0, 1).mul(255).round().to(torch.uint8)
