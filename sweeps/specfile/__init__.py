"""Sweep specs: YAML -> a validated `SweepSpec`, in one place, before Ray starts.

Every error names the file, the key path and (where the YAML parser knows it) the line, says what
was wrong and what is allowed. See docs/spec.md for the format.

- `model`: the spec's dataclasses, and what a spec derives (trials, configurations, training configs);
- `_yaml`: reading the YAML safely (size, depth, aliases, finite numbers), errors with file and line;
- `_parse`: the top-level keys and scales; `_fields`: the keys that hold more than one value.
"""

from sweeps.specfile._parse import load_spec, parse_spec
from sweeps.specfile._yaml import SpecError
from sweeps.specfile.schema import (
    BUDGET_PLANS,
    MAX_TRIALS,
    SEED_LIMIT,
    AdaptiveSeeds,
    Budget,
    EarlyStopping,
    Parameter,
    Resources,
    SweepSpec,
)

__all__ = ["BUDGET_PLANS", "MAX_TRIALS", "SEED_LIMIT", "AdaptiveSeeds", "Budget", "EarlyStopping", "Parameter",
           "Resources", "SpecError", "SweepSpec", "load_spec", "parse_spec"]
