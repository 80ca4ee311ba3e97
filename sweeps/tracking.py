"""MLflow logging of a sweep, from the driver process only.

All writes go through the sweep's journal (sweeps.journal): the Tune callback here appends them to a
file in the sweep's folder and one thread in the driver applies them with one `MlflowClient`, so no
trial process needs MLflow, training never waits on the tracking server, and nothing is lost while it
is down. Each Tune result is one `log_batch` call: its metrics land together. Runs are found again by
their `trial_id` tag, so a resumed sweep continues the same MLflow runs instead of duplicating them.

Layout: one experiment per spec name, tagged as a classic training experiment so MLflow's UI opens on
its runs table; a parent run per sweep invocation (tag `sweep_id`); a child run per trial, named from
its swept values (`g_width=32 d_width=8 seed=0`; tags `trial_id`, `status` (a `gan.Status`),
`node_hostname`, `node_ip`, `git_commit`; params = the flattened resolved training config). Metrics are
histories over `step` (generator iterations).
"""

from __future__ import annotations

import fcntl
import math
import socket
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import torch
from ray.tune import Callback

from gan.config import flatten
from gan.sampling import GENERATOR_ARTIFACT, save_generator
from gan.status import Status
from sweeps.contract import (CHECKPOINT_FILE, GRID_PREFIX, Result, TrialRequest, last_result, status_of,
                             trial_storage_fault)
from sweeps.journal import Journal

__all__ = ["MLflowTracker", "STATUS_TAG", "git_commit", "open_parent_run", "run_name", "store_client"]

STATUS_TAG = "status"  # a gan.Status value
# MLflow's UI opens an experiment of this kind on its runs table (3.x opens others on a GenAI overview)
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
# Tune bookkeeping that is not worth an MLflow metric
_SKIP = {"done", "training_iteration", "timestamp", "time_this_iter_s", "time_total_s", "pid", "iterations_since_restore",
         "time_since_restore", "timesteps_since_restore", "timesteps_total", "episodes_total", "trial_id",
         "checkpoint_dir_name", "should_checkpoint", "node_ip", "hostname", "date", "experiment_tag", "config",
         *Result.FLAGS}


def run_name(swept: dict) -> str:
    """A child run's name from its swept values, by the last part of each key (`g_width=32 seed=0`),
    or the whole key where two keys share a last part."""
    short = [k.rsplit(".", 1)[-1] for k in swept]
    names = [s if short.count(s) == 1 else k for s, k in zip(short, swept)]
    return " ".join(f"{n}={_short_value(v)}" for n, v in zip(names, swept.values()))[:250] or "base config"


def _short_value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def git_commit() -> str:
    repo = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def store_client(tracking_uri: str):
    """An MLflow client whose store is ready. Two sweeps started together on one new SQLite store would
    both create its tables, and MLflow's schema migration of one fails under the other ("expected to
    match one row ... in 'alembic_version'"): the first touch of an SQLite store happens under a file lock."""
    from mlflow.tracking import MlflowClient

    if not tracking_uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri=tracking_uri)
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = MlflowClient(tracking_uri=tracking_uri)
            client.search_experiments(max_results=1)  # creates or migrates the tables, if the client did not
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return client


NOTE_TAG = "mlflow.note.content"  # the description MLflow's UI shows on an experiment's or a run's page


