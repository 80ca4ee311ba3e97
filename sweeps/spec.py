"""Sweep specs: YAML -> a validated `SweepSpec`, in one place, before Ray starts.

Every error names the file, the key path and (where the YAML parser knows it) the line, says what
was wrong and what is allowed. See docs/spec.md for the format.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from record.design import VARIANT_NAME, level_label, variant_settings
from record.figures import PublishedFigure
from gan.config import Config, ConfigError, flatten
from gan.data import planned_size
from gan.metrics import FID, OUTPUTS, EvalConfig

__all__ = ["BUDGET_PLANS", "AdaptiveSeeds", "Budget", "Parameter", "SpecError", "SweepSpec", "load_spec", "parse_spec"]

METHODS = ("grid", "random", "optuna")
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")


class SpecError(ValueError):
    """A sweep spec is invalid; the message names the file, key path, line and what is allowed."""


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


EARLY_STOPPING = ("none", "asha", "race")  # none; ASHA on single runs; the race on configurations (sweeps.race)


@dataclass(frozen=True)
class EarlyStopping:
    type: str = "none"  # one of EARLY_STOPPING
    grace_period: int = 1  # evaluations every trial gets before it can be stopped
    reduction_factor: float = 2.0  # ASHA keeps 1/reduction_factor of the trials at each rung; both lay out the rungs
    max_evaluations: int | None = None  # max_t in evaluations; None = the most evaluations any trial runs


BUDGET_PLANS = ("epochs", "iterations", "seconds")


@dataclass(frozen=True)
class Budget:
    """What every trial is given, held fixed across the sweep; several plans run side by side."""

    hold: tuple[str, ...] = ()  # epochs (as configured, the studies' way), iterations, seconds; () = the config as written
    iterations: int | None = None  # the iterations plan's count; None = what the largest data subset trains under the epochs plan
    seconds: float | None = None  # the seconds plan's wall-clock training time per trial (train.max_seconds)


@dataclass(frozen=True)
class AdaptiveSeeds:
    """`seeds: {initial: n0, max: n1}`: every configuration starts with n0 seeds; after each round the
    model decides which get one more (`analysis.adaptive`), up to n1. The seed values are `spec.seeds`."""

    initial: int
    max: int

    @property
    def looks(self) -> int:
        return self.max - self.initial + 1


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0  # CPU cores per trial (also torch's thread count)
    gpus: float = 0.0  # GPUs per trial; a fraction lets several small trials share one GPU


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
    budget: Budget = field(default_factory=Budget)  # budget plans each configuration runs under
    source: str = "<string>"  # file the spec came from
    scale: str | None = None  # the scale applied, if any
    seeds_given: tuple[int, ...] | None = None  # the seeds given on the command line (--seeds), which a resume repeats
    raw: dict = field(default_factory=dict, repr=False, compare=False)  # the spec as written, its scale applied

    # -- derived -------------------------------------------------------------------------------

    def trial_configs(self) -> list[dict]:
        """For grid/random: every trial's swept values (with train.seed, and each budget plan's overrides),
        in order. Optuna: []."""
        if self.method == "optuna":
            return []
        if self.method == "grid":
            combos = [_assign(self.parameters, vals)
                      for vals in itertools.product(*[p.values for p in self.parameters])] or [{}]
            combos = combos * self.num_samples
        else:
            import random

            rng = random.Random(self.search_seed)
            combos = [_assign(self.parameters, [_sample(p, rng) for p in self.parameters])
                      for _ in range(self.num_samples)]
        combos = [{**c, **plan} for c in combos for plan in self._budget_plans(c)]
        return [{**c, "train.seed": s} for c in combos for s in self.seeds]

    def configurations(self) -> list[dict]:
        """Grid/random: every configuration's swept values, without the seed, in order (each runs once per seed)."""
        per = len(self.seeds)
        return [{k: v for k, v in c.items() if k != "train.seed"} for c in self.trial_configs()[::per]]

    def budget_iterations(self) -> int | None:
        """The iterations plan's count: as given, or what the largest data subset trains under the epochs plan."""
        if "iterations" not in self.budget.hold:
            return None
        if self.budget.iterations:
            return self.budget.iterations
        if self.method == "grid":
            combos = [_assign(self.parameters, vals) for vals in itertools.product(*[p.values for p in self.parameters])]
        else:
            combos = [_assign(self.parameters, corner) for corner in itertools.product(*[_extremes(p) for p in self.parameters])]
        return max(self.iterations(self.config_for(c)) for c in combos or [{}])

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
        return len(self.trial_configs()) if self.method != "optuna" else self.num_samples * len(self.seeds)

    def evaluations(self, cfg: Config) -> int:
        """Evaluations (reports) a trial with this config makes."""
        return cfg.train.evaluations_for(planned_size(cfg.data))

    def iterations(self, cfg: Config) -> int:
        return cfg.train.iterations_for(planned_size(cfg.data))

    def config_for(self, swept: Mapping[str, Any]) -> Config:
        return Config.from_dict(merge_dotted(self.base_raw, swept))

    def max_evaluations(self) -> int:
        if self.early_stopping.max_evaluations:
            return self.early_stopping.max_evaluations
        configs = self.trial_configs() or [_assign(self.parameters, corner)
                                           for corner in itertools.product(*[_extremes(p) for p in self.parameters])]
        return max(self.evaluations(self.config_for(c)) for c in configs)


