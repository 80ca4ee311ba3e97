"""What a sweep set out to measure, as the report needs it: factors with their levels and baselines,
the early-stopping rule, and the figures a study published. Stored as the `design.json` artifact of
the sweep's parent MLflow run (and in the sweep folder), so a report needs nothing but MLflow.

This module owns the format (the file's name is record.folder's): the sweep service fills a `SweepDesign` and writes
`to_json()`; the
report reads it back with `from_json()`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from record.claims import Claim
from record.figures import PublishedFigure

__all__ = ["BUDGET", "VARIANT_NAME", "Factor", "SweepDesign", "level_label", "variant_settings"]

_VERSION = 1


VARIANT_NAME = "name"  # the key of a variant's mapping that names it instead of setting a config key
BUDGET = "budget"  # the factor of a sweep run under several budget plans (`budget.hold`): each trial's plan


def level_label(level: Any) -> str:
    """A factor level as text: `8`, `0.0002`, `(0.5, 0.999)`, a named variant's name, or
    `label_smoothing=0.15, ...` for an unnamed one."""
    if isinstance(level, dict):
        if VARIANT_NAME in level:
            return str(level[VARIANT_NAME])
        return ", ".join(f"{k.split('.')[-1]}={level_label(v)}" for k, v in level.items())
    if isinstance(level, (list, tuple)):
        return "(" + ", ".join(level_label(v) for v in level) + ")"
    return str(level)


@dataclass(frozen=True)
class Factor:
    name: str  # the spec's parameter key: a dotted config key, or a variant's label
    keys: list[str]  # the config keys it sets (one, or several for a variant)
    levels: list[Any] | None  # grid values or choices (mappings for a variant); None for a continuous range
    baseline: Any = None  # the level others are compared against; None = the first level
    variant: bool = False
    defaults: dict[str, Any] | None = None  # a variant's keys at their base values: what a level leaves unset


def variant_settings(level: dict) -> dict:
    """The config keys a variant's level sets (its name left out)."""
    return {k: v for k, v in level.items() if k != VARIANT_NAME}


@dataclass(frozen=True)
class SweepDesign:
    metric: str
    mode: str  # min or max
    method: str  # grid, random or optuna
    seeds: list[int]
    factors: list[Factor]
    early_stopping: dict  # type (asha|race|none), grace_period, reduction_factor, max_evaluations
    extractor: str  # feature extractor of the evaluations
    final_samples: int  # generated samples of each trial's last evaluation
    published: list[PublishedFigure] = field(default_factory=list)
    budget: dict = field(default_factory=dict)  # hold (plans: epochs, iterations, seconds), iterations, seconds
    # the difference (metric units) the report plans seeds for; None = 10% of a baseline
    min_effect: float | None = None
    claims: list[Claim] = field(default_factory=list)  # what the study or the user expects (record.claims)

    def to_json(self) -> str:
        return json.dumps({"version": _VERSION, **asdict(self)}, indent=1, default=str)

    @classmethod
    def from_json(cls, text: str) -> "SweepDesign":
        raw = json.loads(text)
        raw.pop("version", None)
        raw["factors"] = [Factor(**f) for f in raw.get("factors", [])]
        raw["published"] = [PublishedFigure(**p) for p in raw.get("published", [])]
        raw["claims"] = [Claim.from_dict(c) for c in raw.get("claims", [])]
        return cls(**raw)
