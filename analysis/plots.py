"""Plots of a sweep (matplotlib, Agg backend), each written to a PNG and returned as its path."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from record.status import Status

__all__ = [
    "accuracy_contour",
    "adaptive_seeds",
    "budget_curves",
    "class_histogram",
    "final_vs_param",
    "forest",
    "image_strip",
    "loss_curves",
    "metric_vs_step",
    "param_importance",
    "pca_scatter",
    "run_label",
]

_STYLE = {Status.COMPLETED: ("-", 1.6), Status.EARLY_STOPPED: ("--", 1.0), Status.DIVERGED: (":", 1.0),
          Status.ERROR: (":", 1.0)}


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_label(row: pd.Series, swept: list[str]) -> str:
    parts = [f"{k.split('.')[-1]}={row[k]}" for k in swept if k in row]
    if "train.seed" in row:
        parts.append(f"seed={row['train.seed']}")
    return ", ".join(parts) or str(row["trial_id"])


def metric_vs_step(sweep, metric: str, path: Path) -> Path:
    """Every trial's metric over training steps; early-stopped trials end in an x at their rung."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    hist = sweep.histories[sweep.histories["metric"] == metric]
    for _, row in sweep.trials.iterrows():
        h = hist[hist["run_id"] == row["run_id"]].sort_values("step")
        if h.empty:
            continue
        style, width = _STYLE.get(row["status"], ("-", 1.0))
        (line,) = ax.plot(h["step"], h["value"], style, lw=width, label=run_label(row, sweep.swept))
        if row["status"] == Status.EARLY_STOPPED:
            ax.plot(h["step"].iloc[-1], h["value"].iloc[-1], "x", color=line.get_color(), ms=8, mew=2)
    ax.set_xlabel("generator iterations")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} during training (dashed, x: stopped early by ASHA)")
    if len(sweep.trials) <= 16:
        ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def final_vs_param(trials: pd.DataFrame, metric: str, param: str, path: Path, others: list[str] = ()) -> Path:
    """Final metric against a numeric param: one line per combination of the other swept params, each
    point the mean over seed replicates with a std error bar."""
    data = trials[(trials["status"] == Status.COMPLETED) & trials[metric].notna()]
    fig, ax = plt.subplots(figsize=(6.5, 4.3))
    others = list(others)
    groups = data.groupby(others) if others else [((), data)]
    from stats.contrasts import cell_table

    for name, g in groups:
        name = name if isinstance(name, tuple) else (name,)
        agg = cell_table(g, metric, [param]).sort_values(param)
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(others, name)) or None
        ax.errorbar(agg[param], agg["mean"], yerr=agg["half_width"].fillna(0), marker="o", capsize=4, label=label)
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    ax.set_title(f"final {metric} vs {param.split('.')[-1]} (mean, 95% CI over seeds)")
    if others:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def loss_curves(sweep, run_ids: list[str], path: Path) -> Path:
    """D and G losses (and the Wasserstein estimate where logged) for chosen trials."""
    metrics = [m for m in ("loss_d", "loss_g", "wasserstein") if (sweep.histories["metric"] == m).any()]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for run_id in run_ids:
            h = sweep.histories[(sweep.histories["metric"] == m) & (sweep.histories["run_id"] == run_id)]
            row = sweep.trials[sweep.trials["run_id"] == run_id].iloc[0]
            ax.plot(h["step"], h["value"], label=run_label(row, sweep.swept))
        ax.set_title(m)
        ax.set_xlabel("generator iterations")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return _save(fig, path)


def _fanova(data: pd.DataFrame, params: list[str], metric: str, mode: str, seed: int, n_trees: int) -> dict[str, float]:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    dists = {}
    for p in params:
        values = data[p]
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > 2:
            dists[p] = FloatDistribution(float(values.min()), float(values.max()))
        else:
            dists[p] = CategoricalDistribution(sorted(values.astype(str).unique()))
    study = optuna.create_study(direction="minimize" if mode == "min" else "maximize")
    for _, row in data.iterrows():
        ps = {p: (float(row[p]) if isinstance(dists[p], FloatDistribution) else str(row[p])) for p in params}
        study.add_trial(optuna.trial.create_trial(params=ps, distributions=dists, value=float(row[metric])))
    if len(dists) == 1:  # fANOVA over one parameter explains all the variance it can see
        return {params[0]: 1.0}
    return optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(n_trees=n_trees, seed=seed), normalize=True)


