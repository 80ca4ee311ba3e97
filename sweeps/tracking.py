"""MLflow logging of a sweep, from the driver process only.

All writes go through one `MlflowClient` in the driver (a Tune callback), so a SQLite store never
sees two writers ("database is locked") and no trial process needs MLflow at all. Each Tune result
is one `log_batch` call: its metrics land together or the callback raises. Runs are found again by
their `trial_id` tag, so a resumed sweep continues the same MLflow runs instead of duplicating them.

Layout: one experiment per spec name; a parent run per sweep invocation (tag `sweep_id`); a child run
per trial (tags `trial_id`, `status`, `node_hostname`, `node_ip`, `git_commit`; params = the flattened
resolved training config). Metrics are histories over `step` (generator iterations).
"""

from __future__ import annotations

import math
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from ray.tune import Callback

from gan.config import Config, flatten

__all__ = ["MLflowTracker", "STATUS_TAG", "git_commit", "open_parent_run"]

STATUS_TAG = "status"  # completed, early_stopped, diverged, error, running, lost
COMPLETED, EARLY_STOPPED, DIVERGED, ERROR, RUNNING, LOST = (
    "completed", "early_stopped", "diverged", "error", "running", "lost")
# Tune bookkeeping that is not worth an MLflow metric
_SKIP = {"done", "training_iteration", "timestamp", "time_this_iter_s", "time_total_s", "pid", "iterations_since_restore",
         "time_since_restore", "timesteps_since_restore", "timesteps_total", "episodes_total", "trial_id",
         "checkpoint_dir_name", "should_checkpoint", "is_final", "diverged", "node_ip", "hostname", "date",
         "experiment_tag", "config"}


def git_commit() -> str:
    repo = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def open_parent_run(tracking_uri: str, experiment: str, sweep_id: str, artifact_location: str | None,
                    params: dict[str, Any], tags: dict[str, str], existing_run_id: str | None = None) -> tuple[str, str]:
    """Create (or, on --resume, reopen) the sweep's parent run; returns (experiment_id, run_id)."""
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        exp_id = client.create_experiment(experiment, artifact_location=artifact_location)
    else:
        exp_id = exp.experiment_id
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp_id)
    if existing_run_id:
        client.update_run(existing_run_id, status="RUNNING")
        return exp_id, existing_run_id
    run = client.create_run(exp_id, run_name=f"sweep-{sweep_id}", tags={"sweep_id": sweep_id, "role": "sweep", **tags})
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
            # after a driver crash a trial restarts from its last checkpoint, which can be older than what
            # was already logged: do not log those evaluations twice
            self._logged_step[tid] = int(found[0].data.metrics.get("step", -1))
        else:
            run = self.client.create_run(
                self.experiment_id, run_name=str(trial),
                tags={"mlflow.parentRunId": self.parent_run_id, "trial_id": tid, "sweep_id": self.sweep_id,
                      "git_commit": self.git_sha, STATUS_TAG: RUNNING, "role": "trial"},
            )
            run_id = run.info.run_id
            self._log_params(run_id, trial.config)
        self._runs[tid] = run_id
        return run_id

    def _log_params(self, run_id: str, trial_config: dict) -> None:
        from mlflow.entities import Param

        from sweeps.spec import merge_dotted
        from sweeps.trainable import trial_values

        swept = trial_values(trial_config)

        resolved = Config.from_dict(merge_dotted(trial_config["base"], swept)).resolve()
        params = flatten(resolved.to_dict())
        params.update({f"eval.{k}": v for k, v in trial_config.get("eval", {}).items()})
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
        step = int(result.get("step", result.get("training_iteration", 0)))
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
        for png in folder.glob("samples_step_*.png"):
            if (trial.trial_id, png.name) not in self._logged_grids:
                self.client.log_artifact(run_id, str(png), artifact_path="samples")
                self._logged_grids.add((trial.trial_id, png.name))

    def on_trial_complete(self, iteration, trials, trial, **info):
        last = self._last.get(trial.trial_id, {})
        if last.get("diverged"):
            status = DIVERGED
        elif last.get("is_final"):
            status = COMPLETED
        else:
            status = EARLY_STOPPED
        self._finish(trial, status, "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._finish(trial, ERROR, "FAILED")

    def _finish(self, trial, status: str, run_status: str) -> None:
        run_id = self._run_for(trial)
        last = self._last.get(trial.trial_id, {})
        self.client.set_tag(run_id, STATUS_TAG, status)
        self.client.set_tag(run_id, "last_evaluation", str(int(last.get("evaluation", 0))))
        ckpt = self._checkpoints.get(trial.trial_id)
        if ckpt and Path(ckpt, "trainer.pt").is_file():
            # the generator's weights (state dict) as a small artifact of its own
            with tempfile.TemporaryDirectory() as tmp:
                state = torch.load(Path(ckpt, "trainer.pt"), map_location="cpu", weights_only=True)
                torch.save({"G": state["G"], "config": state["config"], "step": state["step"]},
                           Path(tmp, "generator.pt"))
                self.client.log_artifact(run_id, str(Path(tmp, "generator.pt")))
        self.client.set_terminated(run_id, status=run_status)

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
            if r.data.tags.get("trial_id") in known or r.data.tags.get(STATUS_TAG) != RUNNING:
                continue
            if r.data.metrics:
                self.client.set_tag(r.info.run_id, STATUS_TAG, LOST)
                self.client.set_terminated(r.info.run_id, status="KILLED")
            else:
                self.client.delete_run(r.info.run_id)
