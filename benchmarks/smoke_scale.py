"""How small the main job can be and keep its answer: its smoke scale's training at narrower widths and fewer
iterations, judged on disjoint seed sets.

    python benchmarks/smoke_scale.py [--widths 8,16,32] [--seeds 0,1,2,3,4,5,6,7,8] [--set-size 3] [--out DIR]
    python benchmarks/smoke_scale.py --sweep DIR/sweeps/hidden_dims-probe-smoke-...   # judge a probe already run

Runs one probe sweep: the main job at smoke scale (`search_spaces/hidden_dims.yaml`, its data, optimiser, batch
and evaluation) over every pair of the given generator and discriminator widths, each with the fixed seeds, FID
every 100 steps. A run's FID at step t is the FID of the same run trained for t iterations (the learning rate
is constant), so the probe scores every shorter schedule too; on the evaluation's samples, where the last step's
is on the final (larger) sample count, the same for the four configurations compared. Then, for every candidate (a low and a high
width, t iterations) and every disjoint seed set, it fits the report's model (`stats.fit_design`: log-FID cell
means, HC2 contrasts, Holm over the family, 5% family-wise) to the four configurations and prints the main
effects, the interaction and the best set, with the training seconds of one seed of all four (each
configuration's median wall time over the probe's runs, scaled to t iterations). It ends with the cheapest
candidate that gives, on every seed set, the verdicts the main job's own widths and iterations give on every
seed set; with the CPU model. 81 runs of 1000 steps: about 16 minutes on a 2-core Xeon.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from machine import cpu_model  # benchmarks/, the script's own folder
from sweep_cli import run_sweep

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "search_spaces" / "hidden_dims.yaml"
SCALE = "smoke"
G, D, SEED = "model.g_width", "model.d_width", "train.seed"
EVERY = 100  # the probe's evaluation period: every candidate's iterations are a multiple of it


def main_job() -> dict:
    return yaml.safe_load(SPEC.read_text())


def probe_spec(widths: list[int], seeds: list[int], folder: Path) -> Path:
    """The main job's smoke scale with both widths swept over `widths` (its other parameters as they are), fixed
    seeds, FID every EVERY steps."""
    raw = main_job()
    smoke = raw["scales"][SCALE]
    raw["name"] = f"{raw['name']}-probe"
    smoke["description"] = f"the main job's smoke scale at widths {widths} x {widths} (benchmarks/smoke_scale.py)"
    raw["scales"] = {SCALE: smoke}  # the other scales are not run (and every scale of a spec is checked)
    smoke["parameters"].update({G: {"values": list(widths)}, D: {"values": list(widths)}})  # latent dim as it is
    smoke["seeds"] = seeds
    smoke["base"]["train"]["eval_every"] = EVERY
    smoke["evaluation"]["metrics"] = ["fid"]
    path = folder / "hidden_dims_probe.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_probe(spec: Path, out: Path) -> Path:
    seconds, folder = run_sweep([str(spec), "--scale", SCALE, "--out", str(out)])
    print(f"probe sweep: {seconds:.0f} s", flush=True)
    return folder


def judge(fid: pd.DataFrame, low: int, high: int, steps: int, seeds: tuple[int, ...]) -> tuple[tuple, str]:
    """The verdicts of one candidate on one seed set: (a comparable key, a line to print)."""
    from stats import fit_design

    d = fid[(fid["step"] == steps) & fid[G].isin([low, high]) & fid[D].isin([low, high]) & fid[SEED].isin(seeds)]
    fit = fit_design(d.assign(status="completed"), "fid", "min", [G, D], {G: low, D: low}, plan=False)
    comparisons = fit.analysis.effects + fit.analysis.interactions
    best = tuple(f"{r[G]}/{r[D]}" for _, r in fit.cells[fit.cells["in_best_set"].astype(bool)].iterrows())
    key = tuple(e.verdict for e in comparisons) + (tuple(sorted(best)),)
    words = [f"{'g x d' if e.kind == 'interaction' else e.parameter.split('.')[-1]} {e.verdict} ({e.ratio:.2f})"
             for e in comparisons]
    return key, "; ".join(words) + f"; best {', '.join(best)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", default="8,16,32", help="widths swept for both networks (default 8,16,32)")
    ap.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8", help="the probe's fixed seeds, comma-separated")
    ap.add_argument("--set-size", type=int, default=3, help="seeds per disjoint seed set (default 3)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    ap.add_argument("--sweep", type=Path, default=None, help="judge this probe sweep folder instead of running one")
    args = ap.parse_args()
    widths = sorted(int(w) for w in args.widths.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    smoke = main_job()["scales"][SCALE]  # the main job's own widths and iterations, as its spec says them
    job_widths = sorted(smoke["parameters"][G]["values"])
    job_steps = smoke["base"]["train"]["iterations"]
    print(f"CPU: {cpu_model()}")
    folder = args.sweep
    if folder is None:
        out = args.out or Path(tempfile.mkdtemp(prefix="smoke-scale-"))
        out.mkdir(parents=True, exist_ok=True)
        spec = probe_spec(widths, seeds, out)
        print(f"probe: widths {widths} x {widths}, seeds {seeds}, FID every {EVERY} steps; output {out}", flush=True)
        folder = run_probe(spec, out)

    from analysis.load import load_sweep

    sweep = load_sweep(str(folder))
    trials, hist = sweep.trials, sweep.histories
    fid = hist[hist["metric"] == "fid"].merge(trials[["run_id", G, D, SEED, "wall_time_s"]], on="run_id")
    fid = fid.rename(columns={"value": "fid"})
    widths = sorted(int(w) for w in trials[G].unique())
    seeds = sorted(int(s) for s in trials[SEED].unique())
    sets = [tuple(seeds[i:i + args.set_size]) for i in range(0, len(seeds) - args.set_size + 1, args.set_size)]
    cost = trials.groupby([G, D])["wall_time_s"].median()
    last = int(fid["step"].max())
    print(f"{len(trials)} runs; each configuration's median seconds for {last} steps with its evaluations:")
    print(cost.round(1).unstack().to_string())
    target = None
    if job_widths[0] in widths and job_widths[-1] in widths and job_steps in set(fid["step"]):
        target = {judge(fid, job_widths[0], job_widths[-1], job_steps, s)[0] for s in sets}
        target = target.pop() if len(target) == 1 else None
    cheapest = None
    print(f"\nseed sets {sets}; training seconds for one seed of the four configurations")
    for low, high in itertools.combinations(widths, 2):
        for steps in sorted(s for s in set(fid["step"]) if s % EVERY == 0):
            seconds = sum(cost[(a, b)] for a in (low, high) for b in (low, high)) * steps / last
            judged = [judge(fid, low, high, steps, s) for s in sets]
            print(f"{low}/{high} {steps:5d} steps {seconds:4.0f} s | " + " | ".join(line for _, line in judged))
            if target is not None and all(key == target for key, _ in judged):
                if cheapest is None or seconds < cheapest[0]:
                    cheapest = (seconds, low, high, steps)
    if target is None:
        print(f"\nthe main job's widths {job_widths} at {job_steps} steps do not give one answer on every seed set")
    elif cheapest:
        print(f"\nthe main job: widths {job_widths} at {job_steps} steps. The cheapest candidate with its verdicts on "
              f"every seed set: widths {cheapest[1]}/{cheapest[2]} at {cheapest[3]} steps, {cheapest[0]:.0f} s of "
              f"training per seed of the four configurations")


if __name__ == "__main__":
    main()
