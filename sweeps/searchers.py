"""Searchers: Tune's OptunaSearch, told the truth about early-stopped trials; seed replicates; and
adaptive seeds. Each sits inside `sweeps.resolve.ResolvedTrials`, which resolves the trials' configs.

Ray's OptunaSearch reports a trial that ASHA stopped to Optuna as COMPLETE with its last, early
metric, so TPE ranks a 2-evaluation FID next to 20-evaluation ones. Here a trial reaches the study
as COMPLETE only when it ran its last evaluation; stopped and diverged trials are told as PRUNED,
with their intermediate values at each evaluation, which Optuna's TPE ranks below every complete
trial. The study lives in the storage it is given (the sweep uses Optuna's journal file); its trials
are also exported to a JSON file after every change, for readers without Optuna.

Private reaches, all here: Ray's OptunaSearch keeps its Optuna study, its trial-id -> Optuna-trial map
and its set of finished trials in `_ot_study`, `_ot_trials` and `_completed_trials`, and offers no
public way to tell a trial PRUNED. tests/sweeps/test_searchers.py fails if Ray renames or retypes them.
"""

from __future__ import annotations

import json
import math
import pickle

from optuna.trial import TrialState
from ray.tune.search import Repeater, Searcher
from ray.tune.search.optuna import OptunaSearch

from record.files import atomic_path
from record.names import SEED, Result
from sweeps.contract import TRIAL_INDEX, finished as ran_to_the_end
from sweeps.resolve import WrappingSearcher

__all__ = ["TRIAL_INDEX", "AdaptiveOptunaSeeds", "AdaptiveReplication", "PruningAwareOptunaSearch", "SeedReplicates"]

def _kept(result: dict | None, error: bool, metric: str) -> dict | None:
    """What a searcher keeps of a trial's last result: the metric, its evaluation and how it ended (None after an
    error or without a result)."""
    if error or not result:
        return None
    return {k: float(result[k]) for k in (metric, Result.EVALUATION, Result.IS_FINAL, Result.DIVERGED) if k in result}


