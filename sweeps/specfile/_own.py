"""A spec's `trainable:` and `config:`: the user's own training function and its config, in place of the built-in
trainer's `base` (docs/your_code.md). The function (and a dataclass for its config, if named) is imported now, as
plugins are, so a name that does not exist, is not callable or fails to import is refused before any work."""

from __future__ import annotations

import dataclasses
import inspect
import typing

from gan.config import check_type, flatten, type_name
from gan.registration import PluginError, import_plugins
from sweeps.specfile._yaml import Ctx
from sweeps.specfile.schema import OwnTrainable

__all__ = ["OWN_KEYS", "check_own_config", "load_function", "parse_own"]

OWN_KEYS = ("function", "evaluations", "config_class")
NOT_WITH_OWN = ("base", "evaluation", "final_num_samples", "budget", "published")  # the built-in trainer's


def load_function(path: str, spec_dir=None):
    """The object `module:name` names, its module imported as a plugin is (PluginError says why not)."""
    module, _, name = path.partition(":")
    import_plugins((module,), spec_dir)
    import importlib

    obj = importlib.import_module(module)
    for part in name.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"`{module}` has no `{name}`.")
        obj = getattr(obj, part)
    return obj


def parse_own(ctx: Ctx, raw: dict, spec_dir) -> tuple[OwnTrainable, dict, set[str]]:
    """(the trainable, the user's config, the dotted keys `parameters` may sweep)."""
    for key in NOT_WITH_OWN:
        if key in raw:
            raise ctx.fail((key,), "belongs to the built-in trainer; with `trainable`, your function's settings go "
                                   "under `config` and it reports its own metrics.")
    own = raw["trainable"]
    if not isinstance(own, dict):
        raise ctx.fail(("trainable",), "must be {function: module:function, evaluations: N} (and optionally "
                                       "config_class: module:Dataclass).")
    bad = sorted(set(own) - set(OWN_KEYS))
    if bad:
        raise ctx.fail(("trainable", bad[0]), f"unknown key; allowed: {', '.join(OWN_KEYS)}.")
    for key in ("function", "config_class"):
        value = own.get(key)
        if (key == "function" or value is not None) and not (
                isinstance(value, str) and value.count(":") == 1 and all(value.split(":"))):
            raise ctx.fail(("trainable", key), f"is {value!r}, but must be `module:name` (e.g. my_lab.train:run).")
    evaluations = own.get("evaluations")
    if isinstance(evaluations, bool) or not isinstance(evaluations, int) or not 1 <= evaluations <= 10_000:
        raise ctx.fail(("trainable", "evaluations"), f"is {evaluations!r}, but must be how many times each trial "
                                                     "reports (1 to 10000); the last report is its final one.")
    try:
        fn = load_function(own["function"], spec_dir)
    except PluginError as e:
        raise ctx.fail(("trainable", "function"), str(e)) from None
    if not callable(fn):
        raise ctx.fail(("trainable", "function"), f"{own['function']} is {type(fn).__name__}, not a function.")
    try:
        inspect.signature(fn).bind({}, None)
    except TypeError:
        raise ctx.fail(("trainable", "function"), f"{own['function']} must take (config, reporter).") from None
    except ValueError:
        pass  # a builtin or C function without a signature: called as it is
    config = raw.get("config", {})
    if not isinstance(config, dict):
        raise ctx.fail(("config",), "must be a mapping: your function's settings, e.g. {lr: 0.0002, width: 32}.")
    cls = None
    if own.get("config_class"):
        try:
            cls = load_function(own["config_class"], spec_dir)
        except PluginError as e:
            raise ctx.fail(("trainable", "config_class"), str(e)) from None
        if not (dataclasses.is_dataclass(cls) or _is_model(cls)):
            raise ctx.fail(("trainable", "config_class"), f"{own['config_class']} is neither a dataclass nor a "
                                                          "pydantic model.")
    keys = set(_config_keys(cls)) if cls is not None else set(flatten(config))
    return OwnTrainable(own["function"], evaluations, own.get("config_class")), config, keys


def _is_model(cls) -> bool:
    """A pydantic (v2) model class, told without importing pydantic for a spec that names none."""
    return isinstance(cls, type) and callable(getattr(cls, "model_validate", None)) and hasattr(cls, "model_fields")


def _fields(cls) -> dict:
    """{field name: its type} of a dataclass or a pydantic model."""
    if _is_model(cls):
        return {name: f.annotation for name, f in cls.model_fields.items()}
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _nested(tp) -> bool:
    return dataclasses.is_dataclass(tp) or _is_model(tp)


def _config_keys(cls, prefix: str = "") -> list[str]:
    """The dotted keys of a (nested) dataclass's or pydantic model's fields."""
    out = []
    for name, tp in _fields(cls).items():
        out += _config_keys(tp, f"{prefix}{name}.") if _nested(tp) else [f"{prefix}{name}"]
    return out


def check_own_config(ctx: Ctx, cls, config: dict, where: tuple, prefix: tuple = ()) -> None:
    """`config` built as dataclass or pydantic model `cls`: an unknown key or a value of the wrong type refused at
    its key (a model's own validators decide its types; its extra keys are refused here whatever it allows)."""
    if _is_model(cls):
        _check_model_config(ctx, cls, config, where, prefix)
        return
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for k, v in config.items():
        if k not in names:
            raise ctx.fail(where + prefix + (k,), f"unknown key; {cls.__name__} has {', '.join(sorted(names))}.")
        tp = hints[k]
        if dataclasses.is_dataclass(tp):
            if not isinstance(v, dict):
                raise ctx.fail(where + prefix + (k,), f"is {v!r}, but must be a mapping ({tp.__name__}).")
            check_own_config(ctx, tp, v, where, prefix + (k,))
            continue
        ok, _ = check_type(v, tp)
        if not ok:
            raise ctx.fail(where + prefix + (k,), f"is {v!r}, but must be {type_name(tp)}.")
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in config
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ctx.fail(where + prefix, f"needs {', '.join(missing)} ({cls.__name__} has no default for them).")


def _check_model_config(ctx: Ctx, cls, config: dict, where: tuple, prefix: tuple) -> None:
    fields = _fields(cls)
    for k, v in config.items():
        if k not in fields:
            raise ctx.fail(where + prefix + (k,), f"unknown key; {cls.__name__} has {', '.join(sorted(fields))}.")
        if _nested(fields[k]):
            if not isinstance(v, dict):
                raise ctx.fail(where + prefix + (k,), f"is {v!r}, but must be a mapping ({fields[k].__name__}).")
            check_own_config(ctx, fields[k], v, where, prefix + (k,))
    from pydantic import ValidationError

    try:
        cls.model_validate(config)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        if first["type"] == "missing":
            raise ctx.fail(where + prefix + loc[:-1], f"needs {loc[-1]} ({cls.__name__} has no default for it).") \
                from None
        raise ctx.fail(where + prefix + loc, f"is {first.get('input')!r}, but {first['msg'][:1].lower()}"
                                             f"{first['msg'][1:]} ({cls.__name__}).") from None
