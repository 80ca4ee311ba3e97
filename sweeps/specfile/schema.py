"""A validated sweep spec (`SweepSpec`) and what it derives: every trial's swept values, configurations,
budget plans, and each trial's training config, each computed once per spec and kept."""

from __future__ import annotations

import copy
import functools
import itertools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from gan.config import Config, merge_dotted
from gan.data import planned_size
from gan.metrics import FID, EvalConfig
from record.claims import Claim
from record.design import level_label, variant_settings
from record.figures import PublishedFigure
from record.names import SEED

__all__ = ["BUDGET_PLANS", "DISTRIBUTIONS", "EARLY_STOPPING", "MAX_TRIALS", "METHODS", "SEED_LIMIT", "STATISTICS",
           "OWN_SEED", "AdaptiveSeeds", "Budget", "EarlyStopping", "OwnTrainable", "Parameter", "Resources",
           "SweepSpec", "UserConfig", "assign", "extremes"]


METHODS = ("grid", "random", "optuna")
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
# none; ASHA on single runs; the race on configurations (sweeps.race_scheduler)
EARLY_STOPPING = ("none", "asha", "race")
BUDGET_PLANS = ("epochs", "iterations", "seconds")
STATISTICS = ("last", "best")  # a published figure is a run's last value or its best over training
MAX_TRIALS = 100_000  # trials one sweep may plan
SEED_LIMIT = 1000  # seeds per configuration a spec may ask for


@dataclass(frozen=True)
class Parameter:
    key: str  # dotted path into the training config, e.g. model.latent_dim
    values: tuple | None = None  # explicit values (grid points, or choices)
    distribution: str | None = None  # uniform, loguniform, int or choice; None = the values are grid points
    low: float | None = None  # lower bound of uniform/loguniform/int
    high: float | None = None  # upper bound (inclusive)
    step: float | None = None  # quantisation step (int: default 1)
    variant: bool = False  # values are mappings of several config keys set together (key is then just a label)
    baseline: Any = None  # the level other levels are compared against in the report; None = the first value

    def config_keys(self) -> tuple[str, ...]:
        """The config keys this parameter sets, in order: its key, or every key a variant's values set."""
        if not self.variant:
            return (self.key,)
        return tuple(dict.fromkeys(k for v in self.values for k in variant_settings(v)))


@dataclass(frozen=True)
class OwnTrainable:
    """The user's own training function in place of the built-in trainer (docs/your_code.md)."""

    function: str  # "module:function", the module found as plugins are (the spec's folder after the import path)
    evaluations: int  # reports each trial makes (`reporter.report`); the last is its final one
    config_class: str | None = None  # "module:Class", a dataclass each trial's `config` is checked against


class UserConfig(dict):
    """A trial's config for the user's own function: their `config` with its swept values and the seed. Answers the
    few questions the sweep asks a built-in `Config` (`to_dict`, `resolve`)."""

    def to_dict(self) -> dict:
        return copy.deepcopy(dict(self))

    def resolve(self) -> "UserConfig":
        return self


OWN_SEED = "seed"  # where the user's function finds its seed: config["seed"]


@dataclass(frozen=True)
class EarlyStopping:
    type: str = "none"  # one of EARLY_STOPPING
    grace_period: int = 1  # evaluations every trial gets before it can be stopped
    reduction_factor: float = 2.0  # ASHA keeps 1/reduction_factor of the trials at each rung; both lay out the rungs
    max_evaluations: int | None = None  # max_t in evaluations; None = the most evaluations any trial runs


@dataclass(frozen=True)
class Budget:
    """What every trial is given, held fixed across the sweep; several plans run side by side."""

    hold: tuple[
        str, ...
    ] = ()  # epochs (as configured, the studies' way), iterations, seconds; () = the config as written
    iterations: int | None = (
        None  # the iterations plan's count; None = what the largest data subset trains under the epochs plan
    )
    seconds: float | None = None  # the seconds plan's wall-clock training time per trial (train.max_seconds)


@dataclass(frozen=True)
class AdaptiveSeeds:
    """`seeds: {initial: n0, max: n1}`: every configuration starts with n0 seeds; after each round the
    model decides which get one more (`stats.adaptive`), up to n1. The seed values are `spec.seeds`."""

    initial: int
    max: int

    @property
    def looks(self) -> int:
        return self.max - self.initial + 1


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0  # CPU cores per trial (also torch's thread count)
    gpus: float = 0.0  # GPUs per trial; a fraction lets several small trials share one GPU
    # a configuration's seeds train in one trial as one packed model (gan.packed, sweeps.packs); the resources
    # above are then the pack's
    pack_seeds: bool = False