def _assign(parameters, values) -> dict:
    """Swept values as {dotted key: value}; a variant's mapping sets several keys at once."""
    out: dict = {}
    for p, v in zip(parameters, values):
        if p.variant:
            out.update(variant_settings(v))
        else:
            out[p.key] = v
    return out


def _extremes(p: Parameter) -> list:
    if p.values is not None:
        return list(p.values)
    return [int(p.low) if p.distribution == "int" else p.low, int(p.high) if p.distribution == "int" else p.high]


def _sample(p: Parameter, rng) -> Any:
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


def merge_dotted(base: Mapping, swept: Mapping[str, Any]) -> dict:
    out = copy.deepcopy(dict(base))
    for key, value in swept.items():
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def deep_merge(base: Mapping, override: Mapping) -> dict:
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) and k != "parameters":
            out[k] = deep_merge(out[k], v)
        elif k == "parameters" and isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = {**out[k], **v}  # a scale replaces whole parameter entries, keeps the others
        else:
            out[k] = copy.deepcopy(v)
    return out


# ---------------------------------------------------------------------------------------------
# Parsing with file/key/line in every error


MAX_SPEC_BYTES = 1_000_000  # a spec file's size
MAX_SPEC_NODES = 100_000  # values in a spec once its aliases are expanded


MAX_SPEC_DEPTH = 64  # nesting of mappings and lists


def _check_depth(text: str, source: str) -> None:
    """Refuse YAML nested deeper than MAX_SPEC_DEPTH, read as a flat stream of events (no recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_SPEC_DEPTH:
                raise SpecError(f"{source}, line {event.start_mark.line + 1}: the YAML is nested more than "
                                f"{MAX_SPEC_DEPTH} levels deep; a spec is a few levels deep.")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_aliases(node, source: str) -> None:
    """Refuse an alias that contains itself, and a spec whose aliases expand to more than MAX_SPEC_NODES
    values (a few hundred bytes of nested aliases can stand for billions), counting each node once."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(n) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        if id(n) in open_:
            raise SpecError(f"{source}, line {n.start_mark.line + 1}: a YAML alias refers to a value that contains "
                            "it (a recursive alias); write the value out instead.")
        open_.add(id(n))
        if isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in n.value)
        else:
            total = 1
        open_.discard(id(n))
        if total > MAX_SPEC_NODES:
            raise SpecError(f"{source}, line {n.start_mark.line + 1}: with its YAML aliases expanded the spec holds "
                            f"more than {MAX_SPEC_NODES} values; a spec may hold at most that many.")
        sizes[id(n)] = total
        return total

    if node is not None:
        size(node)


