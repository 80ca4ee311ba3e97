"""The file-level contract of the state backup; the end-to-end kill-and-resume is in test_sweep.py."""

import json
import pickle
import zipfile

import pytest

from sweeps.tunestate import TuneStateDamaged, check_tune_state, restore_tune_state

OLD, NEW = "2026-01-01_00-00-00", "2026-01-02_00-00-00"


def _state(folder, session, searcher=b"", experiment=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"experiment_state-{session}.json").write_text(experiment or json.dumps({"trial_data": []}))
    (folder / f"searcher-state-{session}.pkl").write_bytes(searcher)
    (folder / "tuner.pkl").write_bytes(pickle.dumps({"run_config": "x"}))


def test_check_names_every_damaged_file(tmp_path):
    _state(tmp_path, OLD, searcher=pickle.dumps({"a": 1})[:-3], experiment='{"trial_data": [')
    with pytest.raises(TuneStateDamaged) as e:
        check_tune_state(tmp_path)
    msg = str(e.value)
    assert f"searcher-state-{OLD}.pkl is not a complete pickle" in msg
    assert f"experiment_state-{OLD}.json is not complete JSON" in msg
    assert "tuner.pkl" not in msg
    (tmp_path / f"searcher-state-{OLD}.pkl").write_bytes(b"")
    with pytest.raises(TuneStateDamaged, match=f"searcher-state-{OLD}.pkl is empty"):
        check_tune_state(tmp_path)


def test_restore_puts_the_backup_back_and_drops_other_sessions(tmp_path):
    good = tmp_path / "good"
    _state(good, OLD, searcher=pickle.dumps({"study": [1, 2, 3]}))
    backup = tmp_path / "tune_state.zip"
    with zipfile.ZipFile(backup, "w") as z:
        for f in good.iterdir():
            z.write(f, f.name)
    storage = tmp_path / "storage"
    _state(storage, OLD)  # the searcher state cut short by a crash
    (storage / f"experiment_state-{NEW}.json").write_text("{")  # a newer name Tune would pick first
    assert sorted(restore_tune_state(backup, storage)) == sorted(f.name for f in good.iterdir())
    assert not (storage / f"experiment_state-{NEW}.json").exists()
    assert pickle.loads((storage / f"searcher-state-{OLD}.pkl").read_bytes()) == {"study": [1, 2, 3]}
    check_tune_state(storage)
    assert not list(storage.glob(".*.tmp"))


def test_restore_keeps_the_complete_copy_of_a_member_written_twice(tmp_path):
    # Backups written before the fix held tuner.pkl twice: staging's copy, then storage's copy caught
    # while Tune truncated it. Restoring must keep the complete one, whichever comes last.
    backup = tmp_path / "tune_state.zip"
    tuner = pickle.dumps({"run_config": "x"})
    with zipfile.ZipFile(backup, "w") as z, pytest.warns(UserWarning, match="Duplicate name"):
        z.writestr(f"experiment_state-{OLD}.json", json.dumps({"trial_data": []}))
        z.writestr("tuner.pkl", tuner)
        z.writestr("tuner.pkl", b"")
    storage = tmp_path / "storage"
    storage.mkdir()
    restore_tune_state(backup, storage)
    assert (storage / "tuner.pkl").read_bytes() == tuner
    check_tune_state(storage)


def _tune_saves_again(staging):
    (state,) = staging.glob("experiment_state-*.json")
    state.write_text(state.read_text() + " ")  # Tune rewrites it at each snapshot


