"""MLflow logging of a sweep, from the driver process only.

All writes go through one `MlflowClient` in the driver (a Tune callback), so a SQLite store never
sees two writers ("database is locked") and no trial process needs MLflow at all. Each Tune result
is one `log_batch` call: its metrics land together or the callback raises. Runs are found again by
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
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from ray.tune import Callback

from gan.config import flatten
from gan.sampling import GENERATOR_ARTIFACT, save_generator
from gan.status import Status
from sweeps.contract import CHECKPOINT_FILE, GRID_PREFIX, Result, TrialRequest, status_of, trial_storage_fault

__all__ = ["MLflowTracker", "STATUS_TAG", "git_commit", "open_parent_run", "run_name"]

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


def _client(tracking_uri: str):
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
    """Create (or, on --resume, reopen) the sweep's parent run; returns (experiment_id, run_id). `note`
    (the sweep's metric, factors and seeds) heads the parent run's page, `experiment_note` the experiment's."""
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        exp_id = client.create_experiment(experiment, artifact_location=artifact_location,
                                          tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND,
                                                **({NOTE_TAG: experiment_note} if experiment_note else {})})
    else:
        exp_id = exp.experiment_id
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp_id)
        if EXPERIMENT_KIND_TAG not in exp.tags:
            client.set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    if existing_run_id:
        client.update_run(existing_run_id, status="RUNNING")
        return exp_id, existing_run_id
    run = client.create_run(exp_id, run_name=f"sweep-{sweep_id}", tags={
        "sweep_id": sweep_id, "role": "sweep", **tags, **({NOTE_TAG: note} if note else {})})
    from mlflow.entities import Param

    items = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        client.log_batch(run.info.run_id, params=items[i : i + 100])
    return exp_id, run.info.run_id