def _check_finite(value, ctx, path: tuple) -> None:
    """Every number of the spec is finite: NaN and infinity are refused where they stand."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ctx.fail(path, f"is {value!r}, but must be a finite number.")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, ctx, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, ctx, path + (i,))


class _Locator:
    """Maps key paths to line numbers of the YAML source."""

    def __init__(self, node):
        self.lines: dict[tuple, int] = {}
        self._seen: set[int] = set()  # a node an alias repeats is walked once, at its first place
        if node is not None:
            self._walk(node, ())

    def _walk(self, node, path):
        if id(node) in self._seen:
            return
        self._seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                p = path + (k.value,)
                self.lines[p] = k.start_mark.line + 1
                self._walk(v, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self.lines[path + (i,)] = v.start_mark.line + 1
                self._walk(v, path + (i,))

    def line(self, path: tuple) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


class _Ctx:
    def __init__(self, source: str, locator: _Locator, prefix: tuple = ()):
        self.source, self.locator, self.prefix = source, locator, prefix

    def fail(self, path: tuple, message: str) -> SpecError:
        full = self.prefix + tuple(path)
        dotted = ".".join(str(p) for p in full) or "(top level)"
        line = self.locator.line(full)
        where = f"{self.source}" + (f", line {line}" if line else "")
        return SpecError(f"{where}: `{dotted}`: {message}")


_TOP_KEYS = {
    "name", "description", "base", "parameters", "method", "metric", "mode", "early_stopping", "num_samples",
    "seeds", "resources", "max_concurrent", "max_failures", "search_seed", "evaluation", "final_num_samples", "scales",
    "published", "budget",
}
_PUBLISHED_KEYS = ("params", "metric", "value", "source", "extractor", "dataset", "samples", "spread", "statistic", "note")
STATISTICS = ("last", "best")  # a published figure is a run's last value or its best over training


def load_spec(path: str | Path, scale: str | None = None, seeds: list[int] | None = None) -> SweepSpec:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(f"{path}: cannot read the spec ({e.strerror}).") from None
    return parse_spec(text, source=str(path), scale=scale, seeds=seeds)


def parse_spec(text: str, source: str = "<string>", scale: str | None = None,
               seeds: list[int] | None = None) -> SweepSpec:
    """`seeds` replaces the spec's (after its scale), e.g. to rerun a sweep on another seed set."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"{source}: the spec is {len(text)} characters long; a spec may have at most {MAX_SPEC_BYTES}.")
    try:
        _check_depth(text, source)  # before the recursive composer meets it
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _check_aliases(node, source)  # before anything expands what aliases repeat
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise SpecError(f"{source}{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    except RecursionError:
        raise SpecError(f"{source}: the YAML is nested too deeply to read; a spec is a few levels deep.") from None
    ctx = _Ctx(source, _Locator(node))
    _check_finite(raw, ctx, ())
    if not isinstance(raw, dict):
        raise ctx.fail((), "a spec must be a mapping with at least `name`, `base` and `parameters`.")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ctx.fail((unknown[0],), f"unknown key; allowed keys: {', '.join(sorted(_TOP_KEYS))}.")
    scales = raw.pop("scales", None) or {}
    if not isinstance(scales, dict):
        raise ctx.fail(("scales",), "must map scale names (e.g. smoke) to overrides of this spec.")
    if scale is not None and scale not in scales:
        raise ctx.fail(("scales",), f"no scale {scale!r} in this spec; available: {', '.join(map(str, scales)) or 'none'}.")
    try:
        spec = _scaled(raw, scales, scale, ctx, source, seeds)
        # every other scale is checked too, so that a typo in one is found the day it is written, not the day it runs
        for other in scales:
            if other != scale:
                _scaled(raw, scales, other, ctx, source, None)
        if scale is not None:
            _scaled(raw, scales, None, ctx, source, None)
    except SpecError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as e:
        # a value of a type no check above foresaw: still an error about the spec, never a traceback
        raise SpecError(f"{source}: a value of an unexpected type or size ({type(e).__name__}: {e}); check the "
                        "keys against docs/spec.md.") from None
    return dataclasses.replace(spec, seeds_given=tuple(seeds)) if seeds is not None else spec


def _scaled(raw: dict, scales: dict, scale, ctx: _Ctx, source: str, seeds: list[int] | None) -> SweepSpec:
    """The spec at `scale` (None: as written), `seeds` replacing its seeds."""
    if scale is not None:
        override = scales[scale]
        if not isinstance(override, dict):
            raise ctx.fail(("scales", scale), "must be a mapping of spec keys to override.")
        bad = sorted(set(override) - (_TOP_KEYS - {"scales", "name"}), key=str)
        if bad:
            raise ctx.fail(("scales", scale, bad[0]), "cannot be overridden by a scale.")
        raw = deep_merge(raw, override)
    else:
        raw = copy.deepcopy(raw)
    if seeds is not None:
        raw["seeds"] = {**raw["seeds"], "values": list(seeds)} if isinstance(raw.get("seeds"), dict) else list(seeds)
    try:
        return _build_spec(raw, ctx, source, scale)
    except SpecError as e:
        if scale is None or str(e).startswith("in scale"):
            raise
        raise SpecError(f"in scale {scale!r}: {e}") from None


def _req_type(ctx, path, value, types, what):
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ctx.fail(path, f"is {value!r}, but must be {what}.")
    if not isinstance(value, types):
        raise ctx.fail(path, f"is {value!r}, but must be {what}.")
    return value


def _build_spec(raw: dict, ctx: _Ctx, source: str, scale: str | None) -> SweepSpec:
    for key in ("name", "base", "parameters"):
        if key not in raw:
            raise ctx.fail((key,), "is required.")
    name = _req_type(ctx, ("name",), raw["name"], str, "a string")
    if not name.strip() or any(c in name for c in "/\\"):
        raise ctx.fail(("name",), f"is {name!r}, but must be a non-empty name without slashes.")

    base_raw = raw["base"]
    if not isinstance(base_raw, dict):
        raise ctx.fail(("base",), "must be a training config mapping (data, model, loss, optim, train).")
    try:
        base = Config.from_dict(base_raw)
    except ConfigError as e:
        raise _config_error(ctx, ("base",), e) from None
    valid_keys = set(flatten(Config(train=base.train).to_dict()))

    method = raw.get("method", "grid")
    if method not in METHODS:
        raise ctx.fail(("method",), f"is {method!r}, but must be one of {', '.join(METHODS)}.")

    params_raw = raw["parameters"] or {}
    if not isinstance(params_raw, dict):
        raise ctx.fail(("parameters",), "must map dotted config keys (e.g. model.latent_dim) to a search domain.")
    parameters = []
    for key, dom in params_raw.items():
        parameters.append(_parse_parameter(ctx, key, dom, method, valid_keys))

    try:
        evaluation = EvalConfig.from_dict(raw.get("evaluation") or {})
    except ConfigError as e:
        raise _config_error(ctx, (), e) from None

    metric, min_effect = _parse_metric(ctx, raw.get("metric", FID))
    rankable = sorted(name for name, out in OUTPUTS.items() if out.direction)
    if metric not in rankable:
        raise ctx.fail(("metric",), f"is {metric!r}, but must be one of {', '.join(rankable)}.")
    producer = OUTPUTS[metric].producer
    if producer not in evaluation.metrics:
        raise ctx.fail(("metric",), f"{metric!r} is not computed: add `{producer}` to `evaluation.metrics` "
                                    f"(now {list(evaluation.metrics)}).")
    mode = raw.get("mode", OUTPUTS[metric].direction)
    if mode not in ("min", "max"):
        raise ctx.fail(("mode",), f"is {mode!r}, but must be min or max.")

    es_raw = raw.get("early_stopping") or {"type": "none"}
    if isinstance(es_raw, str):
        es_raw = {"type": es_raw}
    early = _dataclass_from(ctx, ("early_stopping",), EarlyStopping, es_raw)
    if early.type not in EARLY_STOPPING:
        raise ctx.fail(("early_stopping", "type"), f"is {early.type!r}, but must be one of: {', '.join(EARLY_STOPPING)}.")
    if early.grace_period < 1:
        raise ctx.fail(("early_stopping", "grace_period"), f"is {early.grace_period}, but must be >= 1 evaluation.")
    if early.max_evaluations is not None and early.max_evaluations < 1:
        raise ctx.fail(("early_stopping", "max_evaluations"), f"is {early.max_evaluations}, but must be >= 1 "
                                                              "evaluation (or null: the most any trial runs).")
    if early.reduction_factor <= 1:
        raise ctx.fail(("early_stopping", "reduction_factor"), f"is {early.reduction_factor}, but must be > 1.")

    num_samples = _req_type(ctx, ("num_samples",), raw.get("num_samples", 1), int, "an integer >= 1")
    if not 1 <= num_samples <= MAX_TRIALS:
        raise ctx.fail(("num_samples",), f"is {num_samples}, but must be from 1 to {MAX_TRIALS}.")
    seeds_raw = raw.get("seeds", [base.train.seed])
    adaptive = None
    if isinstance(seeds_raw, dict):
        adaptive, seeds_raw = _parse_adaptive(ctx, seeds_raw, method, early, num_samples, raw.get("budget"))
    if isinstance(seeds_raw, int) and not isinstance(seeds_raw, bool):
        if not 1 <= seeds_raw <= SEED_LIMIT:
            raise ctx.fail(("seeds",), f"is {seeds_raw}, but a count of seeds must be from 1 to {SEED_LIMIT}.")
        seeds_raw = list(range(seeds_raw))  # `seeds: 3` means seeds 0, 1, 2
    if isinstance(seeds_raw, list) and len(seeds_raw) > SEED_LIMIT:
        raise ctx.fail(("seeds",), f"lists {len(seeds_raw)} seeds; a configuration may have at most {SEED_LIMIT}.")
    if not (isinstance(seeds_raw, list) and seeds_raw and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                              for s in seeds_raw)):
        raise ctx.fail(("seeds",), f"is {seeds_raw!r}, but must be a non-empty list of integers >= 0 or a count.")
    if len(set(seeds_raw)) != len(seeds_raw):
        raise ctx.fail(("seeds",), f"has duplicates: {seeds_raw}.")
    if method == "optuna" and len(seeds_raw) > 1 and early.type == "asha":
        raise ctx.fail(("early_stopping",), "ASHA cannot be combined with seed replicates under `method: optuna`: it "
                                            "would stop seeds of one configuration one by one, and Optuna is told "
                                            "their mean. Use `early_stopping: none` with several seeds, or one seed.")
    if early.type == "race":
        _check_race(ctx, method, seeds_raw, adaptive, raw.get("max_concurrent", 0))
    if "train.seed" in {p.key for p in parameters}:
        raise ctx.fail(("parameters", "train.seed"), "is set by `seeds`; list the seeds there instead.")

    resources = _dataclass_from(ctx, ("resources",), Resources, raw.get("resources") or {})
    if resources.cpus <= 0 or resources.gpus < 0:
        raise ctx.fail(("resources",), f"cpus must be > 0 and gpus >= 0 (got cpus={resources.cpus}, gpus={resources.gpus}).")
    max_concurrent = _req_type(ctx, ("max_concurrent",), raw.get("max_concurrent", 0), int, "an integer >= 0")
    if not 0 <= max_concurrent <= MAX_TRIALS:
        raise ctx.fail(("max_concurrent",), f"is {max_concurrent}, but must be from 0 (as many as the resources allow) "
                                            f"to {MAX_TRIALS}.")
    max_failures = _req_type(ctx, ("max_failures",), raw.get("max_failures", 2), int, "an integer >= 0")
    if not 0 <= max_failures <= 100:
        raise ctx.fail(("max_failures",), f"is {max_failures}, but must be from 0 to 100 retries of a crashed trial.")
    search_seed = _req_type(ctx, ("search_seed",), raw.get("search_seed", 0), int, "an integer")
    final_n = raw.get("final_num_samples")
    if final_n is not None and (not isinstance(final_n, int) or isinstance(final_n, bool) or final_n < 10):
        raise ctx.fail(("final_num_samples",), f"is {final_n!r}, but must be an integer >= 10.")
    description = _req_type(ctx, ("description",), raw.get("description", ""), str, "a string")

    variants = {p.key: [level_label(v) for v in p.values] for p in parameters if p.variant}
    published = _parse_published(ctx, raw.get("published"), valid_keys, variants)
    budget = _parse_budget(ctx, raw.get("budget"), base, method, {p.key for p in parameters})

    spec = SweepSpec(
        name=name, base=base, base_raw=base_raw, parameters=tuple(parameters), method=method, metric=metric, mode=mode,
        min_effect=min_effect,
        early_stopping=early, num_samples=num_samples, seeds=tuple(seeds_raw), adaptive=adaptive, resources=resources,
        max_concurrent=max_concurrent, max_failures=max_failures, search_seed=search_seed, evaluation=evaluation,
        final_num_samples=final_n, description=description.strip(), published=published, budget=budget,
        source=source, scale=scale, raw=copy.deepcopy(raw),
    )
    _check_trial_count(spec, ctx)
    _check_every_trial_config(spec, ctx)
    return spec


