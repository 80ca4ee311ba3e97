"""Where a sweep lives (`Where`): its output root and folder, Tune's storage and the MLflow store, each
checked before any work starts; on --resume, the unfinished sweep to continue. The folder's layout is
record.folder's."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from record.folder import (
    MLFLOW_DB,
    RACE_FILE,
    STATE_FILE,
    TUNE_STATE_BACKUP,
    TUNE_STORAGE,
    SweepState,
    UntrustedFolder,
    check_trusted,
    make_private,
    latest_sweep_dir,
    read_state,
    sweep_folder,
    sweep_label,
)
from record.errors import SetupError
from record.uris import shown
from sweeps.specfile import SweepSpec
from sweeps.tracking.client import short_error

__all__ = ["Where", "check_storage", "check_tracking", "check_writable", "locate", "repair_tune_state", "write_file",
           "write_state"]


@dataclass
class Where:
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
        return self.out / TUNE_STATE_BACKUP


def locate(spec: SweepSpec, out: Path, resume: bool, storage: str | None, tracking_uri: str | None,
            trust_folder: bool = False) -> Where:
    """Resolve the output folders and stores, and on --resume the unfinished sweep to continue."""
    root = out.resolve()
    check_writable(root, "--out")
    if storage:
        check_storage(storage)
    label = sweep_label(spec.name, spec.scale)
    previous = None
    if resume:
        sweep_dir = latest_sweep_dir(root, label, unfinished=True)
        if sweep_dir is None:
            raise SetupError(f"--resume: no unfinished sweep of {label!r} in {sweep_folder(root, label, '').parent}; "
                            "run without --resume.")
        previous = read_state(sweep_dir)
        if not trust_folder:
            experiment = Path(previous.storage) / previous.run_name if "://" not in previous.storage else None
            try:
                check_trusted(sweep_dir, *([experiment] if experiment else []))
            except UntrustedFolder as e:
                raise SetupError(f"--resume: {e}") from None
    tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or (previous and previous.tracking_uri) or \
        f"sqlite:///{root / MLFLOW_DB}"
    storage = storage or (previous and previous.storage) or str(root / TUNE_STORAGE)
    sweep_id = previous.sweep_id if previous else time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    check_tracking(tracking_uri)
    folder = sweep_folder(root, label, sweep_id)
    folder.mkdir(parents=True, exist_ok=True)
    make_private(folder)  # a folder that others may write to would not be trusted by its own --resume
    return Where(root, label, sweep_id, folder, tracking_uri, storage, previous)


def check_writable(folder: Path, what: str) -> None:
    """Create `folder` and write a file in it, or stop before any work with what failed, where, and why."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".gansweep-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise SetupError(f"{what} {folder}: cannot write there ({e.strerror or e}); give a folder this user can "
                        "write to, on a disk with free space.") from None


def check_storage(storage: str) -> None:
    """Tune's storage (--storage): a local folder, or a URI pyarrow can open (s3://, gs://, ...), checked
    before any work starts."""
    if "://" not in storage or storage.startswith("file://"):
        check_writable(Path(storage.removeprefix("file://")).expanduser().resolve(), "--storage")
        return
    import pyarrow.fs

    try:
        fs, path = pyarrow.fs.FileSystem.from_uri(storage)
        fs.create_dir(path, recursive=True)
        info = fs.get_file_info(path)
        if info.type != pyarrow.fs.FileType.Directory:
            raise OSError(f"{path} is not a folder there")
    except (OSError, ValueError, pyarrow.ArrowException) as e:
        raise SetupError(f"--storage {storage}: cannot use it ({e}); give a writable local or shared folder, or a "
                        "bucket URI that exists and that this machine's credentials can write to.") from None


def check_tracking(tracking_uri: str) -> None:
    """The MLflow store answers, or the sweep stops before any work with where and why."""
    from mlflow.exceptions import MlflowException

    from sweeps.tracking.client import store_client

    try:
        store_client(tracking_uri).search_experiments(max_results=1)
    except MlflowException as e:
        raise SetupError(f"--tracking-uri {shown(tracking_uri)}: MLflow does not answer there ({short_error(e)}); "
                        "start the tracking server (or give the address where it runs) and run again.") from None


def write_state(folder: Path, state: SweepState) -> None:
    """sweep.json, written whole or not at all."""
    write_file(Path(folder) / STATE_FILE, state.to_json())


def write_file(path: Path, text: str) -> None:
    """A file of the sweep folder that resume or the report reads: written whole or not at all, and synced."""
    from record.files import atomic_path

    with atomic_path(path, fsync=True) as tmp:
        tmp.write_text(text)


def repair_tune_state(where: Where) -> None:
    """Tune's own copy in storage may be cut short by a crash; the backup is complete and as new. The race's state,
    which its scheduler reads inside Tune, is checked here first."""
    from sweeps.race_scheduler import read_race_state
    from sweeps.tunestate import check_tune_state, restore_remote_tune_state, restore_tune_state

    if (where.out / RACE_FILE).is_file():
        read_race_state(where.out / RACE_FILE)

    path = where.experiment_path
    if isinstance(path, Path):
        if path.is_dir():
            if where.state_backup.is_file():
                restore_tune_state(where.state_backup, path)
            check_tune_state(path)
        return
    # remote storage: Tune would unpickle whatever the bucket holds, which this folder's trust check cannot vouch
    # for; the sweep folder's own copy is written over it first, and without that copy nothing is resumed
    if not where.state_backup.is_file():
        raise SetupError(f"--resume from {shown(path)}: the sweep folder {where.out} has no {where.state_backup.name}, "
                         "the trusted copy of Tune's state; resuming would unpickle what the bucket holds. Start the "
                         "sweep again, or resume on the machine whose sweep folder has it.")
    restore_remote_tune_state(where.state_backup, path)
