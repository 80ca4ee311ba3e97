"""A crash-safe copy of Tune's experiment state, put back before `--resume`.

Tune saves its experiment state (the trial table, the searcher, the search generator) into a
staging folder on the driver at every step, then copies that folder to the storage folder in a
background thread, file by file, truncating each file before writing it. A driver killed during the
copy leaves a truncated file in storage; an empty `searcher-state-*.pkl` is enough for Tune's restore
to log the error, carry on with an empty search algorithm and wait forever for a trial.

So after every step in which Tune saved its state (it writes the staging files synchronously, earlier
in the step) and a trial started, reported, checkpointed or ended since the last backup,
`TuneStateBackup` packs them and `tuner.pkl` into one zip in the sweep folder, written
under a temporary name, synced and renamed into place. The zip is stored, not deflated: the trial
table grows with the sweep (about 30 KB a trial), so deflating it cost the driver more CPU than
anything else it did on a 200-trial sweep (benchmarks/sweep_load.py); storing it costs a CRC and a
write. How often Tune saves is set in sweeps/_ray.py.
`restore_tune_state` writes those files back into the storage folder before Tune reads
it, and `check_tune_state` refuses to resume from damaged files with an error that names them.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from ray.tune import Callback
from ray.tune.search import BasicVariantGenerator, SearchGenerator, Searcher

from record.errors import SetupError
from record.files import atomic_path

__all__ = ["EARLIER_MODULES", "TuneStateBackup", "TuneStateDamaged", "check_tune_state", "read_earlier_modules",
           "restore_remote_tune_state", "restore_tune_state"]

TUNER_PKL = "tuner.pkl"
# Tune's state files carry the session's start time, e.g. experiment_state-2026-11-25_11-49-00.json
_SESSION = re.compile(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}")
# the only names a backup may hold: the ones Tune writes (a backup is handed around with its sweep folder):
# the experiment state, the state files of Tune's search algorithms (their own templates) and tuner.pkl
_TEMPLATES = ("experiment_state-{}.json", BasicVariantGenerator.CKPT_FILE_TMPL, SearchGenerator.CKPT_FILE_TMPL,
              Searcher.CKPT_FILE_TMPL)
_MEMBER = re.compile("|".join([re.escape(t).replace(r"\{\}", _SESSION.pattern) for t in _TEMPLATES]
                              + [re.escape(TUNER_PKL)]))
MAX_MEMBER_BYTES = 1 << 30  # a state file of a 30,000-trial sweep is about 1 GB; beyond that a backup is refused
MAX_STATE_BYTES = 2 * MAX_MEMBER_BYTES  # all of a backup's members together: they are read into memory


class TuneStateDamaged(SetupError, RuntimeError):
    pass


# Tune pickles the sweep's searcher, scheduler and spec into its state by their module paths. These modules were
# renamed; a sweep an earlier release started pickled the old names, so its state is read with each old name
# standing for its new module.
EARLIER_MODULES = {
    "sweeps.search": "sweeps.searchers",
    "sweeps.schedule": "sweeps.schedulers",
    "sweeps.race": "sweeps.race_scheduler",
    "sweeps.spec": "sweeps.specfile",
    "sweeps.spec.model": "sweeps.specfile.schema",
    "sweeps.spec._parse": "sweeps.specfile._parse",
    "sweeps.spec._fields": "sweeps.specfile._fields",
    "sweeps.spec._yaml": "sweeps.specfile._yaml",
    "gan.status": "record.status",
    "gan._io": "record.files",
    "analysis.stats": "stats.contrasts",
    "analysis.layout": "stats.layout",
    "analysis.model": "stats.fit",
    "analysis.adaptive": "stats.adaptive",
    "analysis.race": "stats.race",
    "analysis.asha": "stats.asha",
}


def read_earlier_modules() -> None:
    """Let this process unpickle Tune state an earlier release saved: each module name in EARLIER_MODULES that
    no module holds stands for its new module. Called before a --resume restores the Tuner (and its searcher)."""
    import importlib
    import sys

    for old, new in EARLIER_MODULES.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)


class TuneStateBackup(Callback):
    """Tune callback that keeps `backup` (a zip) equal to the experiment state of the last busy step."""

    def __init__(self, backup: str | Path, experiment_path: str):
        self.backup = str(backup)
        self.experiment_path = experiment_path  # a local path or a URI; tuner.pkl is copied when local
        self._saved: tuple | None = None  # the experiment state file's (mtime, size) when last packed
        self._dirty = True  # a trial started, reported, checkpointed or ended since then

    def _changed(self, *args, **kwargs) -> None:
        self._dirty = True

    on_trial_start = on_trial_restore = on_trial_result = on_trial_complete = _changed
    on_trial_error = on_trial_recover = on_checkpoint = _changed

    def on_step_end(self, iteration, trials, **info):
        if not trials:
            return
        staging = Path(trials[0].storage.experiment_driver_staging_path)
        files = sorted(f for f in staging.iterdir() if f.is_file()) if staging.is_dir() else []
        states = [f.stat() for f in files if f.name.startswith("experiment_state-")]
        saved = tuple((st.st_mtime_ns, st.st_size) for st in states)
        if not saved or saved == self._saved:
            return  # Tune has not saved its state since the last step: a change waits for its next snapshot
        if not self._dirty:  # Tune saved again, and no trial changed since the last backup
            self._saved = saved
            return
        tuner = Path(self.experiment_path, TUNER_PKL)
        # Tune keeps tuner.pkl in the staging folder and copies it to storage with the rest, truncating the
        # stored copy first: the stored one is taken only when staging has none, and only when complete.
        if (
            TUNER_PKL not in {f.name for f in files}
            and "://" not in self.experiment_path
            and tuner.is_file()
            and _damage(tuner.name, tuner.read_bytes()) is None
        ):
            files.append(tuner)
        keep = {} if any(f.name == TUNER_PKL for f in files) else self._previous_tuner()
        with atomic_path(self.backup, fsync=True) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
            for f in files:
                z.write(f, f.name)
            for name, data in keep.items():
                z.writestr(name, data)
        self._saved, self._dirty = saved, False

    def _previous_tuner(self) -> dict[str, bytes]:
        """tuner.pkl from the last backup, carried over when no complete copy can be read now."""
        try:
            with zipfile.ZipFile(self.backup) as z:
                data = z.read(TUNER_PKL)
        except (OSError, KeyError, zipfile.BadZipFile):
            return {}
        return {TUNER_PKL: data} if _damage(TUNER_PKL, data) is None else {}


def restore_tune_state(backup: Path, experiment_path: Path) -> list[str]:
    """Write the backed-up files into Tune's (local) experiment folder; returns their names.

    Files of the same kind from another session (other timestamps) are removed, since Tune restores
    from the newest name it finds. A backup that is not a readable zip of Tune's state files is refused
    (TuneStateDamaged) before anything is written.
    """
    try:
        return _restore(backup, experiment_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, UnicodeDecodeError, EOFError,
            ValueError, OSError) as e:
        raise TuneStateDamaged(f"The state backup {backup} cannot be read as a zip of Tune's state "
                               f"({type(e).__name__}: {e}); nothing was restored.") from None


def _restore(backup: Path, experiment_path: Path) -> list[str]:
    members = _checked_members(backup)
    # every member read whole and checked: only now is the experiment folder touched
    for name, data in members.items():
        for other in experiment_path.glob(_SESSION.sub("*", name)):
            if other.name != name:
                other.unlink()
        with atomic_path(experiment_path / name, fsync=True) as tmp:
            tmp.write_bytes(data)
    return list(members)


def restore_remote_tune_state(backup: Path, experiment_uri: str) -> list[str]:
    """Write the backed-up files over Tune's state in remote storage (s3://, gs://, ...; pyarrow's filesystems, as
    Tune's own), so that what Tune unpickles on --resume is the sweep folder's trusted copy, not whatever the
    bucket holds now; files of the same kind from another session are removed. Returns their names."""
    import pyarrow.fs

    try:
        members = _checked_members(backup)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, UnicodeDecodeError, EOFError,
            ValueError, OSError) as e:
        raise TuneStateDamaged(f"The state backup {backup} cannot be read as a zip of Tune's state "
                               f"({type(e).__name__}: {e}); nothing was restored.") from None
    fs, root = pyarrow.fs.FileSystem.from_uri(experiment_uri)
    fs.create_dir(root, recursive=True)
    present = [f.base_name for f in fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))]
    for name, data in members.items():
        pattern = re.compile(re.escape(_SESSION.sub("\x00", name)).replace("\x00", _SESSION.pattern))
        for other in present:
            if other != name and pattern.fullmatch(other):
                fs.delete_file(f"{root}/{other}")
        with fs.open_output_stream(f"{root}/{name}") as out:
            out.write(data)
    return list(members)


def _checked_members(backup: Path) -> dict[str, bytes]:
    """A backup's members, read whole, each a name Tune writes, bounded, CRC-checked and (of duplicates) complete."""
    with zipfile.ZipFile(backup) as z:
        for info in z.infolist():  # before anything is read or written: names Tune writes, stored, bounded
            if not _MEMBER.fullmatch(info.filename):
                raise TuneStateDamaged(
                    f"The state backup {backup} holds a member named {info.filename!r}, which is not "
                    "one of Tune's state files ("
                    + ", ".join(t.format("<time>") for t in _TEMPLATES)
                    + f", {TUNER_PKL}); nothing was restored."
                )
            # zipfile reads a member only up to the size its header declares, so bounding that bounds the memory
            if (
                info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
                or info.file_size > MAX_MEMBER_BYTES
            ):
                raise TuneStateDamaged(f"The state backup {backup} holds {info.filename!r} of {info.file_size} bytes "
                                       f"(compression {info.compress_type}); a state file is stored or deflated and at "
                                       f"most {MAX_MEMBER_BYTES} bytes. Nothing was restored.")
        total = sum(info.file_size for info in z.infolist())
        if total > MAX_STATE_BYTES:
            raise TuneStateDamaged(f"The state backup {backup} holds {total} bytes in {len(z.infolist())} members; a "
                                   f"sweep's state is at most {MAX_STATE_BYTES} bytes. Nothing was restored.")
        bad = z.testzip()
        if bad is not None:
            raise TuneStateDamaged(f"The state backup {backup} is damaged (member {bad!r} fails its CRC check).")
        # A name can occur twice in a backup written before tuner.pkl was deduplicated: keep a complete copy.
        members: dict[str, bytes] = {}
        for info in z.infolist():
            data = z.read(info)
            if info.filename not in members or _damage(info.filename, data) is None:
                members[info.filename] = data
    return members


