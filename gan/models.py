"""Generators and discriminators, chosen by `model.arch` through the ARCHITECTURES registry (gan.builtins declares
the built-in `mlp` and `dcgan`, with the label encodings each supports and the DCGAN geometry's check).

Each registered builder is `fn(model_cfg, *, channels, image_size, num_classes, critic) -> (G, D)`:
- `G(z, y) -> images (B, C, H, W)` in [-1, 1] (tanh) or [0, 1] (sigmoid); y is ignored unless conditional.
- `D(x, y) -> logits (B,)`: never a sigmoid, so the same network serves BCE (with logits) and Wasserstein
  critics. `critic=True` (wgan-gp) replaces batch norm in D by `model.critic_norm`, because the gradient
  penalty is defined per sample and batch norm mixes samples.

How class labels enter the networks is a LABEL_ENCODINGS entry (`model.label_encoding`): a pair of
input stems, one for G (z, y) -> first feature map and one for D (x, y) -> first feature map.
An architecture builder may carry `label_encodings` (the names it supports) and `check(cfg, image_size)`
(raises ValueError for a geometry it cannot build); the config calls both before any work starts.
"""

from __future__ import annotations

import torch
from torch import nn

from gan._registry import ARCHITECTURES, LABEL_ENCODINGS
from gan.config import ModelConfig
from gan.geometry import Geometry, dcgan_geometry

__all__ = ["CONCAT_STEMS", "CONV_STEMS", "build_dcgan", "build_mlp", "build_models", "init_kaiming", "init_weights"]


def build_models(cfg: ModelConfig, *, channels: int, image_size: int, num_classes: int, critic: bool):
    builder = ARCHITECTURES.load(cfg.arch)
    return builder(cfg, channels=channels, image_size=image_size, num_classes=num_classes, critic=critic)


def init_kaiming(m: nn.Module) -> None:
    """He initialisation of linear layers, as the MLP study used; biases 0."""
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
        nn.init.zeros_(m.bias)


def init_weights(m: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.LayerNorm, nn.GroupNorm)):
        if getattr(m, "weight", None) is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)


