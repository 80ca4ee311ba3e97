"""The Tune param space of a sweep: what every trial is handed (a `sweeps.contract.TrialRequest`).

A grid's trials are all known here: each value of the grid is one trial's swept values and the
training config they resolve to. A searcher's trials are not: the space holds Optuna's distributions
(or nothing, where the adaptive searcher suggests each trial), and `sweeps.resolve.ResolvedTrials`
resolves each suggestion's config as it is made.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sweeps.contract import TRIAL
from sweeps.packs import PACK
from sweeps.specfile import SweepSpec

__all__ = ["trial_space"]


def trial_space(spec: SweepSpec) -> dict:
    from ray import tune

    eval_raw = dataclasses.asdict(spec.evaluation)
    eval_raw["metrics"] = list(eval_raw["metrics"])
    if eval_raw.get("inception_weights"):
        eval_raw["inception_weights"] = str(Path(eval_raw["inception_weights"]).expanduser().resolve())
    space = {"eval": eval_raw, "metric": spec.metric, "mode": spec.mode, "threads": max(1, int(spec.resources.cpus))}
    if spec.final_num_samples is not None:
        space["final_num_samples"] = spec.final_num_samples
    if spec.plugins:
        space["plugins"] = list(spec.plugins)
    if spec.trainable is not None:
        space["trainable"] = spec.trainable.function
        space["evaluations"] = spec.trainable.evaluations
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
        space["swept"] = swept
    elif not spec.adaptive:  # Tune's variant generator expands the grid: one trial per value
        values = [{"swept": s, "levels": spec.factor_levels(s), "config": spec.trial_config(s).to_dict()}
                  for s in spec.trial_configs()]
        if spec.resources.pack_seeds:  # one trial per configuration, its seeds in order (sweeps.packs)
            per = len(spec.seeds)
            values = [{PACK: values[i:i + per]} for i in range(0, len(values), per)]
        space[TRIAL] = tune.grid_search(values)
    return space
