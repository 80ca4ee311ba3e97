"""The sweep folder's own files: written whole and synced, and one damaged sweep.json does not hide its
neighbours from --resume, the report or push."""

from __future__ import annotations

import os
import sys
import subprocess

import pytest

from analysis.folders import StateDamaged, SweepState, latest_sweep_dir, read_state, write_state
from gan._io import atomic_path
from tests.helpers import REPO


def _state(label: str, sweep_id: str, finished: bool = False) -> SweepState:
    return SweepState(sweep_id=sweep_id, tracking_uri="sqlite:///x.db", storage="/x", experiment=label,
                      experiment_id="1", parent_run_id="p", spec="s.yaml", scale=None, label=label,
                      run_name=f"{label}-{sweep_id}", finished=finished)


@pytest.mark.parametrize("damage", [b"", b'{"sweep_id": "2026', b"[1, 2]", b'{"sweep_id": 3}', b"\xff\xfe"])
def test_a_damaged_sweep_json_is_skipped_with_a_warning_and_the_neighbour_still_found(tmp_path, damage):
    good, bad = tmp_path / "sweeps" / "exp-20260101-a", tmp_path / "sweeps" / "exp-20270101-b"
    good.mkdir(parents=True)
    bad.mkdir()
    write_state(good, _state("exp", "20260101-a"))
    (bad / "sweep.json").write_bytes(damage)
    with pytest.warns(UserWarning, match="skipped a damaged sweep folder"):
        assert latest_sweep_dir(tmp_path, "exp", unfinished=True) == good
    with pytest.raises(StateDamaged, match="sweep.json"):
        read_state(bad)


def test_push_of_a_folder_whose_sweep_json_is_damaged_says_so_without_a_traceback(tmp_path):
    (tmp_path / "sweep.json").write_text("{")
    proc = subprocess.run([sys.executable, "-m", "sweeps.push", str(tmp_path)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "cannot be read as a sweep's state" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_atomic_write_leaves_the_old_file_or_the_new_one_and_no_temporary(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target, fsync=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["summary.json"]
    with atomic_path(target, fsync=True) as tmp:
        assert str(os.getpid()) in tmp.name and tmp.parent == tmp_path
        tmp.write_text("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["summary.json"]
