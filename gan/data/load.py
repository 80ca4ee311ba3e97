"""Loading a configured split: locate its files, read the configured subset, resize once."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan.config import DataConfig
from gan.data.datasets import dataset_info
from gan.data.info import ImageData
from gan.data.locate import locate_dataset

__all__ = ["load_dataset", "resize_uint8"]


def load_dataset(cfg: DataConfig, seed: int = 0) -> ImageData:
    """Decode the configured split, keep the configured subset, resize once; uint8 on the CPU."""
    info = dataset_info(cfg)
    folder = locate_dataset(cfg, info)
    images_t, labels_t = info.reader(info, folder, cfg, seed)
    if labels_t.numel() and int(labels_t.max()) >= info.num_classes:
        raise ValueError(
            f"{folder}: label {int(labels_t.max())} outside the {info.num_classes} classes of {info.title}."
        )
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
