"""Packed seeds (`resources: {pack_seeds: true}`): one Tune trial trains every seed of one configuration as
one packed model (gan.packed), and the sweep's driver still sees, logs and counts one trial per seed.

The grid's value of a packed trial holds its seeds' trial values in order (`PACK`); `seed_config` gives
seed i's Tune config as an unpacked trial of that seed would carry it. The packed trial reports one Tune
result per report, which holds every seed's latest result (`PACK_SEEDS`, by seed) and names the seeds it
reports anew (`PACK_FRESH`); its checkpoint holds one ordinary trainer checkpoint per live seed
(`seed_folder`) and the seeds that have ended (`PACK_FILE`), which a resumed pack does not train again. A seed
that diverges between evaluations reaches Tune with the next evaluation of the others (or the pack's end).

`SeedCallbacks` stands between Tune and the sweep's callbacks (the ledger, the MLflow tracker, the console):
each event of a packed trial reaches them as the events of its seeds (`SeedTrial`), so that each seed has its
own trial id, MLflow run, status and checkpoint, exactly as an unpacked sweep's trials do. A seed that
ends before its pack (it diverged) ends there at once.
"""

from __future__ import annotations

from typing import Any, Mapping

from ray.tune import Callback

from record.names import SEED, Result
from sweeps.contract import TRIAL

__all__ = ["PACK", "PACK_FILE", "PACK_FRESH", "PACK_SEEDS", "SeedCallbacks", "SeedTrial", "is_pack", "pack_size",
           "seed_config", "seed_folder"]

PACK = "pack"  # in a packed trial's grid value: its seeds' trial values ({"swept", "levels", "config"}), in order
PACK_SEEDS = "seeds"  # in a packed trial's result: {seed: that seed's latest result}
PACK_FRESH = "fresh"  # in a packed trial's result: {seed: 1.0} for each seed whose result it reports anew
PACK_FILE = "pack.json"  # in a packed trial's checkpoint: {"ended": {seed: last result}, "latest": {seed: result}}


def is_pack(config: Mapping[str, Any]) -> bool:
    return isinstance(config.get(TRIAL), Mapping) and PACK in config[TRIAL]


def pack_size(config: Mapping[str, Any]) -> int:
    return len(config[TRIAL][PACK])


def seed_config(config: Mapping[str, Any], i: int) -> dict:
    """Seed i's Tune config, as the trial of that seed alone would carry it (a `sweeps.contract.TrialRequest`)."""
    return {**config, TRIAL: config[TRIAL][PACK][i]}


def seed_folder(seed: int | str) -> str:
    """The folder of a packed trial's checkpoint that holds this seed's trainer checkpoint and sample grid."""
    return f"seed_{seed}"


def _seed_of(config: Mapping[str, Any], i: int) -> str:
    return str(config[TRIAL][PACK][i]["swept"][SEED])


class SeedTrial:
    """One seed of a packed Tune trial, as the sweep's callbacks read a trial: its own id, Tune config and last
    result; its pack's state and error file."""

    def __init__(self, pack, i: int):
        self.pack = pack
        self.seed = _seed_of(pack.config, i)
        self.trial_id = f"{pack.trial_id}_seed{self.seed}"
        self.config = seed_config(pack.config, i)

    @property
    def status(self) -> str:
        """Its pack's Tune status, or TERMINATED once its last result is in (it ended while its pack trains on)."""
        return "TERMINATED" if self.ended() else self.pack.status

    @property
    def error_file(self):
        return getattr(self.pack, "error_file", None)

    @property
    def last_result(self) -> dict:
        return dict(((self.pack.last_result or {}).get(PACK_SEEDS) or {}).get(self.seed) or {})

    def ended(self) -> bool:
        """Its last result is its last: it trained its whole budget or diverged."""
        last = self.last_result
        return bool(last.get(Result.IS_FINAL) or last.get(Result.DIVERGED))

    def __str__(self) -> str:
        return f"{self.pack} seed {self.seed}"


class _SeedCheckpoint:
    """A seed's part of its pack's checkpoint, as the tracker reads a checkpoint (its `path`)."""

    def __init__(self, path: str):
        self.path = path


