"""How a training run or a sweep trial ended: the one vocabulary every layer uses.

The trainer ends a run `completed` or `diverged`. A sweep adds what only a scheduler or a driver can
know: a trial stopped early by the scheduler, one that errored, one whose run outlived its trial after
a driver crash (`lost`), one cut short by an interrupt, and one that never started. MLflow's run tag
`status` and every table, plot and statistic read these values; they are strings, so pandas filters
and JSON files hold them as they are.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Status"]


class Status(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"  # trained its whole budget
    EARLY_STOPPED = "early_stopped"  # stopped by the scheduler at a rung
    DIVERGED = "diverged"  # a loss became NaN or inf
    ERROR = "error"  # the trial raised
    LOST = "lost"  # its MLflow run outlived a driver crash that Tune's saved state does not know
    INTERRUPTED = "interrupted"  # the sweep was interrupted while the trial ran; --resume continues it
    NOT_STARTED = "not_started"  # the sweep ended before the trial ran

    @classmethod
    def ended(cls) -> frozenset[Status]:
        """A trial in one of these has its last result: it is settled, and statistics may use it."""
        return frozenset({cls.COMPLETED, cls.EARLY_STOPPED, cls.DIVERGED})
