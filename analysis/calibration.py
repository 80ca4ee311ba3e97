"""Calibration of the report's verdicts, by simulation: `python -m analysis.calibration [--studies 400]`.

Synthetic trial tables (normal final metrics, seed SD 10) go through `analyse_effects` and `best_set`, the
functions the report runs on MLflow data, and the printed rates are checked against what the methods
promise: at most 5% of null studies with any false `better`/`worse`/interaction (family-wise, Holm);
a detection rate equal to the Welch test's exact power; the true best configuration kept in >= 95%.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd
import scipy.integrate
import scipy.stats

from analysis.stats import BETTER, INTERACTION, WORSE, analyse_effects, best_set
from gan.status import Status

__all__ = ["best_set_coverage", "detection_rate", "false_verdict_rate", "trials_table", "welch_power"]

METRIC = "fid"
SIGMA = 10.0  # seed-to-seed SD of the simulated metric


def trials_table(cells: dict[tuple, list[float]], params: list[str]) -> pd.DataFrame:
    """A trials table as `load_sweep` returns it: one completed run per value."""
    rows = []
    for key, values in cells.items():
        for seed, v in enumerate(values):
            rows.append({**dict(zip(params, key)), "train.seed": seed, "status": Status.COMPLETED, METRIC: v})
    return pd.DataFrame(rows)


def _null_design(rng, design: str, n: int) -> tuple[pd.DataFrame, list[str]]:
    if design == "levels":  # one parameter: a baseline and three other levels
        return trials_table({(lv,): list(rng.normal(100, SIGMA, n)) for lv in range(4)}, ["p"]), ["p"]
    cells = {(a, b, c): list(rng.normal(100, SIGMA, n)) for a in (0, 1) for b in (0, 1) for c in (0, 1)}
    return trials_table(cells, ["a", "b", "c"]), ["a", "b", "c"]  # a 2x2x2 factorial, as hidden_dims


def false_verdict_rate(design: str, n: int, studies: int, seed: int = 0) -> float:
    """Share of studies with no planted difference in which any comparison is called better, worse or an
    interaction."""
    rng = np.random.default_rng(seed)
    false = 0
    for _ in range(studies):
        data, params = _null_design(rng, design, n)
        analysis = analyse_effects(data, METRIC, "min", params)
        false += any(e.verdict in (BETTER, WORSE, INTERACTION) for e in analysis.effects + analysis.interactions)
    return false / studies


def welch_power(delta: float, sigma: float, n: int, alpha: float = 0.05) -> float:
    """Exact power of the two-sided Welch test with n runs per group. Given the two sample variances
    (independent of the means for normal data) the test rejects when |mean difference| > t * se, a normal
    probability; it is averaged over the two scaled chi-square variances by numerical integration."""
    k = n - 1
    sd_diff = sigma * math.sqrt(2 / n)

    def given(v1, v2):  # v = (n - 1) s^2 / sigma^2 ~ chi2(n - 1)
        s1, s2 = v1 * sigma**2 / k, v2 * sigma**2 / k
        se = math.sqrt((s1 + s2) / n)
        df = (s1 + s2) ** 2 / ((s1 * s1 + s2 * s2) / k)
        crit = scipy.stats.t.ppf(1 - alpha / 2, df) * se
        reject = scipy.stats.norm.sf((crit - delta) / sd_diff) + scipy.stats.norm.cdf((-crit - delta) / sd_diff)
        return reject * scipy.stats.chi2.pdf(v1, k) * scipy.stats.chi2.pdf(v2, k)

    top = scipy.stats.chi2.ppf(1 - 1e-9, k)
    return scipy.integrate.dblquad(given, 0, top, 0, top, epsabs=1e-5, epsrel=1e-4)[0]


def detection_rate(n: int, delta: float, studies: int, seed: int = 0) -> float:
    """Share of two-level studies (n runs each, the level truly `delta` better) called `better`."""
    rng = np.random.default_rng(seed)
    found = 0
    for _ in range(studies):
        data = trials_table({(0,): list(rng.normal(100, SIGMA, n)), (1,): list(rng.normal(100 - delta, SIGMA, n))},
                            ["p"])
        found += analyse_effects(data, METRIC, "min", ["p"]).effects[0].verdict == BETTER
    return found / studies


def best_set_coverage(studies: int, n: int = 3, seed: int = 0,
                      means: tuple[float, ...] = (100, 104, 108, 130, 160, 200)) -> tuple[float, float]:
    """(share of studies whose best set holds the truly best configuration, mean size of the set)."""
    rng = np.random.default_rng(seed)
    kept_best, sizes = 0, []
    for _ in range(studies):
        data = trials_table({(i,): list(rng.normal(m, SIGMA, n)) for i, m in enumerate(means)}, ["p"])
        best = best_set(data, METRIC, "min", ["p"])
        kept = set(best.loc[best["in_best_set"] == True, "p"])  # noqa: E712  (object column)
        kept_best += 0 in kept
        sizes.append(len(kept))
    return kept_best / studies, float(np.mean(sizes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.calibration", description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=400, help="simulated studies per line (default 400)")
    args = parser.parse_args(argv)
    s = args.studies
    print(f"{s} simulated studies per line, seed SD {SIGMA:g}")
    for design, n in (("levels", 2), ("levels", 3), ("levels", 5), ("factorial", 2), ("factorial", 3)):
        what = "1 parameter, baseline + 3 levels" if design == "levels" else "2x2x2 factorial, 3 effects + 3 interactions"
        print(f"no difference, {what}, n={n}: any false verdict in {false_verdict_rate(design, n, s):.1%} (target <= 5%)")
    for n, delta in ((3, 25.0), (3, 35.0), (5, 18.0), (5, 25.0)):
        print(f"planted difference {delta:g} ({delta / SIGMA:.1f} SD), n={n}: detected in {detection_rate(n, delta, s):.1%}, "
              f"Welch's exact power {welch_power(delta, SIGMA, n):.1%}")
    coverage, size = best_set_coverage(s)
    print(f"best set, 6 configurations x 3 seeds: holds the true best in {coverage:.1%} (target >= 95%), "
          f"mean size {size:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
