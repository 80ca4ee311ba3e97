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
