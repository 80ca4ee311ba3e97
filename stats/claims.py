"""Whether a claim held (record.claims), judged by the report's one fitted model (stats.fit).

**The comparison.** Each claim is a linear contrast of the fitted configuration means, the same kind as the
report's effects, on the metric's analysis scale (log for FID: a ratio):
- `levels`: `level` minus `against`, averaged over the other factors (Layout.effect_weights), or at the levels
  of some of them that `at` names;
- `trend`: the linear trend over a numeric factor's levels in their order, equally spaced by rank (so 0.1,
  0.25, 0.5, 1.0 are four steps of one), scaled to the change from the lowest to the highest level along
  the fitted line, averaged over the other factors (or at the levels `at` names);
- `interaction`: the 2 x 2 interaction contrast of the two levels against their factors' baselines
  (Layout.interaction_weights).
A claim whose contrast is one of the report's effects or interactions shares its test; any other joins the
report's Holm family as one more comparison, so claims are under the same 5% family-wise error as every verdict.
A claim about another metric than the one the report ranks by is judged in a fit of that metric, with its own
Holm family over that fit's comparisons and its claims.

**The outcome**, in this order:
- `not comparable`: the sweep cannot test it here (a level that no finished run has, a factor at one level);
- `agrees` / `contradicts`: the Holm-adjusted p-value is below 5%, and the estimate has the expected sign or
  the other;
- `smaller than min_effect`: two one-sided tests, each at 5% Bonferroni-corrected over the family (the 1 -
  2 x 5%/m interval lies inside +- min_effect; min_effect is the spec's, else 10% of the comparison's baseline
  mean), show the difference is too small to matter, whichever its sign;
- `open`: none of these; the report gives the seeds per configuration that would detect min_effect.
A published size (a ratio or a difference) is set beside our 95% interval where the two were measured alike
(same extractor and dataset, no reason given against), and said to lie inside or outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from record.claims import LEVELS, TREND, Claim
from record.design import level_label
from stats.contrasts import ALPHA, Effect
from stats.layout import DEFAULT_MIN_EFFECT, LOG, Layout, model_difference

__all__ = ["AGREES", "CONTRADICTS", "NOT_COMPARABLE", "OPEN", "OUTCOMES", "SMALLER", "ClaimVerdict",
           "NotTestable", "claim_contrast", "ends_weights", "judge_claim"]

AGREES, CONTRADICTS, SMALLER, OPEN, NOT_COMPARABLE = (
    "agrees", "contradicts", "smaller than min_effect", "open", "not comparable")
OUTCOMES = (AGREES, CONTRADICTS, SMALLER, OPEN, NOT_COMPARABLE)


class NotTestable(Exception):
    """The sweep's finished runs cannot test the claim; the message says why."""


@dataclass
class ClaimVerdict:
    claim: Claim
    outcome: str  # one of OUTCOMES
    effect: Effect | None  # the comparison that tested it (None: not comparable)
    reason: str = ""  # not comparable: why; open: what would decide it
    size: str = ""  # the published size against our interval, in words ("" when none was published)

    def row(self) -> dict[str, Any]:
        """One line of claims.csv."""
        e = self.effect
        c = self.claim
        row = {"id": c.id, "source": c.source, "claim": c.statement or c.describe(), "comparison": c.describe(),
               "expect": c.expect, "metric": c.metric, "outcome": self.outcome, "published": c.published,
               "published_as": c.published_as, "size": self.size, "reason": self.reason}
        for key in ("estimate", "low", "high", "ratio", "ratio_low", "ratio_high", "p", "p_adjusted", "df",
                    "n_level", "n_baseline", "seeds_needed", "scale"):
            row[key] = getattr(e, key) if e is not None else None
        return row


def _find(layout: Layout, p: str, label: str):
    for lv in layout.levels(p):
        if level_label(lv) == label:
            return lv
    raise NotTestable(f"no finished run has {p} = {label}")


def claim_contrast(layout: Layout, claim: Claim) -> tuple[str, str, Any, Any, np.ndarray, str, list[str]]:
    """(kind, parameter, level, baseline, weights, how, averaged over) of the claim's contrast over the layout's
    configurations, as Layout.comparisons gives each of the report's; NotTestable when it cannot be formed."""
    for p in (claim.parameter, claim.other):
        if p is not None and p not in layout.params:
            raise NotTestable(f"{p} has one level among the finished runs")
    at = {q: label for q, label in (claim.at or {}).items() if q in layout.params}
    if at != (claim.at or {}):  # the finished runs cannot tell the setting the claim is made at from any other
        raise NotTestable(", ".join(q for q in claim.at if q not in at) + " has one level among the finished runs")

    if claim.kind == LEVELS:
        level, against = _find(layout, claim.parameter, claim.level), _find(layout, claim.parameter, claim.against)
        if claim.at:
            w, over = _at_weights(layout, claim, {level: 1.0, against: -1.0})
            return "effect", claim.parameter, level, against, w, "averaged", over
        w, how, over = layout.effect_weights(claim.parameter, level, against)
        return "effect", claim.parameter, level, against, w, how, over
    if claim.kind == TREND:
        levels = layout.levels(claim.parameter)
        centred = np.arange(len(levels)) - (len(levels) - 1) / 2
        slope = centred / float(np.sum(centred ** 2)) * (len(levels) - 1)  # change from the lowest to the highest
        w, over = _at_weights(layout, claim, dict(zip(levels, slope)))
        return "effect", claim.parameter, levels[-1], levels[0], w, "averaged", over
    p, q = claim.parameter, claim.other
    a, b = _find(layout, p, claim.level), _find(layout, q, claim.other_level)
    if not layout.factorial:
        raise NotTestable("an interaction needs every combination of the factors' levels")
    w, over = layout.interaction_weights(p, a, q, b)
    return "interaction", f"{p} x {q}", (a, b), (layout.baselines[p], layout.baselines[q]), w, "averaged", over


