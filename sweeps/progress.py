"""What the driver prints while a sweep runs: trial counts by status and the best value so far, read from
the sweep's ledger (sweeps.ledger) as Tune's callbacks come.

On a terminal it is one tqdm bar: trials ended of all, an estimate of the time left from the rate they
end at, and the running and waiting counts with the best value so far. Anywhere else (a pipe, a log,
CI) it is a plain line at most every 5 s and at each trial's end, which is also what the bar leaves
behind when the sweep ends.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter

from record.status import Status
from record.names import run_name
from record.names import Result
from sweeps.ledger import Ledger

__all__ = ["Progress", "progress_callback"]


class Progress:
    """Prints running/stopped/done counts and the best metric so far as trials report, naming the best
    trial by its swept values, as its MLflow run is named."""

    def __init__(self, ledger: Ledger, metric: str, mode: str, upto: int | None = None, bar: bool | None = None):
        """`upto`: with adaptive seeds, the most trials the sweep may run. `bar`: draw a progress bar
        (None: when standard output is a terminal)."""
        self.ledger, self.metric, self.mode, self.upto = ledger, metric, mode, upto
        self.best: tuple[float, str] | None = None
        self.printed_at = 0.0
        self.bar_on = sys.stdout.isatty() if bar is None else bar
        self._bar = None  # the tqdm bar, made at the first update

    def result(self, trial, result):
        v = result.get(self.metric)
        if v is not None and math.isfinite(v) and not result.get(Result.DIVERGED):
            better = self.best is None or (v < self.best[0] if self.mode == "min" else v > self.best[0])
            if better:
                req = self.ledger.request(trial.trial_id, trial.config)
                self.best = (v, run_name(req.named()))  # as MLflow names it
        if self.bar_on:
            self.update()
        elif time.time() - self.printed_at > 5:
            self.print()

    def errored(self, trial):
        """One line naming the trial and why it errored, under Tune's traceback of it."""
        if self._bar is not None:
            self._bar.clear()
        req = self.ledger.request(trial.trial_id, trial.config)
        reason = self.ledger.errors.get(trial.trial_id, "")
        print(f"[{time.strftime('%H:%M:%S')}] trial {run_name(req.named())} errored: {reason}", flush=True)

    def update(self):
        """A trial reported or ended: the plain line (at most every 5 s and at each end), or the bar."""
        if not self.bar_on:
            self.print()
            return
        from tqdm import tqdm

        counts, running, _ = self._counts(False)  # the bar's waiting are all not running, started or not
        total = self.upto or self.ledger.total
        if self._bar is None:
            self._bar = tqdm(
                total=total,
                desc="trials",
                unit="trial",
                file=sys.stdout,
                dynamic_ncols=True,
                bar_format="{desc} {percentage:3.0f}%|{bar}| {n}/{total} ended [{elapsed}<{remaining}]{postfix}",
            )
        ended = sum(counts[s] for s in counts if s != Status.RUNNING)
        self._bar.total = total
        self._bar.n = ended
        self._bar.set_postfix_str(f"{running} running, {max(0, total - ended - running)} waiting; {self._best()}",
                                  refresh=False)
        self._bar.refresh()

    def _counts(self, interrupted: bool) -> tuple[Counter, int, int]:
        ledger = self.ledger
        counts = Counter(ledger.status(tid, interrupted) for tid in ledger.trials)
        # of the unfinished trials with results, those Tune has not started again yet are waiting, not running
        running = 0 if interrupted else ledger.running()
        return counts, running, counts[Status.RUNNING] - running

    def _best(self) -> str:
        return f"best {self.metric} {self.best[0]:.4g} ({self.best[1]})" if self.best else f"no {self.metric} yet"

    def print(self, interrupted: bool = False):
        """The plain line; after a bar, the bar is closed first (the line is what stays in the terminal)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.printed_at = time.time()
        ledger = self.ledger
        counts, running, waiting = self._counts(interrupted)
        best = self._best()
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
            progress.update()

        def on_trial_error(self, iteration, trials, trial, **info):
            if trial.trial_id not in progress.ledger.faulted:
                progress.errored(trial)
                progress.update()

    return ProgressPrinter()