class MLflowTracker(Callback):
    """Tune callback that mirrors trials into MLflow child runs of the sweep's parent run."""

    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str, sweep_id: str, metric: str,
                 git_sha: str):
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.sweep_id = sweep_id
        self.metric = metric
        self.git_sha = git_sha
        self._runs: dict[str, str] = {}  # trial id -> MLflow run id
        self._last: dict[str, dict] = {}  # trial id -> last result
        self._checkpoints: dict[str, str] = {}  # trial id -> last checkpoint path
        self._logged_step: dict[str, int] = {}  # trial id -> last step logged before a resume
        self._nodes: dict[str, list[str]] = {}  # trial id -> node addresses it ran on
        self._logged_grids: set[tuple[str, str]] = set()
        self._finished: set[str] = set()  # trial ids whose runs were ended here
        self._client = None

    def __getstate__(self):  # Tune pickles callbacks with the experiment; the client is rebuilt on demand
        state = self.__dict__.copy()
        state["_client"] = None
        return state

    @property
    def client(self):
        if self._client is None:
            self._client = _client(self.tracking_uri)
        return self._client

    # -- runs ----------------------------------------------------------------------------------

    def _run_for(self, trial) -> str:
        tid = trial.trial_id
        if tid in self._runs:
            return self._runs[tid]
        found = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.trial_id = '{tid}' and tags.sweep_id = '{self.sweep_id}'",
            max_results=5,
        )
        if found:
            run_id = found[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            self.client.set_tag(run_id, STATUS_TAG, Status.RUNNING)
            # after a driver crash a trial restarts from its last checkpoint, which can be older than what
            # was already logged: do not log those evaluations twice
            self._logged_step[tid] = int(found[0].data.metrics.get("step", -1))
        else:
            run = self.client.create_run(
                self.experiment_id, run_name=run_name(TrialRequest.from_trial_config(trial.config).swept),
                tags={"mlflow.parentRunId": self.parent_run_id, "trial_id": tid, "sweep_id": self.sweep_id,
                      "git_commit": self.git_sha, STATUS_TAG: Status.RUNNING, "role": "trial"},
            )
            run_id = run.info.run_id
            self._log_params(run_id, trial.config)
        self._runs[tid] = run_id
        return run_id

    def _log_params(self, run_id: str, trial_config: dict) -> None:
        from mlflow.entities import Param

        req = TrialRequest.from_trial_config(trial_config)
        swept = req.swept
        params = flatten(req.training_config().resolve().to_dict())
        params.update({f"eval.{k}": v for k, v in req.eval.items()})
        items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i : i + 100])
        self.client.set_tag(run_id, "swept", ", ".join(f"{k}={v}" for k, v in swept.items()))

    # -- Tune hooks ------------------------------------------------------------------------------

    def on_trial_start(self, iteration, trials, trial, **info):
        self._run_for(trial)

    def on_trial_restore(self, iteration, trials, trial, **info):
        self._run_for(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        from mlflow.entities import Metric

        run_id = self._run_for(trial)
        step = int(result.get(Result.STEP, result.get("training_iteration", 0)))
        if step <= self._logged_step.get(trial.trial_id, -1):
            self._last[trial.trial_id] = dict(result)
            return
        now = int(time.time() * 1000)
        metrics = []
        for k, v in result.items():
            if k in _SKIP or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                continue
            metrics.append(Metric(k, float(v), now, step))
        for i in range(0, len(metrics), 500):
            self.client.log_batch(run_id, metrics=metrics[i : i + 500])
        node = str(result.get("node_ip", ""))
        if trial.trial_id not in self._last:
            self.client.set_tag(run_id, "node_hostname", str(result.get("hostname", socket.gethostname())))
            self.client.set_tag(run_id, "node_ip", node)
            self._nodes[trial.trial_id] = [node]
        elif node and node not in self._nodes.setdefault(trial.trial_id, []):
            # the trial moved (a retry after its node died): keep every node it ran on
            self._nodes[trial.trial_id].append(node)
            self.client.set_tag(run_id, "node_ips", ",".join(self._nodes[trial.trial_id]))
        self._last[trial.trial_id] = dict(result)

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        self._checkpoints[trial.trial_id] = checkpoint.path
        run_id = self._run_for(trial)
        folder = Path(checkpoint.path)
        if not folder.is_dir():  # remote storage: the grids stay with the checkpoints there
            return
        for png in folder.glob(f"{GRID_PREFIX}*.png"):
            if (trial.trial_id, png.name) not in self._logged_grids:
                self.client.log_artifact(run_id, str(png), artifact_path="samples")
                self._logged_grids.add((trial.trial_id, png.name))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._finish(trial, status_of(self._last.get(trial.trial_id)), "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info):
        if trial_storage_fault(trial):  # the sweep stops for it; `interrupted` ends the run, resumable
            return
        self._finish(trial, Status.ERROR, "FAILED")

    def interrupted(self) -> list[str]:
        """End the runs of trials that were still running when the sweep was interrupted: KILLED, status
        `interrupted` (a resumed sweep reopens them). That includes runs a killed earlier driver left
        RUNNING whose trials this driver never restarted. Returns their run ids."""
        ended = [run_id for tid, run_id in self._runs.items() if tid not in self._finished]
        stale = self.client.search_runs(
            [self.experiment_id], max_results=10000,
            filter_string=f"tags.sweep_id = '{self.sweep_id}' and tags.role = 'trial' "
                          f"and tags.{STATUS_TAG} = '{Status.RUNNING}'")
        ended += [r.info.run_id for r in stale if r.info.run_id not in ended]
        for run_id in ended:
            self.client.set_tag(run_id, STATUS_TAG, Status.INTERRUPTED)
            self.client.set_terminated(run_id, status="KILLED")
        return ended

    def _finish(self, trial, status: Status, run_status: str) -> None:
        run_id = self._run_for(trial)
        last = self._last.get(trial.trial_id, {})
        self.client.set_tag(run_id, STATUS_TAG, status)
        self.client.set_tag(run_id, "last_evaluation", str(int(last.get(Result.EVALUATION, 0))))
        ckpt = self._checkpoints.get(trial.trial_id)
        if ckpt and Path(ckpt, CHECKPOINT_FILE).is_file():
            # the generator's weights (state dict) as a small artifact of its own
            with tempfile.TemporaryDirectory() as tmp:
                state = torch.load(Path(ckpt, CHECKPOINT_FILE), map_location="cpu", weights_only=True)
                self.client.log_artifact(run_id, str(save_generator(state, Path(tmp, GENERATOR_ARTIFACT))))
        self.client.set_terminated(run_id, status=run_status)
        self._finished.add(trial.trial_id)

    def on_experiment_end(self, trials, **info):
        """Settle the runs of trials Tune no longer knows.

        A driver killed between starting a trial (which opens its MLflow run) and Tune's next durable
        snapshot leaves a run whose trial a resumed sweep never sees; the searcher proposes a fresh trial
        in its place. Such a run that never logged a metric holds nothing but a config that was not run,
        so it is deleted (MLflow keeps it in the `deleted` stage until `mlflow gc`). One that logged
        metrics is kept, tagged `lost` and ended, so no result is dropped and no run is left RUNNING.
        """
        known = {t.trial_id for t in trials}
        runs = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.sweep_id = '{self.sweep_id}' and tags.role = 'trial'",
            max_results=10000,
        )
        for r in runs:
            if r.data.tags.get("trial_id") in known or r.data.tags.get(STATUS_TAG) not in (
                    Status.RUNNING, Status.INTERRUPTED):
                continue
            if r.data.metrics:
                self.client.set_tag(r.info.run_id, STATUS_TAG, Status.LOST)
                self.client.set_terminated(r.info.run_id, status="KILLED")
            else:
                self.client.delete_run(r.info.run_id)