class LabelEncoder(nn.Module):
    """Class label -> vector: a learned embedding of `dim` units, or a fixed one-hot of num_classes units."""

    def __init__(self, num_classes: int, encoding: str, dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.onehot = encoding == "onehot"
        self.dim = num_classes if self.onehot else dim
        self.embed = None if self.onehot else nn.Embedding(num_classes, dim)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.onehot:
            return nn.functional.one_hot(y, self.num_classes).float()
        return self.embed(y)


def _output_activation(name: str) -> nn.Module:
    return nn.Tanh() if name == "tanh" else nn.Sigmoid()


# ---------------------------------------------------------------------------------------------
# MLP (the MLP cGAN study: 100 -> 512 -> 512 -> 784, LeakyReLU 0.2, batch norm, dropout 0.5)


class MLPGenerator(nn.Module):
    def __init__(self, cfg: ModelConfig, channels: int, image_size: int, num_classes: int):
        super().__init__()
        self.shape = (channels, image_size, image_size)
        self.labels = LabelEncoder(num_classes, cfg.label_encoding, cfg.label_dim) if cfg.conditional else None
        width_in = cfg.latent_dim + (self.labels.dim if self.labels else 0)
        layers: list[nn.Module] = []
        for _ in range((cfg.depth or 2) + cfg.extra_layers):
            layers.append(nn.Linear(width_in, cfg.g_width))
            if cfg.batch_norm:
                layers.append(nn.BatchNorm1d(cfg.g_width))
            layers.append(nn.LeakyReLU(0.2))
            if cfg.dropout:
                layers.append(nn.Dropout(cfg.dropout))
            width_in = cfg.g_width
        out = channels * image_size * image_size
        layers.append(nn.Linear(width_in, out))
        if cfg.batch_norm:
            layers.append(nn.BatchNorm1d(out))  # the MLP study normalised the output layer too
        layers.append(_output_activation(cfg.output_activation))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.cat([z, self.labels(y)], dim=1) if self.labels is not None else z  # (B, latent [+ label])
        return self.net(h).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, cfg: ModelConfig, channels: int, image_size: int, num_classes: int, critic: bool):
        super().__init__()
        self.labels = LabelEncoder(num_classes, cfg.label_encoding, cfg.label_dim) if cfg.conditional else None
        width_in = channels * image_size * image_size + (self.labels.dim if self.labels else 0)
        layers: list[nn.Module] = []
        for _ in range((cfg.depth or 2) + cfg.extra_layers):
            layers.append(nn.Linear(width_in, cfg.d_width))
            if critic and cfg.critic_norm == "layer":
                layers.append(nn.LayerNorm(cfg.d_width))
            layers.append(nn.LeakyReLU(0.2))
            if cfg.dropout:
                layers.append(nn.Dropout(cfg.dropout))
            width_in = cfg.d_width
        layers.append(nn.Linear(width_in, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)  # (B, C*H*W)
        if self.labels is not None:
            h = torch.cat([h, self.labels(y)], dim=1)
        return self.net(h).view(-1)


def build_mlp(cfg: ModelConfig, *, channels: int, image_size: int, num_classes: int, critic: bool):
    G = MLPGenerator(cfg, channels, image_size, num_classes)
    D = MLPDiscriminator(cfg, channels, image_size, num_classes, critic)
    return G.apply(init_kaiming), D.apply(init_kaiming)


# ---------------------------------------------------------------------------------------------
# DCGAN: transposed-conv G, strided-conv D; widths double towards the low-resolution end.


def _norm2d(kind: str, channels: int, size: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # layer norm over (C, H, W), independent of the spatial size
    return nn.Identity()


# Label encodings: the input stems of the DCGAN. A G stem maps (z, y) to the first feature map
# (B, width, base, base); a D stem maps (x, y) to the feature map after the first stride-2 convolution.


class ConcatStemG(nn.Module):
    """z, with the label vector (embedding or one-hot) appended, through one transposed convolution."""

    def __init__(self, cfg: ModelConfig, width: int, base: int, num_classes: int, norm: str):
        super().__init__()
        self.labels = LabelEncoder(num_classes, cfg.label_encoding, cfg.label_dim) if cfg.conditional else None
        width_in = cfg.latent_dim + (self.labels.dim if self.labels else 0)
        self.net = nn.Sequential(nn.ConvTranspose2d(width_in, width, base, 1, 0, bias=norm == "none"),
                                 _norm2d(norm, width, base), nn.ReLU(True))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = torch.cat([z, self.labels(y)], dim=1) if self.labels is not None else z
        return self.net(h[:, :, None, None])


class ConvStemG(nn.Module):
    """z and the one-hot label each through their own transposed convolution (half the width each), then
    concatenated: the DCGAN/CGAN study's "new concat"."""

    def __init__(self, cfg: ModelConfig, width: int, base: int, num_classes: int, norm: str):
        super().__init__()
        self.num_classes = num_classes
        half = width // 2

        def branch(width_in: int, width_out: int) -> nn.Sequential:
            return nn.Sequential(nn.ConvTranspose2d(width_in, width_out, base, 1, 0, bias=norm == "none"),
                                 _norm2d(norm, width_out, base), nn.ReLU(True))

        self.z_branch = branch(cfg.latent_dim, width - half)
        self.y_branch = branch(num_classes, half)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(y, self.num_classes).float()
        return torch.cat([self.z_branch(z[:, :, None, None]), self.y_branch(onehot[:, :, None, None])], dim=1)


class ConcatStemD(nn.Module):
    """The image with label planes appended (one learned image-sized plane per class for `embedding`, as
    the EMNIST study did, or num_classes constant one-hot planes), through one stride-2 convolution."""

    def __init__(self, cfg: ModelConfig, channels: int, width: int, geo: Geometry, num_classes: int):
        super().__init__()
        self.size, self.num_classes = geo.sides[0], num_classes
        self.onehot = cfg.label_encoding == "onehot"
        self.conditional = cfg.conditional
        extra = 0
        self.labels = None
        if cfg.conditional:
            extra = num_classes if self.onehot else 1
            self.labels = None if self.onehot else nn.Embedding(num_classes, self.size * self.size)
        self.net = nn.Sequential(
            nn.Conv2d(channels + extra, width, geo.kernel, 2, geo.padding), nn.LeakyReLU(0.2, True)
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.conditional:
            B, S = x.shape[0], self.size
            if self.onehot:
                planes = nn.functional.one_hot(y, self.num_classes).float()[:, :, None, None].expand(B, -1, S, S)
            else:
                planes = self.labels(y).view(B, 1, S, S)
            x = torch.cat([x, planes], dim=1)  # (B, C + extra, H, W)
        return self.net(x)


class ConvStemD(nn.Module):
    """The image and the one-hot label planes each through their own stride-2 convolution (half the width
    each), then concatenated."""

    def __init__(self, cfg: ModelConfig, channels: int, width: int, geo: Geometry, num_classes: int):
        super().__init__()
        self.size, self.num_classes = geo.sides[0], num_classes
        half = width // 2
        self.x_branch = nn.Sequential(
            nn.Conv2d(channels, width - half, geo.kernel, 2, geo.padding), nn.LeakyReLU(0.2, True)
        )
        self.y_branch = nn.Sequential(nn.Conv2d(num_classes, half, geo.kernel, 2, geo.padding), nn.LeakyReLU(0.2, True))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        B, S = x.shape[0], self.size
        planes = nn.functional.one_hot(y, self.num_classes).float()[:, :, None, None].expand(B, -1, S, S)
        return torch.cat([self.x_branch(x), self.y_branch(planes)], dim=1)


CONCAT_STEMS = (ConcatStemG, ConcatStemD)  # the stems of the `embedding` and `onehot` label encodings
CONV_STEMS = (ConvStemG, ConvStemD)  # the stems of the `conv` label encoding


def _stems(cfg: ModelConfig):
    return LABEL_ENCODINGS.load(cfg.label_encoding if cfg.conditional else "embedding")


def _same_conv(conv: type, width: int, norm: str, side: int, act: nn.Module) -> list[nn.Module]:
    """A stride-1 3x3 block that keeps side and width (`model.extra_layers`)."""
    return [conv(width, width, 3, 1, 1, bias=norm == "none"), _norm2d(norm, width, side), act]


class DCGANGenerator(nn.Module):
    def __init__(self, cfg: ModelConfig, channels: int, image_size: int, num_classes: int):
        super().__init__()
        geo = dcgan_geometry(cfg, image_size)
        width = cfg.g_width * 2 ** (geo.depth - 1)
        norm = "batch" if cfg.batch_norm else "none"
        self.stem = _stems(cfg)[0](cfg, width, geo.base, num_classes, norm)  # -> (B, width, base, base)
        layers: list[nn.Module] = []
        for stage in range(geo.depth, 1, -1):  # each stage grows the side to the next one and halves the width
            layers += [
                nn.ConvTranspose2d(width, width // 2, geo.kernel, 2, geo.padding, geo.output_padding(stage),
                                   bias=not cfg.batch_norm),
                _norm2d(norm, width // 2, geo.sides[stage - 1]),
                nn.ReLU(True),
            ]
            width //= 2
        for _ in range(cfg.extra_layers):  # at the last hidden side, before the output layer
            layers += _same_conv(nn.Conv2d, width, norm, geo.sides[1], nn.ReLU(True))
        layers += [nn.ConvTranspose2d(width, channels, geo.kernel, 2, geo.padding, geo.output_padding(1)),
                   _output_activation(cfg.output_activation)]
        self.net = nn.Sequential(*layers)
        self.conditional = cfg.conditional

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.stem(z, y if self.conditional else None))  # (B, C, H, W)


class DCGANDiscriminator(nn.Module):
    def __init__(self, cfg: ModelConfig, channels: int, image_size: int, num_classes: int, critic: bool):
        super().__init__()
        geo = dcgan_geometry(cfg, image_size)
        if not cfg.batch_norm:
            norm = "none"
        else:
            norm = cfg.critic_norm if critic else "batch"
        width = cfg.d_width
        self.stem = _stems(cfg)[1](cfg, channels, width, geo, num_classes)  # -> (B, width, sides[1], sides[1])
        layers: list[nn.Module] = []
        for _ in range(cfg.extra_layers):  # at the first hidden side, after the stem
            layers += _same_conv(nn.Conv2d, width, norm, geo.sides[1], nn.LeakyReLU(0.2, True))
        for stage in range(2, geo.depth + 1):
            layers += [
                nn.Conv2d(width, width * 2, geo.kernel, 2, geo.padding, bias=norm == "none"),
                _norm2d(norm, width * 2, geo.sides[stage]),
                nn.LeakyReLU(0.2, True),
            ]
            width *= 2
        layers.append(nn.Conv2d(width, 1, geo.base, 1, 0))  # (B, 1, 1, 1) logit
        self.net = nn.Sequential(*layers)
        self.conditional = cfg.conditional

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.stem(x, y if self.conditional else None)).view(-1)


def build_dcgan(cfg: ModelConfig, *, channels: int, image_size: int, num_classes: int, critic: bool):
    G = DCGANGenerator(cfg, channels, image_size, num_classes)
    D = DCGANDiscriminator(cfg, channels, image_size, num_classes, critic)
    return G.apply(init_weights), D.apply(init_weights)


# what gan.builtins declares of each, carried by the builders too, for a plugin that wraps one
build_mlp.label_encodings = ARCHITECTURES.get("mlp").label_encodings
build_dcgan.check = ARCHITECTURES.get("dcgan").check

