"""YAML text -> a validated `SweepSpec`, in one place, before Ray starts: the top-level keys, scales
(every scale is checked, not only the one asked for), and every trial's training config built once."""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import Mapping


from gan import DATASETS
from gan.config import Config, ConfigError, flatten
from gan.data import dataset_info
from gan.registration import PluginError, check_plugin_names, import_plugins
from gan.metrics import FID, OUTPUTS, EvalConfig
from record.design import level_label
from record.names import SEED
from sweeps.specfile._claims import parse_claims
from sweeps.specfile._packing import check_packing
from sweeps.specfile._own import check_own_config, load_function, parse_own
from sweeps.specfile._fields import (config_error, dataclass_from, parse_adaptive, parse_budget, parse_metric,
                                 parse_parameter, parse_published, check_race, req_type)
from sweeps.specfile._yaml import TOP_KEYS, Ctx, SpecError, read_spec_text, read_yaml
from sweeps.specfile.schema import EARLY_STOPPING, MAX_TRIALS, METHODS, SEED_LIMIT, EarlyStopping, Resources, SweepSpec

__all__ = ["load_spec", "parse_spec"]




def load_spec(path: str | Path, scale: str | None = None, seeds: list[int] | None = None) -> SweepSpec:
    path = Path(path)
    return parse_spec(read_spec_text(path), source=str(path), scale=scale, seeds=seeds)


def parse_spec(text: str, source: str = "<string>", scale: str | None = None,
               seeds: list[int] | None = None) -> SweepSpec:
    """`seeds` replaces the spec's (after its scale), e.g. to rerun a sweep on another seed set."""
    raw, ctx = read_yaml(text, source)
    _import_plugins(raw, ctx, source)  # before any config is built: they register the names it may use
    scales = raw.pop("scales", None) or {}
    if not isinstance(scales, dict):
        raise ctx.fail(("scales",), "must map scale names (e.g. smoke) to overrides of this spec.")
    for name in scales:  # a scale's name becomes part of its sweep folder's name
        _check_folder_name(ctx, ("scales", name), name, "a scale's name")
    if scale is not None and scale not in scales:
        raise ctx.fail(
            ("scales",), f"no scale {scale!r} in this spec; available: {', '.join(map(str, scales)) or 'none'}."
        )
    try:
        spec = _scaled(raw, scales, scale, ctx, source, seeds)
        # every other scale is checked too, so that a typo in one is found the day it is written, not the day it runs
        for other in scales:
            if other != scale:
                _scaled(raw, scales, other, ctx, source, None)
        if scale is not None:
            _scaled(raw, scales, None, ctx, source, None)
    except ConfigError as e:  # a config value the typed config refused: its message names the key
        raise SpecError(f"{source}: {e}") from None
    return dataclasses.replace(spec, seeds_given=tuple(seeds)) if seeds is not None else spec


def _scaled(raw: dict, scales: dict, scale, ctx: Ctx, source: str, seeds: list[int] | None) -> SweepSpec:
    """The spec at `scale` (None: as written), `seeds` replacing its seeds."""
    if scale is not None:
        override = scales[scale]
        if not isinstance(override, dict):
            raise ctx.fail(("scales", scale), "must be a mapping of spec keys to override.")
        bad = sorted(set(override) - (TOP_KEYS - {"scales", "name", "plugins"}), key=str)
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


def _import_plugins(raw: dict, ctx: Ctx, source: str) -> None:
    """Import the spec's plugin modules (the spec's folder is searched after the import path)."""
    if "plugins" not in raw:
        return
    try:
        import_plugins(check_plugin_names(raw["plugins"]), Path(source).parent if Path(source).is_file() else None)
    except PluginError as e:
        raise ctx.fail(("plugins",), str(e)) from None


def deep_merge(base: Mapping, override: Mapping) -> dict:
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) and k != "parameters":
            out[k] = deep_merge(out[k], v)
        elif k == "parameters" and isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            # a scale replaces whole parameter entries, keeps the others, and drops those it sets to null
            out[k] = {name: entry for name, entry in {**out[k], **v}.items() if not (name in v and entry is None)}
        else:
            out[k] = copy.deepcopy(v)
    return out


MAX_NAME_BYTES = 100  # a sweep's folder is named from its spec's name and scale; file systems cap a name at 255 bytes


