"""The report's first screen in words: one line per verdict, with its change and interval, and the best set.

The sentences with every detail (means, runs, p-values, the seeds a comparison needs) are `analysis.conclusions`';
these lines say the same verdicts as briefly as a reader takes them in at a glance.
"""

from __future__ import annotations

import math

import pandas as pd

from analysis.conclusions import _change, _change_words, short
from record.design import level_label
from stats.contrasts import BETTER, NEEDS_SEEDS, WORSE, Effect, decimals_for, format_number

__all__ = ["answer_line", "best_line"]


def answer_line(e: Effect, metric: str) -> str:
    """One comparison as the report's first screen states it: `g_width 8 -> 32: fid 30% lower (25% to 36%),
    real`. The interval is the comparison's 95% interval; the verdict is after Holm's correction."""
    if e.kind == "interaction":
        p, q = e.parameter.split(" x ")
        head = f"{short(p)} x {short(q)} interaction"
    else:
        head = f"{short(e.parameter)} {level_label(e.baseline)} -> {level_label(e.level)}"
    verdict = {BETTER: "real", WORSE: "real", "interaction": "real", NEEDS_SEEDS: "needs >= 2 seeds"}.get(
        e.verdict, "within noise")
    if e.kind == "interaction":
        p, q = e.parameter.split(" x ")
        step = f"{short(p)} {level_label(e.baseline[0])} -> {level_label(e.level[0])}"
        if e.scale == "log" and len(e.simple) == 2 and all(math.isfinite(r) for r in e.simple):
            r1, r2 = e.simple
            at_level = _change_words(r1, metric)
            at_base = f"by {abs(r2 - 1):.0%}" if (r1 < 1) == (r2 < 1) else _change_words(r2, "it")
            what = (f"{step} {at_level} at {short(q)}={level_label(e.level[1])}, {at_base} at "
                    f"{short(q)}={level_label(e.baseline[1])} (ratio {e.ratio:.2f}, {e.ratio_low:.2f} to "
                    f"{e.ratio_high:.2f})")
        else:
            change, ci = _change(e, metric)
            what = f"the effect of {step} changes by {change} ({ci}) from {short(q)}={level_label(e.baseline[1])}"
        return f"{head}: {what}, {verdict}"
    if e.scale == "log":
        sizes = [(r - 1) * 100 for r in (e.ratio, e.ratio_low, e.ratio_high)]
        unit = "%"
    else:
        sizes = [e.estimate, e.low, e.high]
        unit = ""
    if not all(math.isfinite(s) for s in sizes):
        return f"{head}: {metric} {_change(e, metric)[0]}, {verdict}"
    d = 0 if unit else decimals_for((e.high - e.low) / 2, e.estimate)
    word = lambda s: "lower" if s < 0 else "higher"  # noqa: E731
    est, low, high = sizes
    if low * high > 0:  # the interval lies on one side of no change
        lo, hi = sorted((abs(low), abs(high)))
        ci = f"{format_number(lo, d)}{unit} to {format_number(hi, d)}{unit}"
    else:
        ci = (f"{format_number(abs(low), d)}{unit} {word(low)} to "
              f"{format_number(abs(high), d)}{unit} {word(high)}")
    return f"{head}: {metric} {format_number(abs(est), d)}{unit} {word(est)} ({ci}), {verdict}"


def best_line(table: pd.DataFrame, params: list[str], metric: str) -> str:
    """The best configuration, or the set that cannot be told apart from it, in one line."""
    if table.empty or "in_best_set" not in table or table["in_best_set"].isna().any() or len(table) < 2:
        return ""
    config = lambda row: " x ".join(f"{short(p)}={level_label(row[p])}" for p in params) or "the base config"  # noqa: E731
    kept = table[table["in_best_set"] == True]  # noqa: E712  (object column)
    names = "; ".join(f"{config(r)} ({metric} {r['cell']})" for _, r in kept.iterrows())
    if len(kept) == 1:
        return f"best: {names}, alone"
    return f"best set: {names}, which cannot be told apart"
