"""Datasets: decoded once into uint8 tensors, subsetted by class-stratified fraction, batched on device.

Raw files are looked for, in order, in: `data.root`; `$GANSWEEP_DATA_DIR/<name>`; the dataset's system
folders (Debian's `dataset-fashion-mnist` for Fashion-MNIST); the download cache
(`$GANSWEEP_CACHE_DIR`, default `~/.cache/gansweep`). With `data.download: true` a missing dataset is
fetched through torchvision into that cache. Nothing here touches the network otherwise.

`datasets` holds the registry entries; everything dataset-specific is a field of its entry, so the
rest (`locate`, `load`, `subsets`, `batches`) never branches on a dataset's name.
"""

from gan._registry import lazy_exports

# each module and the names it exports, imported when one of them is first read: a dataset's entry, its planned size
# and where its files are need no torch, which the readers, `load` and `batches` import
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "gan.data.batches": ("Batches", "scale_pixels", "to_uint8"),
    "gan.data.datasets": ("DATASETS", "dataset_info", "planned_size"),
    "gan.data.idx": ("read_idx",),
    "gan.data.info": ("DataError", "DataNotFoundError", "DatasetInfo", "ImageData", "cache_dir"),
    "gan.data.load": ("load_dataset", "resize_uint8"),
    "gan.data.locate": ("locate_dataset",),
    "gan.data.subsets": ("stratified_subset",),
})
