"""A claim a study (or the user) makes before the sweep runs, as the spec states it and the report judges it.

A spec lists claims (`claims:`); the sweep stores them in `design.json`; the report's fit tests each one with
the same model and the same Holm family as every other verdict (stats.claims) and says whether it held.

Three kinds of comparison, each about the sweep's metric (or the claim's own):
- `levels`: one level of a factor against another (`level` against `against`);
- `trend`: the metric moves one way as a numeric factor grows (a linear trend over its levels, in their order);
- `interaction`: the change of `level` of one factor against its baseline is not the same at `other_level`
  of `other` as at that factor's baseline (the 2 x 2 interaction contrast).
A `levels` or `trend` claim is averaged over the other factors, or made `at` given levels of some of them (the
setting a study ran: `at: {budget: epochs}`).

`expect` is the sign of that comparison on the metric: `lower` or `higher`. For an interaction `higher`
means the two changes together raise the metric more (or lower it less) than the sum of their separate
effects: for FID, where both changes help, `higher` is "diminishing returns".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DIRECTIONS", "INTERACTION", "KINDS", "LEVELS", "SIZES", "TREND", "Claim"]

LEVELS, TREND, INTERACTION = "levels", "trend", "interaction"
KINDS = (LEVELS, TREND, INTERACTION)
DIRECTIONS = ("lower", "higher")
SIZES = ("ratio", "difference")  # a published size: level / against (positive metrics), or level - against


@dataclass(frozen=True)
class Claim:
    id: str
    source: str  # the study (file and section) or "ours"
    kind: str  # one of KINDS
    parameter: str  # the factor (levels, trend), or the interaction's first factor
    expect: str  # one of DIRECTIONS: the sign of the comparison on the metric
    statement: str = ""  # the claim in words
    level: Any = None  # levels: the level claimed about; interaction: the first factor's level (None: its other one)
    against: Any = None  # levels: the level it is compared with
    other: str | None = None  # interaction: the second factor
    other_level: Any = None  # interaction: the second factor's level (None: its other one)
    metric: str | None = None  # None: the sweep's metric
    published: float | None = None  # the study's size of the comparison, as `published_as` says
    published_as: str = ""  # one of SIZES, with `published`
    not_comparable: str = ""  # why the published size cannot be set beside ours; "" when it can
    at: dict | None = None  # levels, trend: {other factor: its level label} the comparison is made at; None: averaged

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "Claim":
        return cls(**raw)

    def describe(self) -> str:
        """The comparison in a few words: `variant lr 2e-3 vs compact: lower fid`."""
        if self.kind == LEVELS:
            what = f"{self.parameter} {self.level} against {self.against}"
        elif self.kind == TREND:
            what = f"trend over {self.parameter}"
        else:
            what = f"{self.parameter} x {self.other} interaction"
        if self.at:
            what += " at " + ", ".join(f"{k} {v}" for k, v in self.at.items())
        return f"{what}: {self.expect} {self.metric or 'metric'}"
