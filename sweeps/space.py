"""The Tune param space of a sweep: what every trial is handed (a `sweeps.contract.TrialRequest`), with
the swept values as Tune's grid, Optuna's distributions, or nothing where a searcher suggests them."""

from __future__ import annotations

import dataclasses
import copy
from pathlib import Path

from sweeps.contract import TrialRequest
from sweeps.spec import SweepSpec

__all__ = ["trial_space"]


def _absolute_paths(raw: dict) -> dict:
    """Trials run in their own folders: make file paths in the training config absolute."""
    out = copy.deepcopy(raw)
    data = out.get("data") or {}
    if data.get("root"):
        data["root"] = str(Path(data["root"]).expanduser().resolve())
    return out


def trial_space(spec: SweepSpec) -> dict:
    from ray import tune

    eval_raw = dataclasses.asdict(spec.evaluation)
    eval_raw["metrics"] = list(eval_raw["metrics"])
    if eval_raw.get("inception_weights"):
        eval_raw["inception_weights"] = str(Path(eval_raw["inception_weights"]).expanduser().resolve())
    seeds = None
    if spec.method == "optuna":
        swept = {}
        for p in spec.parameters:
            if p.values is not None:
                swept[p.key] = tune.choice(list(p.values))
            elif p.distribution == "uniform":
                swept[p.key] = tune.quniform(p.low, p.high, p.step) if p.step else tune.uniform(p.low, p.high)
            elif p.distribution == "loguniform":
                swept[p.key] = tune.loguniform(p.low, p.high)
            else:
                swept[p.key] = tune.qrandint(int(p.low), int(p.high), int(p.step or 1))
        swept["train.seed"] = spec.seeds[0]
        if len(spec.seeds) > 1:  # SeedReplicates repeats each configuration; the repeat index picks the seed
            seeds = list(spec.seeds)
    elif spec.adaptive:
        swept = {}  # the adaptive searcher suggests each trial's swept values
    else:
        swept = tune.grid_search(spec.trial_configs())  # Tune's variant generator expands the list
    return TrialRequest(
        base=_absolute_paths(spec.base_raw), swept=swept, eval=eval_raw, metric=spec.metric, mode=spec.mode,
        final_num_samples=spec.final_num_samples, threads=max(1, int(spec.resources.cpus)), seeds=seeds,
    ).param_space()
