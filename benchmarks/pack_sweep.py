"""A sweep with its seeds packed (`resources.pack_seeds: true`) against the same sweep unpacked, end to end.

    python benchmarks/pack_sweep.py [SPEC] [--scale smoke] [--seeds 0,1,2] [--order unpacked,packed]

Runs the spec twice through `sweeps.run`, one after the other, in one output folder and one (warm) cache: each
configuration's seeds as trials of their own, then as one packed trial per configuration (the spec's resources
become each pack's). Prints the CPU model, each sweep's wall time and trained runs per hour, and each run's last
metric in both, with their ratio: the packed seed trains as its separate run up to the order of float arithmetic,
which a GAN's training amplifies (docs/sweeps.md, "Packed seeds"). Fixed seeds replace the spec's adaptive ones,
which a pack cannot take. Default: the main job (`search_spaces/hidden_dims.yaml --scale smoke`, seeds 0,1,2);
on a GPU, the full scale: `python benchmarks/pack_sweep.py --scale full`.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import yaml

from machine import cpu_model  # benchmarks/, the script's own folder
from sweep_cli import run_sweep

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "search_spaces" / "hidden_dims.yaml"


def variant(spec: Path, scale: str | None, seeds: list[int], packed: bool, folder: Path) -> Path:
    """The spec at one scale with fixed seeds and the pack switch set, written beside the output."""
    raw = yaml.safe_load(spec.read_text())
    raw["name"] = f"{raw['name']}-{'packed' if packed else 'unpacked'}"
    scales = raw.pop("scales", {})  # the other scales are not run (and every scale of a spec is checked)
    if scale:
        raw["scales"] = {scale: scales[scale]}
    targets = [raw] + ([raw["scales"][scale]] if scale else [])
    for target in targets:
        target["seeds"] = list(seeds)
        target.setdefault("resources", {})["pack_seeds"] = packed
    path = folder / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run(spec: Path, scale: str | None, out: Path) -> tuple[float, dict]:
    seconds, folder = run_sweep([str(spec), "--out", str(out)] + (["--scale", scale] if scale else []))
    return seconds, json.loads((folder / "summary.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("spec", nargs="?", type=Path, default=SPEC)
    ap.add_argument("--scale", default="smoke", help="the spec's scale; `full` runs it as written")
    ap.add_argument("--seeds", default="0,1,2", help="fixed seeds, comma-separated")
    ap.add_argument("--order", default="unpacked,packed", help="which sweep runs first")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    args = ap.parse_args()
    scale = None if args.scale == "full" else args.scale
    seeds = [int(s) for s in args.seeds.split(",")]
    out = args.out or Path(tempfile.mkdtemp(prefix="pack-sweep-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_model()}")
    print(f"spec {args.spec.name}, scale {args.scale}, seeds {seeds}; output {out}")
    results = {}
    for side in args.order.split(","):
        spec = variant(args.spec, scale, seeds, side == "packed", out)
        seconds, summary = run(spec, scale, out)
        results[side] = (seconds, summary)
        ran = sum(1 for t in summary["trials"] if t["status"] in ("completed", "diverged", "early_stopped"))
        print(f"{side}: {seconds:.0f} s for {ran} runs ({3600 * ran / seconds:.0f} runs per hour)", flush=True)
    if len(results) < 2:
        return
    (s_u, unpacked), (s_p, packed) = results["unpacked"], results["packed"]
    print(f"packed / unpacked wall time: {s_p / s_u:.2f}x")
    metric = unpacked["metric"]

    def by_run(summary: dict) -> dict:
        return {json.dumps(t["swept"], sort_keys=True): t[metric] for t in summary["trials"]}

    u, p = by_run(unpacked), by_run(packed)
    print(f"| run | unpacked {metric} | packed {metric} | packed / unpacked |")
    print("|---|---|---|---|")
    ratios = []
    for key in sorted(u):
        a, b = u[key], p.get(key)
        finite = a is not None and b is not None and math.isfinite(a) and math.isfinite(b) and a != 0
        if finite:
            ratios.append(b / a)
        shown = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in json.loads(key).items())
        print(f"| {shown} | {a} | {b} | {f'{b / a:.4f}' if finite else '-'} |")
    if ratios:
        worst = max(abs(math.log(r)) for r in ratios)
        print(f"largest difference of a run's {metric}, packed against unpacked: {100 * (math.exp(worst) - 1):.2f}%")


if __name__ == "__main__":
    main()
