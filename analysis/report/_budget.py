"""The budget split: a data-size sweep run at fixed epochs and at a fixed iteration count or time."""

from __future__ import annotations

import html

from analysis import plots
from analysis.budget import SIZE_PARAMS, budget_curves, split_drop
from analysis.conclusions import short
from analysis.load import BUDGET, Sweep
from analysis.report._page import Page


def budget_split(sweep: Sweep, factors: list[str]):
    """(BudgetSplit, curves, size factor) for a data-size sweep run at fixed epochs and at a fixed
    iteration count or time, when those two are its only factors; else None."""
    hold = (sweep.design.budget.get("hold") or []) if sweep.design else []
    fixed = next((p for p in ("iterations", "seconds") if p in hold), None)
    size = next((f for f in factors if f in SIZE_PARAMS), None)
    if "epochs" not in hold or fixed is None or size is None or set(factors) - {size, BUDGET}:
        return None
    iterations = sweep.design.budget.get("iterations") if fixed == "iterations" else None
    split = split_drop(sweep.trials, sweep.metric, size, BUDGET, fixed, iterations)
    if split is None:
        return None
    return split, budget_curves(sweep.trials, sweep.metric, size, BUDGET, fixed, iterations), size


def budget_section(page: Page, split, metric: str) -> None:
    """The curves of `budget_split` as a table and a figure; nothing when it found none."""
    if split is None:
        return
    budget_split, curves, size = split
    page.add_table("budget", f"{metric} by {short(size)} under each budget plan", curves,
                   note="<p>" + html.escape(budget_split.sentence(metric)) + " <i>shared</i>: the largest size trains "
                        "the same iterations under both plans, so its runs serve both curves.</p>")
    page.add_figure(f"{metric} against {short(size)} at fixed epochs and at fixed "
                    f"{'iterations' if budget_split.fixed == 'iterations' else 'training time'}",
                    plots.budget_curves(curves, size, metric, page.out_dir / "budget.png"))
