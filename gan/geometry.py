"""The DCGAN layout's geometry: the sides from the image down to the base and the stride-2 convolutions that link
them. Plain arithmetic, no torch: a config's `model.depth` and `model.kernel_size` are checked against it before
any work starts (gan.builtins declares `check_dcgan` as the architecture's check), and gan.models builds from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gan.config import ModelConfig

__all__ = ["Geometry", "check_dcgan", "dcgan_geometry", "default_depth"]


def default_depth(image_size: int) -> int:
    """Most stride-2 stages that leave an integer base resolution of at least 4 (28 -> 2, 64 -> 4)."""
    depth = 0
    while image_size % 2 == 0 and image_size // 2 >= 4:
        image_size //= 2
        depth += 1
    return max(depth, 1)


@dataclass(frozen=True)
class Geometry:
    """Sides from the image down to the base, and the stride-2 convolution that links them.

    Sides that halve exactly (64 -> 32 -> 16 -> 8 -> 4, 28 -> 14 -> 7) use the DCGAN paper's 4x4
    kernels with padding 1. When a side rounds up (28 -> 14 -> 7 -> 4) every stage uses 5x5 kernels
    with padding 2, the layout of the EMNIST study's WGAN-GP, and each generator stage gets the
    output padding that lands on the next side exactly. `model.kernel_size` overrides the kernel
    (padding (k - 1) // 2), e.g. 5 for the DCGAN/CGAN study's 7 -> 14 -> 28 layout.
    """

    sides: tuple[int, ...]  # image_size, ..., base (depth + 1 entries)
    kernel: int
    padding: int

    @property
    def depth(self) -> int:
        return len(self.sides) - 1

    @property
    def base(self) -> int:
        return self.sides[-1]

    def output_padding(self, stage: int) -> int:
        """For the generator stage that grows sides[stage] into sides[stage - 1]."""
        small, big = self.sides[stage], self.sides[stage - 1]
        return big - ((small - 1) * 2 - 2 * self.padding + self.kernel)


def dcgan_geometry(cfg: ModelConfig, image_size: int) -> Geometry:
    depth = cfg.depth or default_depth(image_size)
    sides = [image_size]
    for _ in range(depth):
        sides.append(math.ceil(sides[-1] / 2))
    if sides[-1] < 2:
        limit = max((d for d in range(1, depth) if math.ceil(image_size / 2**d) >= 2), default=0)
        raise ValueError(
            f"The value of `model.depth` is {depth}, but {image_size}x{image_size} images allow at most "
            f"{limit} stride-2 stages (the side must stay at least 2)."
        )
    exact = image_size % 2**depth == 0
    kernel = cfg.kernel_size or (4 if exact else 5)
    geo = Geometry(tuple(sides), kernel=kernel, padding=(kernel - 1) // 2)
    for stage in range(1, depth + 1):  # D halves sides[stage - 1] into sides[stage]; G grows it back
        big, small = sides[stage - 1], sides[stage]
        if (big + 2 * geo.padding - kernel) // 2 + 1 != small or geo.output_padding(stage) not in (0, 1):
            raise ValueError(
                f"The value of `model.kernel_size` is {kernel}, but a stride-2 {kernel}x{kernel} convolution "
                f"(padding {geo.padding}) cannot link sides {big} and {small} of {image_size}x{image_size} images "
                f"at depth {depth}; use an odd kernel (3, 5, 7) or leave it null (4 where sides halve exactly, else 5)."
            )
    return geo


def check_dcgan(cfg: ModelConfig, image_size: int) -> None:
    """Raises ValueError where the DCGAN layout cannot be built at this size (the architecture's `check`)."""
    dcgan_geometry(cfg, image_size)
