"""The sweep folder, `<root>/sweeps/<name>[-<scale>]-<sweep id>/`, its file names and its `sweep.json`:
the one owner of their format. The sweep service makes the folder with `sweep_folder` and writes the state
(`SweepState.to_json`); `--resume` and the report find sweeps through `latest_sweep_dir` and read them with
`read_state`.

What a sweep folder holds (each name below is its only spelling):

    sweep.json              STATE_FILE: where the sweep's stores are (SweepState)
    sweep.lock              LOCK_FILE: held by the process working in the folder
    spec.resolved.yaml      RESOLVED_SPEC: the spec as run, scale applied, loadable
    design.json             DESIGN_ARTIFACT: what the sweep set out to measure (record.design)
    adaptive.json           ADAPTIVE_ARTIFACT: an adaptive sweep's rounds (stats.adaptive.record)
    race.json               RACE_FILE: the race's decisions per rung (sweeps.race_scheduler)
    optuna_study.json       OPTUNA_STUDY: Tune's Optuna searcher's state
    optuna.journal          OPTUNA_JOURNAL: the Optuna study (optuna-dashboard reads it)
    tune_state.zip          TUNE_STATE_BACKUP: a complete copy of Tune's experiment state (sweeps.tunestate)
    summary.json            SUMMARY_FILE: the driver's last word on every trial
    mlflow_journal.*        the MLflow journal (sweeps.tracking.journal), and journal_files/ it uploads

and, in the output root beside `sweeps/`, the embedded MLflow store (MLFLOW_DB, MLARTIFACTS) and Tune's
storage (TUNE_STORAGE).
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml

from record.errors import SetupError, SpecError
__all__ = [
    "ADAPTIVE_ARTIFACT", "DESIGN_ARTIFACT", "FolderBusy", "LOCK_FILE", "MLARTIFACTS", "MLFLOW_DB", "OPTUNA_JOURNAL",
    "OPTUNA_STUDY",
    "RACE_FILE", "RESOLVED_SPEC", "STATE_FILE", "SUMMARY_FILE", "SWEEPS_DIR", "StateDamaged", "SweepState",
    "TUNE_STATE_BACKUP", "TUNE_STORAGE", "UntrustedFolder", "check_trusted", "latest_sweep_dir", "lock_folder",
    "make_private", "untrusted_reason",
    "MAX_SPEC_BYTES", "read_spec_text", "read_state", "spec_label", "sweep_folder", "sweep_label",
]

STATE_FILE = "sweep.json"
LOCK_FILE = "sweep.lock"  # held by the process that works in a sweep folder: a driver, or a push
RESOLVED_SPEC = "spec.resolved.yaml"
DESIGN_ARTIFACT = "design.json"  # also the parent run's artifact of that name
ADAPTIVE_ARTIFACT = "adaptive.json"  # also the parent run's artifact of that name
RACE_FILE = "race.json"
OPTUNA_STUDY = "optuna_study.json"  # Tune's OptunaSearch state
OPTUNA_JOURNAL = "optuna.journal"  # the study, in Optuna's journal storage (optuna-dashboard reads it)
TUNE_STATE_BACKUP = "tune_state.zip"
SUMMARY_FILE = "summary.json"

# in the output root
SWEEPS_DIR = "sweeps"  # the sweep folders
MLFLOW_DB = "mlflow.db"  # the embedded MLflow store (sqlite)
MLARTIFACTS = "mlartifacts"  # the embedded store's artifacts
TUNE_STORAGE = "ray"  # Tune's storage, unless --storage names another


@dataclass
class SweepState:
    sweep_id: str  # time stamp and a random suffix; the folder name ends with it
    tracking_uri: str  # where the MLflow runs are
    storage: str  # Tune's storage (a path or URI)
    experiment: str  # MLflow experiment name (the spec's name)
    experiment_id: str
    parent_run_id: str  # the sweep's parent MLflow run
    spec: str  # the spec file it was started from
    scale: str | None
    label: str  # name[-scale]
    run_name: str  # label-sweep_id: the folder name and Tune's experiment name
    finished: bool = False  # set when Tune's fit returned; an unfinished sweep can be resumed

    def to_json(self) -> str:
        """The text of sweep.json; the driver writes it whole or not at all (sweeps.location.write_state)."""
        return json.dumps(dataclasses.asdict(self), indent=1)


def sweep_label(name: str, scale: str | None) -> str:
    return name + (f"-{scale}" if scale else "")


def sweep_folder(root: Path, label: str, sweep_id: str) -> Path:
    """The folder of one sweep under an output root; `latest_sweep_dir` finds it by this shape."""
    return Path(root) / SWEEPS_DIR / f"{label}-{sweep_id}"


MAX_SPEC_BYTES = 1_000_000  # a spec file's size


def read_spec_text(path) -> str:
    """A spec file's text: at most MAX_SPEC_BYTES read, decoded as UTF-8 (a UTF-8 byte-order mark is allowed);
    anything else is refused with the file and the byte where it goes wrong."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as e:
        raise SpecError(f"{path}: cannot read the spec ({e.strerror}).") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: the spec is over {MAX_SPEC_BYTES} bytes; a spec may have at most that many.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)  # utf-8-sig's offsets skip the BOM
        e = UnicodeDecodeError(e.encoding, data, start, start + 1, e.reason)
        line = data[:e.start].count(b"\n") + 1
        hint = (" (it starts with a UTF-16 byte-order mark)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "")
        raise SpecError(f"{path}, line {line}: not UTF-8 text{hint}: byte {e.start} is 0x{data[e.start]:02x}. "
                        "Save the spec as UTF-8.") from None


def _spec_mapping(spec_path: str | Path):
    """A spec file's YAML as PyYAML reads it, or a SpecError saying where it is not YAML."""
    try:
        return yaml.safe_load(read_spec_text(spec_path))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{spec_path}{where}: not valid YAML ({getattr(e, 'problem', None) or e}).") from None


def spec_label(spec_path: str | Path, scale: str | None) -> tuple[str, str]:
    """(experiment name, label) of a spec file, read from its `name` alone (the report does not validate specs)."""
    raw = _spec_mapping(spec_path)
    name = raw.get("name") if isinstance(raw, dict) else None
    if not isinstance(name, str):
        raise SpecError(f"{spec_path}: a spec needs a `name` (text).")
    return name, sweep_label(name, scale)


def spec_plugins(spec_path: str | Path) -> list:
    """The `plugins` a spec file names, as written (gan.registration checks and imports them)."""
    raw = _spec_mapping(spec_path)
    return (raw.get("plugins") or []) if isinstance(raw, dict) else []


class UntrustedFolder(SetupError, PermissionError):
    """A sweep folder another user owns, or others may write to: resuming or pushing it runs what it holds."""


def check_trusted(*folders: Path) -> None:
    """Refuse folders, and the files directly in them, that this user does not own or that others may write to,
    or that a group other than the user's own private group may write to (Ubuntu's umask 002 makes a user's
    folders group-writable by a group of one). A sweep folder is code: `--resume` unpickles Tune's state in
    it, and push uploads what its journal names."""
    for folder in folders:
        folder = Path(folder)
        if not folder.exists():
            continue
        paths = [folder] + (sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else [])
        for path in paths:
            # a linked file is judged by what it leads to: that is what a resume unpickles
            why = untrusted_reason(path, follow=path != folder and path.is_symlink())
            if why:
                raise UntrustedFolder(
                    f"{path}: {why}. A sweep folder is code, like a pickle: resuming it unpickles Tune's state and "
                    "pushing it uploads what its journal names. Resume or push only folders you created; if you "
                    "trust this one, give --trust-folder (or take it over: chown it and chmod go-w).")


def untrusted_reason(path: Path, follow: bool = False) -> str | None:
    """Why `path` (a folder or file whose contents will be run or unpickled) cannot be trusted, or None. `follow`:
    judge what a symlink points to (a link's own mode is always 0777 on Linux) rather than the link."""
    info = path.stat() if follow else path.lstat()
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"it belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o002 or (info.st_mode & 0o020 and not _private_group(info.st_gid)):
        return f"group or others may write to it (mode {oct(info.st_mode & 0o777)})"
    return None


def _private_group(gid: int) -> bool:
    """The user's own private group: their primary group, named as they are, with no other members."""
    try:
        import grp
        import pwd

        user = pwd.getpwuid(os.getuid())
        group = grp.getgrgid(gid)
    except (ImportError, KeyError):
        return False
    if not (gid == user.pw_gid and group.gr_name == user.pw_name and set(group.gr_mem) <= {user.pw_name}):
        return False
    # another user whose primary group this is would not be listed among its members
    return all(other.pw_gid != gid or other.pw_uid == user.pw_uid for other in pwd.getpwall())


def make_private(folder: Path) -> None:
    """Take group and others' write permission off a folder this process made (whatever the umask)."""
    mode = folder.stat().st_mode & 0o777
    if mode & 0o022:
        folder.chmod(mode & ~0o022)


class FolderBusy(SetupError, RuntimeError):
    """Another process (a running driver, or a push) works in this sweep folder."""


def lock_folder(folder: Path):
    """Take the sweep folder's exclusive lock before anything in it is touched; returns the open lock file,
    which holds the lock until it is closed (or the process ends). Raises FolderBusy."""
    import fcntl

    handle = open(Path(folder) / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise FolderBusy(f"{folder} is in use by another process (a running sweep driver, or `python -m "
                         "sweeps.push`); nothing in it was touched. Wait for it to end.") from None
    return handle


class StateDamaged(SetupError, ValueError):
    """A sweep.json that cannot be read as a sweep's state; the message names the file and what is wrong."""


def read_state(folder: Path) -> SweepState:
    path = Path(folder) / STATE_FILE
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise StateDamaged(f"{path}: cannot be read as a sweep's state ({e})") from None
    fields = {f.name: f for f in dataclasses.fields(SweepState)}
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING]
    if not isinstance(raw, dict) or any(not isinstance(raw.get(n), str) for n in required if n != "scale"):
        raise StateDamaged(f"{path}: not a sweep's state (it needs the text fields {', '.join(required)})")
    return SweepState(**{k: v for k, v in raw.items() if k in fields})


def latest_sweep_dir(root: Path, label: str | None = None, unfinished: bool = False) -> Path | None:
    """The newest sweep folder under ROOT/sweeps (of one label, and optionally only an unfinished one). A
    folder whose sweep.json is damaged is skipped with a warning: it does not hide its neighbours."""
    found = []
    for f in (Path(root) / SWEEPS_DIR).glob(f"{label + '-' if label else ''}*/{STATE_FILE}"):
        try:
            state = read_state(f.parent)
        except StateDamaged as e:
            warnings.warn(f"skipped a damaged sweep folder: {e}", stacklevel=2)
            continue
        if (label is None or state.label == label) and not (unfinished and state.finished):
            found.append((state.sweep_id, f.parent))
    return max(found)[1] if found else None
