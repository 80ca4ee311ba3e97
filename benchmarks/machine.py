"""The machine a benchmark ran on, as every benchmark prints it: the CPU model and its vector units (lscpu)."""

from __future__ import annotations

import os
import re
import subprocess

__all__ = ["cpu_model"]


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return "unknown (no lscpu)"
    found = re.search(r"^Model name:\s*(.+)$", out, re.M)
    flags = re.search(r"^Flags:\s*(.+)$", out, re.M)
    kind = ""
    if flags:
        f = flags.group(1).split()
        kind = " (" + ", ".join(x for x, present in (("AVX-512", "avx512f" in f), ("AMX", "amx_tile" in f),
                                                      ("bf16", "avx512_bf16" in f), ("AVX2 only", "avx512f" not in f))
                                if present) + ")"
    return (found.group(1).strip() if found else "unknown") + kind + f", {os.cpu_count()} CPUs"