def param_importance(trials: pd.DataFrame, params: list[str], metric: str, mode: str, path: Path,
                     resamples: int = 30, n_trees: int = 32) -> tuple[Path, pd.DataFrame] | None:
    """fANOVA importances (Optuna's evaluator) of the swept params for the final metric, with 95% percentile
    intervals from `resamples` bootstrap resamples of the finished trials (each resample keeps every
    parameter varying). None if too few trials."""
    import optuna

    data = trials[(trials["status"] == Status.COMPLETED) & trials[metric].map(
        lambda v: isinstance(v, (int, float)) and math.isfinite(v))]
    params = [p for p in params if data[p].astype(str).nunique() > 1] if not data.empty else []
    if len(data) < 4 or not params:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    point = _fanova(data, params, metric, mode, seed=0, n_trees=n_trees)
    rng = np.random.default_rng(0)
    draws = []
    for b in range(resamples):
        sample = data.iloc[rng.integers(0, len(data), len(data))]
        if any(sample[p].astype(str).nunique() < 2 for p in params):
            continue  # a resample that lost a parameter's variation says nothing about it
        draws.append(_fanova(sample, params, metric, mode, seed=b + 1, n_trees=n_trees))
    table = pd.DataFrame({"parameter": params, "importance": [point.get(p, 0.0) for p in params]})
    if draws:
        boot = pd.DataFrame(draws).reindex(columns=params).fillna(0.0)
        table["low"] = [float(np.percentile(boot[p], 2.5)) for p in params]
        table["high"] = [float(np.percentile(boot[p], 97.5)) for p in params]
    else:
        table["low"] = table["high"] = np.nan
    table["resamples"] = len(draws)
    table = table.sort_values("importance").reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.4, 0.7 + 0.5 * len(table)))
    err = np.vstack(
        [(table["importance"] - table["low"]).clip(lower=0), (table["high"] - table["importance"]).clip(lower=0)]
    )
    ax.barh([p.split(".")[-1] for p in table["parameter"]], table["importance"],
            xerr=None if table["low"].isna().all() else err, capsize=4, color="#4c72b0")
    ax.set_xlim(0, 1.05)
    ax.set_xlabel(f"fANOVA importance for {metric} (95% bootstrap interval over {len(draws)} resamples of trials)")
    return _save(fig, path), table


def forest(effects: list, metric: str, path: Path, labels: list[str]) -> Path:
    """Each comparison's change against its baseline with its 95% interval; the zero line marks no effect.
    Comparisons fitted on the log scale are drawn as percentage changes (ratio - 1)."""
    colors = {"better": "#2a9d5b", "worse": "#c0392b", "interaction": "#8e44ad"}
    log = any(getattr(e, "scale", "raw") == "log" for e in effects)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.42 * len(effects)))
    y = np.arange(len(effects))[::-1]
    for yi, e in zip(y, effects):
        color = colors.get(e.verdict, "#555555")
        est, low, high = ((100 * (e.ratio - 1), 100 * (e.ratio_low - 1), 100 * (e.ratio_high - 1)) if log
                          else (e.estimate, e.low, e.high))
        if math.isfinite(low) and math.isfinite(high):
            ax.plot([low, high], [yi, yi], color=color, lw=2)
        ax.plot([est], [yi], "o", color=color, ms=6)
    ax.axvline(0, color="black", lw=1, ls="--")
    ax.set_yticks(y, labels, fontsize=8)
    what = f"change in {metric}, % (95% CI)" if log else f"difference in {metric} (95% CI)"
    ax.set_xlabel(f"{what} against the baseline\ngreen better, red worse, purple interaction, grey within noise")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def image_strip(images: np.ndarray, path: Path, rows: int, title: str = "") -> Path:
    """uint8 images (N, C, H, W) laid out in `rows` rows."""
    n, c, h, w = images.shape
    cols = math.ceil(n / rows)
    canvas = np.zeros((rows * (h + 2), cols * (w + 2), c), dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        canvas[r * (h + 2) : r * (h + 2) + h, k * (w + 2) : k * (w + 2) + w] = images[i].transpose(1, 2, 0)
    fig, ax = plt.subplots(figsize=(min(12, cols * 0.6 + 1), rows * 0.6 + 0.6))
    ax.imshow(canvas.squeeze(-1) if c == 1 else canvas, cmap="gray" if c == 1 else None)
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def class_histogram(counts: list[int], real: list[int], names: list[str], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(names)), 3.6))
    x = np.arange(len(names))
    total, total_real = max(1, sum(counts)), max(1, sum(real))
    ax.bar(x - 0.2, [c / total for c in counts], 0.4, label="generated")
    ax.bar(x + 0.2, [c / total_real for c in real], 0.4, label="real")
    ax.set_xticks(x, names, rotation=60 if len(names) > 12 else 0, fontsize=7)
    ax.set_ylabel("share of samples")
    ax.set_title("predicted class of generated samples (domain classifier) vs real")
    ax.legend(fontsize=8)
    return _save(fig, path)