def _check_folder_name(ctx: Ctx, path: tuple, value, what: str) -> None:
    """A name that becomes part of a sweep folder's name: text, one path component, printable."""
    if not isinstance(value, str):
        raise ctx.fail(path, f"{what} is {value!r}, but must be text.")
    bad = [c for c in value if c in "/\\" or not c.isprintable()]
    size = len(value.encode("utf-8", "surrogatepass"))
    if not value.strip() or value.strip(".") == "" or bad or size > MAX_NAME_BYTES:
        raise ctx.fail(path, f"{what} is {value[:MAX_NAME_BYTES]!r}{'...' if len(value) > MAX_NAME_BYTES else ''}, "
                             f"but must be a non-empty name of printable characters, at most {MAX_NAME_BYTES} bytes "
                             "in UTF-8, without slashes, and not only dots (it names the sweep's folder).")


def _build_spec(raw: dict, ctx: Ctx, source: str, scale: str | None) -> SweepSpec:
    own = own_config = None
    for key in ("name", "parameters") + (() if "trainable" in raw else ("base",)):
        if key not in raw:
            raise ctx.fail((key,), "is required.")
    name = req_type(ctx, ("name",), raw["name"], str, "a string")
    _check_folder_name(ctx, ("name",), name, "the name")
    spec_dir = Path(source).parent if Path(source).is_file() else None
    if "trainable" in raw:  # the user's own function: their config instead of the built-in trainer's
        own, own_config, valid_keys = parse_own(ctx, raw, spec_dir)
        # the built-in trainer's config stays at its defaults, which nothing of this sweep trains or reads
        base_raw, base = {}, Config.from_dict({"train": {"iterations": 1}})
    else:
        if "config" in raw:
            raise ctx.fail(("config",), "is the config of your own training function (`trainable`); the built-in "
                                        "trainer's goes under `base`.")
        base_raw = raw["base"]
        if not isinstance(base_raw, dict):
            raise ctx.fail(("base",), "must be a training config mapping (data, model, loss, optim, train).")
        try:
            base = Config.from_dict(base_raw)
        except ConfigError as e:
            raise config_error(ctx, ("base",), e) from None
        _check_user_files(ctx, base)
        valid_keys = set(flatten(Config(train=base.train).to_dict()))
    method = raw.get("method", "grid")
    if method not in METHODS:
        raise ctx.fail(("method",), f"is {method!r}, but must be one of {', '.join(METHODS)}.")
    params_raw = raw["parameters"] or {}
    if not isinstance(params_raw, dict):
        raise ctx.fail(("parameters",), "must map dotted config keys (e.g. model.latent_dim) to a search domain.")
    parameters = [parse_parameter(ctx, key, dom, method, valid_keys) for key, dom in params_raw.items()]
    if SEED in {p.key for p in parameters}:
        raise ctx.fail(("parameters", SEED), "is set by `seeds`; list the seeds there instead.")
    evaluation, metric, mode, min_effect = _parse_ranking(ctx, raw) if own is None else _parse_own_ranking(ctx, raw)
    early = _parse_early_stopping(ctx, raw.get("early_stopping") or {"type": "none"})
    num_samples = req_type(ctx, ("num_samples",), raw.get("num_samples", 1), int, "an integer >= 1")
    if not 1 <= num_samples <= MAX_TRIALS:
        raise ctx.fail(("num_samples",), f"is {num_samples}, but must be from 1 to {MAX_TRIALS}.")
    seeds, adaptive = _parse_seeds(ctx, raw, base, method, early, num_samples)
    variants = {p.key: [level_label(v) for v in p.values] for p in parameters if p.variant}
    budget = parse_budget(ctx, raw.get("budget"), base, method, {p.key for p in parameters})
    spec = SweepSpec(
        name=name, base=base, base_raw=base_raw, parameters=tuple(parameters), method=method, metric=metric, mode=mode,
        min_effect=min_effect, early_stopping=early, num_samples=num_samples, seeds=seeds, adaptive=adaptive,
        evaluation=evaluation, published=parse_published(ctx, raw.get("published"), valid_keys, variants),
        claims=parse_claims(ctx, raw.get("claims"), parameters, metric,
                            tuple(evaluation.metrics) if own is None else None,
                            evaluation.extractor if own is None else "your own", base.data.name if own is None else "",
                            budget.hold),
        budget=budget,
        source=source, scale=scale, raw=copy.deepcopy(raw), plugins=_plugins(raw, own),
        trainable=own, user_config=own_config or {},
        **_parse_running(ctx, raw),
    )
    _check_trial_count(spec, ctx)
    if own is None:
        _check_every_trial_config(spec, ctx)
    elif own.config_class:
        cls = load_function(own.config_class, spec_dir)
        for swept in (spec.trial_configs() if method != "optuna" else []) + spec.corners()[:256]:
            check_own_config(ctx, cls, dict(spec.config_for({**swept, SEED: spec.seeds[0]})), ("config",))
    if spec.resources.pack_seeds:
        check_packing(ctx, spec)
    return spec


