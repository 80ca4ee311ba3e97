"""The registered datasets: one `DatasetInfo` entry each, which is all the rest of the package asks."""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

from gan._registry import DATASETS
from gan.registration import register_dataset
from gan.config import DataConfig
from gan.data.celeba import celeba_download, celeba_files, read_celeba_dataset
from gan.data.idx import idx_names, read_idx_dataset, torchvision_downloader
from gan.data.info import DatasetInfo
from gan.data.npz import NPZ
from gan.data.user import IMAGE_FOLDER

__all__ = ["DATASETS", "dataset_info", "planned_size"]

_DIGITS = tuple(str(i) for i in range(10))
_EMNIST_BALANCED = _DIGITS + tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + tuple("abdefghnqrt")
_FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

register_dataset(
    DatasetInfo(
        name="mnist", title="MNIST", channels=1, image_size=28, num_classes=10, class_names=_DIGITS,
        reader=read_idx_dataset, files=idx_names(""), split_sizes=(("train", 60000), ("test", 10000)),
        downloader=torchvision_downloader("MNIST", "MNIST"),
        how_to_get="set `data.download: true` on a machine with network access, or copy the four "
        "MNIST IDX files (train-*, t10k-*) into one of the folders above",
    ),
)
register_dataset(
    DatasetInfo(
        name="fashion_mnist", title="Fashion-MNIST", channels=1, image_size=28, num_classes=10,
        class_names=_FASHION, reader=read_idx_dataset, files=idx_names(""),
        split_sizes=(("train", 60000), ("test", 10000)),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        downloader=torchvision_downloader("FashionMNIST", "FashionMNIST"),
        how_to_get="on Debian/Ubuntu run `apt-get install dataset-fashion-mnist`, or set "
        "`data.download: true` on a machine with network access",
    ),
)


def _emnist_download(root: Path, split: str) -> Path:
    import torchvision.datasets as tvd

    for train in (True, False):
        tvd.EMNIST(root=str(root), split="balanced", train=train, download=True)
    return root / "EMNIST" / "raw"


register_dataset(
    DatasetInfo(
        name="emnist_balanced", title="EMNIST balanced", channels=1, image_size=28, num_classes=47,
        class_names=_EMNIST_BALANCED, reader=read_idx_dataset, files=idx_names("emnist-balanced-"),
        split_sizes=(("train", 112800), ("test", 18800)),
        downloader=_emnist_download, transposed=True,
        how_to_get="set `data.download: true` on a machine with network access, or copy "
        "emnist-balanced-{train,test}-{images-idx3,labels-idx1}-ubyte(.gz) from the EMNIST 'gzip' "
        "archive into one of the folders above",
    ),
)
register_dataset(
    DatasetInfo(
        name="celeba", title="CelebA 64x64", channels=3, image_size=64, num_classes=1, class_names=("face",),
        reader=read_celeba_dataset, files=celeba_files, downloader=celeba_download,
        split_sizes=(("train", 162770), ("test", 19962), ("all", 202599)), all_is_train_and_test=False,
        how_to_get="set `data.download: true` on a machine with network access (torchvision fetches it from "
        "Google Drive), or unpack img_align_celeba.zip and list_eval_partition.txt into one of the folders above",
    ),
)
register_dataset(IMAGE_FOLDER)
register_dataset(NPZ)


def dataset_info(cfg: DataConfig) -> DatasetInfo:
    """The registry entry of a configured dataset; for one whose shape is in the user's files (its entry has
    `describe`), the entry of what those files hold now."""
    info = DATASETS.get(cfg.name)
    if info.describe is None:
        return info
    try:
        st = os.stat(Path(cfg.root).expanduser()) if cfg.root else None
    except OSError:
        st = None
    # what the files hold does not depend on the subset a config keeps of them: its subsets are described once
    whole = dataclasses.replace(cfg, dataset_fraction=1.0, num_images=None)
    return _described(whole, (st.st_mtime_ns, st.st_size) if st else None)


@functools.lru_cache(maxsize=32)
def _described(cfg: DataConfig, stamp) -> DatasetInfo:  # stamp: the root's modification time and size
    return DATASETS.get(cfg.name).describe(cfg)


def planned_size(cfg: DataConfig) -> int:
    """Images a data config will yield, from the published split sizes (no file is read)."""
    sizes = dict(dataset_info(cfg).split_sizes)
    n = sizes.get(cfg.split) or sizes["train"] + sizes["test"]
    if cfg.num_images is not None:
        return min(cfg.num_images, n)
    return max(1, round(cfg.dataset_fraction * n))