@dataclass(frozen=True)
class SweepSpec:
    name: str  # MLflow experiment name and Tune run name
    base: Config  # the training config every trial starts from
    base_raw: dict  # base as written (before defaults), to merge swept values into
    parameters: tuple[Parameter, ...]
    method: str = "grid"  # grid, random or optuna (TPE, seeded)
    metric: str = FID  # metric that ranks trials and drives early stopping
    mode: str = "min"  # min or max (default: the metric's natural direction)
    min_effect: float | None = None  # the difference (metric units) worth detecting; None = 10% of each baseline
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    num_samples: int = 1  # grid: repeats of the whole grid; random/optuna: configurations to try
    seeds: tuple[int, ...] = (0,)  # replicates of each configuration (train.seed values; adaptive: up to max, in order)
    adaptive: AdaptiveSeeds | None = None  # seeds added round by round where the answer is open
    resources: Resources = field(default_factory=Resources)
    max_concurrent: int = 0  # trials running at once; 0 = as many as resources allow
    max_failures: int = 2  # retries of a trial that crashed (from its last checkpoint)
    search_seed: int = 0  # seeds Optuna's TPE sampler and random search
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    final_num_samples: int | None = None  # samples for a trial's last evaluation; None = evaluation.num_samples
    description: str = ""
    published: tuple[PublishedFigure, ...] = ()  # published figures for configurations of this sweep
    claims: tuple[Claim, ...] = ()  # what the study or the user expects, judged by the report (record.claims)
    budget: Budget = field(default_factory=Budget)  # budget plans each configuration runs under
    plugins: tuple[
        str, ...
    ] = ()  # modules registering the user's architectures, losses, datasets, metrics (sweeps.plugins)
    source: str = "<string>"  # file the spec came from
    scale: str | None = None  # the scale applied, if any
    seeds_given: tuple[int, ...] | None = None  # the seeds given on the command line (--seeds), which a resume repeats
    raw: dict = field(default_factory=dict, repr=False, compare=False)  # the spec as written, its scale applied
    trainable: OwnTrainable | None = None  # the user's own training function; None: the built-in trainer
    user_config: dict = field(default_factory=dict)  # with `trainable`: the config every trial's starts from

    # -- derived -------------------------------------------------------------------------------

    def trial_configs(self) -> list[dict]:
        """For grid/random: every trial's swept values (with train.seed, and each budget plan's overrides),
        in order. Optuna: []."""
        return [dict(c) for c in self._trials]

    @functools.cached_property
    def _trials(self) -> tuple[dict, ...]:  # worked out once per spec: the driver asks for them many times
        if self.method == "optuna":
            return ()
        if self.method == "grid":
            combos = [assign(self.parameters, vals)
                      for vals in itertools.product(*[p.values for p in self.parameters])] or [{}]
            combos = combos * self.num_samples
        else:
            import random

            rng = random.Random(self.search_seed)
            combos = [assign(self.parameters, [sample_value(p, rng) for p in self.parameters])
                      for _ in range(self.num_samples)]
        combos = [{**c, **plan} for c in combos for plan in self._budget_plans(c)]
        return tuple({**c, SEED: s} for c in combos for s in self.seeds)

    def configurations(self) -> list[dict]:
        """Grid/random: every configuration's swept values, without the seed, in order (each runs once per seed)."""
        per = len(self.seeds)
        return [{k: v for k, v in c.items() if k != SEED} for c in self._trials[::per]]

    def corners(self) -> list[dict]:
        """The swept values at every corner of the space (every combination of each parameter's extremes)."""
        return [
            assign(self.parameters, corner) for corner in itertools.product(*[extremes(p) for p in self.parameters])
        ]

    @functools.cached_property
    def _budget_iterations(self) -> int | None:
        if "iterations" not in self.budget.hold:
            return None
        if self.budget.iterations:
            return self.budget.iterations
        if self.method == "grid":
            combos = [assign(self.parameters, vals) for vals in itertools.product(*[p.values for p in self.parameters])]
        else:
            combos = self.corners()
        return max(self.iterations(self.config_for(c)) for c in combos or [{}])

    def budget_iterations(self) -> int | None:
        """The iterations plan's count: as given, or what the largest data subset trains under the epochs plan."""
        return self._budget_iterations

    def _budget_plans(self, swept: dict) -> list[dict]:
        """Overrides for each budget plan. An iterations-plan trial that would train exactly as its
        epochs-plan twin (the largest subset) is not run twice: the report uses the twin for both curves."""
        if not self.budget.hold:
            return [{}]
        plans = []
        for plan in self.budget.hold:
            if plan == "epochs":
                plans.append({})
            elif plan == "iterations":
                n = self.budget_iterations()
                if "epochs" in self.budget.hold and self.iterations(self.config_for(swept)) == n:
                    continue
                plans.append({"train.iterations": n, "train.epochs": None})
            else:
                plans.append({"train.max_seconds": self.budget.seconds})
        return plans

    def num_trials(self) -> int:
        return len(self._trials) if self.method != "optuna" else self.num_samples * len(self.seeds)

    def evaluations(self, cfg: Config) -> int:
        """Evaluations (reports) a trial with this config makes."""
        if self.trainable is not None:
            return self.trainable.evaluations
        return cfg.train.evaluations_for(planned_size(cfg.data))

    def iterations(self, cfg: Config) -> int | None:
        """Training iterations of a trial with this config; None for the user's own function (its own affair)."""
        if self.trainable is not None:
            return None
        return cfg.train.iterations_for(planned_size(cfg.data))

    def config_for(self, swept: Mapping[str, Any]) -> Config:
        """The training config of these swept values, built and validated once per spec and values (for the user's
        own function: their config with the swept values set, and the seed as `seed`)."""
        key = repr(sorted(swept.items()))
        if key not in self._configs:
            if self.trainable is not None:
                values = {k: v for k, v in swept.items() if k != SEED}
                config = UserConfig(merge_dotted(self.user_config, values))
                if SEED in swept:
                    config[OWN_SEED] = swept[SEED]
                self._configs[key] = config
            else:
                self._configs[key] = Config.from_dict(merge_dotted(self.base_raw, swept))
        return self._configs[key]

    @functools.cached_property
    def _configs(self) -> dict[str, Config]:
        return {}

    def factor_levels(self, swept: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's level of each factor, as the report's columns hold it: a plain parameter's swept value, a
        variant's level label (its name). Resolved once on the driver and logged as the run's `swept.` params."""
        out = {}
        for p in self.parameters:
            if p.variant:  # the variant whose settings are exactly the ones the trial carries of the variant's keys
                carried = {k: swept[k] for k in p.config_keys() if k in swept}
                out[p.key] = next((level_label(v) for v in p.values if carried == dict(variant_settings(v))), None)
            else:
                out[p.key] = swept.get(p.key)
        return out

    def trial_config(self, swept: Mapping[str, Any]) -> Config:
        """The config a trial of these swept values trains: resolved (the loss's defaults filled in), with
        its data root absolute, since trials run in folders of their own. What Tune carries to the trial,
        what MLflow logs as its params and what the shared caches are prepared for."""
        cfg = self.config_for(swept).resolve()
        if self.trainable is not None or not cfg.data.root:
            return cfg
        return replace(cfg, data=replace(cfg.data, root=str(Path(cfg.data.root).expanduser().resolve())))

    def swept_keys(self) -> list[str]:
        """The config keys the parameters set, in spec order (a variant's: every key its values set)."""
        return list(dict.fromkeys(k for p in self.parameters for k in p.config_keys()))

    def max_evaluations(self) -> int:
        if self.early_stopping.max_evaluations:
            return self.early_stopping.max_evaluations
        return max(self.evaluations(self.config_for(c)) for c in self._trials or self.corners())


def assign(parameters, values) -> dict:
    """Swept values as {dotted key: value}; a variant's mapping sets several keys at once."""
    out: dict = {}
    for p, v in zip(parameters, values):
        if p.variant:
            out.update(variant_settings(v))
        else:
            out[p.key] = v
    return out


def extremes(p: Parameter) -> list:
    if p.values is not None:
        return list(p.values)
    return [int(p.low) if p.distribution == "int" else p.low, int(p.high) if p.distribution == "int" else p.high]


def sample_value(p: Parameter, rng) -> Any:
    if p.values is not None:
        return rng.choice(list(p.values))
    if p.distribution == "uniform":
        v = rng.uniform(p.low, p.high)
    elif p.distribution == "loguniform":
        v = math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
    else:
        step = int(p.step or 1)
        return rng.randrange(int(p.low), int(p.high) + 1, step)
    return round(v / p.step) * p.step if p.step else v