def test_backup_takes_tuner_pkl_from_staging_and_never_a_truncated_copy(tmp_path):
    from types import SimpleNamespace

    from sweeps.tunestate import TuneStateBackup

    staging, storage = tmp_path / "staging", tmp_path / "storage"
    _state(staging, OLD, searcher=pickle.dumps({"s": 1}))
    _state(storage, OLD)
    (storage / "tuner.pkl").write_bytes(b"")  # Tune's copy thread has just truncated it
    trial = SimpleNamespace(storage=SimpleNamespace(experiment_driver_staging_path=str(staging)))
    backup = tmp_path / "tune_state.zip"
    cb = TuneStateBackup(backup, str(storage))
    cb.on_step_end(0, [trial])
    with zipfile.ZipFile(backup) as z:
        names = z.namelist()
        assert names.count("tuner.pkl") == 1 and z.read("tuner.pkl") == pickle.dumps({"run_config": "x"})
    # A step in which Tune did not save its state leaves the backup as it is, as does one in which no trial
    # changed.
    packed = backup.read_bytes()
    backup.unlink()
    _tune_saves_again(staging)
    cb.on_step_end(1, [trial])  # nothing changed since the last backup
    assert not backup.exists()
    cb.on_trial_result(2, [trial], trial, {})
    cb.on_step_end(2, [trial])  # a result, not yet in a snapshot of Tune's
    assert not backup.exists()
    _tune_saves_again(staging)
    cb.on_step_end(3, [trial])  # now it is
    assert backup.read_bytes() != packed
    # Without a staging copy, a truncated stored copy is never saved: the last backup's good one is kept.
    (staging / "tuner.pkl").unlink()
    _tune_saves_again(staging)
    cb._changed()
    cb.on_step_end(4, [trial])
    with zipfile.ZipFile(backup) as z:
        assert z.namelist().count("tuner.pkl") == 1 and z.read("tuner.pkl") == pickle.dumps({"run_config": "x"})
    backup.unlink()
    _tune_saves_again(staging)
    cb._changed()
    cb.on_step_end(5, [trial])
    with zipfile.ZipFile(backup) as z:
        assert "tuner.pkl" not in z.namelist()


def test_the_search_generator_state_is_a_pickle_whatever_its_suffix(tmp_path):
    _state(tmp_path, OLD, searcher=pickle.dumps({"s": 1}))
    (tmp_path / f"search_gen_state-{OLD}.json").write_bytes(pickle.dumps({"gen": 1}))  # as Tune writes it
    check_tune_state(tmp_path)
    (tmp_path / f"search_gen_state-{OLD}.json").write_bytes(pickle.dumps({"gen": 1})[:-2])
    with pytest.raises(TuneStateDamaged, match=f"search_gen_state-{OLD}.json is not a complete pickle"):
        check_tune_state(tmp_path)


@pytest.mark.parametrize("name", ["../outside/experiment_state-2026-01-01_00-00-00.json", "*", "sub/tuner.pkl",
                                  "/tmp/tuner.pkl", "experiment_state-2026-01-01_00-00-00.json.sh", ".."])
def test_a_backup_member_that_is_not_a_tune_state_file_is_refused_before_anything_is_touched(tmp_path, name):
    experiment = tmp_path / "sweep" / "exp"
    experiment.mkdir(parents=True)
    outside = tmp_path / "sweep" / "outside"
    outside.mkdir()
    victim = outside / "experiment_state-2025-01-01_00-00-00.json"
    victim.write_text("{}")
    mine = experiment / "experiment_state-2025-05-05_00-00-00.json"
    mine.write_text("{}")
    backup = tmp_path / "tune_state.zip"
    with zipfile.ZipFile(backup, "w") as z:
        z.writestr("tuner.pkl", b"\x80\x04N.")
        z.writestr(name, b"{}")
    with pytest.raises(TuneStateDamaged, match="not one of Tune's state files"):
        restore_tune_state(backup, experiment)
    assert victim.read_text() == "{}" and mine.read_text() == "{}"  # nothing deleted, nothing written
    assert sorted(p.name for p in experiment.iterdir()) == [mine.name]