class SeedCallbacks(Callback):
    """Tune callback that passes each event of a packed trial to `callbacks` as the events of its seeds, and
    every other trial's events unchanged."""

    def __init__(self, callbacks: list):
        self.callbacks = list(callbacks)
        self._ended: set[str] = set()  # seed trial ids whose end the callbacks were told

    def _call(self, hook: str, **kwargs) -> None:
        for c in self.callbacks:
            getattr(c, hook)(**kwargs)

    @staticmethod
    def seeds(trial) -> list:
        """The trials the callbacks see for this Tune trial: its seeds where it is packed, else itself."""
        if not is_pack(trial.config or {}):
            return [trial]
        return [SeedTrial(trial, i) for i in range(pack_size(trial.config))]

    def _expand(self, trials) -> list:
        return [t for trial in trials for t in self.seeds(trial)]

    def _end(self, seed, iteration, trials, hook: str = "on_trial_complete", **info) -> None:
        if seed.trial_id not in self._ended:
            self._ended.add(seed.trial_id)
            self._call(hook, iteration=iteration, trials=trials, trial=seed, **info)

    # -- the hooks ---------------------------------------------------------------------------

    def setup(self, **info):
        for c in self.callbacks:
            c.setup(**info)

    def on_step_begin(self, iteration, trials, **info):
        self._call("on_step_begin", iteration=iteration, trials=self._expand(trials), **info)

    def on_step_end(self, iteration, trials, **info):
        self._call("on_step_end", iteration=iteration, trials=self._expand(trials), **info)

    def _live(self, hook: str, iteration, trials, trial, **info) -> None:
        """A hook of the trial's seeds that have not ended. A seed whose restored last result is its last ended in
        an earlier session: the callbacks that keep a record settle it where that session could not (it was
        killed between the result and its end), and nothing else reaches it (`on_trial_ended_earlier`)."""
        expanded = self._expand(trials)
        for seed in self.seeds(trial):
            if isinstance(seed, SeedTrial) and seed.ended():
                if seed.trial_id not in self._ended:
                    self._ended.add(seed.trial_id)
                    for c in self.callbacks:
                        if hasattr(c, "on_trial_ended_earlier"):
                            c.on_trial_ended_earlier(iteration=iteration, trials=expanded, trial=seed, **info)
            elif seed.trial_id not in self._ended:
                self._call(hook, iteration=iteration, trials=expanded, trial=seed, **info)

    def on_trial_start(self, iteration, trials, trial, **info):
        self._live("on_trial_start", iteration, trials, trial, **info)

    def on_trial_restore(self, iteration, trials, trial, **info):
        self._live("on_trial_restore", iteration, trials, trial, **info)

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._live("on_trial_recover", iteration, trials, trial, **info)

    def on_trial_save(self, iteration, trials, trial, **info):
        self._live("on_trial_save", iteration, trials, trial, **info)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if not is_pack(trial.config or {}):
            self._call("on_trial_result", iteration=iteration, trials=trials, trial=trial, result=result, **info)
            return
        expanded = self._expand(trials)
        for seed in self.seeds(trial):
            if seed.seed in result.get(PACK_FRESH, ()) and seed.trial_id not in self._ended:
                seed_result = dict(result[PACK_SEEDS][seed.seed])
                seed_result.update({k: result[k] for k in ("node_ip", "hostname", "pid") if k in result})
                self._call("on_trial_result", iteration=iteration, trials=expanded, trial=seed, result=seed_result,
                           **info)

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        """Each live seed's part of the checkpoint to its own trial; then the seeds whose last result this was end
        (after their last checkpoint, as an unpacked trial's last result is followed by its checkpoint)."""
        if not is_pack(trial.config or {}):
            self._call("on_checkpoint", iteration=iteration, trials=trials, trial=trial, checkpoint=checkpoint, **info)
            return
        expanded = self._expand(trials)
        fresh = (trial.last_result or {}).get(PACK_FRESH) or {}
        for seed in self.seeds(trial):
            # what the pack saved: each seed that trains on, and each that ended at this result without diverging
            saved = not seed.ended() or (seed.seed in fresh and not seed.last_result.get(Result.DIVERGED))
            if saved and seed.trial_id not in self._ended:
                self._call("on_checkpoint", iteration=iteration, trials=expanded, trial=seed,
                           checkpoint=_SeedCheckpoint(f"{checkpoint.path.rstrip('/')}/{seed_folder(seed.seed)}"),
                           **info)
        for seed in self.seeds(trial):
            if seed.ended():
                self._end(seed, iteration, expanded)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._ends(iteration, trials, trial, "on_trial_complete", **info)

    def on_trial_error(self, iteration, trials, trial, **info):
        """A pack failed: its seeds that had ended keep how they ended; the others failed with it."""
        self._ends(iteration, trials, trial, "on_trial_error", **info)

    def _ends(self, iteration, trials, trial, hook: str, **info) -> None:
        """Tune ended the trial: an unpacked one ends as Tune says, each seed of a pack not yet ended does too."""
        if not is_pack(trial.config or {}):
            self._call(hook, iteration=iteration, trials=trials, trial=trial, **info)
            return
        expanded = self._expand(trials)
        for seed in self.seeds(trial):
            self._end(seed, iteration, expanded, "on_trial_complete" if seed.ended() else hook, **info)

    def on_experiment_end(self, trials, **info):
        self._call("on_experiment_end", trials=self._expand(trials), **info)
