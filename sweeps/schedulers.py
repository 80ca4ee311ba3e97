"""What runs next in a sweep: the Tune searcher and scheduler a spec asks for.

- search: Optuna's TPE (`sweeps.searchers.PruningAwareOptunaSearch`), with seed replicates
  (`SeedReplicates`) or adaptive seeds (`AdaptiveOptunaSeeds`); adaptive seeds over a grid or a random
  search (`AdaptiveReplication`); otherwise Tune's variant generator over the spec's trial list;
- early stopping: ASHA on single runs, the race on configurations (`sweeps.race_scheduler.RaceScheduler`), or none.

Each sweep's configurations are keyed here by the levels the report gives them (`levels`), so the
searchers decide on the same cells the report's model fits.
"""

from __future__ import annotations

import json
from pathlib import Path

from record.design import level_label
from record.folder import ADAPTIVE_ARTIFACT, OPTUNA_JOURNAL, OPTUNA_STUDY, RACE_FILE
from record.names import Result
from sweeps.specfile import SweepSpec

__all__ = ["adaptive_record", "levels", "make_scheduler", "make_search"]



def levels(spec: SweepSpec, swept: dict) -> dict:
    """A trial's level of each factor, labelled as the report labels it (a variant by its name)."""
    found = spec.factor_levels(swept)
    return {p.key: found[p.key] if p.variant else level_label(found[p.key]) for p in spec.parameters}


def make_scheduler(spec: SweepSpec, folder: Path):
    """Tune's trial scheduler for the spec's early stopping (None: run every trial to its end)."""
    if spec.early_stopping.type == "asha":
        from ray.tune.schedulers import ASHAScheduler

        return ASHAScheduler(time_attr=Result.EVALUATION, max_t=spec.max_evaluations(),
                             grace_period=spec.early_stopping.grace_period,
                             reduction_factor=spec.early_stopping.reduction_factor)
    if spec.early_stopping.type == "race":
        from stats.asha import asha_rungs
        from sweeps.race_scheduler import RaceScheduler

        max_t = spec.max_evaluations()
        rungs = [int(r) for r in asha_rungs(spec.early_stopping.grace_period, spec.early_stopping.reduction_factor,
                                            max_t) if r < max_t]
        return RaceScheduler(rungs, spec.metric, spec.mode, spec.min_effect, str(folder / RACE_FILE))
    return None


def make_search(spec: SweepSpec, folder: Path):
    """Tune's search algorithm for the spec (None: Tune's variant generator over the param space's grid)."""
    from sweeps.resolve import ResolvedTrials

    search = _searcher(spec, folder)
    return ResolvedTrials(search, spec) if search is not None else None


def _searcher(spec: SweepSpec, folder: Path):
    from sweeps.searchers import AdaptiveOptunaSeeds, PruningAwareOptunaSearch, SeedReplicates

    if spec.method == "optuna":
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        # the study lives in Optuna's own journal file in the sweep folder: --resume, optuna-dashboard and
        # optuna.load_study all read the same study
        search = PruningAwareOptunaSearch(
            sampler=optuna.samplers.TPESampler(seed=spec.search_seed), study_name=spec.name,
            storage=JournalStorage(JournalFileBackend(str(folder / OPTUNA_JOURNAL))),
            study_file=str(folder / OPTUNA_STUDY),
        )
        if spec.adaptive:
            return AdaptiveOptunaSeeds(search, list(spec.seeds), spec.adaptive.initial, spec.adaptive.max,
                                       spec.num_samples)
        return SeedReplicates(search, repeat=len(spec.seeds)) if len(spec.seeds) > 1 else search
    if spec.adaptive:
        return _adaptive_grid(spec, folder)
    return None


def _adaptive_grid(spec: SweepSpec, folder: Path):
    """The searcher of `seeds: {initial, max}` over a grid: its configurations, keyed by the levels of the
    factors that vary, with the report's baselines."""
    from sweeps.searchers import AdaptiveReplication

    configs = spec.configurations()
    lv = [levels(spec, c) for c in configs]
    params = [p.key for p in spec.parameters if len({str(x[p.key]) for x in lv}) > 1]
    baselines = {p.key: level_label(p.baseline if p.baseline is not None else p.values[0])
                 for p in spec.parameters if p.key in params and p.values is not None}
    return AdaptiveReplication(
        [tuple(x[k] for k in params) for x in lv],
        configs,
        params,
        baselines,
        list(spec.seeds),
        spec.adaptive.initial,
        spec.adaptive.max,
        spec.min_effect,
        str(folder / ADAPTIVE_ARTIFACT),
        spec.metric,
        spec.mode,
    )


def adaptive_record(folder: Path, finished: bool = True) -> dict | None:
    """The adaptive searcher's record of the rounds in a sweep folder (None before its first look; with
    `finished`, None until it has ended the sweep)."""
    path = folder / ADAPTIVE_ARTIFACT
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    return rec if rec.get("stop") or not finished else None
