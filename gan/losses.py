"""Adversarial losses, chosen by `loss.name` through the LOSSES registry (gan.builtins declares the built-in
`bce`, `wgan` and `wgan-gp`).

A loss is built as `cls(loss_cfg)` and provides:
- `discriminator_loss(D, real, fake, y, gen) -> (loss, stats)` with `fake` already detached;
- `generator_loss(D, fake, y) -> (loss, stats)`;
- `after_discriminator_step(D)`, e.g. weight clipping;
- `critic`: True when D must not use batch norm (per-sample gradient penalty).
Stats are detached scalar tensors (no host sync): `d_real`/`d_fake` are mean D(x) and D(G(z)) as
probabilities for BCE and raw critic values otherwise; `wasserstein` is the critic's estimate.

`generator_terms(config, device)` lists the extra terms the generator minimises beside the adversarial
loss, each `term(fake, y) -> (loss, stats)`: today the classifier guidance of `loss.classifier_weight`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan._registry import LOSSES
from gan.config import Config, LossConfig

__all__ = ["BCELoss", "ClassifierGuidance", "WGANLoss", "WGANGPLoss", "build_loss", "generator_terms"]


def build_loss(cfg: LossConfig):
    return LOSSES.load(cfg.name)(cfg)


class BCELoss:
    """Non-saturating GAN loss with optional one-sided label smoothing of the real targets."""

    critic = False

    def __init__(self, cfg: LossConfig):
        self.smoothing = cfg.label_smoothing
        self.random = cfg.label_smoothing_random

    def real_targets(self, n: int, device, gen: torch.Generator) -> torch.Tensor:
        if self.random:  # uniform in [1 - s, 1], per sample (the MLP study's "0.15 + random")
            return 1.0 - self.smoothing * torch.rand(n, device=device, generator=gen)
        return torch.full((n,), 1.0 - self.smoothing, device=device)

    def discriminator_loss(self, D: nn.Module, real, fake, y, gen):
        real_logits = D(real, y)
        fake_logits = D(fake, y)
        targets = self.real_targets(real.shape[0], real.device, gen)
        loss = F.binary_cross_entropy_with_logits(real_logits, targets) + F.binary_cross_entropy_with_logits(
            fake_logits, torch.zeros_like(fake_logits)
        )
        return loss, {
            "d_real": torch.sigmoid(real_logits).mean().detach(),
            "d_fake": torch.sigmoid(fake_logits).mean().detach(),
        }

    def generator_loss(self, D: nn.Module, fake, y):
        logits = D(fake, y)
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)), {}

    def after_discriminator_step(self, D: nn.Module) -> None:
        pass


class WGANLoss:
    """Wasserstein loss with the critic's weights clipped to [-c, c] after every critic step."""

    critic = False

    def __init__(self, cfg: LossConfig):
        self.clip_value = cfg.clip_value

    def _critic_terms(self, D, real, fake, y):
        real_score = D(real, y).mean()
        fake_score = D(fake, y).mean()
        wasserstein = real_score - fake_score
        stats = {"d_real": real_score.detach(), "d_fake": fake_score.detach(), "wasserstein": wasserstein.detach()}
        return -wasserstein, stats

    def discriminator_loss(self, D: nn.Module, real, fake, y, gen):
        return self._critic_terms(D, real, fake, y)

    def generator_loss(self, D: nn.Module, fake, y):
        return -D(fake, y).mean(), {}

    @torch.no_grad()
    def after_discriminator_step(self, D: nn.Module) -> None:
        for p in D.parameters():
            p.clamp_(-self.clip_value, self.clip_value)


class WGANGPLoss(WGANLoss):
    """Wasserstein loss with a gradient penalty lambda * (||grad C(x_hat)|| - 1)^2 on random interpolates."""

    critic = True
    double_backward = LOSSES.get("wgan-gp").double_backward  # as declared in gan.builtins; a subclass inherits it

    def __init__(self, cfg: LossConfig):
        self.gp_lambda = cfg.gp_lambda

    def discriminator_loss(self, D: nn.Module, real, fake, y, gen):
        loss, stats = self._critic_terms(D, real, fake, y)
        eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, generator=gen)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(D(mixed, y).sum(), mixed, create_graph=True)
        penalty = ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        stats["gradient_penalty"] = penalty.detach()
        return loss + self.gp_lambda * penalty, stats

    def after_discriminator_step(self, D: nn.Module) -> None:
        pass


class ClassifierGuidance:
    """weight x the cross-entropy of a frozen classifier on the generated images against the classes they
    were generated for. Gradients flow through the classifier into G; its weights never change."""

    def __init__(self, classifier: nn.Module, weight: float, pixel_range: str):
        self.classifier = classifier.eval().requires_grad_(False)
        self.weight = weight
        self.sigmoid = pixel_range == "sigmoid"  # the classifier reads images in [-1, 1]

    def __call__(self, fake: torch.Tensor, y: torch.Tensor):
        x = fake * 2 - 1 if self.sigmoid else fake
        ce = F.cross_entropy(self.classifier(x), y)
        return self.weight * ce, {"loss_cls": ce.detach()}


def generator_terms(config: Config, device) -> list:
    terms = []
    if config.loss.classifier_weight:
        from gan.metrics.classifier import default_spec, load_or_train_classifier

        spec = default_spec(config.data, seed=config.loss.classifier_seed)
        with torch.random.fork_rng(devices=[]):  # training it on first use must not move the run's RNG
            classifier, _, _ = load_or_train_classifier(spec, device)
        terms.append(ClassifierGuidance(classifier, config.loss.classifier_weight, config.pixel_range))
    return terms