MAX_TRIALS = 100_000  # trials one sweep may plan


def _check_trial_count(spec: SweepSpec, ctx: _Ctx) -> None:
    """The trials the spec plans, counted before any list of them is built."""
    combos = math.prod(len(p.values) for p in spec.parameters) if spec.method == "grid" else 1
    n = combos * spec.num_samples * len(spec.seeds) * max(1, len(spec.budget.hold))
    if n > MAX_TRIALS:
        raise ctx.fail(("parameters",) if spec.method == "grid" else ("num_samples",),
                       f"the spec plans {n} trials ({combos} configurations x {spec.num_samples} x {len(spec.seeds)} "
                       f"seeds); a sweep may plan at most {MAX_TRIALS}. Sweep fewer values, or split the sweep.")


def _check_race(ctx: _Ctx, method: str, seeds: list, adaptive, max_concurrent) -> None:
    """The race decides on all of a configuration's seeds at once, with every run of a round in existence."""
    if method == "optuna":
        raise ctx.fail(("early_stopping", "type"), "is race, which needs the configurations in advance (`method: "
                                                   "grid` or `random`); with optuna use asha with one seed, or none.")
    if adaptive is None and len(seeds) < 2:
        raise ctx.fail(("early_stopping", "type"), "is race, which compares configurations over their seeds: give at "
                                                   "least 2 seeds (or `seeds: {initial: 2, max: ...}`).")
    if max_concurrent:
        raise ctx.fail(("max_concurrent",), f"is {max_concurrent!r}, but the race waits at each rung for every run of "
                                            "the round, which must all exist: leave max_concurrent at 0 (the trials' "
                                            "resources pace them; a run waiting at a rung holds none).")


