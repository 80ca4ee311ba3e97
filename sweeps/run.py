"""Run a sweep: `python -m sweeps.run SPEC.yaml [--scale smoke] [--dry-run] [--resume] [--out DIR] ...`.

Validates the spec, prepares the shared caches (domain classifier, real-data statistics) once,
opens the MLflow parent run, then runs Ray Tune: Optuna (TPE) or Tune's variant generator for the
search, ASHA on the spec's metric for early stopping, one child MLflow run per trial. `--resume`
continues an interrupted sweep in the same output folder with the same MLflow runs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import shlex
import shutil
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from analysis.design import level_label
from analysis.folders import (
    FolderBusy, SweepState, UntrustedFolder, check_trusted, latest_sweep_dir, lock_folder, read_state, sweep_label,
    write_state,
)
from gan.config import flatten
from gan.status import Status
from sweeps.contract import Result, TrialRequest, last_result, status_of, trial_storage_fault
from sweeps.journal import REJECTED_FILE, JournalDamaged, push_command, short_error
from sweeps.schedule import OPTUNA_JOURNAL, adaptive_record, levels, make_scheduler, make_search
from sweeps.spec import SpecError, SweepSpec, load_spec

__all__ = ["RESOLVED_SPEC", "main", "plan", "resolved_spec", "run_sweep", "sweep_design"]

RESOLVED_SPEC = "spec.resolved.yaml"  # in the sweep folder: the spec as run, loadable


def plan(spec: SweepSpec) -> str:
    """Human-readable resolved search space, trial count and estimated iterations."""
    lines = [f"sweep {spec.name!r} from {spec.source}" + (f" (scale {spec.scale})" if spec.scale else "")]
    if spec.description:
        lines.append(f"  {spec.description}")
    lines.append(f"method: {spec.method}; metric: {spec.metric} ({spec.mode}); "
                 f"early stopping: {spec.early_stopping.type}"
                 + (f" (grace {spec.early_stopping.grace_period}, reduction {spec.early_stopping.reduction_factor}, "
                    f"max {spec.max_evaluations()} evaluations)" if spec.early_stopping.type != "none" else "")
                 + (" on configurations: all of a configuration's seeds stop together" if spec.early_stopping.type
                    == "race" else ""))
    lines.append("parameters:")
    for p in spec.parameters:
        dom = f"values {list(p.values)}" if p.values is not None else f"{p.distribution}[{p.low}, {p.high}]" + (
            f" step {p.step}" if p.step else "")
        lines.append(f"  {p.key}: {dom}")
    if not spec.parameters:
        lines.append("  (none: the base config only)")
    if spec.budget.hold:
        plans = {"epochs": lambda: "epochs as configured",
                 "iterations": lambda: f"{spec.budget_iterations()} iterations",
                 "seconds": lambda: f"{spec.budget.seconds:g} s of training"}
        lines.append("budget plans, side by side: " + "; ".join(plans[p]() for p in spec.budget.hold)
                     + (" (a configuration whose epochs already give that many iterations runs once, for both)"
                        if {"epochs", "iterations"} <= set(spec.budget.hold) else ""))
    seeds = str(list(spec.seeds))
    if spec.adaptive:
        more = ("one more while the configuration is in a best set of several" if spec.method == "optuna" else
                f"one more per round where the model's answer is open; at most {spec.adaptive.looks} looks")
        seeds = f"adaptive, {spec.adaptive.initial} to {spec.adaptive.max} per configuration from {seeds} ({more})"
    lines.append(f"seeds: {seeds}; resources per trial: {spec.resources.cpus} CPU, {spec.resources.gpus} GPU; "
                 f"max concurrent: {spec.max_concurrent or 'unlimited'}")
    ev = spec.evaluation
    lines.append(f"evaluation: {ev.extractor} extractor, metrics {list(ev.metrics)}, {ev.num_samples} samples "
                 f"({spec.final_num_samples or ev.num_samples} at the end), {ev.real_samples} real")
    if spec.published:
        lines.append(f"published figures ({len(spec.published)}), shown beside ours in the report's scorecard:")
        for f in spec.published:
            config = ", ".join(f"{k}={v}" for k, v in f.params.items())
            spread = f" ± {f.spread:g}" if f.spread is not None else ""
            best = " (best over training)" if f.statistic == "best" else ""
            lines.append(f"  {f.metric}{best} {f.value:g}{spread} at {config} ({f.extractor or 'extractor not stated'}, "
                         f"{f.dataset or 'dataset not stated'}; {f.source})")
    configs = spec.trial_configs()
    if configs:
        iters = [spec.iterations(spec.config_for(c)) for c in configs]
        evals = [spec.evaluations(spec.config_for(c)) for c in configs]
        lines.append(f"trials: {'up to ' if spec.adaptive else ''}{len(configs)}"
                     + (f" ({len(configs) // len(spec.seeds) * spec.adaptive.initial} in the first round)"
                        if spec.adaptive else "") + f"; iterations per trial: {min(iters)}..{max(iters)} "
                     f"({sum(iters)} in all without early stopping); evaluations per trial: {min(evals)}..{max(evals)}")
        for i, c in enumerate(configs[:50]):
            lines.append(f"  {i:3d}: " + ", ".join(f"{k}={v}" for k, v in c.items()))
        if len(configs) > 50:
            lines.append(f"  ... {len(configs) - 50} more")
    else:
        it = spec.iterations(spec.base)
        lines.append(f"trials: {'up to ' if spec.adaptive else ''}{spec.num_trials()} proposed by Optuna (TPE, seed "
                     f"{spec.search_seed}; {spec.num_samples} configurations); "
                     f"about {it} iterations per trial at the base config ({it * spec.num_trials()} in all without "
                     "early stopping)")
    return "\n".join(lines)


def sweep_design(spec: SweepSpec):
    """The spec's factors, baselines, early-stopping rule and published figures, as the report reads them."""
    from analysis.design import Factor, PublishedFigure, SweepDesign, variant_settings

    factors = []
    base = flatten(spec.base.resolve().to_dict())  # as trials log their params
    for p in spec.parameters:
        keys = sorted({k for v in p.values for k in variant_settings(v)}) if p.variant else [p.key]
        levels = [list(v) if isinstance(v, tuple) else v for v in p.values] if p.values is not None else None
        baseline = p.baseline if p.baseline is not None else (levels[0] if levels else None)
        defaults = {k: list(base[k]) if isinstance(base[k], tuple) else base[k] for k in keys} if p.variant else None
        factors.append(Factor(p.key, keys, levels, list(baseline) if isinstance(baseline, tuple) else baseline,
                              p.variant, defaults))
    es = dataclasses.asdict(spec.early_stopping)
    if spec.early_stopping.type != "none":
        es["max_evaluations"] = spec.max_evaluations()
    return SweepDesign(
        metric=spec.metric, mode=spec.mode, method=spec.method, seeds=list(spec.seeds), factors=factors,
        early_stopping=es, extractor=spec.evaluation.extractor,
        final_samples=spec.final_num_samples or spec.evaluation.num_samples,
        published=[PublishedFigure(**dataclasses.asdict(f)) for f in spec.published],
        budget={"hold": list(spec.budget.hold), "iterations": spec.budget_iterations(),
                "seconds": spec.budget.seconds} if spec.budget.hold else {},
        min_effect=spec.min_effect,
    )