def open_parent_run(tracking_uri: str, experiment: str, sweep_id: str, artifact_location: str | None,
                    params: dict[str, Any], tags: dict[str, str], existing_run_id: str | None = None,
                    note: str | None = None, experiment_note: str | None = None) -> tuple[str, str]:
    """Create the sweep's parent run (on --resume, find its experiment; the journal reopens the run);
    returns (experiment_id, run_id). `note`
    (the sweep's metric, factors and seeds) heads the parent run's page, `experiment_note` the experiment's."""
    from mlflow.exceptions import MlflowException

    client = store_client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        try:
            exp_id = client.create_experiment(experiment, artifact_location=artifact_location,
                                              tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND,
                                                    **({NOTE_TAG: experiment_note} if experiment_note else {})})
            exp = None
        except MlflowException as e:  # two sweeps of one spec started together: the other one created it
            exp = client.get_experiment_by_name(experiment)
            if exp is None:
                raise e
    if exp is not None:
        exp_id = exp.experiment_id
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp_id)
        if EXPERIMENT_KIND_TAG not in exp.tags:
            client.set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    if existing_run_id:  # reopened through the journal, after what an earlier driver left in it
        return exp_id, existing_run_id
    run = client.create_run(exp_id, run_name=f"sweep-{sweep_id}", tags={
        "sweep_id": sweep_id, "role": "sweep", **tags, **({NOTE_TAG: note} if note else {})})
    from mlflow.entities import Param

    items = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        client.log_batch(run.info.run_id, params=items[i : i + 100])
    return exp_id, run.info.run_id


