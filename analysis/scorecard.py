"""The scorecard: each figure a study published beside ours, matched to the trials of its configuration and
compared by record.figures' one rule."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.conclusions import short
from record.design import Factor, level_label, variant_settings
from record.figures import INSIDE, MISSING, NOT_COMPARABLE, OUTSIDE, PublishedFigure, figure_verdict
from stats.contrasts import format_interval, interval, usable_trials

__all__ = ["Scorecard", "scorecard"]

@dataclass
class Scorecard:
    table: pd.DataFrame
    sentences: list[str]


def _figure_trials(trials: pd.DataFrame, params: dict, factors: list[Factor]) -> pd.DataFrame:
    """The trials of a published figure's configuration. Keys that a variant factor sets are matched as a
    whole level, the figure's unset keys at their base values: a figure of the level `label_dim: 64` does
    not claim the trials of the level `epochs: 200`, though those also run with label_dim 64."""
    match, direct = trials, dict(params)
    for f in factors:
        if not f.variant or f.name not in trials or not set(f.keys) & set(params):
            continue
        wanted = {k: level_label(params.get(k, (f.defaults or {}).get(k))) for k in f.keys}
        levels = [lv for lv in f.levels or [] if wanted == {
            k: level_label({**(f.defaults or {}), **variant_settings(lv)}.get(k)) for k in f.keys}]
        if not levels:
            return trials.iloc[0:0]
        match = match[match[f.name].map(level_label) == level_label(levels[0])]
        for k in f.keys:
            direct.pop(k, None)
    for k, v in direct.items():
        if k not in trials:
            return trials.iloc[0:0]
        match = match[match[k].map(level_label) == level_label(v)]
    return match


def scorecard(trials: pd.DataFrame, figures: list[PublishedFigure], *, extractor: str, final_samples: int,
              dataset: str | None, factors: list[Factor] = ()) -> Scorecard:
    """Published figures beside ours: our mean and 95% interval over the runs of the same configuration,
    and whether the published value lies inside it, unless the two cannot be compared. `factors`: the
    design's, so that a figure of a variant's level is matched to that level's trials alone."""
    rows, notes, kinds = [], [], []
    for f in figures:
        match = _figure_trials(trials, f.params, list(factors))
        config = ", ".join(f"{short(k)}={level_label(v)}" for k, v in f.params.items())
        column = f"best_{f.metric}" if f.statistic == "best" else f.metric  # compare like with like
        ours = interval(usable_trials(match, column)[column]) if column in match else interval([])
        published = f"{f.value:g}" + (f" ± {f.spread:g}" if f.spread is not None else "")
        reasons = []
        if f.extractor and f.extractor != extractor:
            reasons.append(f"measured with {f.extractor}, ours with the {extractor} extractor")
        if f.dataset and dataset and f.dataset != dataset:
            reasons.append(f"published on {f.dataset}, ours on {dataset}")
        kind, verdict = figure_verdict(f.value, ours.n, ours.mean, ours.low, ours.high, reasons=reasons,
                                       missing="not run at this scale" if match.empty else "no finished run")
        kinds.append(kind)
        samples = f"{f.samples or 'not stated'} / {final_samples}"
        if ours.n and f.samples and f.samples != final_samples and not reasons:
            verdict += f"; sample counts differ ({f.samples} vs {final_samples}), which biases FID-type metrics"
        metric = f"{f.metric} (best over training)" if f.statistic == "best" else f.metric
        rows.append({"configuration": config, "metric": metric, "published": published,
                     "ours (mean ± 95% CI (n))": format_interval(ours) if ours.n else "-",
                     "samples (study / ours)": samples, "verdict": verdict, "source": f.source})
    table = pd.DataFrame(rows)
    if not table.empty:
        count = {k: kinds.count(k) for k in (INSIDE, OUTSIDE, NOT_COMPARABLE, MISSING)}
        comparable, inside, blocked, absent = (count[INSIDE] + count[OUTSIDE], count[INSIDE], count[NOT_COMPARABLE],
                                               count[MISSING])
        text = f"Published figures: {len(table)} listed"
        if absent:
            text += f"; {absent} belong to configurations without a finished run here"
        if comparable:
            text += f"; {inside} of {comparable} comparable ones lie inside our 95% intervals"
        if blocked:
            text += (
                f"; {blocked} cannot be compared (different feature extractor or dataset), so we do not compare them"
            )
        notes.append(text + ".")
    return Scorecard(table, notes)