def resolved_spec(spec: SweepSpec) -> str:
    """The spec as run, its scale applied, as a loadable spec file; its plan above it in comments."""
    return "".join(f"# {line}\n" for line in plan(spec).splitlines()) + yaml.safe_dump(
        spec.raw, sort_keys=False, default_flow_style=None, width=120)


def _absolute_paths(raw: dict) -> dict:
    """Trials run in their own folders: make file paths in the training config absolute."""
    out = json.loads(json.dumps(raw))
    data = out.get("data") or {}
    if data.get("root"):
        data["root"] = str(Path(data["root"]).expanduser().resolve())
    return out


def _trial_space(spec: SweepSpec) -> dict:
    from ray import tune

    eval_raw = dataclasses.asdict(spec.evaluation)
    eval_raw["metrics"] = list(eval_raw["metrics"])
    if eval_raw.get("inception_weights"):
        eval_raw["inception_weights"] = str(Path(eval_raw["inception_weights"]).expanduser().resolve())
    seeds = None
    if spec.method == "optuna":
        swept = {}
        for p in spec.parameters:
            if p.values is not None:
                swept[p.key] = tune.choice(list(p.values))
            elif p.distribution == "uniform":
                swept[p.key] = tune.quniform(p.low, p.high, p.step) if p.step else tune.uniform(p.low, p.high)
            elif p.distribution == "loguniform":
                swept[p.key] = tune.loguniform(p.low, p.high)
            else:
                swept[p.key] = tune.qrandint(int(p.low), int(p.high), int(p.step or 1))
        swept["train.seed"] = spec.seeds[0]
        if len(spec.seeds) > 1:  # SeedReplicates repeats each configuration; the repeat index picks the seed
            seeds = list(spec.seeds)
    elif spec.adaptive:
        swept = {}  # the adaptive searcher suggests each trial's swept values
    else:
        swept = tune.grid_search(spec.trial_configs())  # Tune's variant generator expands the list
    return TrialRequest(
        base=_absolute_paths(spec.base_raw), swept=swept, eval=eval_raw, metric=spec.metric, mode=spec.mode,
        final_num_samples=spec.final_num_samples, threads=max(1, int(spec.resources.cpus)), seeds=seeds,
    ).param_space()


