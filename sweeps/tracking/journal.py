"""A sweep's MLflow writes: journaled on local disk first, applied to MLflow by a background thread.

Training never waits on the tracking server. Every write the driver wants in MLflow (open a trial's
run, log a result, set tags, upload an artifact, end a run) is appended to `mlflow_journal.jsonl` in
the sweep's folder, flushed and fsynced, and the driver goes on at once. One thread applies the
entries in order. While the server is unreachable it retries with backoff (the entries wait in the
journal, the trials keep training); when the server is back it catches up. At the end of a sweep the
driver waits a bounded time for the journal to drain; what is still waiting then is applied by the
next `--resume` of the sweep or by `python -m sweeps.push SWEEP_FOLDER`. Params are written typed
(record.params), so they read back as they were.

Applying an entry twice changes nothing, so a crash between applying an entry and counting it applied
(`mlflow_journal.applied`) loses nothing and duplicates nothing: a trial's run is looked up by its
`trial_id` and `sweep_id` tags before one is created; a result whose step is not past the run's last
logged `step` is skipped (which also drops the evaluations a trial repeats after restarting from an
older checkpoint); tags, params, artifacts and run ends overwrite with the same values.

Entries (JSON lines; `trial` is a Tune trial id, or null for the sweep's parent run):
  open      {trial, name, tags, params, dataset}   find the trial's run, or create it; mark it RUNNING;
                                          `dataset` (optional: name, digest, source_type, source, profile)
                                          is logged as its training input (MLflow keeps one per run)
  result    {trial, step, time, metrics}  one result's metrics at `step`, in one log_batch
  tags      {trial, tags}
  artifact  {trial, file, path}           `file` relative to the sweep folder; files under journal_files/
                                          are the journal's own copies, removed once uploaded
  status    {trial, status}               RUNNING reopens a run, FINISHED/FAILED/KILLED end it
  settle    {tag, statuses, exclude, set_tags, status, delete_empty[, only]}
            every trial run of this sweep whose tag `tag` is one of `statuses` and whose trial is not in
            `exclude` (and is in `only`, where given): deleted if it has no metric and `delete_empty`, else
            tagged `set_tags` and ended
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import sys
import threading
import time
import uuid
from collections import Counter, deque
from pathlib import Path

from record.errors import SetupError
from record import params as typed
from record.names import ROLE_TRIAL, SWEEP_ID, TRIAL_ID, RunStatus, by_role
from record.names import Result
from record.uris import shown
from sweeps.tracking.client import short_error, store_client, transient
from sweeps.tracking.entries import OPS, entry_problem

__all__ = ["JOURNAL_FILE", "Journal", "JournalBusy", "JournalDamaged", "UnsafePath", "push_command"]

JOURNAL_FILE = "mlflow_journal.jsonl"
APPLIED_FILE = "mlflow_journal.applied"  # how many leading entries are known to be in MLflow
REJECTED_FILE = "mlflow_journal.rejected.jsonl"  # entries MLflow refused (not a connection problem)
FILES_DIR = "journal_files"
LOCK_FILE = "mlflow_journal.lock"

# MLflow error codes that mean "try again later"; any other MlflowException is a refusal of the entry
_BACKOFF = (0.5, 5.0)  # first and longest wait between tries while MLflow is unreachable, seconds


def push_command(folder: Path) -> str:
    """The command that applies what waits in a sweep folder's journal."""
    return shlex.join(["python", "-m", "sweeps.push", str(folder)])


class JournalDamaged(SetupError, ValueError):
    """A journal line that no driver wrote: the journal is refused as a whole, before anything is applied."""


class UnsafePath(SetupError, ValueError):
    """A journal entry names a file outside its sweep folder: the entry is refused, never uploaded."""


class JournalBusy(SetupError, RuntimeError):
    """Another process (a running driver, or a push) is applying this sweep's journal."""


