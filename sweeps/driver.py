"""Run a sweep from a validated spec: lock its folder, prepare the shared caches once, open its MLflow
record, run Tune, then write and print its summary. `run_sweep` is the library entry point; the
command line is sweeps.cli."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from record.folder import (
    ADAPTIVE_ARTIFACT,
    DESIGN_ARTIFACT,
    MLARTIFACTS,
    OPTUNA_JOURNAL,
    RACE_FILE,
    RESOLVED_SPEC,
    SUMMARY_FILE,
    FolderBusy,
    SweepState,
    lock_folder,
)
from gan.config import flatten
from record.names import BASE_PARAM, GIT_COMMIT, SPEC_FILE, SPEC_PARAM, RunStatus
from sweeps._ray import start_ray
from sweeps.location import Where, locate, repair_tune_state, write_file, write_state
from sweeps.plan import resolved_spec, sweep_design, sweep_note
from sweeps.plugins import ship_paths
from sweeps.ledger import Ledger, ledger_callback
from sweeps.progress import Progress, progress_callback
from sweeps.schedulers import adaptive_record
from record.errors import SetupError
from record.uris import shown
from sweeps.specfile import SweepSpec
from sweeps.summary import (dashboard_command, format_summary, format_tracking, resume_command,
                            seconds_per_configuration, summary, tracking_report, ui_command)
from sweeps.tuner import build_tuner, fit

__all__ = ["run_sweep"]


def run_sweep(spec: SweepSpec, *, out: Path, resume: bool = False, address: str | None = None,
              storage: str | None = None, tracking_uri: str | None = None, spec_path: str | None = None,
              verbose: int = 0, tracking_wait: float = 60.0, trust_folder: bool = False) -> dict:
    """Run (or with `resume`, continue) a sweep; returns its summary (`interrupted` says whether it ended,
    `tracking` how its MLflow journal fared). At the end the driver waits up to `tracking_wait` seconds
    for MLflow to hold every result; what it does not yet hold stays in the journal, to push later."""
    from sweeps.tracking.client import quick_http_failures

    quick_http_failures()
    where = locate(spec, out, resume, storage, tracking_uri, trust_folder)
    try:
        lock = lock_folder(where.out)  # before anything in the folder is touched; held until the driver ends
    except FolderBusy as e:
        raise SetupError(f"--resume: {e}" if resume else str(e)) from None
    try:
        return _run_locked(spec, where, resume, address, spec_path, verbose, tracking_wait)
    finally:
        lock.close()


def _run_locked(spec: SweepSpec, where: Where, resume: bool, address: str | None, spec_path: str | None,
                verbose: int, tracking_wait: float) -> dict:
    """run_sweep's work, in a sweep folder this driver holds the lock of."""
    if resume:
        repair_tune_state(where)
    prepare_caches(spec)
    journal, state, sha = open_tracking(spec, where, spec_path)
    try:
        start_ray(address, verbose, ship_paths(spec.plugins))
        ledger = Ledger(0 if spec.adaptive else spec.num_trials())
        progress = Progress(ledger, spec.metric, spec.mode, spec.num_trials() if spec.adaptive else None,
                            bar=None if verbose == 0 else False)  # a bar on a terminal, unless Tune prints too
        interrupted = _tune(spec, where, journal, progress, sha, resume, verbose)
        training_end = time.perf_counter()
        result = _record_end(spec, where, journal, state, ledger, interrupted)
        try:  # an interrupted sweep does not wait long: its --resume applies what waits
            journal.drain(min(tracking_wait, 10.0) if interrupted else tracking_wait)
        except KeyboardInterrupt:  # what waits stays in the journal
            pass
        result["tracking"] = tracking_report(journal, time.perf_counter() - training_end)
    finally:
        journal.close()
    # again, with how the journal fared: this copy stays in the sweep folder (MLflow has the one above)
    write_file(where.out / SUMMARY_FILE, json.dumps(result, indent=1, default=str))
    _print_end(spec, where, journal, state, progress, result, spec_path)
    return result


