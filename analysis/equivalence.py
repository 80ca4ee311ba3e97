"""Is one level of a factor equivalent to another? `python -m analysis.equivalence TARGET --factor KEY
[--baseline LEVEL] [--margin 0.05] [--also SWEEP ...]`.

The report says whether a difference is detectable; "no detectable difference" is not "the same". This
answers the second question for a factor with two levels (e.g. `train.precision`: does bf16 train the
same GAN as fp32?): two one-sided tests (TOST, statsmodels `ttost_ind`) that the ratio of the two
levels' geometric mean metric lies within [1 - margin, 1 + margin], on the log of the final metric of
each run (FID's seed spread grows with FID), Welch's unequal variances. Equivalent at 5% when both
one-sided tests reject, i.e. when the 90% interval of the ratio lies inside the margin. The 95% interval
printed beside it is the report's model's (stats.fit). `--also` pools the runs of other sweeps of the
same spec run with other seeds (`sweeps.run --seeds`): a replication, and more power.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.weightstats import ttost_ind

from analysis.load import SweepNotFound, add_target_arguments, load_sweep, load_target
from stats.fit import fit_design
from stats.contrasts import usable_trials
from record.design import level_label
from record.names import SEED

__all__ = ["Equivalence", "equivalence"]


@dataclass(frozen=True)
class Equivalence:
    factor: str
    baseline: str
    level: str
    runs: tuple[int, int]  # finished runs at the baseline and at the level
    means: tuple[float, float]  # geometric means of the metric
    ratio: float  # level / baseline
    ci95: tuple[float, float]  # the report's model's 95% interval of the ratio
    margin: float
    p: float  # TOST p-value: below 0.05 means equivalent within the margin at 5%

    @property
    def equivalent(self) -> bool:
        return self.p < 0.05

    def sentence(self, metric: str) -> str:
        verdict = (f"equivalent within ±{self.margin:.0%} (TOST p = {self.p:.2g})" if self.equivalent else
                   f"not shown equivalent within ±{self.margin:.0%} (TOST p = {self.p:.2g})")
        return (f"{self.factor} {self.baseline} -> {self.level}: {metric} {self.means[0]:.4g} -> {self.means[1]:.4g} "
                f"(geometric means, {self.runs[0]} vs {self.runs[1]} runs), ratio {self.ratio:.3f} (95% CI "
                f"{self.ci95[0]:.3f} to {self.ci95[1]:.3f}): {verdict}.")


def equivalence(trials, metric: str, mode: str, factor: str, baseline=None, margin: float = 0.05) -> Equivalence:
    data = usable_trials(trials, metric)
    labels = data[factor].map(level_label)
    levels = sorted(labels.unique())
    if len(levels) != 2:
        raise ValueError(f"{factor} has {len(levels)} levels among the finished runs ({', '.join(levels) or 'none'}); "
                         "equivalence compares two.")
    base = level_label(baseline) if baseline is not None else levels[0]
    if base not in levels:
        raise ValueError(f"--baseline {base!r} is not a level of {factor} ({', '.join(levels)}).")
    other = next(v for v in levels if v != base)
    x0 = np.log(data.loc[labels == base, metric].to_numpy(float))
    x1 = np.log(data.loc[labels == other, metric].to_numpy(float))
    p, _, _ = ttost_ind(x1, x0, math.log(1 - margin), math.log(1 + margin), usevar="unequal")
    fit = fit_design(data.assign(**{factor: labels}), metric, mode, [factor], {factor: base}, plan=False)
    (effect,) = fit.analysis.effects
    return Equivalence(factor, base, other, (len(x0), len(x1)), (float(np.exp(x0.mean())), float(np.exp(x1.mean()))),
                       float(np.exp(x1.mean() - x0.mean())), (effect.ratio_low, effect.ratio_high), margin, float(p))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.equivalence", description=__doc__.split("\n")[0])
    add_target_arguments(parser)
    parser.add_argument("--factor", required=True, help="the swept key with two levels, e.g. train.precision")
    parser.add_argument("--baseline", help="the level the other is compared with (default: the first in order)")
    parser.add_argument("--margin", type=float, default=0.05, help="equivalence margin as a share (default 0.05)")
    parser.add_argument("--also", action="append", default=[], metavar="SWEEP",
                        help="pool the runs of another sweep of the same spec with other seeds (a sweep folder, "
                             "or an output root for its newest sweep); repeatable")
    args = parser.parse_args(argv)
    if not 0 < args.margin < 1:
        parser.error(f"--margin {args.margin:g}: give a share between 0 and 1, e.g. 0.05")
    try:
        sweep = load_target(args)
        trials = pooled(sweep, [load_sweep(t, scale=args.scale, root=args.root) for t in args.also], args.factor)
        result = equivalence(trials, sweep.metric, sweep.mode, args.factor, args.baseline, args.margin)
    except (SweepNotFound, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(result.sentence(sweep.metric))
    return 0


def pooled(sweep, others: list, factor: str) -> pd.DataFrame:
    """The trials of `sweep` and of `others` (the same spec, other seeds) in one table; a seed run twice at
    one level would count one GAN as two, so it is refused."""
    for s in (sweep, *others):
        if factor not in s.trials:
            raise ValueError(f"--factor {factor}: not a param of the trials of {s.experiment} "
                             f"({s.parent_run_id}; swept: {', '.join(s.swept)}).")
        if (s.metric, s.mode) != (sweep.metric, sweep.mode):
            raise ValueError(f"sweep {s.parent_run_id} ranks by {s.metric} ({s.mode}), the first by {sweep.metric} "
                             f"({sweep.mode}): pool sweeps of one spec.")
    trials = pd.concat([s.trials for s in (sweep, *others)], ignore_index=True)
    if others and SEED in trials:
        ended = usable_trials(trials, sweep.metric)
        twice = ended[ended.duplicated([factor, SEED], keep=False)]
        if not twice.empty:
            row = twice.iloc[0]
            raise ValueError(f"seed {row['train.seed']} at {factor}={row[factor]} is in more than one of the pooled "
                             "sweeps; pool sweeps run with other seeds (sweeps.run --seeds).")
    return trials


if __name__ == "__main__":
    sys.exit(main())
