"""MLflow logging of a sweep, from the driver process only.

All writes go through the sweep's journal (sweeps.tracking.journal): the Tune callback here appends them to a
file in the sweep's folder and one thread in the driver applies them with one `MlflowClient`, so no
trial process needs MLflow, training never waits on the tracking server, and nothing is lost while it
is down. Each Tune result is one `log_batch` call: its metrics land together. Runs are found again by
their `trial_id` tag, so a resumed sweep continues the same MLflow runs instead of duplicating them.

Layout: one experiment per spec name, tagged as a classic training experiment so MLflow's UI opens on
its runs table; a parent run per sweep invocation (tag `sweep_id`); a child run per trial, named from
its swept values (`g_width=32 d_width=8 seed=0`; tags `trial_id`, `status` (a `record.status.Status`),
`node_hostname`, `node_ip`, `git_commit`; params = the flattened resolved training config). Metrics are
histories over `step` (generator iterations).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import socket
import shutil
import time
from pathlib import Path

import torch
from ray.tune import Callback

from gan.config import Config, DataConfig, flatten
from gan.data import dataset_info, locate_dataset, planned_size
from gan.sampling import GENERATOR_ARTIFACT, save_generator
from record.status import Status
from record.names import (ERROR, GIT_COMMIT, LAST_EVALUATION, NODE, PARENT, ROLE, ROLE_TRIAL, SEED, STATUS, SWEEP_ID,
                          SWEPT, SWEPT_PARAM, TRIAL_ID, Result, RunStatus, run_name)
from sweeps.contract import CHECKPOINT_FILE, GRID_PREFIX, status_of
from sweeps.ledger import Ledger
from sweeps.tracking.journal import Journal

__all__ = ["MLflowTracker"]

# Tune bookkeeping that is not worth an MLflow metric
_SKIP = {
    "done",
    "training_iteration",
    "timestamp",
    "time_this_iter_s",
    "time_total_s",
    "pid",
    "iterations_since_restore",
    "time_since_restore",
    "timesteps_since_restore",
    "timesteps_total",
    "episodes_total",
    "trial_id",
    "checkpoint_dir_name",
    "should_checkpoint",
    "node_ip",
    "hostname",
    "date",
    "experiment_tag",
    "config",
    *Result.FLAGS,
}


def training_input(data: DataConfig) -> dict:
    """A trial's training data as an MLflow dataset (what the runs table's Dataset column names): the
    dataset and its subset, a digest of the data config and of the user's files where they define it,
    the folder the files are read from, and the size, channels, side and classes."""
    info = dataset_info(data)
    try:
        source = str(locate_dataset(data, info))
    except FileNotFoundError:  # found by the trials' nodes, not by this driver's
        source = data.root or info.name
    subset = (f", {data.num_images} images" if data.num_images is not None else
              f", {data.dataset_fraction:g} of it" if data.dataset_fraction < 1 else "")
    key = json.dumps({**dataclasses.asdict(data), "content": info.fingerprint}, sort_keys=True)
    profile = {"images": planned_size(data), "channels": info.channels, "side": data.image_size or info.image_size,
               "classes": info.num_classes}
    return {"name": f"{info.name} ({data.split}{subset})", "digest": hashlib.md5(key.encode()).hexdigest()[:12],
            "source_type": "local", "source": source, "profile": json.dumps(profile)}


class MLflowTracker(Callback):
    """Tune callback that mirrors trials into MLflow child runs of the sweep's parent run, through the
    sweep's journal (sweeps.tracking.journal): it writes what MLflow should hold and never waits on the server."""

    def __init__(self, journal: Journal, ledger: Ledger, metric: str, git_sha: str):
        """`ledger`: the sweep's, kept by a callback that comes before this one (sweeps.ledger)."""
        self.journal = journal
        self.ledger = ledger
        self.metric = metric
        self.git_sha = git_sha
        self._opened: set[str] = set()  # trial ids whose runs this driver opened (or reopened)
        self._checkpoints: dict[str, str] = {}  # trial id -> last checkpoint path
        self._nodes: dict[str, list[str]] = {}  # trial id -> node addresses it ran on
        self._datasets: dict[str, dict] = {}  # a data config (JSON) -> its MLflow dataset input
        self._logged_grids: set[tuple[str, str]] = set()
        self._finished: set[str] = set()  # trial ids whose runs were ended here

    def __getstate__(self):  # Tune pickles callbacks with the experiment; a journal is not picklable
        state = self.__dict__.copy()
        state["journal"] = state["ledger"] = None
        return state

    # -- runs ----------------------------------------------------------------------------------

    def _open(self, trial) -> None:
        """Open the trial's run: created the first time, reopened (RUNNING again) after a resume."""
        tid = trial.trial_id
        if tid in self._opened:
            return
        req = self.ledger.request(tid, trial.config)
        params = flatten(req.config)  # resolved on the driver as the trial was made
        params.update({SWEPT_PARAM + k: v for k, v in req.levels.items()})
        if req.trainable is not None:  # the user's own function: its config, and the seed where the report reads it
            params[SEED] = req.swept.get(SEED)
            dataset = None
        else:
            params.update({f"eval.{k}": v for k, v in req.eval.items()})
            data = json.dumps(req.config.get("data", {}), sort_keys=True)
            if data not in self._datasets:
                self._datasets[data] = training_input(Config.from_dict(req.config).data)
            dataset = self._datasets[data]
        self.journal.append({
            "op": "open", "trial": tid, "name": run_name(req.named()),
            "tags": {PARENT: self.journal.parent_run_id, TRIAL_ID: tid, SWEEP_ID: self.journal.sweep_id,
                     GIT_COMMIT: self.git_sha, STATUS: Status.RUNNING, ROLE: ROLE_TRIAL,
                     SWEPT: ", ".join(f"{k}={v}" for k, v in req.swept.items())},
            "params": {k: params[k] for k in sorted(params)},
            "dataset": dataset,
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
        # skipped when it is applied: see sweeps.tracking.journal
        self.journal.append({"op": "result", "trial": trial.trial_id, "step": step,
                             "time": int(time.time() * 1000), "metrics": metrics})
        node = str(result.get("node_ip", ""))
        if trial.trial_id not in self._nodes:
            self._tags(trial, **{NODE: str(result.get("hostname", socket.gethostname()))}, node_ip=node)
            self._nodes[trial.trial_id] = [node]
        elif node and node not in self._nodes[trial.trial_id]:
            # the trial moved (a retry after its node died): keep every node it ran on
            self._nodes[trial.trial_id].append(node)
            self._tags(trial, node_ips=",".join(self._nodes[trial.trial_id]))

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
        self._finish(trial, RunStatus.FINISHED)

    def on_trial_error(self, iteration, trials, trial, **info):
        if trial.trial_id in self.ledger.faulted:  # the sweep stops for it; `interrupted` ends the run, resumable
            return
        self._finish(trial, RunStatus.FAILED)

    def on_trial_ended_earlier(self, iteration, trials, trial, **info):
        """A trial that ended before this driver saw its end (a packed seed whose last result Tune restored,
        sweeps.packs): its run, where it is still open, ends as that result says, without being reopened."""
        last = trial.last_result or {}
        self.journal.append({"op": "settle", "tag": STATUS, "statuses": [Status.RUNNING, Status.INTERRUPTED],
                             "exclude": [], "only": [trial.trial_id], "status": RunStatus.FINISHED,
                             "set_tags": {STATUS: status_of(last),
                                          LAST_EVALUATION: str(int(last.get(Result.EVALUATION, 0)))},
                             "delete_empty": False})

    def interrupted(self) -> None:
        """End the runs of trials that were still running when the sweep was interrupted: KILLED, status
        `interrupted` (a resumed sweep reopens them). That includes runs a killed earlier driver left
        RUNNING whose trials this driver never restarted."""
        self.journal.append({"op": "settle", "tag": STATUS, "statuses": [Status.RUNNING], "exclude": [],
                             "set_tags": {STATUS: Status.INTERRUPTED}, "status": RunStatus.KILLED,
                             "delete_empty": False})

    def _finish(self, trial, run_status: str) -> None:
        """End the run of a trial Tune ended, with the status the ledger gave it."""
        self._open(trial)
        last = self.ledger.last(trial)
        error = self.ledger.errors.get(trial.trial_id)
        self._tags(trial, **{STATUS: self.ledger.ended[trial.trial_id],
                             LAST_EVALUATION: str(int(last.get(Result.EVALUATION, 0))),
                             **({ERROR: error} if error else {})})
        ckpt = self._checkpoints.get(trial.trial_id)
        own = self.ledger.request(trial.trial_id, trial.config).trainable is not None  # its checkpoint is its own
        if ckpt and not own and Path(ckpt, CHECKPOINT_FILE).is_file():
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
        self.journal.append({"op": "settle", "tag": STATUS, "statuses": [Status.RUNNING, Status.INTERRUPTED],
                             "exclude": sorted(t.trial_id for t in trials), "set_tags": {STATUS: Status.LOST},
                             "status": RunStatus.KILLED, "delete_empty": True})
