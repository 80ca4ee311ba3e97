"""The one fit behind a sweep's verdicts, as its report states them: shared by the report and the claims page, so
both say the same thing."""

from __future__ import annotations

from analysis.load import Sweep
from record.metrics import OUTPUTS
from stats.adaptive import sequential_verdicts
from stats.fit import DesignFit, fit_design

__all__ = ["report_fit", "uncertainty_of"]


def uncertainty_of(metric: str) -> str | None:
    """The output that holds `metric`'s sampling uncertainty (fid_std for fid), if the registry declares one."""
    return next((o.name for o in OUTPUTS.values() if o.uncertainty_of == metric), None)


def report_fit(sweep: Sweep, *, table_params: list[str] | None = None,
               detect: float | None = None) -> tuple[DesignFit, list[str]]:
    """The one fit behind a report's verdicts (its claims about the ranking metric in its family), and its factors;
    an adaptive sweep's verdicts are those its looks reached."""
    trials, metric = sweep.trials, sweep.metric
    factors = table_params or [p for p in sweep.swept if p in trials]
    min_effect = detect if detect is not None else (sweep.design.min_effect if sweep.design else None)
    fit = fit_design(trials, metric, sweep.mode, factors, sweep.baselines, uncertainty=uncertainty_of(metric),
                     min_effect=min_effect, claims=sweep.design.claims if sweep.design else ())
    if sweep.adaptive:  # the verdicts the sweep reached at its looks, which hold their 5% under the repeated looks
        fit = sequential_verdicts(fit, sweep.adaptive)
    return fit, factors
