"""Tables of a sweep as DataFrames and Markdown: every metric per configuration, and the ranking of
individual trials. (The metric per configuration with its interval is `stats.contrasts.cell_table`.)"""

from __future__ import annotations

import math

import pandas as pd

from stats.contrasts import format_interval, interval, usable_trials
from record.names import ERROR, Result
from record.status import Status

__all__ = ["SECONDS_PER_EPOCH", "ranking", "summary_table", "to_markdown"]


SECONDS_PER_EPOCH = "s/epoch"  # training seconds per pass over the data (evaluations excluded)


def summary_table(trials: pd.DataFrame, params: list[str], metrics: list[str]) -> pd.DataFrame:
    """A study's results table: one row per combination of params; for every metric its last value and, where
    the runs logged a history, its best over training (`best <metric>`: what many studies report), each as
    `mean ± half-width (n)` over the finished runs; then the training seconds per epoch. `<column>_mean` holds
    each mean for sorting."""
    metrics = [m for m in metrics if m in trials.columns]
    finished = trials[trials["status"] == Status.COMPLETED].copy()
    if {Result.WALL_TIME, Result.EPOCH} <= set(finished.columns):
        epochs = finished[Result.EPOCH]
        finished[SECONDS_PER_EPOCH] = finished[Result.WALL_TIME] / epochs.where(epochs > 0)
    columns = []
    for m in metrics:
        columns.append((m, m))
        if f"best_{m}" in finished and finished[f"best_{m}"].notna().any():
            columns.append((f"best {m}", f"best_{m}"))
    if SECONDS_PER_EPOCH in finished and finished[SECONDS_PER_EPOCH].notna().any():
        columns.append((SECONDS_PER_EPOCH, SECONDS_PER_EPOCH))
    rows = []
    for key, group in finished.groupby(params, dropna=False, sort=True) if params else [((), finished)]:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(params, key))
        for name, column in columns:
            iv = interval(usable_trials(group, column)[column])
            row[name] = format_interval(iv) if iv.n else ""
            row[f"{name}_mean"] = iv.mean
        rows.append(row)
    return pd.DataFrame(rows)


def ranking(trials: pd.DataFrame, metric: str, mode: str, params: list[str]) -> pd.DataFrame:
    """Trials ranked by the metric's last value; early-stopped ones show the evaluation they stopped at."""
    std = f"{metric}_std"
    cols = (["trial_id", "status", "last_evaluation", "last_step", metric] + [std] * (std in trials)
            + [f"best_{metric}"] * (f"best_{metric}" in trials) + params + ["train.seed"] * ("train.seed" in trials)
            + [ERROR] * bool(ERROR in trials and trials[ERROR].fillna("").astype(bool).any()))
    table = trials[[c for c in dict.fromkeys(cols) if c in trials]].copy()
    if ERROR in table:  # the reason stays with the trials that ended in error (a retried one may have finished)
        table[ERROR] = table[ERROR].where(table["status"] == Status.ERROR, "")
    finite = table[metric].map(lambda v: isinstance(v, (int, float)) and math.isfinite(v)) if metric in table else False
    table["_ok"] = finite & (table["status"] != Status.DIVERGED)
    table["_done"] = table["status"] == Status.COMPLETED
    table = table.sort_values(["_ok", "_done", metric], ascending=[False, False, mode == "min"])
    table.insert(0, "rank", range(1, len(table) + 1))
    table["stopped_at"] = table.apply(
        lambda r: f"evaluation {int(r['last_evaluation'])}" if r["status"] == Status.EARLY_STOPPED else "", axis=1)
    return table.drop(columns=["_ok", "_done"]).reset_index(drop=True)


def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.4g}"
    return str(v)


def to_markdown(table: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown."""
    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    sep = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, sep, *body])