def _plugins(raw: dict, own) -> tuple[str, ...]:
    """The spec's plugins, and the module of the user's own training function, which every trial imports and
    a cluster's workers need shipped alike."""
    names = check_plugin_names(raw.get("plugins", []))
    if own is not None:
        for path in (own.function, own.config_class):
            module = path.split(":")[0] if path else None
            if module and module not in names:
                names = (*names, module)
    return names


def _parse_own_ranking(ctx: Ctx, raw: dict):
    """The metric the user's function reports and its direction: a gansweep metric's own, else `mode`."""
    if "metric" not in raw:
        raise ctx.fail(("metric",), "is required with `trainable`: the metric your function reports that ranks the "
                                    "trials (e.g. fid).")
    metric, min_effect = parse_metric(ctx, raw["metric"])
    if not isinstance(metric, str) or not metric.strip():
        raise ctx.fail(("metric",), f"is {metric!r}, but must be the name of a metric your function reports.")
    mode = raw.get("mode", OUTPUTS[metric].direction if metric in OUTPUTS else None)
    if mode not in ("min", "max"):
        raise ctx.fail(("mode",), f"is {mode!r}, but must be min or max: whether lower or higher {metric} is "
                                  "better.")
    return EvalConfig(), metric, mode, min_effect


def _check_user_files(ctx: Ctx, base: Config) -> None:
    """A dataset that is the user's own files (image_folder, npz) is read now, before any work: its path,
    its format, and whether it has the labels a conditional model needs (`_check_user_data`), said at the
    base's key."""
    try:
        _check_user_data(base)
    except _UserFilesError as e:
        raise ctx.fail(("base", *e.key.split(".")), e.text) from None
    except ConfigError as e:
        raise config_error(ctx, ("base",), e) from None


def _parse_ranking(ctx: Ctx, raw: dict) -> tuple[EvalConfig, str, str, float | None]:
    """The evaluation, the metric that ranks trials (computed by it), its direction and the min_effect."""
    try:
        evaluation = EvalConfig.from_dict(raw.get("evaluation") or {})
    except ConfigError as e:
        raise config_error(ctx, (), e) from None
    metric, min_effect = parse_metric(ctx, raw.get("metric", FID))
    rankable = sorted(name for name, out in OUTPUTS.items() if out.ranks)
    if metric not in rankable:
        raise ctx.fail(("metric",), f"is {metric!r}, but must be one of {', '.join(rankable)}.")
    producer = OUTPUTS[metric].producer
    if producer not in evaluation.metrics:
        raise ctx.fail(("metric",), f"{metric!r} is not computed: add `{producer}` to `evaluation.metrics` "
                                    f"(now {list(evaluation.metrics)}).")
    mode = raw.get("mode", OUTPUTS[metric].direction)
    if mode not in ("min", "max"):
        raise ctx.fail(("mode",), f"is {mode!r}, but must be min or max.")
    return evaluation, metric, mode, min_effect


def _parse_early_stopping(ctx: Ctx, es_raw) -> EarlyStopping:
    if isinstance(es_raw, str):
        es_raw = {"type": es_raw}
    early = dataclass_from(ctx, ("early_stopping",), EarlyStopping, es_raw)
    if early.type not in EARLY_STOPPING:
        raise ctx.fail(
            ("early_stopping", "type"), f"is {early.type!r}, but must be one of: {', '.join(EARLY_STOPPING)}."
        )
    if early.grace_period < 1:
        raise ctx.fail(("early_stopping", "grace_period"), f"is {early.grace_period}, but must be >= 1 evaluation.")
    if early.max_evaluations is not None and early.max_evaluations < 1:
        raise ctx.fail(("early_stopping", "max_evaluations"), f"is {early.max_evaluations}, but must be >= 1 "
                                                              "evaluation (or null: the most any trial runs).")
    if early.reduction_factor <= 1:
        raise ctx.fail(("early_stopping", "reduction_factor"), f"is {early.reduction_factor}, but must be > 1.")
    return early


def _parse_seeds(ctx: Ctx, raw: dict, base: Config, method: str, early: EarlyStopping, num_samples: int):
    """(the seeds, in order; adaptive seeds or None) from `seeds`: a list, a count, or {initial, max}."""
    seeds_raw = raw.get("seeds", [base.train.seed])
    adaptive = None
    if isinstance(seeds_raw, dict):
        adaptive, seeds_raw = parse_adaptive(ctx, seeds_raw, method, early, num_samples, raw.get("budget"))
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
        check_race(ctx, method, seeds_raw, adaptive, raw.get("max_concurrent", 0))
    return tuple(seeds_raw), adaptive


