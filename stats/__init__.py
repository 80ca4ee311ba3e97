"""stats: the verdict engine, on a table of runs; it imports neither torch, Ray nor MLflow.

Give it one row per run (the swept params, the seed, the final metric and the run's status) and it
answers which settings matter and by how much, with error control:

- `stats.fit`: the one model behind every verdict (cell means, HC2 contrasts, Holm, Gupta's best set);
- `stats.layout`: what a design can estimate and the seeds each comparison needs;
- `stats.contrasts`: the building blocks (intervals, Welch's contrast, the verdict words);
- `stats.adaptive`: adaptive seeds, the rule that decides after each round which configurations get another;
- `stats.race` and `stats.asha`: seed-aware early stopping, and the replay of ASHA over finished runs;
- `stats.calibration` and `stats.adaptive_calibration`: the simulations that measure their error control.

The sweep (`sweeps/`) decides with it while it runs; the report (`analysis/`) explains it afterwards.
What a metric means (direction, range, log scale) comes from `record.metrics`.
"""

from stats.contrasts import ALPHA, BETTER, INTERACTION, NEEDS_SEEDS, NO_DIFFERENCE, NO_INTERACTION, WORSE
from stats.fit import DesignFit, fit_design

__all__ = [
    "ALPHA", "BETTER", "INTERACTION", "NEEDS_SEEDS", "NO_DIFFERENCE", "NO_INTERACTION", "WORSE", "DesignFit",
    "fit_design",
]
