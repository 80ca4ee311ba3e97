"""Datasets: decoded once into uint8 tensors, subsetted by class-stratified fraction, batched on device.

Raw files are looked for, in order, in: `data.root`; `$GANSWEEP_DATA_DIR/<name>`; the dataset's system
folders (Debian's `dataset-fashion-mnist` for Fashion-MNIST); the download cache
(`$GANSWEEP_CACHE_DIR`, default `~/.cache/gansweep`). With `data.download: true` a missing dataset is
fetched through torchvision into that cache. Nothing here touches the network otherwise.

`datasets` holds the registry entries; everything dataset-specific is a field of its entry, so the
rest (`locate`, `load`, `subsets`, `batches`) never branches on a dataset's name.
"""

from gan._registry import lazy_exports

# name -> the module that defines it, imported when the name is first read: a dataset's entry, its planned size
# and where its files are need no torch, which the readers, `load` and `batches` import
_EXPORTS = {
    "Batches": "gan.data.batches",
    "scale_pixels": "gan.data.batches",
    "to_uint8": "gan.data.batches",
    "DATASETS": "gan.data.datasets",
    "dataset_info": "gan.data.datasets",
    "planned_size": "gan.data.datasets",
    "read_idx": "gan.data.idx",
    "DataNotFoundError": "gan.data.info",
    "DatasetInfo": "gan.data.info",
    "ImageData": "gan.data.info",
    "cache_dir": "gan.data.info",
    "load_dataset": "gan.data.load",
    "resize_uint8": "gan.data.load",
    "locate_dataset": "gan.data.locate",
    "stratified_subset": "gan.data.subsets",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