class _Progress:
    """What Tune says of every trial, step by step (its state, last result and config), and how each
    ended; prints running/stopped/done counts and the best metric so far as trials report."""

    def __init__(self, metric: str, mode: str, total: int, upto: int | None = None):
        """`total`: the trials planned; with adaptive seeds 0, and `upto` the most the sweep may run."""
        self.metric, self.mode, self.total, self.upto = metric, mode, total, upto
        self.best: tuple[float, str] | None = None
        self.trials: dict[str, dict] = {}  # trial id -> {"state": Tune's trial status, "last": result, "config": ...}
        self.ended: dict[str, Status] = {}  # trial id -> how it ended, for trials Tune ended in this session
        self.fault: str | None = None  # the storage fault that stopped the sweep
        self.faulted: set[str] = set()  # trials that failed on it: interrupted, not errored
        self.printed_at = 0.0

    def step(self, trials) -> None:
        for t in trials:
            self.trials[t.trial_id] = {"state": t.status, "last": last_result(t), "config": t.config}

    def result(self, trial, result):
        self.trials.setdefault(trial.trial_id, {"config": trial.config}).update(
            state="RUNNING", last=result)
        v = result.get(self.metric)
        if v is not None and math.isfinite(v) and not result.get(Result.DIVERGED):
            better = self.best is None or (v < self.best[0] if self.mode == "min" else v > self.best[0])
            if better:
                self.best = (v, str(trial))
        if time.time() - self.printed_at > 5:
            self.print()

    def done(self, trial, status: Status):
        self.ended[trial.trial_id] = status
        self.print()

    def status(self, trial_id: str, interrupted: bool) -> Status:
        """How a trial stands: as it ended, or (the sweep interrupted or not) interrupted / not started."""
        t = self.trials.get(trial_id, {})
        if trial_id in self.ended:
            return self.ended[trial_id]
        if t.get("state") == "ERROR" and trial_id not in self.faulted:
            return Status.ERROR
        if t.get("state") == "TERMINATED":  # ended in an earlier session of a resumed sweep
            return status_of(t.get("last"))
        if t.get("state") == "RUNNING" or t.get("last"):  # running, or paused with results to resume from
            return Status.INTERRUPTED if interrupted else Status.RUNNING
        return Status.NOT_STARTED

    def unsettled(self) -> int:
        """Trials of the sweep that Tune has not ended (not yet created ones included)."""
        settled = sum(1 for tid, t in self.trials.items()
                      if tid in self.ended or t.get("state") in ("TERMINATED", "ERROR"))
        return max(self.total, len(self.trials)) - settled

    def print(self, interrupted: bool = False):
        self.printed_at = time.time()
        counts = Counter(self.status(tid, interrupted) for tid in self.trials)
        # of the unfinished trials with results, those Tune has not started again yet are waiting, not running
        running = 0 if interrupted else sum(1 for tid, t in self.trials.items()
                                            if tid not in self.ended and t.get("state") == "RUNNING")
        waiting = counts[Status.RUNNING] - running
        best = f"best {self.metric} {self.best[0]:.4g} ({self.best[1]})" if self.best else f"no {self.metric} yet"
        print(f"[{time.strftime('%H:%M:%S')}] trials: {running} running, "
              + (f"{waiting} waiting to resume, " if waiting > 0 else "")
              + f"{counts[Status.COMPLETED]} completed, {counts[Status.EARLY_STOPPED]} stopped early, "
              f"{counts[Status.DIVERGED]} diverged, {counts[Status.ERROR]} errored"
              + (f", {counts[Status.INTERRUPTED]} interrupted" if interrupted else "")
              + (f" of up to {self.upto}" if self.upto else f" of {self.total}") + f"; {best}", flush=True)


def _progress_callback(progress: _Progress):
    from ray.tune import Callback

    class ProgressPrinter(Callback):
        def on_step_end(self, iteration, trials, **info):
            progress.step(trials)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            progress.result(trial, result)

        def on_trial_complete(self, iteration, trials, trial, **info):
            progress.done(trial, status_of(progress.trials.get(trial.trial_id, {}).get("last")))

        def on_trial_recover(self, iteration, trials, trial, **info):
            self._stop_on_storage_fault(trial)

        def on_trial_error(self, iteration, trials, trial, **info):
            if not self._stop_on_storage_fault(trial):
                progress.done(trial, Status.ERROR)

        @staticmethod
        def _stop_on_storage_fault(trial) -> bool:
            """A full or read-only storage fails every trial alike: stop the sweep as Ctrl-C does (Tune
            saves its state, the trials stay resumable) instead of retrying them into it."""
            fault = trial_storage_fault(trial)
            if fault is None:
                return False
            progress.faulted.add(trial.trial_id)
            if progress.fault is None:
                progress.fault = f"{trial}: {fault}"
                signal.raise_signal(signal.SIGINT)
            return True

    return ProgressPrinter()


def _prepare_caches(spec: SweepSpec) -> None:
    """Train the domain classifier and compute real statistics once, so trials only read them."""
    from gan.metrics import Evaluator

    seen = set()
    configs = spec.trial_configs() or [{}]
    for swept in configs:
        cfg = spec.config_for(swept)
        key = (cfg.data.name, cfg.data.root, cfg.data.split, cfg.data.image_size, cfg.model.conditional)
        if key in seen:
            continue
        seen.add(key)
        start = time.perf_counter()
        data = cfg.data if not cfg.data.root else dataclasses.replace(cfg.data, root=str(Path(cfg.data.root).expanduser().resolve()))
        ev = Evaluator(spec.evaluation, data, conditional=cfg.model.conditional)
        acc = f", classifier test accuracy {ev.extractor.test_accuracy:.4f}" if ev.extractor.test_accuracy else ""
        print(f"evaluation ready for {cfg.data.name} ({spec.evaluation.extractor} features{acc}; "
              f"{time.perf_counter() - start:.1f} s)", flush=True)


@dataclass
class _Where:
    """Where a sweep lives: its output root and folder, Tune storage, MLflow store, and the state it resumes."""

    root: Path
    label: str
    sweep_id: str
    out: Path  # the sweep's own folder: OUT/sweeps/<label>-<sweep id>
    tracking_uri: str
    storage: str
    previous: SweepState | None  # the sweep.json of the sweep being resumed

    @property
    def run_name(self) -> str:
        return self.out.name

    @property
    def embedded(self) -> bool:
        return self.tracking_uri.startswith(("sqlite:", "file:"))

    @property
    def experiment_path(self) -> Path | str:
        """Tune's folder for this sweep: a local path, or a URI on remote storage."""
        if "://" in self.storage:
            return f"{self.storage.rstrip('/')}/{self.run_name}"
        return Path(self.storage) / self.run_name

    @property
    def state_backup(self) -> Path:
        return self.out / "tune_state.zip"


