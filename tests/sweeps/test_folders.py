"""The sweep folder's own files: written whole and synced, and one damaged sweep.json does not hide its
neighbours from --resume, the report or push."""

from __future__ import annotations

import os
import sys
import subprocess

import pytest

from record.folder import StateDamaged, SweepState, latest_sweep_dir, read_state
from sweeps.location import write_state
from record.files import atomic_path
from tests.helpers import MNIST_TEST_DIR, REPO


def _state(label: str, sweep_id: str, finished: bool = False, tracking_uri: str = "sqlite:////nonexistent/x.db"
           ) -> SweepState:
    return SweepState(sweep_id=sweep_id, tracking_uri=tracking_uri, storage="/x", experiment=label,
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


def _unfinished_sweep(out, name="trusty"):
    folder = out / "sweeps" / f"{name}-20260101-a"
    folder.mkdir(parents=True)
    write_state(folder, _state(name, "20260101-a", tracking_uri=f"sqlite:///{out / 'mlflow.db'}"))  # a push opens it
    return folder


SPEC = f"""\
name: trusty
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 100}}
  model: {{arch: dcgan, latent_dim: 8, g_width: 8, d_width: 8}}
  train: {{iterations: 10, eval_every: 10, batch_size: 16}}
parameters:
  optim.g_lr: {{values: [0.0002]}}
"""


def test_resume_and_push_refuse_a_folder_others_may_write_to_unless_trusted(tmp_path):
    out = tmp_path / "out"
    folder = _unfinished_sweep(out)
    os.chmod(folder, 0o777)
    spec = tmp_path / "trusty.yaml"
    spec.write_text(SPEC)
    resume = subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), "--out", str(out), "--resume"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert resume.returncode == 2 and "group or others may write to it (mode 0o777)" in resume.stderr
    assert "--trust-folder" in resume.stderr and "Traceback" not in resume.stderr
    push = subprocess.run([sys.executable, "-m", "sweeps.push", str(folder)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert push.returncode == 2 and "A sweep folder is code" in push.stderr
    trusted = subprocess.run([sys.executable, "-m", "sweeps.push", str(folder), "--trust-folder", "--wait", "0"],
                             capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "A sweep folder is code" not in trusted.stderr  # past the check (the fake store then answers or not)


@pytest.mark.parametrize("race", ['{"rungs": [1], "config": {', '{"rungs": [1], "config": []}', "[]"])
def test_resume_refuses_a_damaged_race_state_before_tune_starts(tmp_path, race):
    """The race's scheduler reads race.json inside Tune: a resume checks it first, and says what is wrong."""
    out = tmp_path / "out"
    folder = _unfinished_sweep(out)
    (folder / "race.json").write_text(race)
    spec = tmp_path / "trusty.yaml"
    spec.write_text(SPEC)
    resume = subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), "--out", str(out), "--resume"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert resume.returncode == 2 and "Traceback" not in resume.stderr, resume.stderr[-2000:]
    assert f"error: {folder / 'race.json'}: " in resume.stderr
    assert "the race's state cannot be read" in resume.stderr or "not the race's state" in resume.stderr


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a folder to another user needs root"
)
def test_resume_refuses_a_folder_another_user_owns(tmp_path):
    out = tmp_path / "out"
    folder = _unfinished_sweep(out)
    os.chown(folder, 65534, 65534)
    spec = tmp_path / "trusty.yaml"
    spec.write_text(SPEC)
    resume = subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), "--out", str(out), "--resume"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert resume.returncode == 2 and "belongs to another user (uid 65534)" in resume.stderr


def test_a_folder_in_use_is_not_touched_by_a_second_resume_or_a_push(tmp_path):
    from record.folder import lock_folder

    out = tmp_path / "out"
    folder = _unfinished_sweep(out)
    (folder / "mlflow_journal.jsonl").write_text('{"op": "status", "trial": null, "status": "RUNNING"}\n{"op": "resu')
    before = (folder / "mlflow_journal.jsonl").read_bytes()  # a live driver is writing its last line
    spec = tmp_path / "trusty.yaml"
    spec.write_text(SPEC)
    held = lock_folder(folder)  # the running driver
    try:
        push = subprocess.run([sys.executable, "-m", "sweeps.push", str(folder)], capture_output=True, text=True,
                              cwd=REPO, timeout=120)
        assert push.returncode == 2 and "in use by another process" in push.stderr
        resume = subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), "--out", str(out), "--resume"],
                                capture_output=True, text=True, cwd=REPO, timeout=120)
        assert resume.returncode == 2 and "in use by another process" in resume.stderr
        assert "Traceback" not in push.stderr + resume.stderr
        assert (folder / "mlflow_journal.jsonl").read_bytes() == before  # its last line was not cut
        assert sorted(p.name for p in folder.iterdir()) == ["mlflow_journal.jsonl", "sweep.json", "sweep.lock"]
    finally:
        held.close()


def test_a_folder_group_writable_by_the_users_own_private_group_is_trusted(tmp_path):
    """Ubuntu's umask 002 makes a user's folders 0775 with their private group: that is not someone else."""
    import grp
    import pwd

    from record.folder import UntrustedFolder, check_trusted

    user = pwd.getpwuid(os.getuid())
    private = grp.getgrgid(user.pw_gid).gr_name == user.pw_name and not set(grp.getgrgid(user.pw_gid).gr_mem) - {
        user.pw_name}
    folder = _unfinished_sweep(tmp_path / "out")
    os.chmod(folder, 0o775)
    for f in folder.iterdir():
        os.chmod(f, 0o664)
    if private:
        check_trusted(folder)
    else:
        with pytest.raises(UntrustedFolder, match="group or others may write to it"):
            check_trusted(folder)
    os.chmod(folder, 0o777)  # others: never
    with pytest.raises(UntrustedFolder, match=r"mode 0o777"):
        check_trusted(folder)


def test_the_files_resume_reads_are_checked_not_only_the_folder(tmp_path):
    from record.folder import TUNE_STATE_BACKUP, UntrustedFolder, check_trusted

    folder = _unfinished_sweep(tmp_path / "out")
    os.chmod(folder, 0o755)
    state = folder / TUNE_STATE_BACKUP
    state.write_bytes(b"PK\x05\x06" + bytes(18))
    os.chmod(state, 0o666)
    with pytest.raises(UntrustedFolder, match=rf"{TUNE_STATE_BACKUP}: group or others may write to it \(mode 0o666\)"):
        check_trusted(folder)
    # the same file as a link to one that others may write to: what the link leads to is judged
    elsewhere = tmp_path / "open"
    elsewhere.mkdir(mode=0o777)
    os.chmod(elsewhere, 0o777)
    state.rename(elsewhere / "state.zip")
    state.symlink_to(elsewhere / "state.zip")
    with pytest.raises(UntrustedFolder, match=rf"{TUNE_STATE_BACKUP}: group or others may write to it \(mode 0o666\)"):
        check_trusted(folder)
    os.chmod(elsewhere / "state.zip", 0o644)
    check_trusted(folder)


def test_a_new_sweep_folder_is_made_without_group_or_others_write_whatever_the_umask(tmp_path):
    from sweeps.location import locate
    from sweeps.specfile import parse_spec

    old = os.umask(0o000)
    try:
        where = locate(parse_spec(SPEC, source="trusty.yaml"), tmp_path / "out", resume=False, storage=None,
                       tracking_uri=None)
    finally:
        os.umask(old)
    assert where.out.is_dir() and where.out.stat().st_mode & 0o022 == 0
