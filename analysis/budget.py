"""Data or compute? A data-size sweep run under two budget plans, side by side.

With epochs held fixed (as most studies do) a run on more data also trains more iterations, so its metric
gain mixes data with compute. With iterations (or seconds) held fixed only the data changes. For the
smallest and the largest data size:

- the drop at fixed epochs (data and compute) and at fixed iterations (data alone), each a Welch
  difference of two configuration means with its 95% interval;
- compute's part: the difference of the two drops, a Welch contrast of the four means. Where the largest
  size trains the same number of iterations under both plans it ran once and serves both curves; its
  mean then cancels, and compute's part is the difference of the two plans at the smallest size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from record.design import level_label
from stats.contrasts import decimals_for, contrast, format_interval, format_number, interval, usable_trials

__all__ = ["SIZE_PARAMS", "BudgetSplit", "budget_curves", "split_drop"]

SIZE_PARAMS = ("data.dataset_fraction", "data.num_images")  # factors that set how much data a run sees


@dataclass
class BudgetSplit:
    size: str  # the size factor
    small: float
    large: float
    fixed: str  # the plan holding iterations (or seconds) fixed
    drop_epochs: tuple[float, float, float]  # estimate, low, high: small minus large, under fixed epochs
    drop_fixed: tuple[float, float, float]  # the same under the fixed plan
    compute: tuple[float, float, float]  # drop_epochs - drop_fixed
    shared_large: bool  # the largest size ran once for both plans

    def sentence(self, metric: str) -> str:
        d = decimals_for((self.drop_epochs[2] - self.drop_epochs[1]) / 2, self.drop_epochs[0])

        def show(v):
            return f"{format_number(v[0], d)} (95% CI {format_number(v[1], d)} to {format_number(v[2], d)})"

        share = self.drop_fixed[0] / self.drop_epochs[0] if self.drop_epochs[0] else math.nan
        what = "iterations" if self.fixed == "iterations" else "training time"
        text = (f"Data or compute: from {short(self.size)} {level_label(self.small)} to {level_label(self.large)}, "
                f"{metric} changes by {show(self._neg(self.drop_epochs))} at fixed epochs (more data and more "
                f"iterations) and by {show(self._neg(self.drop_fixed))} at fixed {what} (more data alone)")
        if math.isfinite(share):
            data_noise = " (within noise)" if self.drop_fixed[1] <= 0 <= self.drop_fixed[2] else ""
            pct = f"{share:.0%}".replace("-0%", "0%")
            text += (f": data accounts for about {pct} of the change{data_noise}, compute for "
                     f"the rest ({show(self._neg(self.compute))}")
            text += ", " + ("real" if not (self.compute[1] <= 0 <= self.compute[2]) else "within noise") + ")"
        return text + "."

    @staticmethod
    def _neg(v):  # a drop (small minus large) as the change from small to large
        return (-v[0], -v[2], -v[1])


def short(name: str) -> str:
    return name.split(".")[-1]


def budget_curves(trials: pd.DataFrame, metric: str, size: str, budget_col: str, fixed: str,
                  fixed_iterations: int | None) -> pd.DataFrame:
    """metric by size for each plan (mean, 95% interval, n): the curves. A size the fixed plan did not run
    because its epochs-plan run trains exactly `fixed_iterations` takes those runs (marked `shared`)."""
    data = usable_trials(trials, metric)
    rows = []
    for plan in ("epochs", fixed):
        for value in sorted(data[size].dropna().unique()):
            runs = data[(data[budget_col] == plan) & (data[size] == value)]
            shared = False
            if runs.empty and plan == fixed and fixed_iterations:
                twins = data[(data[budget_col] == "epochs") & (data[size] == value)]
                if not twins.empty and (twins["last_step"] == fixed_iterations).all():
                    runs, shared = twins, True
            if runs.empty:
                continue
            iv = interval(runs[metric])
            rows.append({"plan": plan, size: value, "n": iv.n, "mean": iv.mean, "low": iv.low, "high": iv.high,
                         "iterations": int(runs["last_step"].max()), "shared": shared, "cell": format_interval(iv)})
    return pd.DataFrame(rows)


def split_drop(trials: pd.DataFrame, metric: str, size: str, budget_col: str, fixed: str,
               fixed_iterations: int | None) -> BudgetSplit | None:
    """The drop from the smallest to the largest size under each plan, and compute's part of it."""
    data = usable_trials(trials, metric)
    curves = budget_curves(trials, metric, size, budget_col, fixed, fixed_iterations)
    if curves.empty:
        return None
    sizes = sorted(set(curves[curves["plan"] == "epochs"][size]) & set(curves[curves["plan"] == fixed][size]))
    if len(sizes) < 2:
        return None
    small, large = sizes[0], sizes[-1]

    def runs(plan, value) -> np.ndarray:
        sel = data[(data[budget_col] == plan) & (data[size] == value)]
        if sel.empty and plan == fixed:
            sel = data[(data[budget_col] == "epochs") & (data[size] == value)]
        return sel[metric].to_numpy(dtype=float)

    shared = bool(curves[(curves["plan"] == fixed) & (curves[size] == large)]["shared"].any())
    e_small, e_large, f_small, f_large = (
        runs("epochs", small),
        runs("epochs", large),
        runs(fixed, small),
        runs(fixed, large),
    )

    def with_ci(c):
        low, high = c.ci()
        return (c.estimate, low, high)

    drop_epochs = with_ci(contrast([(1.0, e_small), (-1.0, e_large)]))
    drop_fixed = with_ci(contrast([(1.0, f_small), (-1.0, f_large)]))
    if shared:  # the same runs at the largest size: they cancel
        compute = with_ci(contrast([(1.0, e_small), (-1.0, f_small)]))
    else:
        compute = with_ci(contrast([(1.0, e_small), (-1.0, e_large), (-1.0, f_small), (1.0, f_large)]))
    return BudgetSplit(size, small, large, fixed, drop_epochs, drop_fixed, compute, shared)