_ADAPTIVE_KEYS = ("initial", "max", "values")
SEED_LIMIT = 1000  # seeds per configuration a spec may ask for


def _parse_adaptive(ctx: _Ctx, raw: dict, method: str, early: EarlyStopping, num_samples: int, budget):
    """`seeds: {initial: n0, max: n1[, values: [...]]}` -> (AdaptiveSeeds, the n1 seed values in order)."""
    unknown = sorted(set(raw) - set(_ADAPTIVE_KEYS))
    if unknown:
        raise ctx.fail(("seeds", unknown[0]), f"unknown key; allowed keys: {', '.join(_ADAPTIVE_KEYS)}.")
    counts = {}
    for key in ("initial", "max"):
        if key not in raw:
            raise ctx.fail(("seeds",), f"needs `{key}`: seeds: {{initial: 2, max: 6}} starts every configuration "
                                       "with `initial` seeds and adds one per round, up to `max`, where the answer is open.")
        v = raw[key]
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= SEED_LIMIT:
            raise ctx.fail(("seeds", key), f"is {v!r}, but must be an integer from 1 to {SEED_LIMIT}.")
        counts[key] = v
    if counts["initial"] < 2:
        raise ctx.fail(("seeds", "initial"), f"is {counts['initial']}, but must be >= 2: the model needs the "
                                             "seed-to-seed variance of the first round to decide anything.")
    if counts["max"] < counts["initial"]:
        raise ctx.fail(("seeds", "max"), f"is {counts['max']}, but must be >= initial ({counts['initial']}).")
    values = raw.get("values", list(range(counts["max"])))
    if not (isinstance(values, list) and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in values)):
        raise ctx.fail(("seeds", "values"), f"is {values!r}, but must be a list of integers >= 0.")
    if len(values) != counts["max"]:
        raise ctx.fail(("seeds", "values"), f"lists {len(values)} seeds, but `max` is {counts['max']}: give one "
                                            "value per seed a configuration may get, in the order they are used.")
    if early.type == "asha":
        raise ctx.fail(("early_stopping",), "is asha, but adaptive seeds need `early_stopping: none` or `race`: ASHA "
                                            "stops single seeds, and a configuration's mean would mix rungs.")
    if (num_samples != 1 and method != "optuna") or budget:
        raise ctx.fail(("seeds",), "adaptive seeds run one grid under one budget: drop `num_samples` and `budget`, "
                                   "or give a list of seeds.")
    return AdaptiveSeeds(counts["initial"], counts["max"]), values


