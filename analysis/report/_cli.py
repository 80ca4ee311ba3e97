"""Write a sweep's report: `python -m analysis.report <sweep folder | spec.yaml | experiment> [options]`."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from analysis.load import SweepNotFound, add_target_arguments, load_target
from analysis.report._build import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__.split("\n")[0])
    add_target_arguments(parser)
    parser.add_argument("--params", help="comma-separated params for the tables (default: the swept ones)")
    parser.add_argument("--out", help="output folder (default: <sweep folder>/report)")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the report to the parent run")
    parser.add_argument("--detect", type=float, metavar="DIFFERENCE",
                        help="the difference (metric units) worth detecting: the report says how many seeds per "
                             "configuration each undecided comparison needs to find it with 80%% power (default: the "
                             "spec's metric.min_effect, else 10%% of each comparison's baseline)")
    args = parser.parse_args(argv)
    try:
        sweep = load_target(args)
    except SweepNotFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else ((sweep.out_dir / "report") if sweep.out_dir else
                                           Path("runs") / "reports" / f"{sweep.experiment}-{sweep.parent_run_id[:8]}")
    params = [p.strip() for p in args.params.split(",")] if args.params else None
    if args.detect is not None and not (math.isfinite(args.detect) and args.detect > 0):
        print(
            f"error: --detect is {args.detect}, but must be a difference > 0 in {sweep.metric} units", file=sys.stderr
        )
        return 2
    report = build_report(sweep, out, table_params=params, log_to_mlflow=not args.no_mlflow, detect=args.detect)
    print((out / "conclusions.md").read_text())
    print(f"report: {report.resolve()}")
    print(f"tables and plots: {out.resolve()}")
    return 0