def _state_files(experiment_path: Path) -> list[Path]:
    pats = ("experiment_state-*.json", "searcher-state-*.pkl", "search_gen_state-*.json", TUNER_PKL)
    return [f for p in pats for f in sorted(experiment_path.glob(p))]


def _damage(name: str, data: bytes) -> str | None:
    """What is wrong with the state file `name` holding `data`, or None when it is complete."""
    if not data:
        return f"{name} is empty"
    if name.startswith("experiment_state-"):
        try:
            json.loads(data)
        except ValueError as e:
            return f"{name} is not complete JSON ({e})"
    # the others are pickles, whatever their suffix (Tune names the search generator's `.json`)
    elif not (data[:1] == b"\x80" and data.endswith(b".")):
        return f"{name} is not a complete pickle ({len(data)} bytes)"  # a pickle starts with PROTO, ends with STOP
    return None


def check_tune_state(experiment_path: Path) -> None:
    """Raise TuneStateDamaged naming every state file that is empty or cut short."""
    problems = [p for f in _state_files(experiment_path) if (p := _damage(f.name, f.read_bytes())) is not None]
    if problems:
        raise TuneStateDamaged(
            f"Tune's saved state in {experiment_path} is damaged: {'; '.join(problems)}. A driver killed while "
            "Tune was copying it leaves such files. There is no backup to repair it from, so this sweep cannot "
            "be resumed; its MLflow runs are intact. Start a new sweep (run without --resume)."
        )