def _tune(spec: SweepSpec, where: Where, journal, progress: Progress, sha: str, resume: bool, verbose: int) -> bool:
    """Run the sweep's trials under Tune; returns whether it was interrupted before every trial ended."""
    from sweeps.tracking.tracker import MLflowTracker
    from sweeps.packs import SeedCallbacks
    from sweeps.tunestate import TuneStateBackup

    ledger = progress.ledger
    tracker = MLflowTracker(journal, ledger, spec.metric, sha)
    # the ledger first: the others read it; a packed trial reaches them as its seeds' trials (sweeps.packs)
    callbacks = [SeedCallbacks([ledger_callback(ledger), tracker, progress_callback(progress)]),
                 TuneStateBackup(where.state_backup, str(where.experiment_path))]
    tuner = build_tuner(spec, where, callbacks, resume, verbose)
    interrupted = True
    try:
        interrupted = fit(tuner, ledger) or (spec.adaptive is not None and spec.method != "optuna"
                                               and adaptive_record(where.out) is None)
    finally:
        # ended as KILLED until the sweep has run every trial; a resumed sweep reopens the runs
        if interrupted:
            tracker.interrupted()
        journal.append({"op": "status", "trial": None,
                        "status": RunStatus.KILLED if interrupted else RunStatus.FINISHED})
    return interrupted


def _record_end(spec: SweepSpec, where: Where, journal, state: SweepState, ledger: Ledger,
                interrupted: bool) -> dict:
    """The sweep's summary, and sweep.json marked finished (or not), in the folder and through the journal."""
    result = summary(spec, ledger, interrupted)
    result["sweep_dir"] = str(where.out)
    result["stopped_by"] = ledger.fault
    state.finished = not interrupted
    write_state(where.out, state)
    write_file(where.out / SUMMARY_FILE, json.dumps(result, indent=1, default=str))
    ended = [SUMMARY_FILE] + [name for name in (RACE_FILE, ADAPTIVE_ARTIFACT) if (where.out / name).is_file()]
    for name in ended:
        journal.append({"op": "artifact", "trial": None, "file": name, "path": None})
    return result


def _print_end(spec: SweepSpec, where: Where, journal, state: SweepState, progress: Progress, result: dict,
               spec_path: str | None) -> None:
    """The console's last lines: counts, the ranking, adaptive seeds' record, MLflow's state, what next."""
    interrupted = result["interrupted"]
    progress.print(interrupted)
    print(format_summary(result, spec), flush=True)
    if spec.adaptive and spec.method != "optuna":
        from stats.adaptive import record_lines

        rec = adaptive_record(where.out, finished=False)
        print("\n".join(record_lines(rec, seconds_per_configuration(spec, progress.ledger, rec))) if rec else
              "adaptive seeds: no look yet (the first round has not ended)", flush=True)
    print(format_tracking(result["tracking"], journal, where, interrupted), flush=True)
    if progress.ledger.fault:
        print(
            f"stopped: {progress.ledger.fault}\nthe sweep's storage: {where.experiment_path}\nNothing logged is lost. "
            f"Free space there (or make it writable), then continue with: "
            f"{resume_command(spec, where, spec_path)}",
            flush=True,
        )
    elif interrupted:
        print(f"interrupted: {result['ended']} of {len(result['trials'])} trials ended; continue with: "
              f"{resume_command(spec, where, spec_path)}", flush=True)
    elif not result["tracking"]["waiting"]:
        print(f"browse the runs: {ui_command(where.tracking_uri, state.experiment_id, where.sweep_id)}", flush=True)
        if (where.out / OPTUNA_JOURNAL).is_file():
            print(f"browse the Optuna study: {dashboard_command(where.out / OPTUNA_JOURNAL)}", flush=True)