def test_a_backup_member_larger_than_the_bound_is_refused_unread(tmp_path, monkeypatch):
    import sweeps.tunestate as ts

    monkeypatch.setattr(ts, "MAX_MEMBER_BYTES", 1000)
    backup = tmp_path / "tune_state.zip"
    with zipfile.ZipFile(backup, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("experiment_state-2026-01-01_00-00-00.json", b"[" + b"0," * 5000 + b"0]")  # 10 kB, deflated small
    (tmp_path / "exp").mkdir()
    with pytest.raises(TuneStateDamaged, match="at most 1000 bytes"):
        restore_tune_state(backup, tmp_path / "exp")
    assert not any((tmp_path / "exp").iterdir())


def test_a_backup_whose_members_together_exceed_the_bound_is_refused_unread(tmp_path, monkeypatch):
    """Each member under its bound, but many of them: what they hold together is bounded too (they are read into
    memory), so a small zip of many large members cannot exhaust it."""
    import sweeps.tunestate as ts

    monkeypatch.setattr(ts, "MAX_MEMBER_BYTES", 12_000)
    monkeypatch.setattr(ts, "MAX_STATE_BYTES", 24_000)
    backup = tmp_path / "tune_state.zip"
    with zipfile.ZipFile(backup, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(3):
            z.writestr(f"experiment_state-2026-01-01_00-00-0{i}.json", b"[" + b"0," * 5000 + b"0]")
    (tmp_path / "exp").mkdir()
    with pytest.raises(TuneStateDamaged, match="holds 30009 bytes in 3 members.*at most 24000 bytes"):
        restore_tune_state(backup, tmp_path / "exp")
    assert not any((tmp_path / "exp").iterdir())


def test_a_backup_of_every_state_file_tune_writes_restores(tmp_path):
    """The names a real sweep's backup holds: a grid sweep's variant generator, a searcher's state, tuner.pkl."""
    session = "2026-12-01_13-34-47"
    files = {f"experiment_state-{session}.json": b"{}", f"basic-variant-state-{session}.json": b"\x80\x04}\x94.",
             f"search_gen_state-{session}.json": b"\x80\x04}\x94.", f"searcher-state-{session}.pkl": b"\x80\x04}\x94.",
             "tuner.pkl": b"\x80\x04N."}
    backup = tmp_path / "tune_state.zip"
    with zipfile.ZipFile(backup, "w", zipfile.ZIP_STORED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    (tmp_path / "exp").mkdir()
    assert sorted(restore_tune_state(backup, tmp_path / "exp")) == sorted(files)
    check_tune_state(tmp_path / "exp")


def test_tune_state_an_earlier_release_pickled_under_module_names_since_renamed_is_read():
    """A sweep the release before started pickled its searcher and scheduler as sweeps.search.* and
    sweeps.race.*; --resume reads them as the renamed modules' classes (a subprocess: sys.modules stays clean)."""
    import subprocess
    import sys

    from tests.helpers import REPO

    code = (
        "import pickle, importlib\n"
        "from sweeps.tunestate import EARLIER_MODULES, read_earlier_modules\n"
        "for new in EARLIER_MODULES.values(): importlib.import_module(new)\n"
        "from sweeps.searchers import AdaptiveReplication\n"
        "from sweeps.race_scheduler import RaceScheduler\n"
        "from record.status import Status\n"
        "old = [pickle.dumps(c, protocol=0).replace(new.encode(), old.encode()) for c, new, old in (\n"
        "    (AdaptiveReplication, 'sweeps.searchers', 'sweeps.search'),\n"
        "    (RaceScheduler, 'sweeps.race_scheduler', 'sweeps.race'),\n"
        "    (Status.COMPLETED, 'record.status', 'gan.status'))]\n"
        "try:\n"
        "    pickle.loads(old[0])\n"
        "    raise SystemExit('read before the names were given')\n"
        "except ModuleNotFoundError:\n"
        "    pass\n"
        "read_earlier_modules()\n"
        "assert [pickle.loads(b) for b in old] == [AdaptiveReplication, RaceScheduler, Status.COMPLETED]\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_resuming_from_remote_storage_unpickles_the_sweep_folders_copy_not_the_buckets(tmp_path):
    """Storage given as a URI (here file://, through the pyarrow filesystem Tune uses for s3:// and gs:// too): what
    the bucket holds is overwritten by the sweep folder's trusted backup before Tune reads it, and a resume with no
    backup is refused rather than unpickling the bucket's files."""
    from record.errors import SetupError
    from sweeps.location import Where, repair_tune_state
    from sweeps.tunestate import restore_remote_tune_state

    good = tmp_path / "good"
    _state(good, OLD, searcher=pickle.dumps({"study": [1, 2, 3]}))
    out = tmp_path / "sweeps" / "s-1"
    out.mkdir(parents=True)
    backup = out / "tune_state.zip"
    with zipfile.ZipFile(backup, "w") as z:
        for f in good.iterdir():
            z.write(f, f.name)
    bucket = tmp_path / "bucket" / "s-1"
    _state(bucket, OLD, searcher=pickle.dumps("planted by whoever can write to the bucket"))
    (bucket / f"experiment_state-{NEW}.json").write_text("{}")  # a newer name Tune would pick first
    where = Where(root=tmp_path, label="s", sweep_id="1", out=out, tracking_uri="sqlite:///x",
                  storage=(tmp_path / "bucket").as_uri(), previous=None)
    assert where.experiment_path == f"{(tmp_path / 'bucket').as_uri()}/s-1"
    names = restore_remote_tune_state(backup, (tmp_path / "bucket" / "s-1").as_uri())
    assert sorted(names) == sorted(f.name for f in good.iterdir())
    assert pickle.loads((bucket / f"searcher-state-{OLD}.pkl").read_bytes()) == {"study": [1, 2, 3]}
    assert not (bucket / f"experiment_state-{NEW}.json").exists()
    backup.unlink()
    with pytest.raises(SetupError, match="has no tune_state.zip, the trusted copy of Tune's state"):
        repair_tune_state(where)