def _parse_running(ctx: Ctx, raw: dict) -> dict:
    """How the trials run: resources, concurrency, retries, the search's seed, final samples, description."""
    resources = dataclass_from(ctx, ("resources",), Resources, raw.get("resources") or {})
    if resources.cpus <= 0 or resources.gpus < 0:
        raise ctx.fail(
            ("resources",), f"cpus must be > 0 and gpus >= 0 (got cpus={resources.cpus}, gpus={resources.gpus})."
        )
    max_concurrent = req_type(ctx, ("max_concurrent",), raw.get("max_concurrent", 0), int, "an integer >= 0")
    if not 0 <= max_concurrent <= MAX_TRIALS:
        raise ctx.fail(("max_concurrent",), f"is {max_concurrent}, but must be from 0 (as many as the resources allow) "
                                            f"to {MAX_TRIALS}.")
    max_failures = req_type(ctx, ("max_failures",), raw.get("max_failures", 2), int, "an integer >= 0")
    if not 0 <= max_failures <= 100:
        raise ctx.fail(("max_failures",), f"is {max_failures}, but must be from 0 to 100 retries of a crashed trial.")
    search_seed = req_type(ctx, ("search_seed",), raw.get("search_seed", 0), int, "an integer")
    if not 0 <= search_seed < 2**32:
        raise ctx.fail(("search_seed",), f"is {search_seed}, but must be from 0 to {2**32 - 1} (Optuna's sampler "
                                         "seeds NumPy with it).")
    final_n = raw.get("final_num_samples")
    if final_n is not None and (not isinstance(final_n, int) or isinstance(final_n, bool) or final_n < 10):
        raise ctx.fail(("final_num_samples",), f"is {final_n!r}, but must be an integer >= 10.")
    description = req_type(ctx, ("description",), raw.get("description", ""), str, "a string")
    return dict(resources=resources, max_concurrent=max_concurrent, max_failures=max_failures, search_seed=search_seed,
                final_num_samples=final_n, description=description.strip())


def _check_trial_count(spec: SweepSpec, ctx: Ctx) -> None:
    """The trials the spec plans, counted before any list of them is built."""
    combos = math.prod(len(p.values) for p in spec.parameters) if spec.method == "grid" else 1
    n = combos * spec.num_samples * len(spec.seeds) * max(1, len(spec.budget.hold))
    if n > MAX_TRIALS:
        raise ctx.fail(("parameters",) if spec.method == "grid" else ("num_samples",),
                       f"the spec plans {n} trials ({combos} configurations x {spec.num_samples} x {len(spec.seeds)} "
                       f"seeds); a sweep may plan at most {MAX_TRIALS}. Sweep fewer values, or split the sweep.")


class _UserFilesError(ConfigError):
    """What is wrong with a config's own data files, at the key (`data.root`, `model.conditional`) that says so."""

    def __init__(self, key: str, text: str):
        super().__init__(text if f"`{key}`" in text else f"`{key}`: {text}")  # the key, said once
        self.key, self.text = key, text


def _check_user_data(cfg: Config) -> None:
    """A dataset of the user's files is read when the spec is: the base's, and each swept config's too, since a sweep
    may vary the files themselves (`data.root`): that they can be read, that they have the classes a conditional
    model needs, and that the architecture builds at their side."""
    if DATASETS.get(cfg.data.name).describe is None:
        return  # a built-in dataset: its side is known, and checked with the config
    try:
        info = dataset_info(cfg.data)
    except (OSError, ValueError) as e:
        raise _UserFilesError("data.root", str(e)) from None
    if cfg.model.conditional and info.num_classes < 2:
        raise _UserFilesError("model.conditional", f"is true, but {info.title} (`data.root`) has no classes (a flat "
                                                   "folder, or no `y`); use an unconditional model, or one subfolder "
                                                   "per class.")
    if not cfg.data.image_size:  # a set side was checked with the config
        cfg.check_geometry(info.image_size)


def _check_every_trial_config(spec: SweepSpec, ctx: Ctx) -> None:
    """Build the training config of every grid point (or every distribution corner) so a bad value fails now."""
    trial_values = spec.trial_configs() if spec.method != "optuna" else []
    corners = spec.corners()
    for swept in (trial_values[:500] or []) + corners[:256]:
        try:
            _check_user_data(spec.config_for(swept))
        except ConfigError as e:
            key = next((k for k in swept if f"`{k}`" in str(e)), None)
            path = ("parameters", key) if key else ("base",)
            raise ctx.fail(
                path, f"with {', '.join(f'{k}={v!r}' for k, v in swept.items() if k != 'train.seed')}: {e}"
            ) from None
