"""A figure a study published, and the one rule that sets it beside ours.

A spec lists published figures (`published:`); the sweep stores them in `design.json`; the report's
scorecard and the augmentation study's table each compare one with our runs of the same configuration
through `figure_verdict`, so both say the same thing in the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["INSIDE", "MISSING", "NOT_COMPARABLE", "NO_INTERVAL", "OUTSIDE", "PublishedFigure", "figure_verdict"]


@dataclass(frozen=True)
class PublishedFigure:
    """A figure a study published for one configuration, to stand beside ours in the report's scorecard."""

    params: dict[str, Any]  # dotted config keys -> values that pick the configuration, e.g. {model.latent_dim: 16}
    metric: str  # a metric registry output, e.g. fid
    value: float
    source: str  # the study (file, table) it comes from
    extractor: str | None = None  # the network that measured it (inception, domain, or the study's own classifier)
    dataset: str | None = None  # the dataset it was measured on (a data.name)
    samples: int | None = None  # generated samples behind it; None = the study does not say
    spread: float | None = None  # the study's own ± (std over seeds or repeats), where it gives one
    statistic: str = "last"  # last: the value at the end of training; best: the best over training
    note: str = ""


# what a comparison found (the first element of figure_verdict's answer)
INSIDE = "inside"  # the published value lies inside our 95% interval
OUTSIDE = "outside"
NOT_COMPARABLE = "not comparable"  # measured differently (another extractor or dataset)
NO_INTERVAL = "no interval"  # one run of ours: no interval to compare against
MISSING = "missing"  # no run of ours to compare with


def figure_verdict(
    published: float,
    n: int,
    mean: float,
    low: float,
    high: float,
    *,
    reasons: tuple[str, ...] | list[str] = (),
    missing: str = "not run at this scale",
) -> tuple[str, str]:
    """(kind, sentence) for a published value against our mean and 95% interval over `n` runs. `reasons`
    say why the two were measured differently (then they are not compared); `missing` is what to say when
    we have no run (n = 0)."""
    if n == 0:
        return MISSING, missing
    if reasons:
        return NOT_COMPARABLE, "not comparable: " + "; ".join(reasons)
    if n < 2:
        return NO_INTERVAL, "one run: no interval to compare against"
    if low <= published <= high:
        return INSIDE, "published value inside our 95% interval"
    return OUTSIDE, f"published value outside our 95% interval (ours {'higher' if mean > published else 'lower'})"
