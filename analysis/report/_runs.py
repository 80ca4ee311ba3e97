"""Single runs: the ranking of trials, every metric by configuration, and the plots drawn from the runs'
histories and final values."""

from __future__ import annotations

import math

import pandas as pd

from analysis import plots
from analysis.load import PRECISION, Sweep
from analysis.report._page import Page
from analysis.tables import ranking, summary_table
from record.metrics import OUTPUTS
from record.names import Result
from record.status import Status

# every registry output that ranks runs, then the training time
SUMMARY_METRICS = [name for name, out in OUTPUTS.items() if out.ranks] + [Result.WALL_TIME, Result.COMPILE_TIME]


def reduced_precisions(trials: pd.DataFrame) -> list[str]:
    """The precisions below fp32 that trials of the sweep trained in (bf16, fp16)."""
    seen = trials[PRECISION].dropna().unique().tolist() if PRECISION in trials else []
    return sorted(str(v) for v in seen if v not in ("fp32", "auto"))  # auto: a trial that never reported


def run_tables(page: Page, trials: pd.DataFrame, metric: str, mode: str, factors: list[str]) -> None:
    """The ranking of single trials, and every metric's last and best value by configuration; trials trained
    below fp32 carry their precision in the ranking, swept or not."""
    marked = factors + [PRECISION] * (bool(reduced_precisions(trials)) and PRECISION not in factors)
    rank = ranking(trials, metric, mode, marked)
    page.add_table("ranking", f"Ranking of trials by {metric}", rank,
                   note="<p>Single runs: their order within a configuration's interval is noise. Early-stopped "
                        "trials show the evaluation at which ASHA stopped them; their metric is the value at that "
                        "point, not comparable with finished trials.</p>")
    present = [m for m in SUMMARY_METRICS if m in trials and trials[m].notna().any()]
    if present:
        summary = summary_table(trials, factors, present)
        page.add_table("summary", "All metrics by configuration: last and best over training (mean ± 95% CI (n))",
                       summary, shown=summary[[c for c in summary.columns if not c.endswith("_mean")]],
                       note="<p>Finished runs. <i>best</i>: the best of a run's evaluations, as the studies report "
                            "it; picking the best of several noisy evaluations flatters it, so the last value is the "
                            "fair one to compare configurations by. <i>s/epoch</i>: training seconds per pass over "
                            "the data, evaluations excluded.</p>")


def best_and_worst(trials: pd.DataFrame, metric: str, mode: str):
    """The best and the worst finished run with a finite metric (rows of `trials`; None where there is none,
    the worst also when only one run finished)."""
    finite = (trials[trials[metric].map(lambda v: isinstance(v, float) and math.isfinite(v))] if metric in trials
              else trials.iloc[0:0])
    finished = finite[finite["status"] == Status.COMPLETED]
    ordered = finished.sort_values(metric, ascending=mode == "min")
    best_run = ordered.iloc[0] if len(ordered) else None
    worst_run = ordered.iloc[-1] if len(ordered) > 1 else None
    return best_run, worst_run


def run_plots(page: Page, sweep: Sweep, factors: list[str], best_run, worst_run) -> None:
    """The metric over training, the final metric against each numeric factor, the losses of the best and
    worst run, and the parameter importance."""
    metric, mode, trials, out_dir = sweep.metric, sweep.mode, sweep.trials, page.out_dir
    if (sweep.histories["metric"] == metric).any():
        page.add_figure(f"{metric} against training iterations",
                        plots.metric_vs_step(sweep, metric, out_dir / f"{metric}_vs_step.png"))
    numeric = [p for p in factors if pd.api.types.is_numeric_dtype(trials[p]) and trials[p].nunique() > 1]
    done = trials[trials["status"] == Status.COMPLETED]
    for p in numeric:
        others = [q for q in factors if q != p]
        if metric in done and done[metric].notna().any():
            path = out_dir / f"{metric}_vs_{p.replace('.', '_')}.png"
            page.add_figure(f"final {metric} vs {p}", plots.final_vs_param(trials, metric, p, path, others))
    chosen = [r["run_id"] for r in (best_run, worst_run) if r is not None]
    losses = sweep.histories["metric"].isin(("loss_d", "loss_g", "wasserstein")).any()
    if chosen and losses:  # runs gansweep did not launch may have logged none
        page.add_figure("losses of the best and worst finished trials",
                        plots.loss_curves(sweep, chosen, out_dir / "losses.png"))
    importance = plots.param_importance(trials, factors, metric, mode, out_dir / "importance.png")
    if importance:
        importance[1].to_csv(out_dir / "importance.csv", index=False)
        page.add_figure("parameter importance (fANOVA over finished trials, 95% bootstrap intervals)", importance[0])