def _locate(spec: SweepSpec, out: Path, resume: bool, storage: str | None, tracking_uri: str | None,
            trust_folder: bool = False) -> _Where:
    """Resolve the output folders and stores, and on --resume the unfinished sweep to continue."""
    root = out.resolve()
    _check_writable(root, "--out")
    if storage:
        _check_storage(storage)
    label = sweep_label(spec.name, spec.scale)
    previous = None
    if resume:
        sweep_dir = latest_sweep_dir(root, label, unfinished=True)
        if sweep_dir is None:
            raise SpecError(f"--resume: no unfinished sweep of {label!r} in {root / 'sweeps'}; run without --resume.")
        previous = read_state(sweep_dir)
        if not trust_folder:
            experiment = Path(previous.storage) / previous.run_name if "://" not in previous.storage else None
            try:
                check_trusted(sweep_dir, *([experiment] if experiment else []))
            except UntrustedFolder as e:
                raise SpecError(f"--resume: {e}") from None
    tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or (previous and previous.tracking_uri) or \
        f"sqlite:///{root / 'mlflow.db'}"
    storage = storage or (previous and previous.storage) or str(root / "ray")
    sweep_id = previous.sweep_id if previous else time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    _check_tracking(tracking_uri)
    folder = root / "sweeps" / f"{label}-{sweep_id}"
    folder.mkdir(parents=True, exist_ok=True)
    return _Where(root, label, sweep_id, folder, tracking_uri, storage, previous)


def _check_writable(folder: Path, what: str) -> None:
    """Create `folder` and write a file in it, or stop before any work with what failed, where, and why."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".gansweep-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise SpecError(f"{what} {folder}: cannot write there ({e.strerror or e}); give a folder this user can "
                        "write to, on a disk with free space.") from None


def _check_storage(storage: str) -> None:
    """Tune's storage (--storage): a local folder, or a URI pyarrow can open (s3://, gs://, ...), checked
    before any work starts."""
    if "://" not in storage or storage.startswith("file://"):
        _check_writable(Path(storage.removeprefix("file://")).expanduser().resolve(), "--storage")
        return
    import pyarrow.fs

    try:
        fs, path = pyarrow.fs.FileSystem.from_uri(storage)
        fs.create_dir(path, recursive=True)
        info = fs.get_file_info(path)
        if info.type != pyarrow.fs.FileType.Directory:
            raise OSError(f"{path} is not a folder there")
    except (OSError, ValueError, pyarrow.ArrowException) as e:
        raise SpecError(f"--storage {storage}: cannot use it ({e}); give a writable local or shared folder, or a "
                        "bucket URI that exists and that this machine's credentials can write to.") from None


def _check_tracking(tracking_uri: str) -> None:
    """The MLflow store answers, or the sweep stops before any work with where and why."""
    from mlflow.exceptions import MlflowException

    from sweeps.tracking import store_client

    try:
        store_client(tracking_uri).search_experiments(max_results=1)
    except MlflowException as e:
        raise SpecError(f"--tracking-uri {tracking_uri}: MLflow does not answer there ({short_error(e)}); start the "
                        "tracking server (or give the address where it runs) and run again.") from None


def _repair_tune_state(where: _Where) -> None:
    """Tune's own copy in storage may be cut short by a crash; the backup is complete and as new."""
    from sweeps.tunestate import check_tune_state, restore_tune_state

    path = where.experiment_path
    if isinstance(path, Path) and path.is_dir():
        if where.state_backup.is_file():
            restore_tune_state(where.state_backup, path)
        check_tune_state(path)


def _open_tracking(spec: SweepSpec, where: _Where, spec_path: str | None):
    """Open (or find again) the parent MLflow run, write sweep.json, and start the sweep's MLflow journal
    with the spec as run and its design as the parent run's artifacts (a resumed sweep first applies what
    an earlier driver left in the journal, then reopens the run). Returns the journal, the sweep state
    and the git commit."""
    from analysis.design import DESIGN_ARTIFACT
    from sweeps.journal import Journal
    from sweeps.tracking import git_commit, open_parent_run

    sha = git_commit()
    params = {f"spec.{k}": v for k, v in {
        "method": spec.method, "metric": spec.metric, "mode": spec.mode, "early_stopping": spec.early_stopping.type,
        "num_samples": spec.num_samples, "seeds": list(spec.seeds), "scale": spec.scale or "full",
        "parameters": ", ".join(p.key for p in spec.parameters), "evaluation.extractor": spec.evaluation.extractor,
    }.items()}
    params.update({f"base.{k}": v for k, v in flatten(spec.base.to_dict()).items()})
    previous = where.previous
    exp_id, parent = open_parent_run(
        where.tracking_uri, spec.name, where.sweep_id,
        (where.root / "mlartifacts").as_uri() if where.embedded else None, params,
        {"git_commit": sha, "spec_file": spec.source}, existing_run_id=previous.parent_run_id if previous else None,
        note=_sweep_note(spec), experiment_note=spec.description or None,
    )
    state = SweepState(sweep_id=where.sweep_id, tracking_uri=where.tracking_uri, storage=where.storage,
                       experiment=spec.name, experiment_id=exp_id, parent_run_id=parent,
                       spec=spec_path or spec.source, scale=spec.scale, label=where.label, run_name=where.run_name)
    write_state(where.out, state)
    journal = Journal(where.out, where.tracking_uri, exp_id, parent, where.sweep_id).start()
    if previous:
        journal.append({"op": "status", "trial": None, "status": "RUNNING"})
    # the spec as run, scale applied: a loadable spec (python -m sweeps.run spec.resolved.yaml), its plan in comments
    _write(where.out / RESOLVED_SPEC, resolved_spec(spec))
    _write(where.out / DESIGN_ARTIFACT, sweep_design(spec).to_json())
    for name in (RESOLVED_SPEC, DESIGN_ARTIFACT):
        journal.append({"op": "artifact", "trial": None, "file": name, "path": None})
    if spec_path and Path(spec_path).is_file():
        copy, rel = journal.new_file(Path(spec_path).name)
        shutil.copyfile(spec_path, copy)
        journal.append({"op": "artifact", "trial": None, "file": rel, "path": None})
    print(f"MLflow: experiment {spec.name!r}, parent run {parent} at {where.tracking_uri}", flush=True)
    return journal, state, sha


