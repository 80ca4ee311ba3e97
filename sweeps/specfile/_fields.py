"""The parsers of a spec's keys that hold more than one value (a parameter's domain, seeds, the budget,
the metric, published figures), each failing with the file, key path and line (sweeps.specfile._yaml.Ctx)."""

from __future__ import annotations

import dataclasses
import math
import re
import typing

import yaml

from gan.config import Config, ConfigError, check_type, type_name
from gan.metrics import OUTPUTS
from record.design import VARIANT_NAME, variant_settings
from record.figures import PublishedFigure
from sweeps.specfile._yaml import Ctx, SpecError
from sweeps.specfile.schema import (BUDGET_PLANS, DISTRIBUTIONS, SEED_LIMIT, STATISTICS, AdaptiveSeeds, Budget,
                               EarlyStopping, Parameter)

__all__ = ["check_race", "config_error", "dataclass_from", "parse_adaptive", "parse_budget", "parse_metric",
           "parse_parameter", "parse_published", "req_type"]


PUBLISHED_KEYS = (
    "params",
    "metric",
    "value",
    "source",
    "extractor",
    "dataset",
    "samples",
    "spread",
    "statistic",
    "note",
)
ADAPTIVE_KEYS = ("initial", "max", "values")


def req_type(ctx, path, value, types, what):
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ctx.fail(path, f"is {value!r}, but must be {what}.")
    if not isinstance(value, types):
        raise ctx.fail(path, f"is {value!r}, but must be {what}.")
    return value


def config_error(ctx: Ctx, prefix: tuple, e: ConfigError) -> SpecError:
    """Turn a ConfigError about `model.latent_dim` into one located at base.model.latent_dim."""
    m = re.search(r"`([A-Za-z0-9_.\-]+)`", str(e))
    path = prefix + tuple(m.group(1).split(".")) if m else prefix
    line = ctx.locator.line(path)
    where = f"{ctx.source}" + (f", line {line}" if line else "")
    shown = ".".join(prefix)
    return SpecError(f"{where}: {('in `' + shown + '`: ') if shown else ''}{e}")


def dataclass_from(ctx, path, cls, raw):
    """One of the spec's small dataclasses from its mapping, each value checked against the field's type
    by the config's own checker (gan.config.check_type)."""
    if not isinstance(raw, dict):
        raise ctx.fail(path, f"must be a mapping with keys {', '.join(f.name for f in dataclasses.fields(cls))}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for k, v in raw.items():
        if k not in names:
            raise ctx.fail(path + (k,), f"unknown key; allowed: {', '.join(names)}.")
        ok, values[k] = check_type(v, hints[k])
        if not ok:
            raise ctx.fail(path + (k,), f"is {v!r}, but must be {type_name(hints[k])}.")
    return cls(**values)


def check_race(ctx: Ctx, method: str, seeds: list, adaptive, max_concurrent) -> None:
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


def parse_adaptive(ctx: Ctx, raw: dict, method: str, early: EarlyStopping, num_samples: int, budget):
    """`seeds: {initial: n0, max: n1[, values: [...]]}` -> (AdaptiveSeeds, the n1 seed values in order)."""
    unknown = sorted(set(raw) - set(ADAPTIVE_KEYS))
    if unknown:
        raise ctx.fail(("seeds", unknown[0]), f"unknown key; allowed keys: {', '.join(ADAPTIVE_KEYS)}.")
    counts = {}
    for key in ("initial", "max"):
        if key not in raw:
            raise ctx.fail(
                ("seeds",),
                f"needs `{key}`: seeds: {{initial: 2, max: 6}} starts every configuration "
                "with `initial` seeds and adds one per round, up to `max`, where the answer is open.",
            )
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
    if not (
        isinstance(values, list) and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in values)
    ):
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


