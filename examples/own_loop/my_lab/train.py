"""A GAN training loop of our own: a small conv GAN with the hinge loss, an exponential moving average (EMA) of
the generator that is what gets scored, and a checkpoint format of our own. gansweep calls `run(config, reporter)`
once per trial; everything else here is ordinary PyTorch."""

from __future__ import annotations

import copy
import dataclasses
import tempfile
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

import gan


@dataclasses.dataclass
class Settings:
    """What a trial of this loop can be given; gansweep checks every trial's config against it."""

    width: int = 32  # channels of both networks' first layer
    lr: float = 2e-4
    ema: float = 0.99  # weight of the running average of the generator's weights
    steps: int = 400
    evaluations: int = 4  # scored every steps // evaluations steps (the spec's `trainable.evaluations`)
    batch: int = 32
    latent: int = 32
    images: int = 2000  # Fashion-MNIST training images used
    eval_samples: int = 500
    real_samples: int = 1000
    classifier_epochs: int = 1  # of the domain classifier behind FID (trained once, then cached)
    seed: int = 0


class Generator(nn.Module):
    def __init__(self, latent: int, width: int):
        super().__init__()
        self.fc = nn.Linear(latent, 2 * width * 7 * 7)
        self.net = nn.Sequential(
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh())
        self.width = width

    def forward(self, z):
        return self.net(self.fc(z).view(z.shape[0], 2 * self.width, 7, 7))


class Discriminator(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, 1))

    def forward(self, x):
        return self.net(x).squeeze(1)


def run(config: dict, reporter) -> None:
    s = Settings(**config)
    torch.manual_seed(s.seed)
    real = gan.load_dataset(gan.DataConfig(name="fashion_mnist", num_images=s.images)).images.float() / 127.5 - 1
    g, d = Generator(s.latent, s.width), Discriminator(s.width)
    g_ema = copy.deepcopy(g).eval()
    opt_g = torch.optim.Adam(g.parameters(), s.lr, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), s.lr, betas=(0.0, 0.9))
    start = 0
    if reporter.restore_from is not None:  # resumed: our own format, back as we saved it
        state = torch.load(reporter.restore_from / "lab_state.pt", weights_only=True)
        for module, key in ((g, "g"), (d, "d"), (g_ema, "g_ema"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            module.load_state_dict(state[key])
        torch.set_rng_state(state["rng"])
        start = state["step"]

    def sample(n: int, seed: int = 0):
        noise = torch.randn(n, s.latent, generator=torch.Generator().manual_seed(seed))
        return g_ema(noise)

    every = s.steps // s.evaluations
    for step in range(start + 1, s.steps + 1):
        x = real[torch.randint(len(real), (s.batch,))]
        z = torch.randn(s.batch, s.latent)
        loss_d = F.relu(1 - d(x)).mean() + F.relu(1 + d(g(z).detach())).mean()  # hinge
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = -d(g(torch.randn(s.batch, s.latent))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        with torch.no_grad():
            for p_ema, p in zip(g_ema.parameters(), g.parameters()):
                p_ema.lerp_(p, 1 - s.ema)
            for b_ema, b in zip(g_ema.buffers(), g.buffers()):
                b_ema.copy_(b)
        if step % every == 0:
            scores = gan.evaluate(sample, data={"name": "fashion_mnist"}, metrics=["fid"],
                                  num_samples=s.eval_samples, real_samples=s.real_samples,
                                  classifier_epochs=s.classifier_epochs)
            with tempfile.TemporaryDirectory() as folder:
                torch.save({"g": g.state_dict(), "d": d.state_dict(), "g_ema": g_ema.state_dict(),
                            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": step,
                            "rng": torch.get_rng_state()}, Path(folder) / "lab_state.pt")
                reporter.report(step=step, fid=scores["fid"], loss_d=loss_d.item(), loss_g=loss_g.item(),
                                checkpoint=folder)