def _write(path: Path, text: str) -> None:
    """A file of the sweep folder that resume or the report reads: written whole or not at all, and synced."""
    from gan._io import atomic_path

    with atomic_path(path, fsync=True) as tmp:
        tmp.write_text(text)


def _sweep_note(spec: SweepSpec) -> str:
    """What the parent run's page says first: the metric that ranks the runs, the factors and the seeds."""
    factors = "\n".join(f"- `{p.key}`: " + (", ".join(str(level_label(v)) for v in p.values) if p.values is not None
                                           else f"{p.distribution} [{p.low}, {p.high}]") for p in spec.parameters)
    return (f"**{spec.metric}** ({'lower' if spec.mode == 'min' else 'higher'} is better) ranks the runs; "
            f"child runs are named by their swept values.\n\nFactors:\n{factors or '- none (the base config)'}\n\n"
            f"Seeds: {', '.join(map(str, spec.seeds))}; method: {spec.method}; scale: {spec.scale or 'full'}. "
            "The report (`python -m analysis.report`) compares them with intervals over seeds.")


def _start_ray(address: str | None, verbose: int) -> None:
    import ray

    # Snapshot Tune's experiment state at every step (not every ~10 s), so a trial that has an MLflow run
    # is also in the state that --resume restores.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    env_vars = {k: os.environ[k] for k in ("GANSWEEP_CACHE_DIR", "GANSWEEP_DATA_DIR", "GANSWEEP_INCEPTION_WEIGHTS",
                                           "TORCH_HOME") if k in os.environ}
    env_vars["RAY_CHDIR_TO_TRIAL_DIR"] = "0"
    if ray.is_initialized():
        return
    init_kwargs = {}
    if os.environ.get("GANSWEEP_NODE_IP"):  # the driver's address when the machine has several
        init_kwargs["_node_ip_address"] = os.environ["GANSWEEP_NODE_IP"]
    # without an address, a Ray of our own: `ray.init()` alone would join any cluster `ray start` left
    # running on this machine, and its queue (`--address auto` joins it on purpose)
    ray.init(address=address or os.environ.get("RAY_ADDRESS") or "local", include_dashboard=False,
             runtime_env={"env_vars": env_vars}, log_to_driver=verbose > 0, logging_level="WARNING", **init_kwargs)


def _build_tuner(spec: SweepSpec, where: _Where, callbacks: list, resume: bool, verbose: int):
    """A new Tuner for the spec, or on --resume the one Tune saved."""
    from ray import tune

    trainable = tune.with_resources(_trainable(), {"cpu": spec.resources.cpus, "gpu": spec.resources.gpus})
    path = str(where.experiment_path)
    if resume and tune.Tuner.can_restore(path):
        print(f"resuming {path}", flush=True)
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True, resume_errored=True,
                                   restart_errored=False)
        _use_callbacks_on_restore(tuner, callbacks)
        return tuner
    scheduler, search_alg = make_scheduler(spec, where.out), make_search(spec, where.out)
    return tune.Tuner(
        trainable,
        param_space=_trial_space(spec),
        tune_config=tune.TuneConfig(
            metric=spec.metric, mode=spec.mode, search_alg=search_alg, scheduler=scheduler,
            # adaptive: one more than it can run, so that Tune asks the searcher again after the last round and
            # it takes its last look
            num_samples=spec.num_trials() + 1 if spec.adaptive else spec.num_trials() if spec.method == "optuna" else 1,
            max_concurrent_trials=spec.max_concurrent or None, reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=where.run_name, storage_path=where.storage, callbacks=callbacks, verbose=verbose,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        ),
    )


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (a cluster job being stopped, `kill`) reaches Tune as the Ctrl-C it handles: stop the
    trials, save the state, return. A second Ctrl-C or SIGTERM raises KeyboardInterrupt at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fit(tuner, progress: _Progress) -> bool:
    """Run Tune; returns True when the sweep was interrupted (Ctrl-C, SIGTERM) before every trial ended.

    On the first interrupt Tune stops the trials, saves its state and returns; a second one raises
    KeyboardInterrupt out of Tune, which is caught here: the state Tune saved at its last step (and the
    backup of it) is what --resume continues from. After a storage fault stopped the sweep, Tune's own
    summary of the results can fail on that storage (a truncated error file): the sweep has stopped all
    the same, and says why.
    """
    try:
        with _terminate_as_interrupt():
            tuner.fit()
    except KeyboardInterrupt:
        return True
    except Exception as e:
        if progress.fault is None:
            raise
        print(f"Tune's result summary failed on the faulty storage ({type(e).__name__}: {e})", file=sys.stderr)
        return True
    return progress.unsettled() > 0


