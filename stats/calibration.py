"""Calibration of the report's verdicts, by simulation: `python -m stats.calibration [--studies 400]`.

Synthetic trial tables go through `fit_design`, the function the report runs on MLflow data, and, on
the very same simulated studies, through the method reports used before it: Welch contrasts of raw
configuration means, each configuration with its own variance (`fit_design(..., scale="raw",
variance="own")`). The noise is shaped like FID's: normal around each configuration's mean with an SD
proportional to that mean (10% by default; the main job measures about 5%, and 5-15% is typical), so
configurations that differ in FID also differ in spread. The studies:

- designs: one parameter with a baseline and three other levels ("one-way"), a 2x2 and a 2x2x2
  factorial grid (as `hidden_dims`), with 2, 3 or 5 seeds per configuration, or unequal seeds (2, 3
  and 5 in turn);
- `null`: every configuration has the same mean;
- `noisy`: the same means, but one configuration's SD is 2.2 times the others' (11% against 5%), the
  largest ratio the main job measured (the SD of log FID ran from 3.6% to 7.9% over its four
  configurations, 9 seeds each); in the one-way design it is the baseline, which every comparison uses;
- `noisy3`: the same with 3 times (15% against 5%), a stress test beyond what was measured;
- `effect`: the first parameter's last level lowers the mean by 20% (150 to 120), the rest is null.

For each study: whether any truly null comparison got `better`, `worse` or `interaction`, or a real one
the wrong sign (the family-wise false verdict rate, promised at most 5%); and whether the planted
effect was found (power). The best set's coverage (the truly best configuration kept) is measured on
six configurations; the target is at least 95%.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.integrate
import scipy.stats

from stats.fit import fit_design
from stats.contrasts import BETTER, INTERACTION, WORSE
from record.names import SEED
from record.status import Status

__all__ = ["COLLAPSE_FACTORS", "COLLAPSE_METHODS", "COLLAPSE_RATES", "METHODS", "DESIGNS", "NOISY", "SCENARIOS",
           "TABLE", "Rates", "best_set_coverage", "calibrate", "collapsed", "design_cells", "detection_rate",
           "flag_rates", "simulate", "trials_table", "welch_power"]

METRIC = "fid"
MEAN = 150.0  # the baseline's FID in every simulated study
CV = 0.10  # seed-to-seed SD as a share of the mean
EFFECT = 0.8  # the planted effect: the first parameter's last level multiplies FID by this
NOISY = {"noisy": 2.2, "noisy3": 3.0}  # one configuration's SD over the others' (5% of the mean)
SCENARIOS = ("null", "noisy", "noisy3", "effect")
# the simulated designs: levels per parameter. "one-way" is a baseline and three other levels; the one-way designs
# of 3 and 6 levels span the studies' one-factor questions (architecture, dataset fraction, D steps, learning rate)
# A design's place here is its block of seeds in stats.adaptive_calibration's tables: add new ones at the end.
DESIGNS = {"2x2": [2, 2], "2x2x2": [2, 2, 2], "one-way": [4], "one-way-3": [3], "one-way-6": [6]}
TABLE = ("one-way", "2x2", "2x2x2")  # the designs this module's own tables show
PARAMS = "abc"
# a collapsed seed's FID over its configuration's usual value: the range GAN seeds that collapse or stall land in
COLLAPSE_FACTORS = (1.5, 3.0)
COLLAPSE_RATES = (0.0, 0.05, 0.10)  # the chances per seed the collapse calibration simulates
# the two methods compared: the report's model, and Welch on raw means with each configuration's variance
# the pooled residual variance for every comparison (log scale), shown for why the model does not do that
METHODS = {"model": {}, "welch": {"scale": "raw", "variance": "own"}, "pooled": {"variance": "pooled"}}


def trials_table(cells: dict[tuple, list[float]], params: list[str]) -> pd.DataFrame:
    """A trials table as `load_sweep` returns it: one completed run per value."""
    rows = []
    for key, values in cells.items():
        for seed, v in enumerate(values):
            rows.append({**dict(zip(params, key)), SEED: seed, "status": Status.COMPLETED, METRIC: v})
    return pd.DataFrame(rows)


def design_cells(design: str, scenario: str, cv: float = CV, effect: float = EFFECT) -> tuple[list[str], dict]:
    """(params, {configuration key: (mean, SD)}) of a simulated study; `effect`: the planted ratio of the
    `effect` scenario."""
    shape = DESIGNS[design]
    keys = [tuple(k) for k in np.ndindex(*shape)]
    # in the noisy scenarios, the one noisier configuration: a one-way design's baseline, which every comparison uses
    noisy = keys[0] if len(shape) == 1 else keys[-1]
    cells = {}
    for key in keys:
        mean = MEAN * (effect if scenario == "effect" and key[0] == shape[0] - 1 else 1.0)
        sd = cv * mean
        if scenario in NOISY:
            sd = (NOISY[scenario] if key == noisy else 1.0) * 0.05 * mean
        cells[key] = (mean, sd)
    return list(PARAMS[:len(shape)]), cells


def simulate(rng: np.random.Generator, design: str, n, scenario: str, cv: float = CV,
             effect: float = EFFECT, collapse: float = 0.0) -> tuple[pd.DataFrame, list[str]]:
    """One simulated study: its trials table and params. `n`: seeds per configuration, or a tuple cycled
    over the configurations (unequal seeds). `collapse`: the chance that any one seed collapses (its FID
    multiplied by a factor drawn uniformly from COLLAPSE_FACTORS)."""
    params, cells = design_cells(design, scenario, cv, effect)
    counts = [n[i % len(n)] for i in range(len(cells))] if isinstance(n, tuple) else [n] * len(cells)
    draws = {key: collapsed(rng, rng.normal(mean, sd, counts[i]), collapse)
             for i, (key, (mean, sd)) in enumerate(cells.items())}
    return trials_table({k: list(v) for k, v in draws.items()}, params), params


def collapsed(rng: np.random.Generator, values: np.ndarray, rate: float) -> np.ndarray:
    """`values` with each one, at chance `rate`, multiplied by a collapse factor (uniform over COLLAPSE_FACTORS)."""
    hit = rng.random(len(values)) < rate
    return np.where(hit, values * rng.uniform(*COLLAPSE_FACTORS, len(values)), values)


@dataclass
class Rates:
    false_verdicts: float  # share of studies with any false verdict
    power: float  # share of `effect` studies in which the planted effect was found (nan otherwise)


def _judge(analysis, scenario: str, shape: list[int]) -> tuple[bool, bool]:
    """(any false verdict, planted effect found) for one analysed study."""
    false, found = False, False
    for e in analysis.effects + analysis.interactions:
        real = scenario == "effect" and e.kind == "effect" and e.parameter == "a" and e.level == shape[0] - 1
        if real:
            found = e.verdict == BETTER
            false |= e.verdict == WORSE
        else:
            false |= e.verdict in (BETTER, WORSE, INTERACTION)
    return false, found


def calibrate(design: str, n, scenario: str, studies: int, seed: int = 0, cv: float = CV,
              effect: float = EFFECT, methods: tuple[str, ...] = tuple(METHODS), collapse: float = 0.0,
              options: dict | None = None) -> dict[str, Rates]:
    """The rates of each of `methods` on the same `studies` simulated studies (`options`: each method's
    fit_design arguments, METHODS by default)."""
    rng = np.random.default_rng(seed)
    shape = DESIGNS[design]
    options = options or METHODS
    counts = {m: [0, 0] for m in methods}
    for _ in range(studies):
        data, params = simulate(rng, design, n, scenario, cv, effect, collapse)
        for name in methods:
            fit = fit_design(data, METRIC, "min", params, {p: 0 for p in params}, plan=False, **options[name])
            false, found = _judge(fit.analysis, scenario, shape)
            counts[name][0] += false
            counts[name][1] += found
    return {m: Rates(f / studies, (p / studies) if scenario == "effect" else math.nan) for m, (f, p) in counts.items()}


def detection_rate(n: int, delta: float, studies: int, seed: int = 0, sigma: float = 10.0,
                   method: str = "welch", lognormal: bool = False) -> float:
    """Share of two-level studies (n runs each, the level truly `delta` better) called `better`. With
    `lognormal`, log FID is normal with SD `sigma` and the level lowers it by `delta` (a ratio exp(-delta))."""
    rng = np.random.default_rng(seed)
    found = 0
    for _ in range(studies):
        if lognormal:
            base, level = np.exp(rng.normal(5.0, sigma, n)), np.exp(rng.normal(5.0 - delta, sigma, n))
        else:
            base, level = rng.normal(100, sigma, n), rng.normal(100 - delta, sigma, n)
        data = trials_table({(0,): list(base), (1,): list(level)}, ["p"])
        fit = fit_design(data, METRIC, "min", ["p"], plan=False, **METHODS[method])
        found += fit.analysis.effects[0].verdict == BETTER
    return found / studies


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


def student_power(delta: float, sigma: float, n: int, alpha: float = 0.05) -> float:
    """Exact power of the two-sided two-sample Student t-test with n runs per group (noncentral t)."""
    df, nc = 2 * n - 2, delta / (sigma * math.sqrt(2 / n))
    crit = scipy.stats.t.ppf(1 - alpha / 2, df)
    return float(scipy.stats.nct.sf(crit, df, nc) + scipy.stats.nct.cdf(-crit, df, nc))


def best_set_coverage(studies: int, n: int = 3, seed: int = 0, method: str = "model",
                      means: tuple[float, ...] = (100, 104, 108, 130, 160, 200), cv: float = CV) -> tuple[float, float]:
    """(share of studies whose best set holds the truly best configuration, mean size of the set)."""
    rng = np.random.default_rng(seed)
    kept_best, sizes = 0, []
    for _ in range(studies):
        data = trials_table({(i,): list(rng.normal(m, cv * m, n)) for i, m in enumerate(means)}, ["p"])
        best = fit_design(data, METRIC, "min", ["p"], plan=False, **METHODS[method]).cells
        kept = set(best.loc[best["in_best_set"] == True, "p"])  # noqa: E712  (object column)
        kept_best += 0 in kept
        sizes.append(len(kept))
    return kept_best / studies, float(np.mean(sizes))


LINES = [(design, n) for design in TABLE for n in (2, 3, 5)] + [(design, (2, 3, 5)) for design in TABLE]
# with collapsing seeds: the report's fit, which sets collapsed runs aside, against the same fit over every run
COLLAPSE_METHODS = {"set aside": {}, "kept": {"collapses": "keep"}}


def flag_rates(n: int, studies: int, seed: int = 0, cv: float = 0.06,
               factors: tuple[float, ...] = (1.5, 2.0, 3.0)) -> tuple[float, dict[float, float]]:
    """The collapse rule (stats.collapse) on 2x2 studies with `n` seeds of log-normal noise (SD `cv`): the share
    of studies without collapses in which it flags some run, and for each factor the share in which one seed
    made that many times worse is flagged."""
    from stats.collapse import find_collapses

    rng = np.random.default_rng(seed)
    keys = [(c,) for c in range(4) for _ in range(n)]
    centres = np.repeat(np.log([150.0, 120.0, 140.0, 110.0]), n)
    false, found = 0, dict.fromkeys(factors, 0)
    for _ in range(studies):
        y = centres + rng.normal(0.0, cv, len(keys))
        false += bool(find_collapses(y, keys, "min").flagged.any())
        for f in factors:
            i = int(rng.integers(len(y)))
            planted = y.copy()
            planted[i] += math.log(f)
            found[f] += bool(find_collapses(planted, keys, "min").flagged[i])
    return false / studies, {f: k / studies for f, k in found.items()}


def collapse_main(studies: int) -> None:
    """What `--collapses` prints: the rule's false flags and detection, then the verdicts with collapsing seeds."""
    print(f"The collapse rule (stats.collapse) on 2x2 studies, seed SD 6% of FID, {studies} studies per line:")
    print("| seeds | flags some run, no collapse | one seed x 1.5 flagged | x 2 | x 3 |")
    print("|---|---|---|---|---|")
    for n in (2, 3, 5):
        false, found = flag_rates(n, studies, seed=n)
        print(f"| {n} | {false:.1%} | " + " | ".join(f"{v:.1%}" for v in found.values()) + " |", flush=True)
    print(f"\nVerdicts with collapsing seeds: each seed collapses at the stated chance, its FID multiplied by "
          f"U{COLLAPSE_FACTORS}; SD {CV:.0%}; planted effect FID x {EFFECT:g}. Cells: "
          f"{' / '.join(COLLAPSE_METHODS)} (the report's fit / the same fit over every run).")
    print("| design | seeds | collapse chance | null: false verdicts | effect: false verdicts | effect: power |")
    print("|---|---|---|---|---|---|")
    for i, design in enumerate(TABLE):
        for n in (2, 3, 5):
            for j, rate in enumerate(COLLAPSE_RATES):
                res = {sc: calibrate(design, n, sc, studies, seed=10_000 + 100 * i + 10 * j + n, collapse=rate,
                                     methods=tuple(COLLAPSE_METHODS), options=COLLAPSE_METHODS)
                       for sc in ("null", "effect")}
                cell = lambda sc, what: " / ".join(  # noqa: E731
                    f"{getattr(res[sc][m], what):.1%}" for m in COLLAPSE_METHODS)  # noqa: B023
                print(f"| {design} | {n} | {rate:.0%} | {cell('null', 'false_verdicts')} | "
                      f"{cell('effect', 'false_verdicts')} | {cell('effect', 'power')} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stats.calibration", description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=400, help="simulated studies per line (default 400)")
    parser.add_argument("--collapses", action="store_true",
                        help="the collapse rule and the verdicts with seeds that collapse, instead")
    args = parser.parse_args(argv)
    s = args.studies
    if args.collapses:
        collapse_main(s)
        return 0
    print(f"{s} simulated studies per line; SD {CV:.0%} of the mean (noisy: one configuration 11%, the rest 5%; "
          f"noisy3: 15% and 5%); planted effect: FID x {EFFECT:g}. Cells: {' / '.join(METHODS)}.")
    print("| design | seeds | null: false verdicts | noisy | noisy3 | effect: false verdicts | effect: power |")
    print("|---|---|---|---|---|---|---|")
    for i, (design, n) in enumerate(LINES):
        res = {sc: calibrate(design, n, sc, s, seed=1000 * i + j) for j, sc in enumerate(SCENARIOS)}
        seeds = "/".join(map(str, n)) if isinstance(n, tuple) else str(n)
        cell = lambda sc, what: " / ".join(f"{getattr(res[sc][m], what):.1%}" for m in METHODS)  # noqa: E731, B023
        print(f"| {design} | {seeds} | {cell('null', 'false_verdicts')} | {cell('noisy', 'false_verdicts')} | "
              f"{cell('noisy3', 'false_verdicts')} | {cell('effect', 'false_verdicts')} | {cell('effect', 'power')} |",
              flush=True)
    for m in METHODS:
        coverage, size = best_set_coverage(s, method=m)
        print(f"best set ({m}), 6 configurations x 3 seeds: holds the true best in {coverage:.1%} (target >= 95%), "
              f"mean size {size:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