def open_tracking(spec: SweepSpec, where: Where, spec_path: str | None):
    """Open (or find again) the parent MLflow run, write sweep.json, and start the sweep's MLflow journal
    with the spec as run and its design as the parent run's artifacts (a resumed sweep first applies what
    an earlier driver left in the journal, then reopens the run). Returns the journal, the sweep state
    and the git commit."""
    from sweeps.tracking.client import git_commit, open_parent_run, runs_view
    from sweeps.tracking.journal import Journal

    sha = git_commit()
    params = {f"{SPEC_PARAM}{k}": v for k, v in {
        "method": spec.method, "early_stopping": spec.early_stopping.type,
        "num_samples": spec.num_samples, "seeds": list(spec.seeds), "scale": spec.scale or "full",
        "parameters": ", ".join(p.key for p in spec.parameters), "evaluation.extractor": spec.evaluation.extractor,
    }.items()}
    base = spec.user_config if spec.trainable is not None else spec.base.to_dict()
    params.update({f"{BASE_PARAM}{k}": v for k, v in flatten(base).items()})
    if spec.trainable is not None:
        params[f"{SPEC_PARAM}trainable"] = spec.trainable.function
    previous = where.previous
    exp_id, parent = open_parent_run(
        where.tracking_uri, spec.name, where.sweep_id,
        (where.root / MLARTIFACTS).as_uri() if where.embedded else None, params,
        {GIT_COMMIT: sha, SPEC_FILE: spec.source}, existing_run_id=previous.parent_run_id if previous else None,
        note=sweep_note(spec), experiment_note=spec.description or None,
        view=runs_view(where.sweep_id, spec.metric, spec.mode, spec.swept_keys()),
    )
    state = SweepState(sweep_id=where.sweep_id, tracking_uri=where.tracking_uri, storage=where.storage,
                       experiment=spec.name, experiment_id=exp_id, parent_run_id=parent,
                       spec=spec_path or spec.source, scale=spec.scale, label=where.label, run_name=where.run_name)
    write_state(where.out, state)
    journal = Journal(where.out, where.tracking_uri, exp_id, parent, where.sweep_id).start()
    if previous:
        journal.append({"op": "status", "trial": None, "status": RunStatus.RUNNING})
    # the spec as run, scale applied: a loadable spec (python -m sweeps.run spec.resolved.yaml), its plan in comments
    write_file(where.out / RESOLVED_SPEC, resolved_spec(spec))
    write_file(where.out / DESIGN_ARTIFACT, sweep_design(spec).to_json())
    for name in (RESOLVED_SPEC, DESIGN_ARTIFACT):
        journal.append({"op": "artifact", "trial": None, "file": name, "path": None})
    if spec_path and Path(spec_path).is_file():
        copy, rel = journal.new_file(Path(spec_path).name)
        shutil.copyfile(spec_path, copy)
        journal.append({"op": "artifact", "trial": None, "file": rel, "path": None})
    print(f"MLflow: experiment {spec.name!r}, parent run {parent} at {shown(where.tracking_uri)}", flush=True)
    return journal, state, sha


def prepare_caches(spec: SweepSpec) -> None:
    """Train the domain classifier and compute real statistics once, so trials only read them (nothing for the
    user's own function, which evaluates itself: gan.evaluate prepares them the first time it is called)."""
    from gan.metrics import Evaluator

    if spec.trainable is not None:
        return
    seen = set()
    configs = spec.trial_configs() or [{}]
    for swept in configs:
        cfg = spec.trial_config(swept)
        key = (cfg.data.name, cfg.data.root, cfg.data.split, cfg.data.image_size, cfg.model.conditional)
        if key in seen:
            continue
        seen.add(key)
        start = time.perf_counter()
        ev = Evaluator(spec.evaluation, cfg.data, conditional=cfg.model.conditional)
        acc = f", classifier test accuracy {ev.extractor.test_accuracy:.4f}" if ev.extractor.test_accuracy else ""
        print(f"evaluation ready for {cfg.data.name} ({spec.evaluation.extractor} features{acc}; "
              f"{time.perf_counter() - start:.1f} s)", flush=True)
