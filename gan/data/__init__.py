"""Datasets: decoded once into uint8 tensors, subsetted by class-stratified fraction, batched on device.

Raw files are looked for, in order, in: `data.root`; `$GANSWEEP_DATA_DIR/<name>`; the dataset's system
folders (Debian's `dataset-fashion-mnist` for Fashion-MNIST); the download cache
(`$GANSWEEP_CACHE_DIR`, default `~/.cache/gansweep`). With `data.download: true` a missing dataset is
fetched through torchvision into that cache. Nothing here touches the network otherwise.

`datasets` holds the registry entries; everything dataset-specific is a field of its entry, so the
rest (`locate`, `load`, `subsets`, `batches`) never branches on a dataset's name.
"""

from gan.data.batches import Batches, scale_pixels, to_uint8
from gan.data.datasets import DATASETS, planned_size
from gan.data.idx import read_idx
from gan.data.info import DataNotFoundError, DatasetInfo, ImageData, cache_dir
from gan.data.load import dataset_info, load_dataset, resize_uint8
from gan.data.locate import locate_dataset
from gan.data.subsets import stratified_subset

__all__ = [
    "DATASETS",
    "Batches",
    "DatasetInfo",
    "DataNotFoundError",
    "ImageData",
    "cache_dir",
    "dataset_info",
    "load_dataset",
    "locate_dataset",
    "planned_size",
    "read_idx",
    "resize_uint8",
    "scale_pixels",
    "stratified_subset",
    "to_uint8",
]
