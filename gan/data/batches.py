"""Batches on the training device, and the one mapping between uint8 pixels and network pixel ranges."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["Batches", "scale_pixels", "to_uint8"]


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
    """uint8 pixels to the network's range: [-1, 1] for `tanh`, [0, 1] for `sigmoid`. The one place this is written."""
    x = images_u8.float().div_(255.0)
    return x.mul_(2.0).sub_(1.0) if pixel_range == "tanh" else x


def to_uint8(images: torch.Tensor, pixel_range: str) -> torch.Tensor:
    """Inverse of `scale_pixels`: generator output to uint8 pixels."""
    images = images.float()  # a bf16 generator's output has too few digits for 256 levels
    x = (images + 1.0) / 2.0 if pixel_range == "tanh" else images
    return x.clamp(0, 1).mul(255).round().to(torch.uint8)