def ends_weights(layout: Layout, claim: Claim, level, base) -> np.ndarray:
    """Weights of `level` minus `base` of the claim's factor, at its `at` levels and averaged over the other
    factors (a trend's two ends, whose means the report shows beside its estimate)."""
    return _at_weights(layout, claim, {level: 1.0, base: -1.0})[0]


def _at_weights(layout: Layout, claim: Claim, coefficients: dict) -> tuple[np.ndarray, list[str]]:
    """Weights of sum(coefficient x mean at that level of the claim's factor), averaged over the settings of the
    other factors that `claim.at` leaves free (all of them without `at`), and those factors."""
    i = layout.params.index(claim.parameter)
    fixed = {layout.params.index(q) - (layout.params.index(q) > i): _find(layout, q, label)
             for q, label in (claim.at or {}).items()}
    others = {c[:i] + c[i + 1:] for c in layout.cells}
    others = [r for r in others if all(r[j] == lv for j, lv in fixed.items())]
    if not others:
        raise NotTestable("no finished run has " + ", ".join(f"{q} = {lv}" for q, lv in claim.at.items()))
    w = np.zeros(len(layout.cells))
    for r in others:
        keys = [r[:i] + (lv,) + r[i:] for lv in coefficients]
        if not all(k in layout.cells for k in keys):
            where = " at " + ", ".join(f"{q} {lv}" for q, lv in claim.at.items()) if claim.at else ""
            raise NotTestable(f"the comparison over {claim.parameter} needs each of its levels at every setting of "
                              f"the other factors{where}, and a run of one of them is missing")
        for k in keys:
            w[layout.index(k)] += coefficients[k[i]] / len(others)
    return w, [q for q in layout.params if q != claim.parameter and q not in (claim.at or {})]


def judge_claim(claim: Claim, effect: Effect, mode: str, family_size: int, min_effect: float | None,
                scale: str, alpha: float = ALPHA) -> ClaimVerdict:
    """The outcome of a claim whose contrast `effect` has been tested and Holm-adjusted over the family."""
    if not (math.isfinite(effect.se) and effect.se > 0):
        return ClaimVerdict(claim, OPEN, effect, "needs at least 2 seeds in every configuration it compares",
                            _size(claim, effect, scale))
    if math.isfinite(effect.p_adjusted) and effect.p_adjusted < alpha:
        lower = effect.estimate < 0
        outcome = AGREES if lower == (claim.expect == "lower") else CONTRADICTS
        return ClaimVerdict(claim, outcome, effect, "", _size(claim, effect, scale))
    reference = abs(effect.baseline_mean)
    target = min_effect if min_effect is not None else DEFAULT_MIN_EFFECT * reference
    margin = model_difference(target, reference, scale)
    q = scipy.stats.t.ppf(1 - alpha / max(family_size, 1), effect.df)
    if math.isfinite(margin) and abs(effect.estimate) + q * effect.se < margin:
        return ClaimVerdict(claim, SMALLER, effect, f"within +-{target:.3g} {claim.metric} of no change",
                            _size(claim, effect, scale))
    seeds = (f"about {effect.seeds_needed} seeds per configuration would detect {effect.target:.3g}"
             if effect.seeds_needed else "more seeds than the plan reaches would be needed to decide it")
    return ClaimVerdict(claim, OPEN, effect, seeds, _size(claim, effect, scale))


def _size(claim: Claim, effect: Effect, scale: str) -> str:
    if claim.published is None:
        return ""
    shown = f"{claim.published_as} {claim.published:g}"
    if claim.not_comparable:
        return f"published {shown}: not comparable ({claim.not_comparable})"
    if claim.published_as == "ratio" and scale == LOG and math.isfinite(effect.ratio_low):
        low, high = effect.ratio_low, effect.ratio_high
    elif claim.published_as == "difference" and scale != LOG and math.isfinite(effect.low):
        low, high = effect.low, effect.high
    else:
        fitted = "ratios" if scale == LOG else "differences"
        return f"published {shown}: not compared (the report fits {claim.metric} as {fitted})"
    inside = low <= claim.published <= high
    return f"published {shown} {'inside' if inside else 'outside'} our 95% interval [{low:.3g}, {high:.3g}]"