def parse_budget(ctx: Ctx, raw, base: Config, method: str, swept: set) -> Budget:
    """`budget: {hold: [epochs, iterations, seconds], iterations: N, seconds: S}` (or `budget: epochs`)."""
    if raw is None:
        return Budget()
    path = ("budget",)
    if isinstance(raw, str):
        raw = {"hold": [raw]}
    if isinstance(raw, dict) and isinstance(raw.get("hold"), str):
        raw = {**raw, "hold": [raw["hold"]]}
    budget = dataclass_from(
        ctx, path, Budget, {k: v for k, v in raw.items() if k != "hold"} if isinstance(raw, dict) else raw
    )
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


def parse_metric(ctx, raw) -> tuple[str, float | None]:
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


def parse_published(ctx: Ctx, raw, valid_keys: set, variants: dict) -> tuple[PublishedFigure, ...]:
    """`published: {source, extractor, dataset, samples, results: [{params, metric, value, ...}, ...]}`; the
    mapping's fields are defaults for every result, which may override them. `params` pick a configuration
    by config keys, or by a variant parameter's key and one of its level labels (e.g. `variant: compact`)."""
    if raw is None:
        return ()
    path = ("published",)
    if not isinstance(raw, dict) or not isinstance(raw.get("results"), list) or not raw["results"]:
        raise ctx.fail(
            path,
            "must be a mapping with `source` and a non-empty list `results` of "
            "{params: {...}, metric: ..., value: ...} "
            "(optional: extractor, dataset, samples, spread, statistic, note).",
        )
    bad = sorted(set(raw) - (set(PUBLISHED_KEYS) - {"params", "metric", "value"}) - {"results"})
    if bad:
        raise ctx.fail(
            path + (bad[0],),
            "unknown key; allowed: results, "
            + ", ".join(k for k in PUBLISHED_KEYS if k not in ("params", "metric", "value")) + ".",
        )
    defaults = {k: v for k, v in raw.items() if k != "results"}
    out = []
    for i, entry in enumerate(raw["results"]):
        where = path + ("results", i)
        if not isinstance(entry, dict):
            raise ctx.fail(where, "must be a mapping {params: {...}, metric: ..., value: ...}.")
        bad = sorted(set(entry) - set(PUBLISHED_KEYS))
        if bad:
            raise ctx.fail(where + (bad[0],), f"unknown key; allowed: {', '.join(PUBLISHED_KEYS)}.")
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
        out.append(
            PublishedFigure(
                params=dict(params),
                metric=metric,
                value=float(item["value"]),
                source=item["source"],
                extractor=item.get("extractor"),
                dataset=item.get("dataset"),
                samples=samples,
                spread=None if item.get("spread") is None else float(item["spread"]),
                statistic=statistic,
                note=item.get("note") or "",
            )
        )
    return tuple(out)


def parse_parameter(ctx, key, dom, method, valid_keys) -> Parameter:
    path = ("parameters", key)
    values = dom.get("values") if isinstance(dom, dict) else dom if isinstance(dom, list) else None
    if isinstance(values, list) and values and all(isinstance(v, dict) for v in values):
        return _parse_variant(ctx, key, dom, values, method, valid_keys)
    if not isinstance(key, str) or key not in valid_keys:
        close = sorted(k for k in valid_keys if isinstance(key, str) and k.split(".")[-1] == key.split(".")[-1])
        hint = (
            f" Did you mean {', '.join(close)}?"
            if close
            else " Keys look like model.latent_dim or data.dataset_fraction."
        )
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
    return _parse_distribution(ctx, key, dom, dist, method)


def _parse_variant(ctx, key, dom, values: list, method: str, valid_keys) -> Parameter:
    """A variant: each value sets several config keys together, e.g. {loss.label_smoothing: 0.15,
    loss.label_smoothing_random: true}, optionally named (`name: compact`)."""
    path = ("parameters", key)
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


def _parse_distribution(ctx, key, dom: dict, dist: str, method: str) -> Parameter:
    """A continuous (or integer) range `{distribution, low, high[, step]}`, for random and Optuna search."""
    path = ("parameters", key)
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
