"""`early_stopping: {type: race}`: the seed-aware race of `stats.race` as a Tune trial scheduler.

At each rung (ASHA's milestones below the last evaluation) a run that gets there is paused until every
run of the sweep that exists and is still going has got there too; then `stats.race.race_step`
decides on that rung's values across all runs, finished ones included, and the configurations it
shows worse than the incumbent by more than `min_effect` are stopped with all their seeds, paused or
running; the others go on. Each rung is decided once, by the runs that exist when it is complete: a
seed added later (adaptive seeds) of a stopped configuration is stopped at its first result, one of a
live configuration passes a decided rung. That is why the race needs every run of a round to exist at
once: the spec refuses it with `max_concurrent`, which would keep runs from existing (resources alone
pace them; paused runs hold none).

Its state (each run's configuration and rung values, the decisions) is written to `race.json` in the
sweep folder at every change and read back on `--resume`: Tune does not save a scheduler's state, and a
resumed run continues from its last checkpoint, past the rung it was waiting at. Runs resumed past an
undecided rung count at it with the value they recorded before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from stats.race import race_step
from record.files import atomic_path
from record.folder import StateDamaged
from record.names import Result, configuration_label
from sweeps.contract import TrialRequest

__all__ = ["RaceScheduler", "configuration_of", "read_race_state"]

# what race.json holds, as the scheduler writes it
_STATE_SHAPE = {"rungs": list, "config": dict, "values": dict, "decided": dict, "stopped": dict, "ended": list,
                "released": list}


def read_race_state(path: str | os.PathLike) -> dict:
    """A sweep folder's race.json as the scheduler wrote it, or a StateDamaged naming the file and what is wrong
    (`--resume` reads it before Tune starts, so damage is said in one line, not met inside Tune)."""
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise StateDamaged(f"{path}: the race's state cannot be read ({e}).") from None
    wrong = ([] if isinstance(state, dict) else ["(top level)"]) or [
        k for k, kind in _STATE_SHAPE.items() if not isinstance(state.get(k), kind)]
    if wrong:
        raise StateDamaged(f"{path}: not the race's state as a sweep writes it (`{wrong[0]}` is missing or of the "
                           "wrong kind); restore the file, or start the sweep again.")
    return state



def configuration_of(trial_config: dict) -> str:
    """A run's configuration: its swept values without the seed, keys in order (record.names.configuration_label)."""
    swept = TrialRequest.from_trial_config(trial_config).swept
    return configuration_label({k: swept[k] for k in sorted(swept)})


