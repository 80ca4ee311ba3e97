"""Numerics levers shared by training and evaluation: the precision of forward passes and the memory
layout of convolutional networks. benchmarks/train_throughput.py and benchmarks/eval_cost.py measure them.

- precision `fp32` runs as written; `bf16` and `fp16` run forward passes under that autocast (weights
  stay fp32; fp16 training scales its losses with a gradient scaler, gan.train);
- channels-last stores conv weights and activations as NHWC, which lets oneDNN (CPU) and cuDNN (GPU)
  run convolutions without reordering; `auto` turns it on for networks that have convolutions.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["autocast", "use_channels_last"]


def autocast(precision: str, *device_types: str) -> contextlib.AbstractContextManager:
    """The forward passes' precision on each device type given ('cpu', 'cuda'): bf16 or fp16 autocast, or
    fp32 (a context that changes nothing)."""
    stack = contextlib.ExitStack()
    if precision in _AUTOCAST:
        for device_type in dict.fromkeys(device_types):
            stack.enter_context(torch.autocast(device_type, dtype=_AUTOCAST[precision]))
    return stack


_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def use_channels_last(setting: bool | str, *nets: nn.Module) -> bool:
    """A channels_last setting (true, false or `auto`) for these networks: `auto` is on where they convolve."""
    if setting == "auto":
        conv = (nn.Conv2d, nn.ConvTranspose2d)
        return any(isinstance(m, conv) for net in nets for m in net.modules())
    return bool(setting)
