"""Every reach into MLflow beyond its plain client calls, in one place, each pinned by a fast test
(tests/sweeps/tracking/test_client.py) that fails loudly when MLflow changes shape:

- the experiment-kind tag (`mlflow.experimentKind`): MLflow 3.x's UI opens an experiment without it on
  a GenAI overview, not on its runs table;
- the error codes of `MlflowException.error_code` that mean "try again" (`transient`);
- the first touch of a new SQLite store under a file lock (`store_client`): two sweeps started together
  would both run MLflow's schema migration, and one fails on the other's `alembic_version` row;
- the environment variables of MLflow's HTTP retries (`quick_http_failures`);
- the UI's shared views (`runs_view`): an experiment tag `mlflow.sharedViewState.<key>` holding the runs
  table's state as JSON, which the runs page (`#/experiments/<id>/runs`) loads from `?viewStateShareKey=<key>` (the
  UI's own
  "Share" button writes the same tag). The client has no other way to set which runs and columns the
  table shows, and it opens on one collapsed parent run without one.

Also the sweep's parent run (`open_parent_run`) and what a failed request comes down to (`short_error`).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from record import params as typed
from record.names import NOTE, ROLE, ROLE_SWEEP, ROLE_TRIAL, SEED, SWEEP_ID
from record.uris import masked_text

__all__ = ["EXPERIMENT_KIND", "EXPERIMENT_KIND_TAG", "SHARED_VIEW_PARAM", "SHARED_VIEW_TAG", "git_commit",
           "open_parent_run", "quick_http_failures", "runs_view", "short_error", "store_client", "transient"]

# MLflow's UI opens an experiment of this kind on its runs table (3.x opens others on a GenAI overview)
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"

# a runs-table state the UI loads by key (pinned by tests/sweeps/tracking/test_client.py against the UI's bundle)
SHARED_VIEW_TAG, SHARED_VIEW_PARAM = "mlflow.sharedViewState.", "viewStateShareKey"

_TRANSIENT_CODES = {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED",
                    "ABORTED", "SERVICE_UNDER_MAINTENANCE", "WORKSPACE_TEMPORARILY_UNAVAILABLE", "RESOURCE_EXHAUSTED",
                    "CANCELLED"}  # names of MLflow's ErrorCode (pinned by tests/sweeps/tracking/test_client.py)


def git_commit() -> str:
    repo = Path(__file__).resolve().parents[2]
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


def runs_view(sweep_id: str, metric: str, mode: str, swept: list[str]) -> dict:
    """The runs table of one sweep's trials as the experiment page shows them from a shared view: only this
    sweep's trial runs (so none sits collapsed under its parent), best first by `metric`, with the metric,
    the swept params (`swept`: dotted config keys) and the seed as columns."""
    params = [f"params.`{k}`" for k in dict.fromkeys([*swept, SEED])]
    return {"searchFilter": f"tags.{SWEEP_ID} = '{sweep_id}' and tags.{ROLE} = '{ROLE_TRIAL}'",
            "orderByKey": f"metrics.`{metric}`", "orderByAsc": mode == "min", "startTime": "ALL",
            "lifecycleFilter": "Active", "selectedColumns": [f"metrics.`{metric}`", *params]}


def open_parent_run(tracking_uri: str, experiment: str, sweep_id: str, artifact_location: str | None,
                    params: dict[str, Any], tags: dict[str, str], existing_run_id: str | None = None,
                    note: str | None = None, experiment_note: str | None = None,
                    view: dict | None = None) -> tuple[str, str]:
    """Create the sweep's parent run (on --resume, find its experiment; the journal reopens the run);
    returns (experiment_id, run_id). `note`
    (the sweep's metric, factors and seeds) heads the parent run's page, `experiment_note` the experiment's.
    `view` (runs_view) is stored as the experiment's shared view under the sweep id (ui_command's page)."""
    from mlflow.exceptions import MlflowException

    client = store_client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        try:
            exp_id = client.create_experiment(experiment, artifact_location=artifact_location,
                                              tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND,
                                                    **({NOTE: experiment_note} if experiment_note else {})})
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
    if view is not None:
        client.set_experiment_tag(exp_id, SHARED_VIEW_TAG + sweep_id, json.dumps(view))
    if existing_run_id:  # reopened through the journal, after what an earlier driver left in it
        return exp_id, existing_run_id
    run = client.create_run(exp_id, run_name=f"sweep-{sweep_id}", tags={
        SWEEP_ID: sweep_id, ROLE: ROLE_SWEEP, **tags, **({NOTE: note} if note else {})})
    from mlflow.entities import Param

    items = [Param(k, typed.encode(v)) for k, v in params.items()]
    for i in range(0, len(items), 100):
        client.log_batch(run.info.run_id, params=items[i : i + 100])
    return exp_id, run.info.run_id


def quick_http_failures() -> None:
    """Let an MLflow HTTP request to a dead server fail within seconds, not after MLflow's default seven
    retries over about four minutes: the journal's thread retries on its own, without limit, and so
    notices a returning server at once. A user's own settings of these variables win."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def transient(e: BaseException) -> bool:
    from mlflow.exceptions import MlflowException

    if isinstance(e, MlflowException):
        return e.error_code in _TRANSIENT_CODES
    return isinstance(e, (OSError, TimeoutError)) or type(e).__module__.startswith(
        ("requests", "urllib3", "sqlalchemy")
    )


# what a failed request's long message comes down to
_CAUSES = {"Connection refused": "connection refused", "Name or service not known": "unknown host",
           "timed out": "timed out", "Read timeout": "timed out", "Connection reset": "connection reset",
           "database is locked": "database is locked"}


def short_error(e: BaseException) -> str:
    """What an MLflow failure comes down to, in a few words where it is a known cause."""
    text = masked_text(f"{type(e).__name__}: {e}".replace("\n", " "))  # MLflow's text holds the URI as given
    for phrase, cause in _CAUSES.items():
        if phrase in text:
            return cause
    return text if len(text) <= 300 else text[:297] + "..."
