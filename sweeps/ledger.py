"""What the driver knows of every trial of a sweep, kept in one place: Tune's state of it, its last result,
its config and how it ended.

One Tune callback (`ledger_callback`) writes it, first among the sweep's callbacks, so that the console
(sweeps.progress), the MLflow tracker (sweeps.tracking.tracker) and the summary (sweeps.summary) read
the same last result and the same ending of each trial, worked out once (`sweeps.contract.status_of`).
A full or read-only storage stops the sweep here, as Ctrl-C does.
"""

from __future__ import annotations

import signal

from record.status import Status
from sweeps.contract import TrialRequest, last_result, status_of, trial_error, trial_storage_fault

__all__ = ["Ledger", "ledger_callback"]


class Ledger:
    def __init__(self, total: int):
        """`total`: the trials planned (0 where adaptive seeds decide how many run)."""
        self.total = total
        self.trials: dict[str, dict] = {}  # trial id -> {"state": Tune's trial status, "last": result, "config": ...}
        self.ended: dict[str, Status] = {}  # trial id -> how it ended, for trials Tune ended in this session
        self.fault: str | None = None  # the storage fault that stopped the sweep
        self.faulted: set[str] = set()  # trials that failed on it: interrupted, not errored
        self.requests: dict[str, TrialRequest] = {}  # trial id -> its request, built once from the config Tune carries
        self.errors: dict[str, str] = {}  # trial id -> why it errored, in one line (its error file's exception)

    def step(self, trials) -> None:
        for t in trials:
            self.trials[t.trial_id] = {"state": t.status, "last": last_result(t), "config": t.config}
            if t.status == "ERROR" and t.trial_id not in self.errors and t.trial_id not in self.faulted:
                self._note_error(t)  # errored in an earlier session

    def result(self, trial, result: dict) -> None:
        self.trials.setdefault(trial.trial_id, {"config": trial.config}).update(state="RUNNING", last=dict(result))

    def request(self, trial_id: str, config: dict | None = None) -> TrialRequest:
        """The trial's request, typed, built once on the driver from the config Tune carries for it (`config`, else
        the one this ledger holds): the tracker, the console and the summary all read this one."""
        req = self.requests.get(trial_id)
        if req is None:
            req = self.requests[trial_id] = TrialRequest.from_trial_config(
                config if config is not None else self.trials[trial_id]["config"])
        return req

    def last(self, trial) -> dict:
        """The trial's last result: the one this driver saw, else the one Tune restored it with (a trial
        whose final result an earlier, killed driver logged ends without reporting again)."""
        return self.trials.get(trial.trial_id, {}).get("last") or last_result(trial)

    def end(self, trial, status: Status) -> None:
        self.ended[trial.trial_id] = status
        if status == Status.ERROR:
            self._note_error(trial)

    def _note_error(self, trial) -> None:
        self.errors[trial.trial_id] = trial_error(trial) or "no error file (see Tune's log)"

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

    def running(self) -> int:
        """Trials Tune is running now (not those with results that wait to be resumed)."""
        return sum(1 for tid, t in self.trials.items() if tid not in self.ended and t.get("state") == "RUNNING")

    def unsettled(self) -> int:
        """Trials of the sweep that Tune has not ended (not yet created ones included)."""
        settled = sum(1 for tid, t in self.trials.items()
                      if tid in self.ended or t.get("state") in ("TERMINATED", "ERROR"))
        return max(self.total, len(self.trials)) - settled

    def stop_on_storage_fault(self, trial) -> bool:
        """A full or read-only storage fails every trial alike: stop the sweep as Ctrl-C does (Tune saves
        its state, the trials stay resumable) instead of retrying them into it."""
        fault = trial_storage_fault(trial)
        if fault is None:
            return False
        self.faulted.add(trial.trial_id)
        if self.fault is None:
            self.fault = f"{trial}: {fault}"
            signal.raise_signal(signal.SIGINT)
        return True


def ledger_callback(ledger: Ledger):
    """The Tune callback that keeps `ledger`; it must come before every callback that reads it."""
    from ray.tune import Callback

    class LedgerKeeper(Callback):
        def on_step_end(self, iteration, trials, **info):
            ledger.step(trials)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            ledger.result(trial, result)

        def on_trial_complete(self, iteration, trials, trial, **info):
            ledger.end(trial, status_of(ledger.last(trial)))

        def on_trial_recover(self, iteration, trials, trial, **info):
            ledger.stop_on_storage_fault(trial)

        def on_trial_error(self, iteration, trials, trial, **info):
            if not ledger.stop_on_storage_fault(trial):
                ledger.end(trial, Status.ERROR)

    return LedgerKeeper()