def _parse_budget(ctx: _Ctx, raw, base: Config, method: str, swept: set) -> Budget:
    """`budget: {hold: [epochs, iterations, seconds], iterations: N, seconds: S}` (or `budget: epochs`)."""
    if raw is None:
        return Budget()
    path = ("budget",)
    if isinstance(raw, str):
        raw = {"hold": [raw]}
    if isinstance(raw, dict) and isinstance(raw.get("hold"), str):
        raw = {**raw, "hold": [raw["hold"]]}
    budget = _dataclass_from(ctx, path, Budget, {k: v for k, v in raw.items() if k != "hold"} if isinstance(raw, dict) else raw)
    hold = raw.get("hold")
    if not (isinstance(hold, list) and hold and all(h in BUDGET_PLANS for h in hold)) or len(set(hold)) != len(hold):
        raise ctx.fail(path + ("hold",), f"is {hold!r}, but must be a non-empty list of distinct plans from "
                                         f"{', '.join(BUDGET_PLANS)}.")
    if method == "optuna" and len(hold) > 1:
        raise ctx.fail(path + ("hold",), "several budget plans need `method: grid` or `random`.")
    if "epochs" in hold and base.train.epochs is None and "train.epochs" not in swept:
        raise ctx.fail(path + ("hold",), "the epochs plan needs `base.train.epochs` (the budget it holds fixed).")
    if "seconds" in hold and not budget.seconds:
        raise ctx.fail(path + ("seconds",), "the seconds plan needs `seconds`: the training time per trial.")
    if budget.seconds is not None and budget.seconds <= 0:
        raise ctx.fail(path + ("seconds",), f"is {budget.seconds}, but must be > 0.")
    if budget.iterations is not None and budget.iterations < 1:
        raise ctx.fail(path + ("iterations",), f"is {budget.iterations}, but must be >= 1.")
    if "iterations" in hold and budget.iterations is None and "epochs" not in hold and base.train.epochs is None:
        raise ctx.fail(path + ("iterations",), "the iterations plan needs `iterations`, or an epochs budget to "
                                               "derive it from (the largest data subset's iterations).")
    return dataclasses.replace(budget, hold=tuple(hold))


def _parse_metric(ctx, raw) -> tuple[str, float | None]:
    """`metric: fid`, or `metric: {name: fid, min_effect: 10}`: the ranking metric and the difference, in
    its units, that the report plans seeds for."""
    if not isinstance(raw, dict):
        return raw, None
    bad = sorted(set(raw) - {"name", "min_effect"})
    if bad:
        raise ctx.fail(("metric", bad[0]), "unknown key; allowed: name, min_effect.")
    if "name" not in raw:
        raise ctx.fail(("metric",), "needs `name` (e.g. {name: fid, min_effect: 10}).")
    min_effect = raw.get("min_effect")
    if min_effect is not None:
        if isinstance(min_effect, bool) or not isinstance(min_effect, (int, float)) or not (
                math.isfinite(min_effect) and min_effect > 0):
            raise ctx.fail(("metric", "min_effect"), f"is {min_effect!r}, but must be a number > 0: the difference, "
                                                     f"in the metric's units, worth detecting.")
        min_effect = float(min_effect)
    return raw["name"], min_effect


