"""Time to the first answer: the README's first command, phase by phase, on this machine's CPU.

    python benchmarks/first_answer.py [--install] [--runs 2]

Phases: the install (`bash scripts/install.sh`, with --install), refusing a bad spec (one wrong as YAML, one
with a wrong value: the median of 3 tries each), the first run's preparation (the domain classifier and the real
statistics, made once in an empty cache), the sweep, and the report; then the same sweep again (a second run:
the caches warm). Prints the CPU model (`lscpu`), the trials and looks, and each
phase's seconds. Uses its own output folder and cache, so it measures a first run whatever ran before.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model  # benchmarks/, the script's own folder

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "search_spaces" / "hidden_dims.yaml"


def timed(cmd: list[str], env: dict, log: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}); see {log}")
    return seconds, done.stdout


def refusal_seconds(python: str, text: str, tmp: Path, env: dict) -> float:
    """The median of 3 tries of `sweeps.run` on a spec that must be refused (exit code 2, a one-line error)."""
    spec = tmp / "bad.yaml"
    spec.write_text(text)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run([python, "-m", "sweeps.run", str(spec), "--out", str(tmp / "refused")], cwd=REPO,
                              env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 2 or not done.stderr.startswith("error: "):
            sys.exit(f"the bad spec was not refused as one ({done.returncode}):\n{done.stderr[-2000:]}")
    return sorted(times)[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--install", action="store_true", help="time scripts/install.sh too")
    p.add_argument("--runs", type=int, default=2, help="sweeps: the first (cold caches), then warm ones")
    args = p.parse_args()
    python = str(REPO / ".venv" / "bin" / "python")
    print(f"CPU: {cpu_model()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="first-answer-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "GANSWEEP_CACHE_DIR": str(tmp / "cache")}
        if args.install:
            seconds, _ = timed(["bash", "scripts/install.sh"], env, tmp / "install.log")
            print(f"install: {seconds:.0f} s", flush=True)
        good = SPEC.read_text()
        wrong_yaml = good.replace("method: grid", "method: grid\nmethod: random")  # a duplicate key
        wrong_value = good.replace("arch: dcgan", "arch: dcgann")  # an architecture that is not registered
        assert wrong_yaml != good and wrong_value != good, "the benchmark's bad specs no longer differ from the spec"
        print(f"refusing a bad spec: {refusal_seconds(python, wrong_yaml, tmp, env):.2f} s wrong as YAML, "
              f"{refusal_seconds(python, wrong_value, tmp, env):.2f} s with a wrong value", flush=True)
        # the first run's preparation, on its own: the same step the sweep's driver takes first
        prepare = ("from sweeps.specfile import load_spec; from sweeps.driver import prepare_caches; "
                   f"prepare_caches(load_spec({str(SPEC)!r}, 'smoke'))")
        seconds, _ = timed([python, "-c", prepare], env, tmp / "prepare.log")
        print(f"first-run preparation (the domain classifier, shipped or trained; real statistics): {seconds:.0f} s",
              flush=True)
        for run in range(1, args.runs + 1):
            out = tmp / f"runs{run}"
            sweep, stdout = timed([python, "-m", "sweeps.run", str(SPEC), "--scale", "smoke", "--out", str(out)],
                                  env, tmp / f"sweep{run}.log")
            report, _ = timed([python, "-m", "analysis.report", str(SPEC), "--scale", "smoke", "--root", str(out),
                               "--no-mlflow"], env, tmp / f"report{run}.log")
            looks = re.search(r"adaptive seeds \((.*?)\): (\d+) trials ran of the \d+", stdout)
            said = f"{looks.group(2)} trials, {looks.group(1)}" if looks else "trials and looks: see the log"
            best = re.search(r"^\s*\* (.*?)\s*$", stdout, re.M)  # the console's best configuration, starred
            print(f"run {run}: sweep {sweep:.0f} s, report {report:.0f} s ({said}); best: "
                  f"{' '.join(best.group(1).split()) if best else 'see the log'}", flush=True)
        shutil.rmtree(tmp / "cache", ignore_errors=True)


if __name__ == "__main__":
    main()
