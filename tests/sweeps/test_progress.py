"""The console while a sweep runs (sweeps.progress), fed as Tune's callbacks feed it."""

from types import SimpleNamespace

from sweeps.contract import Result
from sweeps.progress import Progress


def test_progress_counts_trials_waiting_to_resume_apart_from_running_ones(capsys):
    """A resumed sweep's trials that have results but wait for a free slot are not running."""
    progress = Progress("fid", "min", 4)
    progress.step([SimpleNamespace(trial_id="a", status="RUNNING", last_result={Result.EVALUATION: 1}, config={}),
                   SimpleNamespace(trial_id="b", status="PENDING", last_result={Result.EVALUATION: 2}, config={}),
                   SimpleNamespace(trial_id="c", status="PENDING", last_result={}, config={})])
    progress.print()
    progress.print(interrupted=True)
    live, stopped = capsys.readouterr().out.splitlines()
    assert "trials: 1 running, 1 waiting to resume, 0 completed" in live
    assert "trials: 0 running, 0 completed" in stopped and "2 interrupted of 4" in stopped
