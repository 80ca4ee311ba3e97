"""Adaptive replication: after each round of seeds, which configurations get another one, and when the sweep
has its answer. `python -m stats.adaptive_calibration [--studies 400]` checks the rule by simulation.

A sweep with `seeds: {initial: n0, max: n1}` runs n0 seeds of every configuration, then looks at what it
has at most L = n1 - n0 + 1 times (after n0, n0 + 1, ..., n1 seeds). At each look it refits the report's
model (`stats.fit.fit_design`) on every finished run and:

- **decides** each comparison whose Holm-adjusted p-value is below this look's share of the 5%
  (`alpha_at`); a decided comparison keeps that verdict, whatever later looks show;
- **settles** an undecided main effect once it is shown to be smaller than `min_effect` (default 10%
  of its baseline) either way: two one-sided tests at this look's level, Bonferroni over the
  comparisons (its interval at that level lies inside +-min_effect). It stays "no detectable
  difference", and gets no more seeds;
- gives one more seed to every configuration that an open main effect (neither decided nor settled)
  uses, and to every configuration of the best set while that set holds more than one and could still
  shrink: once the margin by which a member may trail the best (Gupta's, at the whole 5%) is no larger
  than `min_effect`, the members are a tie worth no more seeds;
- stops when no configuration gets a seed, with a single best configuration (`DECIDED`) or a best set
  that is a tie (`TIE`), or at n1 seeds (`MAX_SEEDS`).

Interactions are tested at every look like the main effects and decided when they show. An open
interaction spends seeds only while its estimate is larger than `min_effect`: its contrast has twice
the standard error of a main effect, so settling one at the same `min_effect` would take about four
times the seeds (a 2x2 grid at 5% seed noise: about 20 per configuration against 5), which would make
every factorial sweep without an interaction run to `max` (measured: 5% of 2x2 studies answered
instead of 82%); but a real interaction that one look could not yet show gets its seeds (in the main
job's runs, every one of 300 orderings of 4 of its 9 seeds then finds the interaction, against 259 when
open interactions spent none).

**Error control under repeated looks.** Testing at 5% after every round and stopping on the first
significant result would inflate false verdicts. Look t spends alpha_t = a (t/L)^rho - a ((t-1)/L)^rho
of a = 5% (Kim and DeMets' power family of spending functions; rho = 1 spends an equal share at every
look, larger rho saves more for the last; the default rho = 2 settled more studies at equal power than
rho = 1 and found more planted effects than rho = 3 in the simulation). A comparison is decided, or
settled, at look t only at level alpha_t. Since the alpha_t add up to 5%, the chance of any false
verdict at any look is at most 5% by the union bound, whatever the data-dependent seed counts did in
between: the rule is valid under optional stopping, at the price of ignoring how strongly the looks
are correlated (a group-sequential boundary would spend less). The best set at a look is Gupta's at
that look's level. stats.adaptive_calibration runs the same function over FID-shaped noise and
sets it beside fixed designs analysed once at 5% (the same rule with a single look): false verdicts,
power, the share of studies fully answered, and trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.stats

from stats.layout import DEFAULT_MIN_EFFECT, model_difference
from stats.fit import DesignFit, fit_design
from stats.contrasts import ALPHA, BETTER, INTERACTION, NO_DIFFERENCE, NO_INTERACTION, WORSE
from record.names import configuration_label


__all__ = [
    "ANSWERED",
    "DECIDED",
    "MAX_SEEDS",
    "TIE",
    "Round",
    "SETTLED",
    "alpha_at",
    "cell_label",
    "next_round",
    "record",
    "record_lines",
    "record_table",
    "round_record",
]


DECIDED = "every main effect decided or settled, and a single best configuration"
TIE = "every main effect decided or settled, and the best set a tie within min_effect"
MAX_SEEDS = "max seeds reached"
ANSWERED = (DECIDED, TIE)  # the stops at which the sweep has its whole answer
SETTLED = "settled: smaller than min_effect"


def alpha_at(look: int, looks: int, alpha: float = ALPHA, rho: float = 2.0) -> float:
    """The share of `alpha` that look `look` (1-based) of at most `looks` may spend (power family)."""
    if not 1 <= look <= looks:
        raise ValueError(f"look {look} is outside 1..{looks}")
    return alpha * ((look / looks) ** rho - ((look - 1) / looks) ** rho)


def _key(e) -> tuple:
    """A comparison's key in a look's decisions: its parameter and level, the level as text, an interaction's
    pair of levels as `a/b`, so that the key is the same whether the levels were read as numbers or text."""
    level = "/".join(str(v) for v in e.level) if isinstance(e.level, (tuple, list)) else str(e.level)
    return (e.parameter, level)


@dataclass
class Round:
    """What one look decided, and which configurations get a seed next."""

    look: int
    alpha: float  # the share of the 5% this look spent
    fit: DesignFit
    decided: dict[tuple, tuple[str, int]]  # comparison -> (verdict, look decided at), this look's and earlier
    settled: set[tuple]  # comparisons smaller than min_effect, decided no further
    add: list[tuple]  # configurations (the fit's cell keys) that get one more seed
    reasons: dict[tuple, str] = field(default_factory=dict)  # why each of them does
    stop: str | None = None  # why the sweep ends here, or None


def next_round(trials, metric: str, mode: str, params: list[str], baselines: dict[str, Any] | None, *,
               look: int, looks: int, seeds: dict[tuple, int], max_seeds: int,
               decided: dict[tuple, tuple[str, int]] | None = None, settled: set[tuple] | None = None,
               min_effect: float | None = None, rho: float = 2.0, collapses: str = "exclude") -> Round:
    """Look `look` of at most `looks` over the finished runs in `trials`; `seeds`: the seeds each
    configuration (cell key, in `params` order) has run so far."""
    decided, settled = dict(decided or {}), set(settled or ())
    level = alpha_at(look, looks, rho=rho)
    fit = fit_design(trials, metric, mode, params, baselines, plan=False, alpha=level, collapses=collapses)
    open_cells: dict[tuple, str] = {}
    for e in fit.analysis.effects + fit.analysis.interactions:
        k = _key(e)
        if k in decided or k in settled:
            continue
        if e.verdict in (BETTER, WORSE, INTERACTION):
            decided[k] = (e.verdict, look)
            continue
        target = min_effect if min_effect is not None else DEFAULT_MIN_EFFECT * abs(e.baseline_mean)
        margin = model_difference(target, e.baseline_mean, fit.scale)
        if e.kind == "interaction":  # an open interaction spends seeds only while it looks larger than min_effect
            if math.isfinite(margin) and abs(e.estimate) > margin:
                names = " x ".join(p.split(".")[-1] for p in e.parameter.split(" x "))
                label = f"{names} undecided, estimated beyond min_effect"
                for j in np.flatnonzero(e.weights):
                    open_cells.setdefault(fit.layout.cells[j], label)
            continue
        # equivalence (two one-sided tests at this look's level, Bonferroni over the comparisons): the
        # difference is shown to be smaller than min_effect either way
        if e.verdict in (NO_DIFFERENCE, NO_INTERACTION) and math.isfinite(e.se) and e.se > 0:
            q = scipy.stats.t.ppf(1 - level / max(fit.analysis.family_size, 1), e.df)
            if abs(e.estimate) + q * e.se < margin:
                settled.add(k)
                continue
        label = f"{e.parameter.split('.')[-1]} {e.baseline} -> {e.level} undecided"
        for j in np.flatnonzero(e.weights):
            open_cells.setdefault(fit.layout.cells[j], label)
    best = fit.cells[fit.cells["in_best_set"] == True] if len(fit.cells) else fit.cells  # noqa: E712
    tie, single = False, len(best) == 1
    if len(best) > 1:  # a tie once the selection, at the whole 5%, could tell apart any difference worth deciding
        whole = fit_design(trials, metric, mode, params, baselines, plan=False).cells
        members = whole[whole["in_best_set"] == True]  # noqa: E712
        single = len(members) == 1  # one configuration at 5%, several only at this look's smaller level
        target = min_effect if min_effect is not None else DEFAULT_MIN_EFFECT * float(best["mean"].iloc[0])
        reach = model_difference(target, float(best["mean"].iloc[0]), fit.scale)
        tie = float(members["margin"].max()) <= reach
    if (len(best) > 1 and not tie) or fit.cells["in_best_set"].isna().any():
        ranked = best if len(best) > 1 else fit.cells
        for _, row in ranked.iterrows():
            key = tuple(row[p] for p in fit.layout.params)
            open_cells.setdefault(key, "in a best set of several")
    add = [c for c in fit.layout.cells if c in open_cells and seeds.get(c, 0) < max_seeds]
    stop = None
    if not open_cells:
        stop = DECIDED if single else TIE
    elif not add or look >= looks:
        stop, add = MAX_SEEDS, []
    return Round(look, level, fit, decided, settled, add, {c: open_cells[c] for c in add}, stop)


# -------------------------------------------------------------------------------------------------
# The record of an adaptive sweep: what each look decided and which configurations got seeds, and why


def cell_label(params: list[str], cell) -> str:
    """A configuration as the record names it: `g_width=32, d_width=8` (record.names.configuration_label)."""
    return configuration_label(dict(zip(params, cell)))


def _comparison(parameter: str, level: str) -> str:
    """A decided comparison in words: `g_width 32` (the level against its baseline), `g_width x d_width`."""
    if " x " in parameter:
        return " x ".join(p.split(".")[-1] for p in parameter.split(" x "))
    return f"{parameter.split('.')[-1]} {level}"


def round_record(r: Round, seeds: dict[tuple, int]) -> dict:
    """One look, as JSON: its level, the runs it saw, its verdicts, and the seeds it added and why."""
    return {"look": r.look, "alpha": r.alpha, "runs": int(sum(seeds.values())),
            "decided": [[p, lv, v, at] for (p, lv), (v, at) in r.decided.items()],
            "settled": [[p, lv] for p, lv in sorted(r.settled)],
            "add": [{"cell": list(c), "reason": r.reasons[c]} for c in r.add], "stop": r.stop}


def record(params: list[str], cells: list, given: list[int], initial: int, maximum: int, rounds: list[dict],
           stop: str | None) -> dict:
    """The whole record: per configuration its seeds, the looks that added them and why, and how the sweep ended."""
    out = []
    for cell, n in zip(cells, given):
        added = [(rd["look"], a["reason"]) for rd in rounds for a in rd["add"] if list(a["cell"]) == list(cell)]
        out.append({"levels": dict(zip(params, cell)), "label": cell_label(params, cell), "seeds": int(n),
                    "added": [{"after_look": look, "reason": why} for look, why in added]})
    return {"params": list(params), "initial": initial, "max": maximum, "looks": maximum - initial + 1,
            "trials": int(sum(given)), "max_trials": len(cells) * maximum, "stop": stop, "cells": out,
            "rounds": rounds}


def sequential_verdicts(fit: DesignFit, rec: dict) -> DesignFit:
    """The fit of an adaptive sweep's runs with each comparison's verdict the one the sweep reached while
    running (at its look's share of the 5%), which is what keeps false verdicts at 5% under the repeated
    looks: a comparison the looks left undecided stays "no detectable difference" even where a test of the
    final runs at the whole 5% would reject. Estimates, intervals and p-values stay the final fit's."""
    import dataclasses

    from stats.contrasts import NEEDS_SEEDS

    decided = {(p, str(lv)): v for p, lv, v, _ in (rec["rounds"][-1]["decided"] if rec.get("rounds") else [])}

    def verdict(e):
        if e.verdict == NEEDS_SEEDS:
            return e
        none = NO_INTERACTION if e.kind == "interaction" else NO_DIFFERENCE
        return dataclasses.replace(e, verdict=decided.get(_key(e), none))

    a = fit.analysis
    analysis = dataclasses.replace(a, effects=[verdict(e) for e in a.effects],
                                   interactions=[verdict(e) for e in a.interactions])
    return dataclasses.replace(fit, analysis=analysis, claims=[_sequential_claim(v, fit, a, decided, rec)
                                                               for v in fit.claims])


def _sequential_claim(v, fit: DesignFit, analysis, decided: dict, rec: dict):
    """A claim of an adaptive sweep. One that is a report comparison takes the looks' decision: agrees or
    contradicts where a look decided it (by the direction decided), smaller than min_effect where a look settled
    it, else open. Any other claim is judged at the last look's level rather than the whole 5%."""
    import dataclasses

    from stats.claims import AGREES, CONTRADICTS, OPEN, SMALLER, judge_claim

    if v.effect is None:
        return v
    last = rec["rounds"][-1] if rec.get("rounds") else {"alpha": 0.0, "settled": []}
    if any(v.effect is e for e in analysis.effects + analysis.interactions):
        key = _key(v.effect)
        if key in decided:
            verdict = decided[key]
            if verdict in (BETTER, WORSE):
                lower = (verdict == BETTER) == (fit.mode == "min")
            else:  # an interaction: its direction is its estimate's
                lower = v.effect.estimate < 0
            outcome = AGREES if lower == (v.claim.expect == "lower") else CONTRADICTS
            return dataclasses.replace(v, outcome=outcome, reason="decided at a look")
        if key in {(p, str(lv)) for p, lv in last.get("settled", [])}:
            return dataclasses.replace(v, outcome=SMALLER, reason="settled at a look")
        return dataclasses.replace(v, outcome=OPEN, reason="undecided at the looks that keep the 5% under repeated "
                                                           "looks")
    judged = judge_claim(v.claim, v.effect, fit.mode, analysis.family_size, fit.min_effect, fit.scale, last["alpha"])
    if judged.outcome == OPEN and v.outcome in (AGREES, CONTRADICTS):
        judged = dataclasses.replace(judged, reason=f"real at the whole 5%, but not at the last look's level "
                                                    f"({last['alpha']:.3g}), which keeps the 5% under repeated looks")
    return judged


def sequential_sentence(rec: dict) -> str:
    """How an adaptive sweep's verdicts were reached, for the report's conclusions."""
    saved = 1 - rec["trials"] / rec["max_trials"] if rec["max_trials"] else 0.0
    seeds = sorted({c["seeds"] for c in rec["cells"]})
    span = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]}"
    return (
        f"Seeds were added adaptively ({rec['initial']} to {rec['max']} per configuration; this sweep gave "
        f"{span}, {rec['trials']} trials instead of {rec['max_trials']}, {saved:.0%} fewer; ended: "
        f"{rec['stop'] or 'interrupted before its last look'}). Each verdict is the one the sweep reached while "
        "running, "
        f"at its look's share of the 5% (power-family alpha spending over at most {rec['looks']} looks, Holm within "
        "a look), which keeps the chance of any false verdict at 5% under the repeated looks; the figures and "
        "p-values quoted are the final fit's, not adjusted for the looks."
    )


