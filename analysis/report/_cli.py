"""Write a sweep's report: `python -m analysis.report <sweep folder | spec.yaml | experiment> [options]`, or of runs
gansweep did not launch: `--experiment NAME --factors a,b --metric fid [--seed-param seed]` (any MLflow experiment)
or `--optuna-storage URL --study NAME [--factors a,b] [--metric fid]` (an Optuna study)."""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.external import load_experiment, load_optuna
from analysis.load import SweepNotFound, add_target_arguments, load_target
from analysis.report._build import build_report
from record.errors import GansweepError

if TYPE_CHECKING:
    from analysis.load import Sweep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__.split("\n")[0])
    add_target_arguments(parser, optional=True)
    other = parser.add_argument_group("runs gansweep did not launch")
    other.add_argument("--experiment", help="an MLflow experiment whose runs logged --factors as params and --metric")
    other.add_argument("--optuna-storage", metavar="URL", help="an Optuna storage (e.g. sqlite:///optuna.db, or a "
                                                               "journal file) holding --study")
    other.add_argument("--study", help="the Optuna study's name")
    other.add_argument("--factors", help="comma-separated params whose levels are compared (an Optuna study: "
                                         "default every param but the seed)")
    other.add_argument("--metric", help="the metric the runs logged (an Optuna study: the name of its value, "
                                        "default `value`; fid, kid and is are fitted on the log scale)")
    other.add_argument("--seed-param", help="the param (or, in Optuna, user attribute) that numbers a "
                                            "configuration's replicates (Optuna default: seed)")
    other.add_argument("--mode", choices=("min", "max"), help="whether lower or higher --metric is better (default: "
                                                              "gansweep's metric's own, or the study's direction)")
    parser.add_argument("--params", help="comma-separated params for the tables (default: the swept ones)")
    parser.add_argument("--out", help="output folder (default: <sweep folder>/report)")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the report to the parent run")
    parser.add_argument("--detect", type=float, metavar="DIFFERENCE",
                        help="the difference (metric units) worth detecting: the report says how many seeds per "
                             "configuration each undecided comparison needs to find it with 80%% power (default: the "
                             "spec's metric.min_effect, else 10%% of each comparison's baseline)")
    args = parser.parse_args(argv)
    named = [x for x in (args.target, args.experiment, args.optuna_storage) if x]
    if len(named) != 1:
        parser.error("name the runs once: a sweep (TARGET), --experiment NAME, or --optuna-storage URL --study NAME")
    try:
        sweep = _external(args) if not args.target else load_target(args)
    except GansweepError as e:  # the target, its spec, its folder or store: what was wrong, in one line
        print(f"error: {e}", file=sys.stderr)
        return 2
    label = sweep.parent_run_id[:8] if sweep.parent_run_id else "runs"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{sweep.experiment}-{label}").strip("._") or "report"  # one folder
    out = Path(args.out) if args.out else ((sweep.out_dir / "report") if sweep.out_dir else
                                           Path("runs") / "reports" / name)
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


def _external(args) -> "Sweep":
    """The runs named by --experiment or --optuna-storage (analysis.external)."""
    factors = [f.strip() for f in (args.factors or "").split(",") if f.strip()]
    if args.experiment:
        if not factors or not args.metric:
            raise SweepNotFound("--experiment needs --factors (the params compared) and --metric (what they logged).")
        return load_experiment(args.experiment, factors, args.metric, tracking_uri=args.tracking_uri,
                               seed_param=args.seed_param, mode=args.mode)
    if not args.study:
        raise SweepNotFound("--optuna-storage needs --study (the study's name).")
    sweep = load_optuna(args.optuna_storage, args.study, factors=factors or None, metric=args.metric or "value",
                        seed_param=args.seed_param or "seed")
    if args.mode:
        sweep.mode = args.mode
    return sweep
