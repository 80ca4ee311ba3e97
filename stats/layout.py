"""What a design can estimate, and how many seeds it needs: its configurations and the contrasts a report
draws over them (a level against its baseline, averaged over the other factors; two-way interactions of a
factorial grid), the degrees of freedom of a contrast's variance, and the seeds at which a contrast finds
a stated difference. Pure arithmetic over the design, no data: `stats.fit` fits the runs, and a
pilot's plan (`analysis.pilot`) reuses the same contrasts for a design not run yet.

**The plan.** The seeds per configuration at which a contrast detects a stated difference (`min_effect`,
in metric units; default 10% of the comparison's baseline) with 80% power at the Bonferroni level 0.05/m
(noncentral t, scipy), given a residual variance. On the log scale a difference d at a baseline of b is
the ratio 1 + d/b, the harder to detect of the two directions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from stats.contrasts import ALPHA, POWER, _sort_key, detectable_difference

__all__ = ["DEFAULT_MIN_EFFECT", "LOG", "MAX_SEEDS", "RAW", "Layout", "bell_mccaffrey_df", "model_difference",
           "plan_comparisons", "seeds_needed"]

DEFAULT_MIN_EFFECT = 0.10  # the difference worth detecting, as a share of the comparison's baseline
MAX_SEEDS = 1000  # the plan looks no further than this many seeds per configuration
LOG, RAW = "log", "raw"  # the analysis scales


@dataclass
class Layout:
    """The configurations of a design (cells), how many runs each has, and the contrasts over them."""

    params: list[str]
    cells: list[tuple]  # one key per configuration, sorted
    counts: np.ndarray  # runs per configuration
    baselines: dict[str, Any]

    @classmethod
    def from_keys(cls, keys: list[tuple], params: list[str], baselines: dict[str, Any] | None = None) -> "Layout":
        """`keys`: one tuple of levels per run (or per planned run)."""
        counted: dict[tuple, int] = {}
        for k in keys:
            counted[k] = counted.get(k, 0) + 1
        cells = sorted(counted, key=lambda t: tuple(map(_sort_key, t)))
        layout = cls(list(params), cells, np.array([counted[c] for c in cells], dtype=float), {})
        for p in params:
            levels = layout.levels(p)
            base = (baselines or {}).get(p, levels[0])
            layout.baselines[p] = base if base in levels else levels[0]
        return layout

    def levels(self, p: str) -> list:
        i = self.params.index(p)
        return sorted({c[i] for c in self.cells}, key=_sort_key)

    @property
    def factorial(self) -> bool:
        return len(self.params) >= 2 and len(self.cells) == math.prod(len(self.levels(p)) for p in self.params)

    def index(self, key: tuple) -> int:
        return self.cells.index(key)

    def effect_weights(self, p: str, level, base) -> tuple[np.ndarray, str, list[str]]:
        """(weights over cells, "averaged" or "groups", the parameters averaged over) of level minus base."""
        i = self.params.index(p)
        others = [q for q in self.params if q != p]
        rest = lambda lv: {c[:i] + c[i + 1:] for c in self.cells if c[i] == lv}  # noqa: E731
        at_level, at_base = rest(level), rest(base)
        shared = at_level & at_base
        w = np.zeros(len(self.cells))
        if not others or (shared and at_level == shared and at_base == shared):
            for r in shared:
                w[self.index(r[:i] + (level,) + r[i:])] += 1 / len(shared)
                w[self.index(r[:i] + (base,) + r[i:])] -= 1 / len(shared)
            return w, "averaged", others
        # not crossed (random or Optuna search): the plain means of the two groups of runs
        for j, c in enumerate(self.cells):
            if c[i] == level:
                w[j] = self.counts[j]
            elif c[i] == base:
                w[j] = -self.counts[j]
        w[w > 0] /= w[w > 0].sum()
        w[w < 0] /= -w[w < 0].sum()
        return w, "groups", []

    def interaction_weights(self, p: str, a, q: str, b) -> tuple[np.ndarray, list[str]]:
        """Weights of (a, b) - (a0, b) - (a, b0) + (a0, b0), averaged over the other parameters (factorial grids)."""
        ip, iq = self.params.index(p), self.params.index(q)
        a0, b0 = self.baselines[p], self.baselines[q]
        rest_idx = [j for j in range(len(self.params)) if j not in (ip, iq)]
        others = sorted({tuple(c[j] for j in rest_idx) for c in self.cells}, key=lambda t: tuple(map(_sort_key, t)))
        w = np.zeros(len(self.cells))
        for o in others:
            for lp, lq, sign in ((a, b, 1), (a0, b, -1), (a, b0, -1), (a0, b0, 1)):
                key, it = [], iter(o)
                for j in range(len(self.params)):
                    key.append(lp if j == ip else lq if j == iq else next(it))
                w[self.index(tuple(key))] += sign / len(others)
        return w, [self.params[j] for j in rest_idx]

    def comparisons(self) -> list[tuple[str, str, Any, Any, np.ndarray, str, list[str]]]:
        """Every comparison a report makes: (kind, parameter, level, baseline, weights, how, averaged over)."""
        out = []
        for p in self.params:
            base = self.baselines[p]
            for level in self.levels(p):
                if level != base:
                    w, how, over = self.effect_weights(p, level, base)
                    out.append(("effect", p, level, base, w, how, over))
        if self.factorial:
            for p, q in combinations(self.params, 2):
                for a in self.levels(p):
                    for b in self.levels(q):
                        if a != self.baselines[p] and b != self.baselines[q]:
                            w, over = self.interaction_weights(p, a, q, b)
                            out.append(("interaction", f"{p} x {q}", (a, b), (self.baselines[p], self.baselines[q]),
                                        w, "averaged", over))
        return out


def bell_mccaffrey_df(weights, counts) -> float:
    """Degrees of freedom of a contrast's HC2 variance, sum(w_c^2 s_c^2 / n_c), when the configurations
    share one variance (Bell and McCaffrey 2002; Imbens and Kolesar 2016): Satterthwaite's for that sum
    of independent chi-squares. N - k for a contrast that weighs every configuration alike, 2(n - 1) for
    two configurations of n runs."""
    w, n = np.asarray(weights, dtype=float), np.asarray(counts, dtype=float)
    a = w * w / n
    return float(a.sum() ** 2 / np.sum(a * a / (n - 1)))


def model_difference(target: float, baseline: float, scale: str) -> float:
    """A difference in metric units as a difference on the analysis scale (for log: the ratio 1 + d/b)."""
    if scale == LOG:
        return math.log1p(abs(target) / baseline) if baseline > 0 else math.nan
    return abs(target)


def seeds_needed(weights: np.ndarray, residual_var: float, alpha: float, difference: float,
                 power: float = POWER) -> int | None:
    """Smallest number of seeds per configuration (the same in each) at which a contrast with these
    weights over the configurations detects `difference` (analysis scale) with `power` at `alpha`,
    given the residual variance (the test: HC2 with Bell-McCaffrey df); None beyond MAX_SEEDS."""
    if not (math.isfinite(residual_var) and residual_var > 0 and math.isfinite(difference) and difference > 0):
        return None
    w = np.asarray(weights, dtype=float)
    ss, used = float(np.sum(w ** 2)), w[w != 0]

    def enough(n: int) -> bool:
        df = bell_mccaffrey_df(used, np.full(len(used), float(n)))
        d = detectable_difference(math.sqrt(residual_var * ss / n), df, alpha, power)
        return math.isfinite(d) and d <= difference

    if not enough(MAX_SEEDS):
        return None
    low, high = 2, MAX_SEEDS
    if enough(low):
        return low
    while high - low > 1:  # enough(high) and not enough(low)
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def plan_comparisons(layout: Layout, residual_var: float, scale: str, grand_mean: float, seeds: int,
                     min_effect: float | None = None) -> list[dict]:
    """For a planned design (every configuration with `seeds` runs) and a pilot's residual variance: each
    comparison's detectable difference at `seeds` and the seeds it needs to detect `min_effect` (metric
    units; default 10% of the pilot's mean), both at 80% power and the Bonferroni level."""
    comps = layout.comparisons()
    m = max(len(comps), 1)
    target = min_effect if min_effect is not None else DEFAULT_MIN_EFFECT * abs(grand_mean)
    diff = model_difference(target, grand_mean, scale)
    rows = []
    for kind, p, level, base, w, _how, _over in comps:
        ss, used = float(np.sum(w ** 2)), w[w != 0]
        df = bell_mccaffrey_df(used, np.full(len(used), float(seeds))) if seeds >= 2 else math.nan
        detectable = (detectable_difference(math.sqrt(residual_var * ss / seeds), df, ALPHA / m)
                      if seeds >= 2 else math.nan)
        rows.append({"kind": kind, "parameter": p, "level": level, "baseline": base, "target": target,
                     "detectable": (math.expm1(detectable) * grand_mean if scale == LOG else detectable),
                     "seeds_needed": seeds_needed(w, residual_var, ALPHA / m, diff)})
    return rows
