"""A plan for a sweep not run yet, from one that was: with the seed-to-seed variance an earlier sweep
measured (the report's model, `stats.fit`), what each comparison of a planned grid could detect
at its seeds, and how many seeds per configuration it needs to detect `min_effect` (`stats.layout`).
`python -m sweeps.run SPEC --dry-run --pilot SWEEP_FOLDER` prints it."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np

from record.errors import GansweepError
from record.design import level_label
from stats.layout import LOG, Layout, plan_comparisons
from analysis.load import SweepNotFound, load_sweep
from stats.fit import fit_design
from stats.contrasts import usable_trials

__all__ = ["PilotError", "pilot_plan"]


class PilotError(GansweepError):
    """A pilot sweep that cannot plan this design."""


def pilot_plan(pilot: str, *, metric: str, extractor: str, factors: list[tuple[str, list, Any]], seeds: int,
               min_effect: float | None) -> str:
    """The plan for a full grid of `factors` ((key, level labels, baseline label) each), `seeds` runs per
    configuration, from the sweep in the folder `pilot`; its lines as text."""
    if not Path(pilot).is_dir():
        raise PilotError("no such folder; give the folder of an earlier sweep (runs/sweeps/NAME-...), or its output "
                         "root.")
    try:
        sweep = load_sweep(pilot)
    except SweepNotFound as e:
        raise PilotError(str(e)) from None
    if sweep.metric != metric:
        raise PilotError(f"it ranked runs by {sweep.metric}, this spec by {metric}: its variance says nothing "
                         f"about {metric}.")
    fit = fit_design(sweep.trials, sweep.metric, sweep.mode, [p for p in sweep.swept if p in sweep.trials],
                     sweep.baselines, plan=False)
    if not (fit.residual_df >= 1):
        raise PilotError("no configuration of it has two finished runs, so it measured no seed-to-seed variance.")
    values = usable_trials(sweep.trials, sweep.metric)[sweep.metric].astype(float)
    grand = float(np.exp(np.log(values).mean())) if fit.scale == LOG else float(values.mean())
    keys = list(itertools.product(*[levels for _, levels, _ in factors]))
    layout = Layout.from_keys([k for k in keys for _ in range(seeds)], [key for key, _, _ in factors],
                              {key: base for key, _, base in factors})
    rows = plan_comparisons(layout, fit.residual_var, fit.scale, grand, seeds, min_effect)
    target = rows[0]["target"] if rows else min_effect
    sd = (f"{math.sqrt(fit.residual_var):.1%} of {metric} (SD of log {metric})" if fit.scale == LOG
          else f"{math.sqrt(fit.residual_var):.3g}")
    lines = [f"plan from the pilot {sweep.out_dir or pilot}: seed-to-seed SD {sd}, {fit.residual_df:g} degrees of "
             f"freedom over {int(fit.layout.counts.sum())} runs; {metric} {grand:.4g} on average there",
             f"difference to detect: {target:.4g} {metric}"
             + ("" if min_effect is not None else " (10% of the pilot's average; set metric.min_effect)")
             + f"; 80% power at the Bonferroni level over {len(rows)} comparisons; {seeds} seeds per configuration "
               "planned"]
    measured_with = sweep.design.extractor if sweep.design else None
    if measured_with and measured_with != extractor:
        lines.append(f"caution: the pilot scored {metric} with the {measured_with} extractor, this spec with "
                     f"{extractor}; its seed-to-seed spread need not carry over")
    short = lambda k: k.split(".")[-1]  # noqa: E731
    for r in rows:
        what = (f"{short(r['parameter'])} {level_label(r['baseline'])} -> {level_label(r['level'])}"
                if r["kind"] == "effect" else
                f"{' x '.join(short(k) for k in r['parameter'].split(' x '))} interaction "
                f"({level_label(r['level'])} against {level_label(r['baseline'])})")
        need = "more than 1000" if r["seeds_needed"] is None else str(r["seeds_needed"])
        det = f"{r['detectable']:.3g}" if math.isfinite(r["detectable"]) else "nothing (needs >= 2 seeds)"
        lines.append(f"  {what}: at {seeds} seeds detects {det} {metric}; needs {need} seeds per configuration")
    return "\n".join(lines)