def budget_curves(curves: pd.DataFrame, size: str, metric: str, path: Path) -> Path:
    """The metric against the data size under each budget plan, with 95% intervals over seeds."""
    fig, ax = plt.subplots(figsize=(6.8, 4.3))
    for plan, g in curves.groupby("plan", sort=False):
        g = g.sort_values(size)
        err = np.vstack([(g["mean"] - g["low"]).fillna(0), (g["high"] - g["mean"]).fillna(0)])
        label = {"epochs": "fixed epochs (data and compute grow)", "iterations": "fixed iterations (data alone)",
                 "seconds": "fixed training time (data alone)"}.get(plan, plan)
        ax.errorbar(g[size], g["mean"], yerr=err, marker="o", capsize=4, label=label)
    ax.set_xlabel(size.split(".")[-1])
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} against {size.split('.')[-1]} under each budget (mean, 95% CI over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def accuracy_contour(cells: pd.DataFrame, plan: str, path: Path) -> Path:
    """The augmentation study's contour plot: mean test accuracy over real (x) and generated (y) image counts."""
    part = cells[cells["plan"] == plan].groupby(["real", "generated"])["test_accuracy"].mean().unstack()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    reals, gens = list(part.index), list(part.columns)
    xs, ys = np.arange(len(reals)), np.arange(len(gens))
    z = part.to_numpy().T * 100  # (generated, real)
    if len(reals) > 1 and len(gens) > 1:
        filled = ax.contourf(xs, ys, np.ma.masked_invalid(z), levels=12, cmap="viridis")
        fig.colorbar(filled, ax=ax, label="test accuracy (%)")
    for i, j in np.ndindex(z.shape):
        if np.isfinite(z[i, j]):
            ax.text(j, i, f"{z[i, j]:.1f}", ha="center", va="center", fontsize=7,
                    bbox={"facecolor": "white", "alpha": 0.7, "pad": 1, "edgecolor": "none"})
    ax.set_xlim(-0.35, len(reals) - 0.65)  # room for the values on the edges
    ax.set_ylim(-0.35, len(gens) - 0.65)
    ax.set_xticks(xs, [str(r) for r in reals])
    ax.set_yticks(ys, [str(g) for g in gens])
    ax.set_xlabel("real training images")
    ax.set_ylabel("generated training images")
    ax.set_title(f"classifier test accuracy, plan '{plan}' (mean over seeds)")
    return _save(fig, path)


def pca_scatter(real: np.ndarray, real_labels: np.ndarray, generated: np.ndarray, generated_labels: np.ndarray,
                explained: np.ndarray, path: Path) -> Path:
    """Penultimate-layer activations of real and generated images on their first two principal components."""
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    cmap = plt.get_cmap("tab10")
    for pts, labels, marker, name in (
        (real, real_labels, "o", "real test"),
        (generated, generated_labels, "x", "generated"),
    ):
        ax.scatter(pts[:, 0], pts[:, 1], c=[cmap(int(v) % 10) for v in labels], marker=marker, s=22, alpha=0.8,
                   label=name)
    ax.set_xlabel(f"PC 1 ({explained[0]:.0%} of the variance)")
    ax.set_ylabel(f"PC 2 ({explained[1]:.0%})")
    ax.set_title("classifier's penultimate activations (colour: class)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def adaptive_seeds(rec: dict, path: Path) -> Path:
    """An adaptive sweep's seeds per configuration: the first round's, then one block per look that added
    one; the text at each bar's end says where it stopped getting seeds."""
    cells = rec["cells"]
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(cells) + 1.3))
    colours = plt.cm.viridis(np.linspace(0.15, 0.85, max(rec["looks"], 1)))
    for i, c in enumerate(cells):
        ax.barh(i, rec["initial"], color="0.7", edgecolor="white")
        for j, a in enumerate(sorted(c["added"], key=lambda a: a["after_look"])):
            ax.barh(i, 1, left=rec["initial"] + j, color=colours[a["after_look"] - 1], edgecolor="white")
        last = max((a["after_look"] for a in c["added"]), default=0)
        end = "max seeds" if c["seeds"] >= rec["max"] else f"no more after look {last + 1}"
        ax.text(c["seeds"] + 0.1, i, end, va="center", fontsize=8)
    ax.axvline(rec["max"], color="0.3", ls="--", lw=1)
    ax.set_yticks(range(len(cells)), [c["label"] for c in cells], fontsize=8)
    ax.set_xlim(0, rec["max"] + 2.5)
    ax.set_xlabel("seeds (grey: first round; colour: the look that added it; dashed: max)")
    ax.invert_yaxis()
    return _save(fig, path)
