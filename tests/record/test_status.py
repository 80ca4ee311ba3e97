"""record.status: how a run ended, as the strings MLflow's status tag and every table hold."""

from record.status import Status


def test_only_settled_trials_count_for_statistics():
    assert Status.ended() == {Status.COMPLETED, Status.EARLY_STOPPED, Status.DIVERGED}
    assert Status.INTERRUPTED not in Status.ended() and Status.LOST not in Status.ended()


def test_statuses_are_their_strings():
    assert Status("early_stopped") is Status.EARLY_STOPPED and f"{Status.COMPLETED}" == "completed"
