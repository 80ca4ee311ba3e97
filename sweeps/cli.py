"""The command line of a sweep: `python -m sweeps.run SPEC.yaml [--scale smoke] [--dry-run] [--resume] ...`.

Bad input (the spec, a flag, the folder it resumes) ends in one `error: ...` line and exit status 2
before any work starts; the exit status says how the sweep ended.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from record.errors import GansweepError
from sweeps.specfile._yaml import check_spec_file

__all__ = ["main"]


def _seed_list(text: str) -> list[int]:
    """`--seeds 3,4,5`: distinct integers >= 0."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated integers >= 0, e.g. 3,4,5") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: the seeds must be distinct integers >= 0, e.g. 3,4,5")
    return seeds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sweeps.run", description=(
        "Run a sweep: validate the spec, prepare the shared caches once, then run its trials under Ray Tune, "
        "logged to MLflow."))
    parser.add_argument("spec", help="sweep spec (YAML), e.g. search_spaces/hidden_dims.yaml")
    parser.add_argument("--scale", help="apply a named scale from the spec's `scales:` (e.g. smoke)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the resolved search space and trial plan, then exit"
    )
    parser.add_argument("--out", default="runs", help="output root (default: runs): MLflow store, Tune storage, "
                                                      "and one folder per sweep under sweeps/")
    parser.add_argument(
        "--resume", action="store_true", help="continue the latest unfinished sweep of this spec in --out"
    )
    parser.add_argument("--address", help="Ray cluster address, or auto for the one `ray start` runs on this machine "
                        "(default: $RAY_ADDRESS, else a new local Ray for this sweep)")
    parser.add_argument("--storage", help="where Tune keeps results and checkpoints (default: OUT/ray; "
                                          "shared or cloud storage on a cluster)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else "
                                               "sqlite:///OUT/mlflow.db)")
    parser.add_argument("--tracking-wait", type=float, default=60.0, metavar="SECONDS",
                        help="at the end, how long to wait for an unreachable MLflow to take the results still in "
                             "the sweep's journal (default: 60); they stay there for `python -m sweeps.push`")
    parser.add_argument("--verbose", type=int, default=0, help="Tune's own console output level (0-3)")
    parser.add_argument("--seeds", type=_seed_list, metavar="S,S,...",
                        help="run every configuration with these seeds instead of the spec's (e.g. 3,4,5): the same "
                             "sweep on another seed set")
    parser.add_argument("--trust-folder", action="store_true",
                        help="with --resume: resume a sweep folder another user owns or others may write to (a "
                             "sweep folder is code: resuming unpickles Tune's state in it)")
    parser.add_argument("--pilot", metavar="SWEEP_FOLDER",
                        help="with --dry-run: from an earlier sweep's seed-to-seed variance, the difference each "
                             "comparison of this spec can detect and the seeds it needs for the spec's min_effect")
    return parser


def _in_a_jobs_temporary_copy(args, default_out: str) -> str | None:
    """Under `ray job submit --working-dir`, the entrypoint runs in Ray's temporary copy of that folder,
    which Ray deletes with its session: a relative --out (the default) or --storage would put the sweep
    folder (its journal, the MLflow store, Tune's checkpoints) there, and lose it."""
    from sweeps._ray import submitted_job

    job = submitted_job()
    if job is None or not job["working_dir"]:
        return None
    relative = [f"{flag} {value}" + (" (the default)" if flag == "--out" and value == default_out else "")
                for flag, value in (("--out", args.out), ("--storage", args.storage))
                if value and "://" not in value and not Path(value).is_absolute()]
    if not relative:
        return None
    return (f"{', '.join(relative)}: this sweep runs as Ray job {job['id']} in Ray's temporary copy of its "
            f"--working-dir, which Ray deletes; a relative path there would lose the sweep's folder (journal, "
            f"MLflow store, checkpoints). Give an absolute path on the head node (e.g. --out /data/gansweep) "
            f"and, on a cluster, --storage on storage every node shares.")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.tracking_wait < 0:
        parser.error(f"--tracking-wait {args.tracking_wait:g}: give 0 or more seconds")
    if args.pilot and not args.dry_run:
        parser.error("--pilot plans a sweep: give it with --dry-run")
    try:
        check_spec_file(args.spec)  # its text and YAML, before torch, Ray and MLflow are imported
        from sweeps.plan import pilot_plan, plan
        from sweeps.specfile import load_spec

        spec = load_spec(args.spec, args.scale, seeds=args.seeds)
    except GansweepError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(plan(spec))
        if args.pilot:
            try:
                print(pilot_plan(spec, args.pilot))
            except GansweepError as e:
                print(f"error: --pilot {args.pilot}: {e}", file=sys.stderr)
                return 2
        return 0
    out = Path(args.out)
    ephemeral = _in_a_jobs_temporary_copy(args, parser.get_default("out"))
    if ephemeral:
        print(f"error: {ephemeral}", file=sys.stderr)
        return 2
    print(plan(spec), flush=True)
    from sweeps.driver import run_sweep  # Ray and MLflow, once the spec is known to be good

    try:
        summary = run_sweep(spec, out=out, resume=args.resume, address=args.address, storage=args.storage,
                            tracking_uri=args.tracking_uri, spec_path=args.spec, verbose=args.verbose,
                            tracking_wait=args.tracking_wait, trust_folder=args.trust_folder)
    except GansweepError as e:  # the spec, the folder, its saved state or journal, storage, tracking
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C while the first was being handled: Tune's state is saved
        command = ["python", "-m", "sweeps.run", args.spec, *(["--scale", args.scale] if args.scale else []),
                   *(["--seeds", ",".join(map(str, args.seeds))] if args.seeds else []),
                   "--out", str(out.resolve()), "--resume"]
        print(f"\ninterrupted; continue with: {shlex.join(command)}", file=sys.stderr, flush=True)
        return 130
    print(f"sweep output: {summary['sweep_dir']}")
    if summary.get("stopped_by"):
        return 75  # EX_TEMPFAIL: a storage fault; resumable once it is fixed
    if summary["interrupted"]:
        return 130  # as a shell reports a command ended by Ctrl-C
    if summary["tracking"]["waiting"]:
        return 75  # the results are safe in the journal, not yet in MLflow: push them
    return 0 if summary["trials"] else 1