def record_table(rec: dict):
    """One row per configuration: seeds run, the look after which it got its last one, and why it got them."""
    import pandas as pd

    rows = []
    for c in rec["cells"]:
        whys = [f"look {a['after_look']}: {a['reason']}" for a in c["added"]]
        last = max((a["after_look"] for a in c["added"]), default=0)
        rows.append({**c["levels"], "configuration": c["label"], "seeds": c["seeds"],
                     "stopped_after_look": last + 1 if c["seeds"] < rec["max"] else None,
                     "why": "; ".join(whys) if whys else "initial seeds only: nothing it enters was open"})
    return pd.DataFrame(rows)


def record_lines(rec: dict, seconds: dict[str, float] | None = None) -> list[str]:
    """What the console says of an adaptive sweep: trials, the saving, seeds per configuration and why.
    `seconds`: a configuration's mean training time per run (by its label), to put the saving in compute."""
    saved = 1 - rec["trials"] / rec["max_trials"] if rec["max_trials"] else 0.0
    ended = rec["stop"] or "not ended yet (interrupted: --resume continues the round)"
    lines = [f"adaptive seeds ({rec['initial']} to {rec['max']} per configuration, {len(rec['rounds'])} of at most "
             f"{rec['looks']} looks): {rec['trials']} trials ran of the {rec['max_trials']} that {rec['max']} seeds "
             f"everywhere would run ({saved:.0%} fewer); ended: {ended}."]
    if seconds and all(c["label"] in seconds for c in rec["cells"]):
        ran = sum(seconds[c["label"]] * c["seeds"] for c in rec["cells"])
        full = sum(seconds[c["label"]] * rec["max"] for c in rec["cells"])
        lines.append(f"  compute: {ran:.0f} s of training against {full:.0f} s with {rec['max']} seeds everywhere "
                     f"({1 - ran / full:.0%} saved; each configuration's mean time per run)")
    last = rec["rounds"][-1] if rec["rounds"] else {"decided": [], "settled": []}
    said = [f"{_comparison(p, lv)}: {v} (look {at})" for p, lv, v, at in last["decided"]]
    said += [f"{_comparison(p, lv)}: {SETTLED}" for p, lv in last["settled"]]
    if said:
        lines.append("  decided while running: " + "; ".join(said) + " (the report refits on every run)")
    lines.append("  seeds per configuration, and why it got more than the first round's:")
    for _, row in record_table(rec).iterrows():
        lines.append(f"    {row['configuration']}: {row['seeds']} ({row['why']})")
    return lines
