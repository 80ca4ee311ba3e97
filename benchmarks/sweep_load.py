"""The sweep service under load: many short trials against a real `mlflow server`.

One grid of 8 learning rates x N seeds of a tiny DCGAN (40 iterations, FID at 20 and 40), run for each
N given, side by side in one invocation, all against one `mlflow server` on 127.0.0.1. For each sweep:
the wall time, the sum of the trials' own times (Tune's `time_total_s`), the service's overhead per
trial ((wall x concurrent trials - sum of trial times) / trials), the driver process's CPU time and its
share of one core over the sweep, how long the driver waited on MLflow (its journal writes, and the
drain at the end), and whether MLflow holds every result Tune saw, once. `--snapshots` runs each size
under each of Tune's snapshot periods (TUNE_GLOBAL_CHECKPOINT_S: `auto`, the sweep's default, against
`0`, a snapshot of the whole trial table at every step), side by side.

    python benchmarks/sweep_load.py [--seeds 4 25] [--iterations 40] [--snapshots auto 0]

Linux only (the driver's CPU time is read from /proc). The first sweep also trains the domain classifier
once; the timed sweeps run after a warm-up sweep of one trial.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

from machine import cpu_model  # benchmarks/, the script's own folder

REPO = Path(__file__).resolve().parents[1]
CONCURRENT = 2  # trials at once: one CPU each on this 2-core machine
LEARNING_RATES = [0.0001, 0.0002, 0.0003, 0.0005, 0.0008, 0.001, 0.002, 0.003]


def spec_text(name: str, seeds: int, iterations: int, lrs: list[float] = LEARNING_RATES) -> str:
    return textwrap.dedent(f"""\
        name: {name}
        base:
          data: {{name: fashion_mnist, num_images: 2000}}
          model: {{arch: dcgan, latent_dim: 8, g_width: 8, d_width: 8}}
          train: {{iterations: {iterations}, eval_every: {max(iterations // 2, 1)}, batch_size: 32}}
        evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
        parameters:
          optim.g_lr: {{values: {lrs}}}
        method: grid
        seeds: {list(range(seeds))}
        max_concurrent: {CONCURRENT}
        resources: {{cpus: 1}}
        """)


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{folder / 'server.db'}", "--default-artifact-root",
                             str(folder / "artifacts"), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return proc, uri
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("mlflow server did not start")


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_sweep(folder: Path, uri: str, name: str, seeds: int, iterations: int, snapshots: str = "auto") -> dict:
    spec = folder / f"{name}.yaml"
    spec.write_text(spec_text(name, seeds, iterations))
    out = folder / "out"
    start = time.perf_counter()
    log = folder / f"{name}.log"  # a file: a pipe nobody reads while the sweep runs would block its prints
    with log.open("w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "sweeps.run", str(spec), "--out", str(out),
                                 "--tracking-uri", uri], cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                                env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": snapshots})
        cpu = 0.0
        while proc.poll() is None:
            cpu = cpu_seconds(proc.pid) or cpu
            time.sleep(0.2)
    wall = time.perf_counter() - start
    output = log.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"sweep {name} failed:\n{output[-3000:]}")
    (sweep_dir,) = (out / "sweeps").glob(f"{name}-*")
    state = json.loads((sweep_dir / "sweep.json").read_text())
    tracking = json.loads((sweep_dir / "summary.json").read_text())["tracking"]
    trial_times, results = [], {}
    for f in (out / "ray" / state["run_name"]).glob("*/result.json"):
        rows = [json.loads(line) for line in f.read_text().splitlines()]
        trial_times.append(rows[-1]["time_total_s"])
        results[rows[0]["trial_id"]] = sorted(r["step"] for r in rows)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([state["experiment_id"]], "tags.role = 'trial'", max_results=10000)
    held = {r.data.tags["trial_id"]: sorted(m.step for m in client.get_metric_history(r.info.run_id, "fid"))
            for r in runs}
    trials = len(trial_times)
    return {"snapshots": snapshots, "trials": trials, "wall_s": wall, "trial_sum_s": sum(trial_times),
            "overhead_per_trial_s": (wall * CONCURRENT - sum(trial_times)) / trials,
            "driver_cpu_s": cpu, "driver_core_share": cpu / wall, "journal_entries": tracking["written"],
            "driver_wait_s": tracking["driver_wait_s"], "end_wait_s": tracking["end_wait_s"],
            "mlflow_matches_tune": held == results and len(runs) == trials}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[4, 25], help="seeds per learning rate, one sweep each")
    p.add_argument("--iterations", type=int, default=40)
    p.add_argument("--snapshots", nargs="+", default=["auto"],
                   help="Tune's snapshot periods to run each size under (TUNE_GLOBAL_CHECKPOINT_S)")
    args = p.parse_args()
    print(f"CPU: {cpu_model()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server, uri = start_server(folder)
        try:
            spec = folder / "warm.yaml"  # caches (data, classifier, real statistics) and imports, untimed
            spec.write_text(spec_text("warm", 1, args.iterations, [0.0002]))
            subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), "--out", str(folder / "out"),
                            "--tracking-uri", uri], cwd=REPO, check=True, capture_output=True)
            rows = [run_sweep(folder, uri, f"load{len(LEARNING_RATES) * seeds}_{period}", seeds, args.iterations,
                              period) for seeds in args.seeds for period in args.snapshots]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    print(
        f"{'snapshots':>9} {'trials':>6} {'wall s':>8} {'sum of trials s':>15} {'overhead/trial s':>16} {'driver CPU s':>12} "
        f"{'per trial':>9} {'of a core':>9} {'journal':>7} {'driver waited s':>15} {'at end s':>8}  MLflow = Tune"
    )
    for r in rows:
        print(
            f"{r['snapshots']:>9} {r['trials']:6d} {r['wall_s']:8.1f} {r['trial_sum_s']:15.1f} {r['overhead_per_trial_s']:16.2f} "
            f"{r['driver_cpu_s']:12.1f} {r['driver_cpu_s'] / r['trials']:9.2f} {r['driver_core_share']:9.1%} {r['journal_entries']:7d} "
            f"{r['driver_wait_s']:15.2f} {r['end_wait_s']:8.2f}  {r['mlflow_matches_tune']}"
        )
    for period in args.snapshots:
        mine = [r for r in rows if r["snapshots"] == period]
        if len(mine) > 1:
            first, last = mine[0], mine[-1]
            print(f"snapshots {period}: driver CPU per trial {first['driver_cpu_s'] / first['trials']:.2f} s at "
                  f"{first['trials']} trials, {last['driver_cpu_s'] / last['trials']:.2f} s at {last['trials']}; "
                  f"overhead per trial {last['overhead_per_trial_s'] / first['overhead_per_trial_s']:.2f}x")


if __name__ == "__main__":
    main()