class PruningAwareOptunaSearch(OptunaSearch):
    def __init__(self, *args, study_file: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.study_file = study_file

    def _stored(self, trial_id: str):
        """The trial as the study's storage holds it now."""
        return self._ot_study.get_trials(deepcopy=False)[self._ot_trials[trial_id].number]

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._completed_trials or result.get(Result.DIVERGED) or self.metric not in result:
            return
        stored = self._stored(trial_id)
        step = int(result.get(Result.EVALUATION, 0))
        # a restored trial reports again the evaluations before its checkpoint: Optuna keeps the first
        if stored.state == TrialState.RUNNING and step not in stored.intermediate_values:
            self._ot_trials[trial_id].report(float(result[self.metric]), step)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        if self._stored(trial_id).state.is_finished():
            # told after Tune's last snapshot of this searcher, by a driver that was then killed: the study
            # has it; the trial, restored from that snapshot, ran to its end again
            self._completed_trials.add(trial_id)
            return
        if result:
            # Tune hands the result that made the scheduler stop a trial (ASHA at a rung or at max_t)
            # to on_trial_complete only; it is an intermediate value like the others
            self.on_trial_result(trial_id, result)
        if error or ran_to_the_end(result):
            super().on_trial_complete(trial_id, result, error)
        else:
            self._ot_study.tell(self._ot_trials[trial_id], state=TrialState.PRUNED)
            self._completed_trials.add(trial_id)
        self.dump()

    def restore(self, checkpoint_path: str) -> None:
        """Tune's restore of the searcher; the study itself is read back from its storage, which can hold a
        trial Optuna was asked for after Tune's last snapshot of the searcher (a driver killed in between).
        Tune never runs it: it is told FAIL, so no trial stays RUNNING in the study forever."""
        super().restore(checkpoint_path)
        if self._ot_study is None:
            return
        known = {t.number for t in self._ot_trials.values()}
        for t in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.number not in known:
                self._ot_study.tell(t.number, state=TrialState.FAIL)

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


class SeedReplicates(Repeater):
    """Ray's Repeater (each proposed configuration runs once per seed, `TRIAL_INDEX` in the trial config says
    which), telling the searcher the mean of the seeds' final metrics and whether every seed finished.

    Ray's Repeater forwards only `{metric: nanmean}` once all repeats reported; that drops `is_final` and
    `diverged`, so the Optuna searcher could not tell a finished configuration from a stopped one, and it
    averages whatever value each repeat ended with. Here a configuration reaches Optuna as COMPLETE with
    the mean over seeds only when every seed ran to its last evaluation, else as PRUNED (a diverged seed)
    or FAIL (every seed errored). Intermediate results are not forwarded (nor are they by Repeater): a
    configuration has no single curve. Early stopping is refused with replicates (see the spec), as Ray
    advises for Repeater: ASHA would stop seeds one by one and mix rungs into the mean.
    """

    def __init__(self, searcher, repeat: int):
        super().__init__(searcher, repeat=repeat, set_index=True)
        self._primary: dict[str, str] = {}  # trial id -> the first trial of its configuration (the one Optuna knows)
        self._outcomes: dict[str, dict[str, dict | None]] = {}  # primary -> trial id -> last result (None: error)
        self._last_primary: str | None = None

    def suggest(self, trial_id: str):
        config = super().suggest(trial_id)
        if isinstance(config, dict):
            if config.get(TRIAL_INDEX) == 0:
                self._last_primary = trial_id
            self._primary[trial_id] = self._last_primary
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        primary = self._primary.get(trial_id)
        if primary is None:
            return
        outcomes = self._outcomes.setdefault(primary, {})
        outcomes[trial_id] = None if error else dict(result or {})
        if len(outcomes) < self.repeat:
            return
        tell_mean(self.searcher, primary, list(outcomes.values()))


def tell_mean(searcher, primary: str, results: list[dict | None]) -> None:
    """Tell the Optuna searcher a configuration's outcome over its seeds (`results`: each seed's last result,
    None for an error): FAIL when every seed errored; else the mean of the seeds' final metrics, COMPLETE
    only when every seed ran to its last evaluation, PRUNED otherwise."""
    done = [r for r in results if r is not None]
    if not done:
        searcher.on_trial_complete(primary, None, error=True)
        return
    values = [float(r[searcher.metric]) for r in done if searcher.metric in r]
    finished = len(done) == len(results) and all(ran_to_the_end(r) for r in done)
    mean = sum(values) / len(values) if values and all(math.isfinite(v) for v in values) else math.inf
    last = max(int(r.get(Result.EVALUATION, 0)) for r in done)
    searcher.on_trial_complete(primary, {searcher.metric: mean, Result.EVALUATION: last,
                                         Result.IS_FINAL: float(finished), Result.DIVERGED: float(not finished)})


class AdaptiveReplication(Searcher):
    """Adaptive seeds (`seeds: {initial, max}`) as a Tune searcher: rounds of seeds, each decided by the model.

    It suggests `initial` seeds of every configuration, then returns no suggestion until each of them
    has ended. At that look it refits the report's model on the finished runs
    (`stats.adaptive.next_round`: decisions at this look's share of the 5%, settling by equivalence)
    and suggests one more seed for each configuration the rule names; when the rule stops the sweep it
    returns FINISHED. Its whole state (looks, decisions, seeds handed out, results) is JSON, saved with
    Tune's experiment state at each of its snapshots, so `--resume` after Ctrl-C or a killed driver continues the
    round it was in, with the decisions already made. The record of the rounds (record.folder.ADAPTIVE_ARTIFACT)
    is rewritten in the sweep folder after every look, for the console and the report.
    """

    def __init__(self, cells: list[tuple], configs: list[dict], params: list[str], baselines: dict,
                 seeds: list[int], initial: int, maximum: int, min_effect: float | None, record_file: str,
                 metric: str, mode: str):
        super().__init__(metric=metric, mode=mode)
        self.cells, self.configs, self.params, self.baselines = [list(c) for c in cells], configs, params, baselines
        self.seed_values, self.initial, self.maximum, self.min_effect = list(seeds), initial, maximum, min_effect
        self.record_file = record_file
        self.state = {"look": 0, "stop": None, "queue": [i for i in range(len(cells)) for _ in range(initial)],
                      "given": [0] * len(cells), "trials": {}, "decided": [], "settled": [], "rounds": []}

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # the metric and mode are the spec's, given at construction

    def suggest(self, trial_id: str):
        s = self.state
        if s["stop"]:
            return Searcher.FINISHED
        if not s["queue"]:
            if any(not t["done"] for t in s["trials"].values()):
                return None  # the round is still running
            self._look()
            if s["stop"]:
                return Searcher.FINISHED
        cell = s["queue"].pop(0)
        seed = self.seed_values[s["given"][cell]]
        s["given"][cell] += 1
        s["trials"][trial_id] = {"cell": cell, "seed": seed, "done": False, "result": None}
        return {"swept": {**self.configs[cell], SEED: seed}}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        t = self.state["trials"].get(trial_id)
        if t is None:
            return
        t["done"] = True
        t["result"] = _kept(result, error, self.metric)

    def trials_table(self):
        """The finished runs, as the model reads them: one row per trial with its configuration's levels."""
        import pandas as pd

        from sweeps.contract import status_of

        rows = [{**dict(zip(self.params, self.cells[t["cell"]])), SEED: t["seed"],
                 "status": status_of(t["result"]), self.metric: (t["result"] or {}).get(self.metric)}
                for t in self.state["trials"].values() if t["done"] and t["result"]]
        return pd.DataFrame(rows, columns=[*self.params, SEED, "status", self.metric])

    def _look(self) -> None:
        from stats.adaptive import next_round, round_record

        s = self.state
        seeds = {tuple(c): n for c, n in zip(self.cells, s["given"])}
        r = next_round(self.trials_table(), self.metric, self.mode, self.params, self.baselines, look=s["look"] + 1,
                       looks=self.maximum - self.initial + 1, seeds=seeds, max_seeds=self.maximum,
                       decided={(p, lv): (v, at) for p, lv, v, at in s["decided"]},
                       settled={(p, lv) for p, lv in s["settled"]}, min_effect=self.min_effect)
        s["look"] = r.look
        s["decided"] = [[p, lv, v, at] for (p, lv), (v, at) in r.decided.items()]
        s["settled"] = [[p, lv] for p, lv in sorted(r.settled)]
        index = {tuple(c): i for i, c in enumerate(self.cells)}
        s["queue"] = [index[c] for c in r.add]
        s["stop"] = r.stop
        s["rounds"].append(round_record(r, seeds))
        self.write_record()

    def write_record(self) -> None:
        from stats.adaptive import record

        with atomic_path(self.record_file) as tmp:
            planned = [n + self.state["queue"].count(i) for i, n in enumerate(self.state["given"])]  # this round's too
            tmp.write_text(json.dumps(record(self.params, self.cells, planned, self.initial, self.maximum,
                                             self.state["rounds"], self.state["stop"]), indent=1, default=str))

    def get_state(self) -> dict:
        return json.loads(json.dumps(self.state))

    def set_state(self, state: dict) -> None:
        self.state = json.loads(json.dumps(state))

    def save(self, checkpoint_path: str) -> None:
        # a pickle of plain data, as Tune's other state files are (sweeps.tunestate checks them as pickles)
        with atomic_path(checkpoint_path) as tmp:
            tmp.write_bytes(pickle.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:

            self.set_state(pickle.load(f))  # noqa: S301

class AdaptiveOptunaSeeds(WrappingSearcher):
    """`seeds: {initial, max}` under `method: optuna`: each configuration Optuna proposes runs `initial`
    seeds (`TRIAL_INDEX` in the trial config picks the seed); once they have ended, it gets one more seed
    while it is in a best set of several (Gupta's, at 5%, on the report's model fitted over every
    configuration's finished runs, one mean per configuration) and has fewer than `max`; otherwise
    Optuna is told the mean of its seeds, as `SeedReplicates` tells it (COMPLETE only when every seed
    ran to the end). A configuration clearly worse than the best so far thus costs `initial` seeds, and a
    contender up to `max`. A configuration's decision waits while one proposed before it is still running
    its first seeds, and while no other configuration has ended its first seeds to compare it with. Its state (the
    configurations, their runs, the queue) is saved with Tune's
    searcher state (the Optuna study itself lives in its journal), so `--resume` continues it."""

    def __init__(self, searcher, seeds: list[int], initial: int, maximum: int, configurations: int):
        super().__init__(searcher)
        self.seeds, self.initial, self.maximum, self.configurations = list(seeds), initial, maximum, configurations
        self.groups: dict[str, dict] = {}  # the trial id Optuna knows -> {"config", "runs": {trial id: run}, "told"}
        self.owner: dict[str, str] = {}  # trial id -> its configuration's (Optuna's) trial id
        self.queue: list[list] = []  # [configuration, seed index] to suggest next

    def suggest(self, trial_id: str):
        if self.queue:
            primary, index = self.queue.pop(0)
            return self._run(primary, trial_id, index)
        if len(self.groups) < self.configurations:
            config = self.searcher.suggest(trial_id)
            if not isinstance(config, dict):
                return config
            self.groups[trial_id] = {"config": config, "runs": {}, "told": False}
            self.queue += [[trial_id, i] for i in range(1, self.initial)]
            return self._run(trial_id, trial_id, 0)
        return Searcher.FINISHED if all(g["told"] for g in self.groups.values()) else None

    def _run(self, primary: str, trial_id: str, index: int) -> dict:
        self.groups[primary]["runs"][trial_id] = {"index": index, "done": False, "result": None}
        self.owner[trial_id] = primary
        return {**self.groups[primary]["config"], TRIAL_INDEX: index}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        primary = self.owner.get(trial_id)
        if primary is None:
            return
        run = self.groups[primary]["runs"][trial_id]
        run["done"] = True
        run["result"] = _kept(result, error, self.metric)
        self._settle()

    def best_set(self) -> set[str]:
        """The configurations (by Optuna's trial id) in the best set of the fit over the finished runs of every
        configuration with at least two."""
        import pandas as pd

        from stats.fit import fit_design
        from sweeps.contract import status_of

        rows = [{"configuration": primary, "status": status_of(r["result"]), self.metric: r["result"].get(self.metric)}
                for primary, g in self.groups.items() for r in g["runs"].values() if r["done"] and r["result"]
                and sum(x["done"] for x in g["runs"].values()) >= 2]  # configurations with a variance of their own
        if not rows:
            return set()
        cells = fit_design(pd.DataFrame(rows), self.metric, self.mode, ["configuration"], plan=False).cells
        if len(cells) < 2:
            return set(cells["configuration"]) if "configuration" in cells else set()
        return {str(c) for c, b in zip(cells["configuration"], cells["in_best_set"]) if b is True}

    def _settle(self) -> None:
        """Every configuration whose seeds have all ended: one more seed, or its mean to Optuna."""
        ready = [p for p, g in self.groups.items() if not g["told"] and all(r["done"] for r in g["runs"].values())
                 and not any(q[0] == p for q in self.queue)]
        if not ready:
            return
        order = list(self.groups)
        measured = {p for p, g in self.groups.items()  # with its first seeds ended
                    if sum(r["done"] for r in g["runs"].values()) >= self.initial}
        best = self.best_set()
        for primary in ready:
            g = self.groups[primary]
            earlier = order[:order.index(primary)]
            if any(sum(r["done"] for r in self.groups[p]["runs"].values()) < self.initial for p in earlier):
                continue  # a configuration proposed before it is still running its first seeds: wait for it
            if not measured - {primary} and (len(self.groups) > 1 or len(self.groups) < self.configurations):
                continue  # nothing to compare it with yet, but there will be
            if primary in best and len(best) > 1 and len(g["runs"]) < self.maximum:
                self.queue.append([primary, len(g["runs"])])
                continue
            g["told"] = True
            tell_mean(self.searcher, primary, [r["result"] for r in g["runs"].values()])

    def get_state(self) -> dict:
        return json.loads(json.dumps({"groups": self.groups, "owner": self.owner, "queue": self.queue}))

    def set_state(self, state: dict) -> None:
        self.groups, self.owner, self.queue = state["groups"], state["owner"], state["queue"]

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)