def run_sweep(spec: SweepSpec, *, out: Path, resume: bool = False, address: str | None = None,
              storage: str | None = None, tracking_uri: str | None = None, spec_path: str | None = None,
              verbose: int = 0, tracking_wait: float = 60.0, trust_folder: bool = False) -> dict:
    """Run (or with `resume`, continue) a sweep; returns its summary (`interrupted` says whether it ended,
    `tracking` how its MLflow journal fared). At the end the driver waits up to `tracking_wait` seconds
    for MLflow to hold every result; what it does not yet hold stays in the journal, to push later."""
    from sweeps.journal import quick_http_failures

    quick_http_failures()
    where = _locate(spec, out, resume, storage, tracking_uri, trust_folder)
    try:
        lock = lock_folder(where.out)  # before anything in the folder is touched; held until the driver ends
    except FolderBusy as e:
        raise SpecError(f"--resume: {e}" if resume else str(e)) from None
    try:
        return _run_locked(spec, where, resume, address, spec_path, verbose, tracking_wait)
    finally:
        lock.close()


def _run_locked(spec: SweepSpec, where: _Where, resume: bool, address: str | None, spec_path: str | None,
                verbose: int, tracking_wait: float) -> dict:
    """run_sweep's work, in a sweep folder this driver holds the lock of."""
    from sweeps.tracking import MLflowTracker
    from sweeps.tunestate import TuneStateBackup

    if resume:
        _repair_tune_state(where)
    _prepare_caches(spec)
    journal, state, sha = _open_tracking(spec, where, spec_path)
    try:
        _start_ray(address, verbose)
        progress = _Progress(spec.metric, spec.mode, 0, spec.num_trials()) if spec.adaptive else \
            _Progress(spec.metric, spec.mode, spec.num_trials())
        tracker = MLflowTracker(journal, spec.metric, sha)
        callbacks = [tracker, _progress_callback(progress),
                     TuneStateBackup(where.state_backup, str(where.experiment_path))]
        tuner = _build_tuner(spec, where, callbacks, resume, verbose)
        interrupted = True
        try:
            interrupted = _fit(tuner, progress) or (spec.adaptive is not None and spec.method != "optuna"
                                                    and adaptive_record(where.out) is None)
        finally:
            # ended as KILLED until the sweep has run every trial; a resumed sweep reopens the runs
            if interrupted:
                tracker.interrupted()
            journal.append({"op": "status", "trial": None, "status": "KILLED" if interrupted else "FINISHED"})
        training_end = time.perf_counter()
        summary = _summary(spec, progress, interrupted)
        summary["sweep_dir"] = str(where.out)
        summary["stopped_by"] = progress.fault
        state.finished = not interrupted
        write_state(where.out, state)
        _write(where.out / "summary.json", json.dumps(summary, indent=1, default=str))
        journal.append({"op": "artifact", "trial": None, "file": "summary.json", "path": None})
        from sweeps.race import RACE_RECORD

        if (where.out / RACE_RECORD).is_file():
            journal.append({"op": "artifact", "trial": None, "file": RACE_RECORD, "path": None})
        if spec.adaptive and adaptive_record(where.out, finished=False):
            from analysis.adaptive import RECORD

            journal.append({"op": "artifact", "trial": None, "file": RECORD, "path": None})
        try:  # an interrupted sweep does not wait long: its --resume applies what waits
            journal.drain(min(tracking_wait, 10.0) if interrupted else tracking_wait)
        except KeyboardInterrupt:  # what waits stays in the journal
            pass
        summary["tracking"] = _tracking_report(journal, time.perf_counter() - training_end)
    finally:
        journal.close()
    # again, with how the journal fared: this copy stays in the sweep folder (MLflow has the one above)
    _write(where.out / "summary.json", json.dumps(summary, indent=1, default=str))
    progress.print(interrupted)
    print(_format_summary(summary, spec), flush=True)
    if spec.adaptive and spec.method != "optuna":
        from analysis.adaptive import record_lines

        rec = adaptive_record(where.out, finished=False)
        print("\n".join(record_lines(rec, _seconds_per_configuration(spec, progress, rec))) if rec else
              "adaptive seeds: no look yet (the first round has not ended)", flush=True)
    print(_format_tracking(summary["tracking"], journal, where, interrupted), flush=True)
    if progress.fault:
        print(f"stopped: {progress.fault}\nthe sweep's storage: {where.experiment_path}\nNothing logged is lost. "
              f"Free space there (or make it writable), then continue with: "
              f"{_resume_command(spec, where, spec_path)}", flush=True)
    elif interrupted:
        print(f"interrupted: {summary['ended']} of {len(summary['trials'])} trials ended; continue with: "
              f"{_resume_command(spec, where, spec_path)}", flush=True)
    elif not summary["tracking"]["waiting"]:
        print(f"browse the runs: {_ui_command(where.tracking_uri, state.experiment_id)}", flush=True)
        if (where.out / OPTUNA_JOURNAL).is_file():
            print(f"browse the Optuna study: {shlex.join(['optuna-dashboard', str(where.out / OPTUNA_JOURNAL)])} "
                  "(pip install optuna-dashboard)", flush=True)
    return summary


def _seconds_per_configuration(spec: SweepSpec, progress: _Progress, rec: dict) -> dict[str, float]:
    """Each configuration's mean training time per finished run (Tune's time_total_s), by its record label."""
    from analysis.adaptive import cell_label

    times: dict[str, list[float]] = {}
    for t in progress.trials.values():
        last = t.get("last") or {}
        if "time_total_s" in last:
            lv = levels(spec, TrialRequest.from_trial_config(t["config"]).swept)
            times.setdefault(cell_label(rec["params"], [lv[p] for p in rec["params"]]), []).append(
                float(last["time_total_s"]))
    return {k: sum(v) / len(v) for k, v in times.items()}


