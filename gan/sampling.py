"""Sampling a generator: the one place that draws noise, sets the sampling mode and writes images.

The trainer samples through a `Sampler` (evaluation, sample grids), and so does everything that loads
a trained generator later (the report, the augmentation study): the same noise law, the same
train/eval mode (`model.sample_in_train_mode`), the same seeds and the same pixel conversion, so a
figure drawn from a logged generator shows the samples its logged FID was measured on.

A generator artifact (`GENERATOR_ARTIFACT`, written by `save_generator`) holds the generator's
weights, the resolved training config and the step; `Sampler.load` rebuilds it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
from torch import nn

from record.files import atomic_path
from gan.config import Config
from gan.data import dataset_info, to_uint8

__all__ = ["GENERATOR_ARTIFACT", "Sampler", "save_generator"]

GENERATOR_ARTIFACT = "generator.pt"


class Sampler:
    """Draws samples from generator `G` trained with `config` (resolved), on `device`."""

    def __init__(self, G: nn.Module, config: Config, *, num_classes: int, device: torch.device | str = "cpu"):
        self.G = G
        self.config = config
        self.num_classes = num_classes
        self.device = torch.device(device)
        self.conditional = config.model.conditional
        self.pixel_range = config.pixel_range

    @classmethod
    def load(cls, path: str | os.PathLike, device: torch.device | str = "cpu") -> Sampler:
        """Rebuild the generator of a `GENERATOR_ARTIFACT` (see `save_generator`)."""
        from gan.losses import build_loss
        from gan.models import build_models

        blob = torch.load(path, map_location="cpu", weights_only=True)
        cfg = Config.from_dict(blob["config"])
        info = dataset_info(cfg.data)
        size = cfg.data.image_size or info.image_size
        G, _ = build_models(cfg.model, channels=info.channels, image_size=size, num_classes=info.num_classes,
                            critic=build_loss(cfg.loss).critic)
        G.load_state_dict(blob["G"])
        G.to(device)
        return cls(G, cfg, num_classes=info.num_classes, device=device)

    def noise(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n latent vectors from the configured noise law (`train.noise`), drawn from `gen`."""
        shape = (n, self.config.model.latent_dim)
        if self.config.train.noise == "uniform":
            return torch.rand(shape, device=self.device, generator=gen).mul_(2).sub_(1)
        return torch.randn(shape, device=self.device, generator=gen)

    @contextlib.contextmanager
    def mode(self, seed: int = 0):
        """Eval mode (or train mode, if configured) without touching the caller's RNG or BN statistics."""
        G = self.G
        was_training = G.training
        buffers = [b.clone() for b in G.buffers()]
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)  # dropout masks, when sampling in train mode
            G.train(self.config.model.sample_in_train_mode)
            try:
                yield
            finally:
                G.train(was_training)
                for b, saved in zip(G.buffers(), buffers):
                    b.copy_(saved)

    def generate(
        self, n: int, *, labels: torch.Tensor | None = None, seed: int = 0, batch_size: int = 500
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples as uint8 (n, C, H, W) on the CPU, and their labels (balanced over classes unless given)."""
        gen = torch.Generator(self.device).manual_seed(seed)
        if labels is None:
            labels = torch.arange(n) % self.num_classes
        images = []
        with self.mode(seed):
            for i in range(0, n, batch_size):
                y = labels[i : i + batch_size].to(self.device)
                images.append(self._forward(self.noise(y.shape[0], gen), y))
        if not images:
            return torch.empty(0, dtype=torch.uint8), labels.cpu()
        return torch.cat(images), labels.cpu()

    def decode(self, z: torch.Tensor, labels: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
        """Given latent vectors (and labels) as uint8 images on the CPU, in the sampling mode."""
        with self.mode(seed):
            return self._forward(z.to(self.device), labels.to(self.device))

    def _forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return to_uint8(self.G(z, y if self.conditional else None), self.pixel_range).cpu()


def save_generator(trainer_state: dict, path: str | os.PathLike) -> Path:
    """Write the generator artifact of a trainer checkpoint's state (`Trainer.state_dict`): weights,
    config and step, without the discriminator and optimizer states."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"G": trainer_state["G"], "config": trainer_state["config"], "step": trainer_state["step"]}, tmp)
    return path
