"""What the driver prints while a sweep runs: trial counts by status and the best value so far, from
Tune's callbacks; also how each trial ended, which the summary reads."""

from __future__ import annotations

import math
import signal
import time
from collections import Counter

from gan.status import Status
from sweeps.contract import Result, last_result, status_of, trial_storage_fault

__all__ = ["Progress", "progress_callback"]


class Progress:
    """What Tune says of every trial, step by step (its state, last result and config), and how each
    ended; prints running/stopped/done counts and the best metric so far as trials report."""

    def __init__(self, metric: str, mode: str, total: int, upto: int | None = None):
        """`total`: the trials planned; with adaptive seeds 0, and `upto` the most the sweep may run."""
        self.metric, self.mode, self.total, self.upto = metric, mode, total, upto
        self.best: tuple[float, str] | None = None
        self.trials: dict[str, dict] = {}  # trial id -> {"state": Tune's trial status, "last": result, "config": ...}
        self.ended: dict[str, Status] = {}  # trial id -> how it ended, for trials Tune ended in this session
        self.fault: str | None = None  # the storage fault that stopped the sweep
        self.faulted: set[str] = set()  # trials that failed on it: interrupted, not errored
        self.printed_at = 0.0

    def step(self, trials) -> None:
        for t in trials:
            self.trials[t.trial_id] = {"state": t.status, "last": last_result(t), "config": t.config}

    def result(self, trial, result):
        self.trials.setdefault(trial.trial_id, {"config": trial.config}).update(
            state="RUNNING", last=result)
        v = result.get(self.metric)
        if v is not None and math.isfinite(v) and not result.get(Result.DIVERGED):
            better = self.best is None or (v < self.best[0] if self.mode == "min" else v > self.best[0])
            if better:
                self.best = (v, str(trial))
        if time.time() - self.printed_at > 5:
            self.print()

    def done(self, trial, status: Status):
        self.ended[trial.trial_id] = status
        self.print()

    def status(self, trial_id: str, interrupted: bool) -> Status:
        """How a trial stands: as it ended, or (the sweep interrupted or not) interrupted / not started."""
        t = self.trials.get(trial_id, {})
        if trial_id in self.ended:
            return self.ended[trial_id]
        if t.get("state") == "ERROR" and trial_id not in self.faulted:
            return Status.ERROR
        if t.get("state") == "TERMINATED":  # ended in an earlier session of a resumed sweep
            return status_of(t.get("last"))
        if t.get("state") == "RUNNING" or t.get("last"):  # running, or paused with results to resume from
            return Status.INTERRUPTED if interrupted else Status.RUNNING
        return Status.NOT_STARTED

    def unsettled(self) -> int:
        """Trials of the sweep that Tune has not ended (not yet created ones included)."""
        settled = sum(1 for tid, t in self.trials.items()
                      if tid in self.ended or t.get("state") in ("TERMINATED", "ERROR"))
        return max(self.total, len(self.trials)) - settled

    def print(self, interrupted: bool = False):
        self.printed_at = time.time()
        counts = Counter(self.status(tid, interrupted) for tid in self.trials)
        # of the unfinished trials with results, those Tune has not started again yet are waiting, not running
        running = 0 if interrupted else sum(1 for tid, t in self.trials.items()
                                            if tid not in self.ended and t.get("state") == "RUNNING")
        waiting = counts[Status.RUNNING] - running
        best = f"best {self.metric} {self.best[0]:.4g} ({self.best[1]})" if self.best else f"no {self.metric} yet"
        print(f"[{time.strftime('%H:%M:%S')}] trials: {running} running, "
              + (f"{waiting} waiting to resume, " if waiting > 0 else "")
              + f"{counts[Status.COMPLETED]} completed, {counts[Status.EARLY_STOPPED]} stopped early, "
              f"{counts[Status.DIVERGED]} diverged, {counts[Status.ERROR]} errored"
              + (f", {counts[Status.INTERRUPTED]} interrupted" if interrupted else "")
              + (f" of up to {self.upto}" if self.upto else f" of {self.total}") + f"; {best}", flush=True)


def progress_callback(progress: Progress):
    from ray.tune import Callback

    class ProgressPrinter(Callback):
        def on_step_end(self, iteration, trials, **info):
            progress.step(trials)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            progress.result(trial, result)

        def on_trial_complete(self, iteration, trials, trial, **info):
            progress.done(trial, status_of(progress.trials.get(trial.trial_id, {}).get("last")))

        def on_trial_recover(self, iteration, trials, trial, **info):
            self._stop_on_storage_fault(trial)

        def on_trial_error(self, iteration, trials, trial, **info):
            if not self._stop_on_storage_fault(trial):
                progress.done(trial, Status.ERROR)

        @staticmethod
        def _stop_on_storage_fault(trial) -> bool:
            """A full or read-only storage fails every trial alike: stop the sweep as Ctrl-C does (Tune
            saves its state, the trials stay resumable) instead of retrying them into it."""
            fault = trial_storage_fault(trial)
            if fault is None:
                return False
            progress.faulted.add(trial.trial_id)
            if progress.fault is None:
                progress.fault = f"{trial}: {fault}"
                signal.raise_signal(signal.SIGINT)
            return True

    return ProgressPrinter()
