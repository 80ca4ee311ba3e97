"""A sweep run as a user runs it, for the benchmarks that time whole sweeps: `python -m sweeps.run` in a child
process, its wall time, and the sweep folder it prints."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

__all__ = ["run_sweep"]

REPO = Path(__file__).resolve().parents[1]
OUTPUT_LINE = "sweep output: "  # the line `sweeps.run` ends with (sweeps/cli.py)


def run_sweep(args: list[str]) -> tuple[float, Path]:
    """(wall seconds, sweep folder) of `python -m sweeps.run ARGS`; exits with its output's tail if it fails."""
    cmd = [sys.executable, "-m", "sweeps.run", *args]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")
    (folder,) = [line.removeprefix(OUTPUT_LINE) for line in done.stdout.splitlines() if line.startswith(OUTPUT_LINE)]
    return seconds, Path(folder)
