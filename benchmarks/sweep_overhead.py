"""Overhead of the sweep service: the same short training run (with the same evaluations) as a bare
library call and as a one-trial sweep through Ray Tune and MLflow, plus the time from the command to
the first trial running.

    python benchmarks/sweep_overhead.py [--iterations 300]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from machine import cpu_model  # benchmarks/, the script's own folder

REPO = Path(__file__).resolve().parents[1]


def spec_text(iterations: int) -> str:
    return textwrap.dedent(f"""\
        name: overhead
        base:
          data: {{name: fashion_mnist}}
          model: {{arch: dcgan, latent_dim: 32, g_width: 16, d_width: 16}}
          train: {{iterations: {iterations}, eval_every: 100, batch_size: 64}}
        parameters: {{}}
        method: grid
        resources: {{cpus: 2}}
        evaluation: {{metrics: [fid], num_samples: 1000, real_samples: 5000}}
        """)


def bare(spec_file: Path) -> float:
    """The library alone: Trainer + Evaluator with the spec's base config, in this process."""
    import torch

    from gan.metrics import Evaluator
    from gan.train import Trainer
    from sweeps.specfile import load_spec

    spec = load_spec(spec_file)
    torch.set_num_threads(2)
    start = time.perf_counter()
    trainer = Trainer(spec.base)
    evaluator = Evaluator(spec.evaluation, spec.base.data)
    trainer.run(lambda r: evaluator.evaluate(trainer.generate))
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iterations", type=int, default=300)
    args = p.parse_args()
    print(f"CPU: {cpu_model()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "overhead.yaml"
        spec_file.write_text(spec_text(args.iterations))
        # warm the caches (classifier, real statistics) so neither side pays for them
        from gan.metrics import Evaluator
        from sweeps.specfile import load_spec

        spec = load_spec(spec_file)
        Evaluator(spec.evaluation, spec.base.data)
        t_bare = bare(spec_file)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "sweeps.run", str(spec_file), "--out", str(Path(tmp) / "runs")],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        first_result = None
        for line in proc.stdout:
            if first_result is None and re.search(r"trials: \d+ running", line):
                first_result = time.perf_counter() - start
        proc.wait()
        t_sweep = time.perf_counter() - start
    print(f"{args.iterations} iterations, evaluation (FID on 1000 samples) every 100, 2 CPU threads")
    print(f"bare library call             : {t_bare:7.1f} s")
    print(f"one-trial sweep (command)     : {t_sweep:7.1f} s   ratio {t_sweep / t_bare:.2f}x")
    print(f"command to first trial result : {first_result:7.1f} s" if first_result else "no trial result seen")


if __name__ == "__main__":
    main()
