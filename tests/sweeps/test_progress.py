"""The sweep's ledger (sweeps.ledger) and the console that reads it (sweeps.progress), fed as Tune's
callbacks feed them."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from record.status import Status
from record.names import Result
from sweeps.ledger import Ledger, ledger_callback
from sweeps.progress import Progress
from tests.helpers import MNIST_TEST_DIR, REPO


def test_progress_counts_trials_waiting_to_resume_apart_from_running_ones(capsys):
    """A resumed sweep's trials that have results but wait for a free slot are not running."""
    ledger = Ledger(4)
    progress = Progress(ledger, "fid", "min")
    ledger.step([SimpleNamespace(trial_id="a", status="RUNNING", last_result={Result.EVALUATION: 1}, config={}),
                 SimpleNamespace(trial_id="b", status="PENDING", last_result={Result.EVALUATION: 2}, config={}),
                 SimpleNamespace(trial_id="c", status="PENDING", last_result={}, config={})])
    progress.print()
    progress.print(interrupted=True)
    live, stopped = capsys.readouterr().out.splitlines()
    assert "trials: 1 running, 1 waiting to resume, 0 completed" in live
    assert "trials: 0 running, 0 completed" in stopped and "2 interrupted of 4" in stopped
    assert ledger.unsettled() == 4


def test_the_ledger_keeps_each_trials_last_result_once_and_says_how_it_ended():
    """The result a trial ended on is the one every reader gets; one restored from its final checkpoint
    (no result seen by this driver) ends with the result Tune restored it with."""
    ledger = Ledger(3)
    keeper = ledger_callback(ledger)
    final = {"fid": 90.0, Result.EVALUATION: 2, Result.IS_FINAL: 1.0, Result.DIVERGED: 0.0}
    seen = SimpleNamespace(trial_id="seen", status="RUNNING", last_result={}, config={}, error_file=None)
    restored = SimpleNamespace(trial_id="restored", status="RUNNING", last_result=final, config={}, error_file=None)
    bad = SimpleNamespace(trial_id="bad", status="ERROR", last_result={}, config={}, error_file=None)
    keeper.on_step_end(0, [seen, restored, bad])
    assert ledger.unsettled() == 2  # Tune's ERROR state settles a trial
    keeper.on_trial_result(0, [], seen, {**final, Result.IS_FINAL: 0.0})
    keeper.on_trial_complete(0, [], seen)
    keeper.on_trial_complete(0, [], restored)
    assert ledger.last(seen)[Result.IS_FINAL] == 0.0 and ledger.last(restored) is final
    assert ledger.ended == {"seen": Status.EARLY_STOPPED, "restored": Status.COMPLETED}
    keeper.on_trial_error(0, [], bad)
    assert ledger.status("bad", interrupted=False) == Status.ERROR and ledger.unsettled() == 0


def test_the_best_trial_is_named_by_its_swept_values_as_its_mlflow_run_is(capsys):
    ledger = Ledger(2)
    progress = Progress(ledger, "fid", "min")
    config = {"swept": {"model.g_width": 32, "train.seed": 1}, "config": {}, "eval": {}, "metric": "fid", "mode": "min"}
    trial = SimpleNamespace(trial_id="t1", config=config, __str__=lambda self: "run_trial_d1896_00006")
    progress.result(trial, {"fid": 84.74, Result.EVALUATION: 1})
    assert "best fid 84.74 (g_width=32 seed=1)" in capsys.readouterr().out


def test_off_a_terminal_the_console_is_plain_lines(capsys):
    """Under pytest's capture, as in a pipe or a log, standard output is not a terminal: no bar."""
    ledger = Ledger(2)
    progress = Progress(ledger, "fid", "min")
    ledger.step([SimpleNamespace(trial_id="a", status="RUNNING", last_result={Result.EVALUATION: 1}, config={})])
    progress.update()
    out = capsys.readouterr().out
    assert not progress.bar_on and out.startswith("[") and "trials: 1 running, 0 completed" in out
    assert "\r" not in out and "|" not in out


BAR_SPEC = f"""\
name: bar
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: dcgan, latent_dim: 8, g_width: 8, d_width: 8}}
  train: {{iterations: 80, eval_every: 20, batch_size: 32}}
evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
parameters:
  model.g_width: {{values: [4, 8, 12]}}
max_concurrent: 1
resources: {{cpus: 1}}
"""


@pytest.mark.ray
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_in_a_terminal_the_console_is_a_bar_with_counts_and_the_time_left(tmp_path):
    """A real sweep in a tmux pane, read as the pane shows it while it runs and after it ends."""
    spec = tmp_path / "bar.yaml"
    spec.write_text(BAR_SPEC)
    session = f"gansweep-bar-{os.getpid()}"
    command = shlex.join([sys.executable, "-m", "sweeps.run", str(spec), "--out", str(tmp_path / "out")])
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                    f"cd {shlex.quote(str(REPO))} && {command}; echo SWEEP-ENDED; sleep 600"], check=True)
    frames = []
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            pane = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
            frames.append(pane)
            if "SWEEP-ENDED" in pane:
                break
            time.sleep(0.3)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    bar = re.compile(r"trials +\d+%\|.*\| (\d)/3 ended \[\d\d:\d\d<(\d\d:\d\d|\?)\], (\d) running, (\d) waiting; "
                     r"(no fid yet|best fid [\d.]+ \(g_width=\d+ seed=0\))")
    seen = [m.groups() for pane in frames for m in bar.finditer(pane)]
    assert any(done in "12" for done, *_ in seen), frames[-1]  # drawn while the sweep ran, between trials
    assert any(done in "12" and left != "?" for done, left, *_ in seen)  # with an estimate of the time left
    last = frames[-1]
    assert "SWEEP-ENDED" in last and re.search(r"\| 3/3 ended \[", last)  # the finished bar stays, and after it
    assert "trials: 0 running, 3 completed" in last  # the plain line the log would have