class RaceScheduler(FIFOScheduler):
    def __init__(self, rungs: list[int], metric: str, mode: str, min_effect: float | None, state_file: str):
        super().__init__()
        self.rungs, self.race_metric, self.race_mode = [int(r) for r in rungs], metric, mode
        self.min_effect, self.state_file = min_effect, state_file
        self.state: dict | None = None  # read from state_file on first use (a resumed sweep's), else new

    # -- state ------------------------------------------------------------------------------------

    def _s(self) -> dict:
        if self.state is None:
            if os.path.isfile(self.state_file):
                self.state = read_race_state(self.state_file)
            else:
                self.state = {"rungs": self.rungs, "config": {}, "values": {str(r): {} for r in self.rungs},
                              "decided": {}, "stopped": {}, "ended": [], "released": []}
        return self.state

    def _save(self) -> None:
        with atomic_path(self.state_file) as tmp:
            tmp.write_text(json.dumps(self._s(), indent=1))

    # -- Tune's calls -----------------------------------------------------------------------------

    def on_trial_add(self, tune_controller, trial) -> None:
        s = self._s()
        s["config"][trial.trial_id] = configuration_of(trial.config)
        self._save()

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        s = self._s()
        tid = trial.trial_id
        config = s["config"].setdefault(tid, configuration_of(trial.config))
        if tid in s["ended"]:  # a retried run reports again
            s["ended"].remove(tid)
        if config in s["stopped"]:
            self._save()
            return TrialScheduler.STOP
        if tid in s["released"]:
            s["released"].remove(tid)
        evaluation = int(result.get(Result.EVALUATION, 0))
        value = result.get(self.race_metric)
        action = TrialScheduler.CONTINUE
        for rung in self.rungs:  # every rung this result reaches that the run has no value at yet
            at = s["values"][str(rung)]
            if evaluation < rung or tid in at:
                continue
            at[tid] = float(value) if value is not None and not result.get(Result.DIVERGED) else None
        for rung in self.rungs:
            if str(rung) in s["decided"] or tid not in s["values"][str(rung)]:
                continue
            if self._complete(tune_controller, rung):
                self._decide(tune_controller, rung, current=trial)
                if config in s["stopped"]:
                    action = TrialScheduler.STOP
                    break
            else:
                action = TrialScheduler.PAUSE  # wait at this rung for the runs that have not got there
                break
        self._save()
        return action

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self._ended(tune_controller, trial)

    def on_trial_error(self, tune_controller, trial) -> None:
        self._ended(tune_controller, trial)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._ended(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller):
        s = self._s()
        for trial in tune_controller.get_trials():
            if trial.status == trial.PENDING:
                return trial
        for trial in tune_controller.get_trials():
            if trial.status == trial.PAUSED and trial.trial_id in s["released"]:
                return trial
        return None

    def debug_string(self) -> str:
        s = self._s()
        return f"race over configurations at evaluations {self.rungs}; stopped: {sorted(s['stopped']) or 'none'}"

    # -- the rule ---------------------------------------------------------------------------------

    def _ended(self, tune_controller, trial) -> None:
        s = self._s()
        if trial.trial_id not in s["ended"]:
            s["ended"].append(trial.trial_id)
        for rung in self.rungs:  # a run that ended may be the last one a rung waited for
            if str(rung) not in s["decided"] and s["values"][str(rung)] and self._complete(tune_controller, rung):
                self._decide(tune_controller, rung)
        self._save()

    @staticmethod
    def _known(tune_controller) -> set[str]:
        """The runs Tune has. A resumed sweep's state file can name a run that Tune's last snapshot did not
        hold (started just before the driver was killed; its MLflow run is kept as `lost`): Tune runs its
        configuration and seed again as a new trial, so the old one is neither waited for nor counted."""
        return {t.trial_id for t in tune_controller.get_trials()}

    def _complete(self, tune_controller, rung: int) -> bool:
        """Every run that exists, is still going and belongs to a live configuration has got to the rung."""
        s = self._s()
        at, known = s["values"][str(rung)], self._known(tune_controller)
        return all(tid in at for tid, config in s["config"].items()
                   if tid in known and tid not in s["ended"] and config not in s["stopped"])

    def _decide(self, tune_controller, rung: int, current=None) -> None:
        s = self._s()
        values: dict[str, list[float]] = {}
        known = self._known(tune_controller)
        for tid, v in s["values"][str(rung)].items():
            config = s["config"].get(tid)
            if tid in known and config is not None and config not in s["stopped"] and v is not None:
                values.setdefault(config, []).append(v)
        step = race_step(values, self.race_metric, self.race_mode, rung=self.rungs.index(rung) + 1,
                         rungs=len(self.rungs), min_effect=self.min_effect)
        s["decided"][str(rung)] = {"incumbent": step.incumbent, "level": step.level, "stopped": step.stopped,
                                   "configurations": {c: len(v) for c, v in values.items()}}
        for config in step.stopped:
            s["stopped"][config] = rung
        for trial in tune_controller.get_trials():
            if trial is current or trial.trial_id in s["ended"]:
                continue
            if trial.status == trial.PAUSED or getattr(trial, "is_saving", False):
                if s["config"].get(trial.trial_id) in s["stopped"]:
                    tune_controller.stop_trial(trial)
                elif trial.trial_id not in s["released"]:
                    s["released"].append(trial.trial_id)
