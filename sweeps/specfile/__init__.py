"""Sweep specs: YAML -> a validated `SweepSpec`, in one place, before Ray starts.

Every error names the file, the key path and (where the YAML parser knows it) the line, says what
was wrong and what is allowed. See docs/spec.md for the format.

- `model`: the spec's dataclasses, and what a spec derives (trials, configurations, training configs);
- `_yaml`: reading the YAML safely (size, depth, aliases, finite numbers), errors with file and line;
- `_parse`: the top-level keys and scales; `_fields`: the keys that hold more than one value.
"""

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sweeps.specfile._parse import load_spec, parse_spec
    from sweeps.specfile._yaml import SpecError
    from sweeps.specfile.schema import (BUDGET_PLANS, MAX_TRIALS, SEED_LIMIT, AdaptiveSeeds, Budget, EarlyStopping,
                                        Parameter, Resources, SweepSpec)

__all__ = ["BUDGET_PLANS", "MAX_TRIALS", "SEED_LIMIT", "AdaptiveSeeds", "Budget", "EarlyStopping", "Parameter",
           "Resources", "SpecError", "SweepSpec", "load_spec", "parse_spec"]

_HOME = {"load_spec": "_parse", "parse_spec": "_parse", "SpecError": "_yaml"}  # the rest live in `schema`


def __getattr__(name: str):  # imported when first used: `_yaml` alone (no torch) reads a spec's YAML first
    if name in __all__:
        return getattr(import_module(f"sweeps.specfile.{_HOME.get(name, 'schema')}"), name)
    raise AttributeError(f"module 'sweeps.specfile' has no attribute {name!r}")