class Journal:
    """The MLflow journal of one sweep folder. `append` is all the driver calls while the sweep runs;
    `start` runs the thread that applies the entries, `drain` waits for it, `close` stops it."""

    def __init__(self, folder: Path, tracking_uri: str, experiment_id: str, parent_run_id: str, sweep_id: str):
        self.folder = Path(folder)
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.sweep_id = sweep_id
        self.path = self.folder / JOURNAL_FILE
        self._cond = threading.Condition()
        self._queue: deque[tuple[int, dict]] = deque()  # (line number, entry) not yet applied
        self._names: dict[str, str] = {}  # trial id -> run name, from `open` entries
        self._runs: dict[str, str] = {}  # trial id -> MLflow run id
        self._steps: dict[str, int] = {}  # MLflow run id -> last step logged
        self._client = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock_file = None
        self.appended = 0  # entries appended by this process
        self.append_seconds = 0.0  # time the driver spent appending (writing and fsyncing)
        self.applied = 0  # entries applied by this process
        self.rejected = 0
        self.unreachable_since: float | None = None  # when MLflow last stopped answering (time.time())
        self.unreachable_seconds = 0.0  # summed over this process's outages
        self.last_error = ""
        self._load()

    # -- the file ---------------------------------------------------------------------------------

    def _load(self) -> None:
        """Read the entries not yet applied. A last line cut short (a driver killed mid-write) is dropped:
        its entry never counted as written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        done = 0
        if (self.folder / APPLIED_FILE).is_file():
            try:
                done = int((self.folder / APPLIED_FILE).read_text().strip() or 0)
            except ValueError:
                raise JournalDamaged(f"{self.folder / APPLIED_FILE} does not hold a count of applied entries; "
                                     "delete it to apply the whole journal again (what MLflow holds is kept: "
                                     "entries are applied once).") from None
        self._count = 0
        if not self.path.is_file():
            return
        raw = self.path.read_bytes()
        whole = raw[: raw.rfind(b"\n") + 1]
        if len(whole) != len(raw):
            with open(self.path, "r+b") as f:
                f.truncate(len(whole))
        try:
            text = whole.decode()
        except UnicodeDecodeError as e:
            raise JournalDamaged(f"{self.path} is not text ({e}); nothing was applied.") from None
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                entry = json.loads(line)
            except ValueError as e:
                entry, why = None, f"not JSON ({e})"
            else:
                why = "not a journal entry (a mapping with a known `op`)"
            if isinstance(entry, dict) and not isinstance(entry.get("trial"), (str, type(None))):
                entry, why = None, "its `trial` is not a trial id"
            if isinstance(entry, dict) and entry.get("op") in OPS:
                problem = entry_problem(entry)
                if problem:
                    entry, why = None, problem
            if not isinstance(entry, dict) or entry.get("op") not in OPS:
                raise JournalDamaged(f"{self.path}, line {number}: {why}; nothing was applied. The journal was changed "
                                     "by something other than a sweep driver; MLflow holds what was applied before.")
            if entry["op"] == "open" and isinstance(entry.get("name"), str):
                self._names[entry.get("trial")] = entry["name"]
            if self._count >= done:
                self._queue.append((self._count, entry))
            self._count += 1

    def append(self, entry: dict) -> None:
        """Write one entry durably and queue it for MLflow; returns without waiting on MLflow."""
        start = time.perf_counter()
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._cond:
            with open(self.path, "a") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            if entry["op"] == "open":
                self._names[entry["trial"]] = entry["name"]
            self._queue.append((self._count, entry))
            self._count += 1
            self.appended += 1
            self._cond.notify_all()
        self.append_seconds += time.perf_counter() - start

    def new_file(self, name: str) -> tuple[Path, str]:
        """A fresh path for an artifact the journal will upload (and then remove): (path, as an entry names it)."""
        rel = Path(FILES_DIR, uuid.uuid4().hex[:12], name)
        (self.folder / rel).parent.mkdir(parents=True, exist_ok=True)
        return self.folder / rel, str(rel)

    def pending(self) -> list[dict]:
        with self._cond:
            return [entry for _, entry in self._queue]

    def pending_by_run(self) -> dict[str, Counter]:
        """What waits, per run name (the sweep's parent run as `sweep`): counts of entries by kind."""
        out: dict[str, Counter] = {}
        for entry in self.pending():
            trial = entry.get("trial")  # None (the parent run, or a settle of the whole sweep): "sweep"
            out.setdefault(self._names.get(trial, trial or "sweep"), Counter())[entry["op"]] += 1
        return out

    # -- the thread ------------------------------------------------------------------------------

    def start(self) -> Journal:
        """Start applying entries (those a previous driver left first). Raises JournalBusy when another
        process is applying this journal."""
        self._lock_file = open(self.folder / LOCK_FILE, "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise JournalBusy(f"{self.path} is being applied by another process (a running sweep driver or "
                              "`python -m sweeps.push`); wait for it to end.") from None
        self._thread = threading.Thread(target=self._run, name="mlflow-journal", daemon=True)
        self._thread.start()
        return self

    def drain(self, timeout: float) -> bool:
        """Wait until every entry is in MLflow, or `timeout` seconds; True when nothing waits."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    break
                self._cond.wait(min(left, 1.0))
            return not self._queue

    def close(self, timeout: float = 0.0) -> bool:
        """Drain for up to `timeout` seconds, then stop the thread; True when nothing waits. What waits
        stays in the journal for the next driver or push."""
        drained = self.drain(timeout) if self._thread else not self._queue
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
        return drained

    def _run(self) -> None:
        delay = _BACKOFF[0]
        while not self._stop.is_set():
            with self._cond:
                while not self._queue and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
                number, entry = self._queue[0]
            try:
                self._apply(entry)
            except Exception as e:  # noqa: BLE001 - sorted into "try again" and "refused" below
                if transient(e):
                    if self.unreachable_since is None:
                        self.unreachable_since = time.time()
                        print(f"MLflow at {shown(self.tracking_uri)} is not answering ({short_error(e)}); results "
                              f"wait in {self.path} and training goes on", file=sys.stderr, flush=True)
                    self.last_error = short_error(e)
                    self._client = None  # a new connection once the server is back
                    self._stop.wait(delay)
                    delay = min(delay * 2, _BACKOFF[1])
                    continue
                self.rejected += 1
                print(f"MLflow refused journal entry {number} ({entry['op']} of "
                      f"{self._names.get(entry.get('trial'), 'the sweep run')}): {short_error(e)}; kept in "
                      f"{self.folder / REJECTED_FILE}", file=sys.stderr, flush=True)
                with open(self.folder / REJECTED_FILE, "a") as f:
                    f.write(json.dumps({"entry": number, "error": short_error(e), **entry}, default=str) + "\n")
            if self.unreachable_since is not None:
                down = time.time() - self.unreachable_since
                self.unreachable_seconds += down
                print(f"MLflow at {shown(self.tracking_uri)} answers again after {down:.0f} s; catching up on "
                      f"{len(self._queue)} journal entries", file=sys.stderr, flush=True)
                self.unreachable_since = None
            delay = _BACKOFF[0]
            with self._cond:
                self._queue.popleft()
                self.applied += 1
                tmp = self.folder / (APPLIED_FILE + ".tmp")
                tmp.write_text(str(number + 1))
                os.replace(tmp, self.folder / APPLIED_FILE)
                self._cond.notify_all()

    # -- applying one entry ----------------------------------------------------------------------

    @property
    def client(self):
        if self._client is None:
            self._client = store_client(self.tracking_uri)
        return self._client

    def _run_id(self, trial: str | None) -> str:
        if trial is None:
            return self.parent_run_id
        if trial not in self._runs:
            found = self._find(trial)
            if found is None:
                raise LookupError(f"no MLflow run of trial {trial} in sweep {self.sweep_id}")
            self._runs[trial] = found
        return self._runs[trial]

    def _find(self, trial: str) -> str | None:
        found = self.client.search_runs(
            [self.experiment_id], max_results=5,
            filter_string=f"tags.{TRIAL_ID} = '{trial}' and tags.{SWEEP_ID} = '{self.sweep_id}'")
        return found[0].info.run_id if found else None

    def _last_step(self, run_id: str) -> int:
        if run_id not in self._steps:
            self._steps[run_id] = int(self.client.get_run(run_id).data.metrics.get(Result.STEP, -1))
        return self._steps[run_id]

    def _artifact_file(self, name) -> Path:
        """The file an artifact entry names, which must lie in the sweep folder, reached without a symlink: a
        journal is handed around with its folder, and `push` uploads what it names."""
        rel = Path(str(name))
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise UnsafePath(f"artifact file {name!r} is not a path inside the sweep folder")
        path = self.folder
        for part in rel.parts:
            path = path / part
            if path.is_symlink():
                raise UnsafePath(f"artifact file {name!r} goes through a symlink ({path}); refused")
        if not path.resolve().is_relative_to(self.folder.resolve()):
            raise UnsafePath(f"artifact file {name!r} resolves outside the sweep folder")
        return path

    def _apply(self, entry: dict) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag

        op, client = entry["op"], self.client
        if op == "open":
            run_id = self._find(entry["trial"])
            if run_id is None:
                run_id = client.create_run(self.experiment_id, run_name=entry["name"], tags=entry["tags"]).info.run_id
                self._steps[run_id] = -1
                params = [Param(k, typed.encode(v)) for k, v in entry["params"].items()]
                for i in range(0, len(params), 100):
                    client.log_batch(run_id, params=params[i : i + 100])
            else:
                client.update_run(run_id, status=RunStatus.RUNNING)
                client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in entry["tags"].items()])
            if entry.get("dataset"):  # MLflow's Dataset column; a second log of the same input adds nothing
                client.log_inputs(run_id, datasets=[DatasetInput(Dataset(**entry["dataset"]),
                                                                 tags=[InputTag("mlflow.data.context", "training")])])
            self._runs[entry["trial"]] = run_id
        elif op == "result":
            run_id = self._run_id(entry["trial"])
            if entry["step"] <= self._last_step(run_id):
                return
            metrics = [Metric(k, float(v), entry["time"], entry["step"]) for k, v in entry["metrics"].items()]
            for i in range(0, len(metrics), 500):
                client.log_batch(run_id, metrics=metrics[i : i + 500])
            self._steps[run_id] = entry["step"]
        elif op == "tags":
            client.log_batch(self._run_id(entry["trial"]), tags=[RunTag(k, str(v)) for k, v in entry["tags"].items()])
        elif op == "artifact":
            path = self._artifact_file(entry["file"])
            if not path.is_file():  # a journal copy is removed only after its upload: this one is in MLflow
                return
            client.log_artifact(self._run_id(entry["trial"]), str(path), artifact_path=entry.get("path"))
            if Path(entry["file"]).parts[0] == FILES_DIR:
                path.unlink()
                with contextlib.suppress(OSError):
                    path.parent.rmdir()
        elif op == "status":
            run_id = self._run_id(entry["trial"])
            if entry["status"] == RunStatus.RUNNING:
                client.update_run(run_id, status=RunStatus.RUNNING)
            else:
                client.set_terminated(run_id, status=entry["status"])
        elif op == "settle":
            runs = client.search_runs(
                [self.experiment_id], max_results=10000,
                filter_string=by_role(ROLE_TRIAL, **{SWEEP_ID: self.sweep_id}))
            for r in runs:
                tags = r.data.tags
                if tags.get(entry["tag"]) not in entry["statuses"] or tags.get(TRIAL_ID) in entry["exclude"]:
                    continue
                if "only" in entry and tags.get(TRIAL_ID) not in entry["only"]:
                    continue
                if entry["delete_empty"] and not r.data.metrics:
                    client.delete_run(r.info.run_id)
                    continue
                client.log_batch(r.info.run_id, tags=[RunTag(k, str(v)) for k, v in entry["set_tags"].items()])
                client.set_terminated(r.info.run_id, status=entry["status"])
        else:
            raise ValueError(f"unknown journal entry {op!r}")