class MLflowTracker(Callback):
    """Tune callback that mirrors trials into MLflow child runs of the sweep's parent run, through the
    sweep's journal (sweeps.journal): it writes what MLflow should hold and never waits on the server."""

    def __init__(self, journal: Journal, metric: str, git_sha: str):
        self.journal = journal
        self.metric = metric
        self.git_sha = git_sha
        self._opened: set[str] = set()  # trial ids whose runs this driver opened (or reopened)
        self._last: dict[str, dict] = {}  # trial id -> last result
        self._checkpoints: dict[str, str] = {}  # trial id -> last checkpoint path
        self._nodes: dict[str, list[str]] = {}  # trial id -> node addresses it ran on
        self._logged_grids: set[tuple[str, str]] = set()
        self._finished: set[str] = set()  # trial ids whose runs were ended here

    def __getstate__(self):  # Tune pickles callbacks with the experiment; a journal is not picklable
        state = self.__dict__.copy()
        state["journal"] = None
        return state

    # -- runs ----------------------------------------------------------------------------------

    def _open(self, trial) -> None:
        """Open the trial's run: created the first time, reopened (RUNNING again) after a resume."""
        tid = trial.trial_id
        if tid in self._opened:
            return
        req = TrialRequest.from_trial_config(trial.config)
        params = flatten(req.training_config().resolve().to_dict())
        params.update({f"eval.{k}": v for k, v in req.eval.items()})
        self.journal.append({
            "op": "open", "trial": tid, "name": run_name(req.swept),
            "tags": {"mlflow.parentRunId": self.journal.parent_run_id, "trial_id": tid,
                     "sweep_id": self.journal.sweep_id, "git_commit": self.git_sha, STATUS_TAG: Status.RUNNING,
                     "role": "trial", "swept": ", ".join(f"{k}={v}" for k, v in req.swept.items())},
            "params": {k: params[k] for k in sorted(params)},
        })
        self._opened.add(tid)

    def _tags(self, trial, **tags) -> None:
        self.journal.append({"op": "tags", "trial": trial.trial_id, "tags": tags})

    # -- Tune hooks ------------------------------------------------------------------------------

    def on_trial_start(self, iteration, trials, trial, **info):
        self._open(trial)

    def on_trial_restore(self, iteration, trials, trial, **info):
        self._open(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._open(trial)
        step = int(result.get(Result.STEP, result.get("training_iteration", 0)))
        metrics = {k: float(v) for k, v in result.items()
                   if k not in _SKIP and not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)}
        # a result at a step the run already has (a trial restarted from an older checkpoint) is
        # skipped when it is applied: see sweeps.journal
        self.journal.append({"op": "result", "trial": trial.trial_id, "step": step,
                             "time": int(time.time() * 1000), "metrics": metrics})
        node = str(result.get("node_ip", ""))
        if trial.trial_id not in self._last:
            self._tags(trial, node_hostname=str(result.get("hostname", socket.gethostname())), node_ip=node)
            self._nodes[trial.trial_id] = [node]
        elif node and node not in self._nodes.setdefault(trial.trial_id, []):
            # the trial moved (a retry after its node died): keep every node it ran on
            self._nodes[trial.trial_id].append(node)
            self._tags(trial, node_ips=",".join(self._nodes[trial.trial_id]))
        self._last[trial.trial_id] = dict(result)

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        self._checkpoints[trial.trial_id] = checkpoint.path
        self._open(trial)
        folder = Path(checkpoint.path)
        if not folder.is_dir():  # remote storage: the grids stay with the checkpoints there
            return
        for png in folder.glob(f"{GRID_PREFIX}*.png"):
            if (trial.trial_id, png.name) not in self._logged_grids:
                # the journal's own copy: Tune removes old checkpoints before MLflow may have the grid
                path, rel = self.journal.new_file(png.name)
                shutil.copyfile(png, path)
                self.journal.append({"op": "artifact", "trial": trial.trial_id, "file": rel, "path": "samples"})
                self._logged_grids.add((trial.trial_id, png.name))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._finish(trial, status_of(self._last_of(trial)), "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info):
        if trial_storage_fault(trial):  # the sweep stops for it; `interrupted` ends the run, resumable
            return
        self._finish(trial, Status.ERROR, "FAILED")

    def interrupted(self) -> None:
        """End the runs of trials that were still running when the sweep was interrupted: KILLED, status
        `interrupted` (a resumed sweep reopens them). That includes runs a killed earlier driver left
        RUNNING whose trials this driver never restarted."""
        self.journal.append({"op": "settle", "tag": STATUS_TAG, "statuses": [Status.RUNNING], "exclude": [],
                             "set_tags": {STATUS_TAG: Status.INTERRUPTED}, "status": "KILLED",
                             "delete_empty": False})

    def _last_of(self, trial) -> dict:
        """The trial's last result: the one this driver saw, else the one Tune restored it with (a trial
        whose final result an earlier, killed driver logged ends without reporting again)."""
        return self._last.get(trial.trial_id) or last_result(trial)

    def _finish(self, trial, status: Status, run_status: str) -> None:
        self._open(trial)
        last = self._last_of(trial)
        self._tags(trial, **{STATUS_TAG: status, "last_evaluation": str(int(last.get(Result.EVALUATION, 0)))})
        ckpt = self._checkpoints.get(trial.trial_id)
        if ckpt and Path(ckpt, CHECKPOINT_FILE).is_file():
            # the generator's weights (state dict) as a small artifact of its own
            state = torch.load(Path(ckpt, CHECKPOINT_FILE), map_location="cpu", weights_only=True)
            path, rel = self.journal.new_file(GENERATOR_ARTIFACT)
            save_generator(state, path)
            self.journal.append({"op": "artifact", "trial": trial.trial_id, "file": rel, "path": None})
        self.journal.append({"op": "status", "trial": trial.trial_id, "status": run_status})
        self._finished.add(trial.trial_id)

    def on_experiment_end(self, trials, **info):
        """Settle the runs of trials Tune no longer knows.

        A driver killed between starting a trial (which opens its MLflow run) and Tune's next durable
        snapshot leaves a run whose trial a resumed sweep never sees; the searcher proposes a fresh trial
        in its place. Such a run that never logged a metric holds nothing but a config that was not run,
        so it is deleted (MLflow keeps it in the `deleted` stage until `mlflow gc`). One that logged
        metrics is kept, tagged `lost` and ended, so no result is dropped and no run is left RUNNING.
        """
        self.journal.append({"op": "settle", "tag": STATUS_TAG, "statuses": [Status.RUNNING, Status.INTERRUPTED],
                             "exclude": sorted(t.trial_id for t in trials), "set_tags": {STATUS_TAG: Status.LOST},
                             "status": "KILLED", "delete_empty": True})