def _parse_published(ctx: _Ctx, raw, valid_keys: set, variants: dict) -> tuple[PublishedFigure, ...]:
    """`published: {source, extractor, dataset, samples, results: [{params, metric, value, ...}, ...]}`; the
    mapping's fields are defaults for every result, which may override them. `params` pick a configuration
    by config keys, or by a variant parameter's key and one of its level labels (e.g. `variant: compact`)."""
    if raw is None:
        return ()
    path = ("published",)
    if not isinstance(raw, dict) or not isinstance(raw.get("results"), list) or not raw["results"]:
        raise ctx.fail(path, "must be a mapping with `source` and a non-empty list `results` of "
                             "{params: {...}, metric: ..., value: ...} (optional: extractor, dataset, samples, spread, statistic, note).")
    bad = sorted(set(raw) - (set(_PUBLISHED_KEYS) - {"params", "metric", "value"}) - {"results"})
    if bad:
        raise ctx.fail(path + (bad[0],), f"unknown key; allowed: results, {', '.join(k for k in _PUBLISHED_KEYS if k not in ('params', 'metric', 'value'))}.")
    defaults = {k: v for k, v in raw.items() if k != "results"}
    out = []
    for i, entry in enumerate(raw["results"]):
        where = path + ("results", i)
        if not isinstance(entry, dict):
            raise ctx.fail(where, "must be a mapping {params: {...}, metric: ..., value: ...}.")
        bad = sorted(set(entry) - set(_PUBLISHED_KEYS))
        if bad:
            raise ctx.fail(where + (bad[0],), f"unknown key; allowed: {', '.join(_PUBLISHED_KEYS)}.")
        item = {**defaults, **entry}
        for key in ("params", "metric", "value", "source"):
            if key not in item:
                raise ctx.fail(where, f"`{key}` is required (here or in `published`).")
        params = item["params"]
        if not isinstance(params, dict) or not params:
            raise ctx.fail(where + ("params",), "must map dotted config keys to the values of one configuration.")
        for k, v in params.items():
            if k in variants:
                if str(v) not in variants[k]:
                    raise ctx.fail(where + ("params", k), f"is {v!r}, but must be one of the variant's levels: "
                                                          f"{', '.join(variants[k])}.")
            elif k not in valid_keys:
                raise ctx.fail(where + ("params", k), "is not a key of the training config (or a variant parameter).")
        metric = item["metric"]
        if not isinstance(metric, str) or metric not in OUTPUTS:
            raise ctx.fail(where + ("metric",), f"is {metric!r}, but must be one of {', '.join(sorted(OUTPUTS))}.")
        for key in ("value", "spread"):
            v = item.get(key)
            if (v is not None or key == "value") and (not isinstance(v, (int, float)) or isinstance(v, bool)):
                raise ctx.fail(where + (key,), f"is {v!r}, but must be a number.")
        samples = item.get("samples")
        if samples is not None and (not isinstance(samples, int) or isinstance(samples, bool) or samples < 1):
            raise ctx.fail(where + ("samples",), f"is {samples!r}, but must be a positive integer or null.")
        for key in ("source", "extractor", "dataset", "note"):
            if item.get(key) is not None and not isinstance(item[key], str):
                raise ctx.fail(where + (key,), f"is {item[key]!r}, but must be a string.")
        statistic = item.get("statistic", "last")
        if statistic not in STATISTICS:
            raise ctx.fail(where + ("statistic",), f"is {statistic!r}, but must be one of {', '.join(STATISTICS)} "
                                                   "(the value at the end of training, or the best over training).")
        out.append(PublishedFigure(params=dict(params), metric=metric, value=float(item["value"]), source=item["source"],
                             extractor=item.get("extractor"), dataset=item.get("dataset"), samples=samples,
                             spread=None if item.get("spread") is None else float(item["spread"]),
                             statistic=statistic, note=item.get("note") or ""))
    return tuple(out)


def _config_error(ctx: _Ctx, prefix: tuple, e: ConfigError) -> SpecError:
    """Turn a ConfigError about `model.latent_dim` into one located at base.model.latent_dim."""
    import re

    m = re.search(r"`([A-Za-z0-9_.\-]+)`", str(e))
    path = prefix + tuple(m.group(1).split(".")) if m else prefix
    line = ctx.locator.line(path)
    where = f"{ctx.source}" + (f", line {line}" if line else "")
    shown = ".".join(prefix)
    return SpecError(f"{where}: {('in `' + shown + '`: ') if shown else ''}{e}")


def _dataclass_from(ctx, path, cls, raw):
    if not isinstance(raw, dict):
        raise ctx.fail(path, f"must be a mapping with keys {', '.join(f.name for f in dataclasses.fields(cls))}.")
    names = {f.name: f for f in dataclasses.fields(cls)}
    for k, v in raw.items():
        if k not in names:
            raise ctx.fail(path + (k,), f"unknown key; allowed: {', '.join(names)}.")
        want = names[k].type
        ok = (isinstance(v, (int, float)) and not isinstance(v, bool)) if "float" in str(want) else \
             (isinstance(v, int) and not isinstance(v, bool)) if "int" in str(want) else isinstance(v, str)
        if v is None and "None" in str(want):
            ok = True
        if not ok:
            raise ctx.fail(path + (k,), f"is {v!r}, but must be {want}.")
    return cls(**raw)