def _tracking_report(journal, end_wait: float) -> dict:
    """How the sweep's MLflow writes fared: how many were written and applied, how long MLflow did not
    answer, how long the driver waited on it (appending to the journal, and at the end), what still waits."""
    return {"written": journal.appended, "applied": journal.applied, "waiting": len(journal.pending()),
            "refused": journal.rejected, "unreachable_s": round(journal.unreachable_seconds + (
                time.time() - journal.unreachable_since if journal.unreachable_since else 0.0), 1),
            "driver_wait_s": round(journal.append_seconds + end_wait, 2), "end_wait_s": round(end_wait, 2),
            "last_error": journal.last_error}


def _format_tracking(report: dict, journal, where: _Where, interrupted: bool) -> str:
    line = (f"MLflow: {report['applied']} journal entries applied, {report['waiting']} waiting"
            + (f", {report['refused']} refused (see {journal.folder / REJECTED_FILE})" if report["refused"] else "")
            + (f"; unreachable for {report['unreachable_s']:.0f} s" if report["unreachable_s"] else "")
            + f"; the driver waited {report['driver_wait_s']:.1f} s on it")
    if not report["waiting"]:
        return line
    runs = journal.pending_by_run()
    listed = "\n".join(f"  {name}: " + ", ".join(f"{n} {op}" for op, n in sorted(ops.items()))
                        for name, ops in sorted(runs.items()))
    return (f"{line}\nMLflow at {where.tracking_uri} is not answering ({report['last_error']}).\n"
            f"{report['waiting']} writes of {len(runs)} runs wait in {journal.path}:\n{listed}\n"
            f"Nothing is lost. Push them once MLflow is back: {push_command(where.out)}"
            + (" (or --resume the sweep, which applies them first)" if interrupted else ""))


def _resume_command(spec: SweepSpec, where: _Where, spec_path: str | None) -> str:
    args = ["python", "-m", "sweeps.run", spec_path or spec.source]
    if spec.scale:
        args += ["--scale", spec.scale]
    if spec.seeds_given:
        args += ["--seeds", ",".join(map(str, spec.seeds_given))]
    return shlex.join(args + ["--out", str(where.root), "--resume"])


def _ui_command(tracking_uri: str, experiment_id: str) -> str:
    """How to open the sweep in MLflow's UI: a local store through `mlflow ui`, a server at its address. The
    page asks for the classic training view (`workflowType=machine_learning`): MLflow 3.x's UI opens an
    experiment on its GenAI overview otherwise, whatever the experiment's kind tag says."""
    page = f"/#/experiments/{experiment_id}?workflowType=machine_learning"
    if tracking_uri.startswith(("sqlite:", "file:")) or "://" not in tracking_uri:
        command = shlex.join(["mlflow", "ui", "--backend-store-uri", tracking_uri, "--host", "127.0.0.1"])
        return f"{command}, then open http://127.0.0.1:5000{page}"
    return f"open {tracking_uri.rstrip('/')}{page}"


def _trainable():
    from sweeps.trainable import run_trial

    return run_trial


def _use_callbacks_on_restore(tuner, callbacks: list) -> None:
    """Make a restored Tuner call this driver's callbacks.

    Tune pickles the RunConfig, callbacks included, into tuner.pkl when a sweep starts, and
    `Tuner.restore` (which takes no callbacks) runs with the unpickled copies: the MLflow tracker, the
    progress and the state backup of the first session, not this driver's. This is the one private
    reach into Ray here (Ray 2.60: `Tuner._local_tuner._run_config`); it fails loudly if Ray changes shape.
    """
    run_config = getattr(getattr(tuner, "_local_tuner", None), "_run_config", None)
    if run_config is None or not hasattr(run_config, "callbacks"):
        raise RuntimeError("this Ray version's Tuner has no _local_tuner._run_config.callbacks; gansweep cannot "
                           "hand a resumed sweep its callbacks (see sweeps/run.py, _use_callbacks_on_restore).")
    run_config.callbacks = list(callbacks)


def _summary(spec: SweepSpec, progress: _Progress, interrupted: bool) -> dict:
    """Every trial Tune knows, ranked: finite metrics of completed trials first."""
    rows = []
    for trial_id, t in progress.trials.items():
        last = t.get("last") or {}
        rows.append({"trial_id": trial_id, "status": progress.status(trial_id, interrupted),
                     spec.metric: last.get(spec.metric), "evaluation": last.get(Result.EVALUATION),
                     "step": last.get(Result.STEP), "swept": TrialRequest.from_trial_config(t["config"]).swept})

    def key(row):
        v = row[spec.metric]
        ok = v is not None and math.isfinite(v) and row["status"] not in (Status.DIVERGED, Status.ERROR)
        return (not ok, row["status"] != Status.COMPLETED, (v if spec.mode == "min" else -v) if ok else 0)

    if interrupted and spec.method != "optuna" and not spec.adaptive:  # the planned trials Tune had not created yet
        unseen = [json.dumps(c, sort_keys=True, default=str) for c in spec.trial_configs()]
        for row in rows:
            seen = json.dumps(row["swept"], sort_keys=True, default=str)
            if seen in unseen:
                unseen.remove(seen)
        rows += [{"trial_id": None, "status": Status.NOT_STARTED, spec.metric: None, "evaluation": None,
                  "step": None, "swept": json.loads(c)} for c in unseen]
    rows.sort(key=key)
    ended = sum(1 for r in rows if r["status"] in Status.ended() | {Status.ERROR})
    return {"metric": spec.metric, "mode": spec.mode, "interrupted": interrupted, "ended": ended, "trials": rows}


