"""Numerics levers shared by training and evaluation: the precision of forward passes and the memory
layout of convolutional networks. benchmarks/train_throughput.py and benchmarks/eval_cost.py measure them.

- precision `fp32` runs as written; `bf16` and `fp16` run forward passes under that autocast (weights
  stay fp32; fp16 training scales its losses with a gradient scaler, gan.train);
- channels-last stores conv weights and activations as NHWC, which lets oneDNN (CPU) and cuDNN (GPU)
  run convolutions without reordering.

`auto` picks each lever by the machine it runs on, never one measured slower there than fp32 in the contiguous
layout (docs/benchmarks.md):
- precision `auto` is bf16 on a GPU that supports it and on a CPU with native bf16 arithmetic (AVX-512 BF16 or
  AMX), else fp32: on an AVX2-only CPU bf16 is emulated, 0.09x the speed of fp32 at width 64 on a Zen 2 EPYC;
- channels_last `auto` is on for networks that convolve, on a GPU or an AVX-512 CPU (1.11x to 1.19x on the
  Xeon), and off on other CPUs (1.00x on the Zen 2 EPYC: nothing to gain, and a layout changes arithmetic order).
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch
from torch import nn

__all__ = ["autocast", "cpu_flags", "native_bf16_cpu", "resolve_precision", "use_channels_last", "wide_vector_cpu"]


def autocast(precision: str, *device_types: str) -> contextlib.AbstractContextManager:
    """The forward passes' precision on each device type given ('cpu', 'cuda'): bf16 or fp16 autocast, or
    fp32 (a context that changes nothing)."""
    stack = contextlib.ExitStack()
    if precision in _AUTOCAST:
        for device_type in dict.fromkeys(device_types):
            stack.enter_context(torch.autocast(device_type, dtype=_AUTOCAST[precision]))
    return stack


_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (/proc/cpuinfo); empty where that cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16_cpu() -> bool:
    """The CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX); elsewhere oneDNN emulates it, far slower."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def wide_vector_cpu() -> bool:
    """PyTorch runs this CPU's kernels with AVX-512 (where channels-last convolutions were measured faster)."""
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def resolve_precision(setting: str, device: torch.device | str) -> str:
    """A precision setting (fp32, bf16, fp16 or `auto`) as it runs on `device`: `auto` is bf16 where the
    hardware multiplies bf16 natively, else fp32."""
    if setting != "auto":
        return setting
    device = torch.device(device)
    if device.type == "cuda":  # bf16 units, not emulation (which is_bf16_supported counts by default)
        with torch.cuda.device(device):
            return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp32"
    return "bf16" if device.type == "cpu" and native_bf16_cpu() else "fp32"


def use_channels_last(setting: bool | str, *nets: nn.Module, device: torch.device | str = "cpu") -> bool:
    """A channels_last setting (true, false or `auto`) for these networks on `device`: `auto` is on where they
    convolve, on a GPU or an AVX-512 CPU."""
    if setting == "auto":
        conv = (nn.Conv2d, nn.ConvTranspose2d)
        if not any(isinstance(m, conv) for net in nets for m in net.modules()):
            return False
        return torch.device(device).type == "cuda" or wide_vector_cpu()
    return bool(setting)
