"""What the driver prints while a sweep runs: trial counts by status and the best value so far, read from
the sweep's ledger (sweeps.ledger) as Tune's callbacks come."""

from __future__ import annotations

import math
import time
from collections import Counter

from gan.status import Status
from record.names import run_name
from sweeps.contract import Result, TrialRequest
from sweeps.ledger import Ledger

__all__ = ["Progress", "progress_callback"]


class Progress:
    """Prints running/stopped/done counts and the best metric so far as trials report, naming the best
    trial by its swept values, as its MLflow run is named."""

    def __init__(self, ledger: Ledger, metric: str, mode: str, upto: int | None = None):
        """`upto`: with adaptive seeds, the most trials the sweep may run."""
        self.ledger, self.metric, self.mode, self.upto = ledger, metric, mode, upto
        self.best: tuple[float, str] | None = None
        self.printed_at = 0.0

    def result(self, trial, result):
        v = result.get(self.metric)
        if v is not None and math.isfinite(v) and not result.get(Result.DIVERGED):
            better = self.best is None or (v < self.best[0] if self.mode == "min" else v > self.best[0])
            if better:
                self.best = (v, run_name(TrialRequest.from_trial_config(trial.config).swept))  # as MLflow names it
        if time.time() - self.printed_at > 5:
            self.print()

    def print(self, interrupted: bool = False):
        self.printed_at = time.time()
        ledger = self.ledger
        counts = Counter(ledger.status(tid, interrupted) for tid in ledger.trials)
        # of the unfinished trials with results, those Tune has not started again yet are waiting, not running
        running = 0 if interrupted else ledger.running()
        waiting = counts[Status.RUNNING] - running
        best = f"best {self.metric} {self.best[0]:.4g} ({self.best[1]})" if self.best else f"no {self.metric} yet"
        print(f"[{time.strftime('%H:%M:%S')}] trials: {running} running, "
              + (f"{waiting} waiting to resume, " if waiting > 0 else "")
              + f"{counts[Status.COMPLETED]} completed, {counts[Status.EARLY_STOPPED]} stopped early, "
              f"{counts[Status.DIVERGED]} diverged, {counts[Status.ERROR]} errored"
              + (f", {counts[Status.INTERRUPTED]} interrupted" if interrupted else "")
              + (f" of up to {self.upto}" if self.upto else f" of {ledger.total}") + f"; {best}", flush=True)


def progress_callback(progress: Progress):
    """The Tune callback that prints `progress`; it comes after the ledger's."""
    from ray.tune import Callback

    class ProgressPrinter(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            progress.result(trial, result)

        def on_trial_complete(self, iteration, trials, trial, **info):
            progress.print()

        def on_trial_error(self, iteration, trials, trial, **info):
            if trial.trial_id not in progress.ledger.faulted:
                progress.print()

    return ProgressPrinter()