def _format_summary(summary: dict, spec: SweepSpec) -> str:
    """The trials ranked one by one, then the configurations with their intervals over seeds and the set
    that cannot be told apart from the best (analysis.stats), so no single-seed winner is named."""
    import pandas as pd

    from analysis.layout import LOG
    from analysis.model import fit_design

    metric = summary["metric"]
    lines = [f"runs ranked by {metric} ({summary['mode']}):"]
    for i, row in enumerate(summary["trials"], 1):
        v = row[metric]
        shown = f"{v:.4g}" if isinstance(v, (int, float)) and math.isfinite(v) else "-"
        where = f"eval {row['evaluation']}" if row.get("evaluation") else ""
        swept = ", ".join(f"{k}={v}" for k, v in row["swept"].items())
        lines.append(f"{i:3d}. {metric} {shown:>8}  {row['status']:<13} {where:<8} {swept}")
    factors = [p.key for p in spec.parameters]
    rows = [{**levels(spec, row["swept"]), "status": row["status"], metric: row[metric]} for row in summary["trials"]]
    if not rows:
        return "\n".join(lines)
    fit = fit_design(pd.DataFrame(rows), metric, summary["mode"], factors)
    best = fit.cells
    if best.empty:
        return "\n".join(lines + [f"no trial finished with a finite {metric}."])
    centre = "geometric mean" if fit.scale == LOG else "mean"
    lines.append(f"configurations ({metric}: {centre} [95% CI] (runs) over seeds, from the report's model; "
                 "* = cannot be told apart from the best):")
    for _, row in best.iterrows():
        mark = "*" if row["in_best_set"] is True else " "
        config = ", ".join(f"{k.split('.')[-1]}={row[k]}" for k in factors) or "base config"
        lines.append(f"  {mark} {row['cell']:<26} {config}")
    if len(best) == 1:
        lines.append("  only one configuration has finished runs: nothing to rank it against.")
    elif best["in_best_set"].isna().any():
        lines.append("  one run per configuration: the best cannot be told from noise; run at least 2 seeds.")
    else:
        kept = int((best["in_best_set"] == True).sum())  # noqa: E712
        lines.append(f"  {kept} of {len(best)} configurations are indistinguishable from the best at 95% "
                     "(the report says which factors matter).")
    return "\n".join(lines)


def _seed_list(text: str) -> list[int]:
    """`--seeds 3,4,5`: distinct integers >= 0."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated integers >= 0, e.g. 3,4,5") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: the seeds must be distinct integers >= 0, e.g. 3,4,5")
    return seeds


def pilot_plan(spec: SweepSpec, pilot: str) -> str:
    """What `--dry-run --pilot SWEEP` prints: `analysis.plan.pilot_plan` for this grid spec's factors."""
    from analysis.plan import PilotError, pilot_plan as plan_from

    if spec.method != "grid":
        raise PilotError(f"a plan needs the configurations in advance, which a {spec.method} search does not fix; "
                         "plan its seeded grid rerun instead.")
    factors = [(p.key, [level_label(v) for v in p.values],
                level_label(p.baseline if p.baseline is not None else p.values[0]))
               for p in spec.parameters if p.values is not None and len(p.values) > 1]
    return plan_from(pilot, metric=spec.metric, extractor=spec.evaluation.extractor, factors=factors,
                     seeds=len(spec.seeds) * spec.num_samples, min_effect=spec.min_effect)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweeps.run", description=__doc__.split("\n")[0])
    parser.add_argument("spec", help="sweep spec (YAML), e.g. search_spaces/hidden_dims.yaml")
    parser.add_argument("--scale", help="apply a named scale from the spec's `scales:` (e.g. smoke)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved search space and trial plan, then exit")
    parser.add_argument("--out", default="runs", help="output root (default: runs): MLflow store, Tune storage, "
                                                      "and one folder per sweep under sweeps/")
    parser.add_argument("--resume", action="store_true", help="continue the latest unfinished sweep of this spec in --out")
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
    args = parser.parse_args(argv)
    if args.tracking_wait < 0:
        parser.error(f"--tracking-wait {args.tracking_wait:g}: give 0 or more seconds")
    if args.pilot and not args.dry_run:
        parser.error("--pilot plans a sweep: give it with --dry-run")
    try:
        spec = load_spec(args.spec, args.scale, seeds=args.seeds)
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(plan(spec))
        if args.pilot:
            from analysis.plan import PilotError

            try:
                print(pilot_plan(spec, args.pilot))
            except PilotError as e:
                print(f"error: --pilot {args.pilot}: {e}", file=sys.stderr)
                return 2
        return 0
    out = Path(args.out)
    print(plan(spec), flush=True)
    from sweeps.tunestate import TuneStateDamaged  # imports Ray, which the sweep needs anyway

    try:
        summary = run_sweep(spec, out=out, resume=args.resume, address=args.address, storage=args.storage,
                            tracking_uri=args.tracking_uri, spec_path=args.spec, verbose=args.verbose,
                            tracking_wait=args.tracking_wait, trust_folder=args.trust_folder)
    except (SpecError, TuneStateDamaged, JournalDamaged) as e:
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


if __name__ == "__main__":
    sys.exit(main())
