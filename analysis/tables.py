"""Tables of a sweep: pivots over swept params (mean ± std over seeds, with neighbour deltas),
multi-metric summaries and the ranking, as DataFrames and as Markdown/CSV/HTML."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["metric_table", "ranking", "summary_table", "to_markdown"]


def _usable(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    ok = trials[trials["status"].isin(["completed"])]
    if ok.empty:  # nothing finished: fall back to every trial's last value
        ok = trials[trials["status"] != "diverged"]
    return ok[ok[metric].notna()] if metric in ok else ok.iloc[0:0]


def metric_table(trials: pd.DataFrame, metric: str, params: list[str]) -> pd.DataFrame:
    """Mean, std and count of `metric` over seed replicates for each combination of 1-3 params, plus
    `delta`: the change of the mean from the previous value of the last param (e.g. FID vs fraction)."""
    if not 1 <= len(params) <= 3:
        raise ValueError(f"metric_table takes one to three params, got {params}.")
    data = _usable(trials, metric)
    if data.empty:
        return pd.DataFrame(columns=[*params, "mean", "std", "n", "delta"])
    g = data.groupby(params, dropna=False)[metric]
    table = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "n": g.count()}).reset_index()
    table = table.sort_values(params).reset_index(drop=True)
    outer = params[:-1]
    if outer:
        table["delta"] = table.groupby(outer, dropna=False)["mean"].diff()
    else:
        table["delta"] = table["mean"].diff()
    return table


def summary_table(trials: pd.DataFrame, params: list[str], metrics: list[str]) -> pd.DataFrame:
    """One row per combination of params, with mean ± std of each metric (e.g. model x dataset x size:
    time, FID, IS, precision, recall)."""
    metrics = [m for m in metrics if m in trials.columns]
    data = _usable(trials, metrics[0]) if metrics else trials
    rows = []
    for key, group in data.groupby(params, dropna=False) if params else [((), data)]:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(params, key))
        row["n"] = len(group)
        for m in metrics:
            v = group[m].dropna()
            row[m] = v.mean() if len(v) else math.nan
            row[f"{m}_std"] = v.std(ddof=1) if len(v) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def ranking(trials: pd.DataFrame, metric: str, mode: str, params: list[str]) -> pd.DataFrame:
    """Trials ranked by the metric's last value; early-stopped ones show the evaluation they stopped at."""
    cols = ["trial_id", "status", "last_evaluation", "last_step", metric] + [f"best_{metric}"] * (f"best_{metric}" in trials) + params + ["train.seed"] * ("train.seed" in trials)
    table = trials[[c for c in dict.fromkeys(cols) if c in trials]].copy()
    finite = table[metric].map(lambda v: isinstance(v, (int, float)) and math.isfinite(v)) if metric in table else False
    table["_ok"] = finite & (table["status"] != "diverged")
    table["_done"] = table["status"] == "completed"
    table = table.sort_values(["_ok", "_done", metric], ascending=[False, False, mode == "min"])
    table.insert(0, "rank", range(1, len(table) + 1))
    table["stopped_at"] = table.apply(
        lambda r: f"evaluation {int(r['last_evaluation'])}" if r["status"] == "early_stopped" else "", axis=1)
    return table.drop(columns=["_ok", "_done"]).reset_index(drop=True)


def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.4g}"
    return str(v)


def to_markdown(table: pd.DataFrame, mean_std: tuple[str, str] | None = ("mean", "std")) -> str:
    """GitHub-flavoured Markdown; with mean_std, those two columns are shown as one 'mean ± std'."""
    df = table.copy()
    if mean_std and all(c in df for c in mean_std):
        m, s = mean_std
        df[m] = [f"{_fmt(a)} ± {_fmt(b)}" if isinstance(b, float) and not math.isnan(b) else _fmt(a)
                 for a, b in zip(df[m], df[s])]
        df = df.drop(columns=[s])
    header = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, sep, *body])
