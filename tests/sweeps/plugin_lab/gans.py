"""Registers `tiny_conv`, a small generator and discriminator pair, and `mnist_low_digits`, the real MNIST
test digits 0 to 4, through gansweep's public registration functions."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import gan
from gan.data import read_idx

LOW_DIGITS = ("0", "1", "2", "3", "4")


class TinyGenerator(nn.Module):
    """z (B, latent) -> a 7x7 map -> two transposed convolutions -> (B, C, 28, 28) in [-1, 1]."""

    def __init__(self, latent_dim: int, width: int, channels: int):
        super().__init__()
        self.width = width
        self.project = nn.Linear(latent_dim, width * 2 * 7 * 7)
        self.net = nn.Sequential(
            nn.ReLU(), nn.ConvTranspose2d(width * 2, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.project(z).view(-1, self.width * 2, 7, 7))


class TinyDiscriminator(nn.Module):
    """(B, C, 28, 28) -> two strided convolutions -> a logit (B,)."""

    def __init__(self, width: int, channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(width, width * 2, 4, 2, 1),
            nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(width * 2 * 7 * 7, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(-1)


@gan.register_architecture("tiny_conv")
def build_tiny_conv(cfg, *, channels, image_size, num_classes, critic):
    return TinyGenerator(cfg.latent_dim, cfg.g_width, channels), TinyDiscriminator(cfg.d_width, channels)


def _check(cfg, image_size):
    if image_size != 28 or cfg.conditional:
        raise ValueError("tiny_conv draws unconditional 28x28 images")


build_tiny_conv.check = _check


def _files(split):
    return ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] if split == "test" else ["train-images-idx3-ubyte"]


def _idx(folder, name):
    return np.array(read_idx(next(folder.glob(name + "*"))))  # gzipped or not; a writable copy


def _read(info, folder, cfg, seed):
    images = torch.from_numpy(_idx(folder, "t10k-images-idx3-ubyte")).unsqueeze(1)
    labels = torch.from_numpy(_idx(folder, "t10k-labels-idx1-ubyte")).long()
    keep = labels < len(LOW_DIGITS)
    images, labels = images[keep], labels[keep]
    if cfg.num_images is not None:
        idx = gan.stratified_subset(labels, count=cfg.num_images, seed=seed)
        images, labels = images[idx], labels[idx]
    return images.contiguous(), labels


gan.register_dataset(gan.DatasetInfo(
    name="mnist_low_digits", title="MNIST test digits 0-4", channels=1, image_size=28, num_classes=5,
    class_names=LOW_DIGITS, reader=_read, files=_files, split_sizes=(("test", 5139),),
    how_to_get="point `data.root` at the MNIST test IDX files"))
