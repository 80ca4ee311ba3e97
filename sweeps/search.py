"""Searchers: Tune's OptunaSearch, told the truth about early-stopped trials.

Ray's OptunaSearch reports a trial that ASHA stopped to Optuna as COMPLETE with its last, early
metric, so TPE ranks a 2-evaluation FID next to 20-evaluation ones. Here a trial reaches the study
as COMPLETE only when it ran its last evaluation; stopped and diverged trials are told as PRUNED,
with their intermediate values at each evaluation, which Optuna's TPE ranks below every complete
trial. The study's trials are written to a JSON file after every change so tools and tests can
read what the searcher learned.
"""

from __future__ import annotations

import json

from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from gan._io import atomic_path

__all__ = ["PruningAwareOptunaSearch"]


class PruningAwareOptunaSearch(OptunaSearch):
    def __init__(self, *args, study_file: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.study_file = study_file

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._completed_trials or result.get("diverged") or self.metric not in result:
            return
        ot_trial = self._ot_trials[trial_id]
        step = int(result.get("evaluation", 0))
        if step not in ot_trial.storage.get_trial(ot_trial._trial_id).intermediate_values:
            ot_trial.report(float(result[self.metric]), step)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        if result:
            # Tune hands the result that made the scheduler stop a trial (ASHA at a rung or at max_t)
            # to on_trial_complete only; it is an intermediate value like the others
            self.on_trial_result(trial_id, result)
        finished = bool(result) and result.get("is_final") == 1 and not result.get("diverged")
        if error or finished:
            super().on_trial_complete(trial_id, result, error)
        else:
            self._ot_study.tell(self._ot_trials[trial_id], state=TrialState.PRUNED)
            self._completed_trials.add(trial_id)
        self.dump()

    def dump(self) -> None:
        if not self.study_file or self._ot_study is None:
            return
        trials = [
            {"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
             "intermediate_values": {str(k): v for k, v in t.intermediate_values.items()}}
            for t in self._ot_study.get_trials(deepcopy=False)
        ]
        with atomic_path(self.study_file) as tmp:
            tmp.write_text(json.dumps({"study": self._ot_study.study_name, "trials": trials}, indent=1))