def _parse_parameter(ctx, key, dom, method, valid_keys) -> Parameter:
    path = ("parameters", key)
    values = dom.get("values") if isinstance(dom, dict) else dom if isinstance(dom, list) else None
    if isinstance(values, list) and values and all(isinstance(v, dict) for v in values):
        # a variant: each value sets several config keys together, e.g. {loss.label_smoothing: 0.15,
        # loss.label_smoothing_random: true}
        if method == "optuna":
            raise ctx.fail(path, "variants (values that are mappings) need `method: grid` or `random`.")
        if isinstance(dom, dict) and set(dom) - {"values", "baseline"}:
            raise ctx.fail(path, "a variant takes only `values: [{key: value, ...}, ...]` and `baseline`.")
        for i, v in enumerate(values):
            for k in v:
                if k == VARIANT_NAME:
                    if not isinstance(v[k], str) or not v[k]:
                        raise ctx.fail(path + ("values", i, k), f"is {v[k]!r}, but must be a non-empty string "
                                                                "(the variant's name in tables and plots).")
                elif k not in valid_keys:
                    raise ctx.fail(path + ("values", i, k), "is not a key of the training config (or `name`).")
            if not variant_settings(v):
                raise ctx.fail(path + ("values", i), "sets no config key; a variant sets at least one.")
        names = [v[VARIANT_NAME] for v in values if VARIANT_NAME in v]
        if len(set(names)) != len(names):
            raise ctx.fail(path, f"variant names must differ; got {names}.")
        baseline = dom.get("baseline") if isinstance(dom, dict) else None
        if isinstance(baseline, str):  # a named variant, by its name
            baseline = next((v for v in values if v.get(VARIANT_NAME) == baseline), baseline)
        if baseline is not None and baseline not in values:
            raise ctx.fail(path + ("baseline",), f"is {baseline!r}, but must be one of the values (or a variant's "
                                                 f"name): {values}.")
        return Parameter(str(key), values=tuple(values), variant=True, baseline=baseline)
    if not isinstance(key, str) or key not in valid_keys:
        close = sorted(k for k in valid_keys if isinstance(key, str) and k.split(".")[-1] == key.split(".")[-1])
        hint = f" Did you mean {', '.join(close)}?" if close else " Keys look like model.latent_dim or data.dataset_fraction."
        raise ctx.fail(path, f"is not a key of the training config.{hint}")
    if isinstance(dom, list):
        dom = {"values": dom}
    if not isinstance(dom, dict):
        raise ctx.fail(path, "must be `{values: [...]}` or `{distribution: uniform|loguniform|int|choice, low, high}`.")
    allowed = {"values", "distribution", "low", "high", "step", "baseline"}
    bad = sorted(set(dom) - allowed)
    if bad:
        raise ctx.fail(path + (bad[0],), f"unknown key; allowed: {', '.join(sorted(allowed))}.")
    dist = dom.get("distribution")
    values = dom.get("values")
    if dist is not None and dist not in DISTRIBUTIONS:
        raise ctx.fail(path + ("distribution",), f"is {dist!r}, but must be one of {', '.join(DISTRIBUTIONS)}.")
    if dist in (None, "choice"):
        if not isinstance(values, list) or not values:
            raise ctx.fail(path + ("values",), "must be a non-empty list.")
        if any(k in dom for k in ("low", "high", "step")):
            raise ctx.fail(path, "give either `values` or a distribution with `low`/`high`, not both.")
        try:
            if len({yaml.safe_dump(v) for v in values}) != len(values):
                raise ctx.fail(path + ("values",), f"has duplicates: {values}.")
        except yaml.YAMLError:
            pass
        baseline = dom.get("baseline")
        if baseline is not None and baseline not in values:
            raise ctx.fail(path + ("baseline",), f"is {baseline!r}, but must be one of the values: {values}.")
        as_tuple = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
        return Parameter(key, values=tuple(as_tuple(v) for v in values), distribution=dist,
                         baseline=as_tuple(baseline))
    if method == "grid":
        raise ctx.fail(path + ("distribution",), f"`{dist}` cannot be enumerated by `method: grid`; "
                                                 "use `values: [...]`, or `method: random` or `optuna`.")
    for bound in ("low", "high"):
        v = dom.get(bound)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ctx.fail(path + (bound,), f"is {v!r}, but must be a number.")
    low, high, step = dom["low"], dom["high"], dom.get("step")
    if low >= high:
        raise ctx.fail(path, f"bounds are the wrong way round or empty: low={low} must be < high={high}.")
    if dist == "loguniform" and low <= 0:
        raise ctx.fail(path + ("low",), f"is {low}, but loguniform needs low > 0.")
    if dist == "int" and (int(low) != low or int(high) != high):
        raise ctx.fail(path, f"int bounds must be integers (low={low}, high={high}).")
    if step is not None and (not isinstance(step, (int, float)) or step <= 0):
        raise ctx.fail(path + ("step",), f"is {step!r}, but must be a number > 0.")
    if dist == "loguniform" and step is not None:
        raise ctx.fail(path + ("step",), "loguniform does not take a step.")
    if "baseline" in dom:
        raise ctx.fail(path + ("baseline",), "a continuous distribution has no levels to compare; `baseline` "
                                             "needs `values`.")
    return Parameter(key, distribution=dist, low=low, high=high, step=step)


def _check_every_trial_config(spec: SweepSpec, ctx: _Ctx) -> None:
    """Build the training config of every grid point (or every distribution corner) so a bad value fails now."""
    trial_values = spec.trial_configs() if spec.method != "optuna" else []
    corners = [_assign(spec.parameters, corner)
               for corner in itertools.product(*[_extremes(p) for p in spec.parameters])]
    for swept in (trial_values[:500] or []) + corners[:256]:
        try:
            spec.config_for(swept)
        except ConfigError as e:
            key = next((k for k in swept if f"`{k}`" in str(e)), None)
            path = ("parameters", key) if key else ("base",)
            raise ctx.fail(path, f"with {', '.join(f'{k}={v!r}' for k, v in swept.items() if k != 'train.seed')}: {e}") from None
