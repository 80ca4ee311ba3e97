"""The seed-aware race: a rung's stops against an independent one-sided t-test, and a replay over a stored
history against the rule applied rung by rung by hand."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from stats.adaptive import alpha_at
from stats.race import race_step, replay_race


def _independent_stops(values: dict[str, list[float]], level: float, min_effect: float | None):
    """Student's t of each configuration's log values against the incumbent's (the best geometric mean),
    one-sided, shifted by the margin log(1 + min_effect / incumbent), Bonferroni over the others."""
    gm = {c: math.exp(np.mean(np.log(v))) for c, v in values.items()}
    inc = min(gm, key=gm.get)
    margin = math.log1p((min_effect if min_effect is not None else 0.1 * gm[inc]) / gm[inc])
    others = [c for c in values if c != inc]
    stops = set()
    for c in others:
        t = scipy.stats.ttest_ind(np.log(values[c]) - margin, np.log(values[inc]), alternative="greater")
        if t.pvalue < level / len(others):
            stops.add(c)
    return inc, stops


@pytest.mark.parametrize("seed", range(6))
def test_a_rung_stops_what_an_independent_one_sided_t_test_stops(seed):
    rng = np.random.default_rng(seed)
    means = {"a": 100.0, "b": 104.0, "c": 125.0, "d": 160.0}
    values = {c: list(m * np.exp(rng.normal(0, 0.06, 3))) for c, m in means.items()}
    step = race_step(values, "fid", "min", rung=1, rungs=2)
    inc, stops = _independent_stops(values, alpha_at(1, 2), None)
    assert step.incumbent == inc and set(step.stopped) == stops
    assert step.level == pytest.approx(0.05 / 4)


def test_over_many_rungs_of_several_seeds_it_stops_the_clearly_worse_and_spares_the_tied():
    rng = np.random.default_rng(11)
    stopped_bad = stopped_tied = 0
    for _ in range(40):
        values = {
            "best": list(100 * np.exp(rng.normal(0, 0.05, 4))),
            "tied": list(103 * np.exp(rng.normal(0, 0.05, 4))),
            "bad": list(150 * np.exp(rng.normal(0, 0.05, 4))),
        }
        step = race_step(values, "fid", "min", rung=1, rungs=1)
        stopped_bad += "bad" in step.stopped
        stopped_tied += "tied" in step.stopped
    # 50% worse at 5% noise with 4 seeds: t is about 9 after the 10% margin, so every study stops it; a
    # configuration 3% behind is inside the margin and is stopped only by a false verdict (< 5% each)
    assert stopped_bad == 40 and stopped_tied <= 3


def test_a_replay_stops_all_seeds_of_a_configuration_at_the_rung_a_hand_replay_gives():
    rng = np.random.default_rng(3)
    means = {"a": [300, 200, 150, 120], "b": [310, 215, 160, 128], "c": [420, 330, 280, 250], "d": [330, 260, 230, 210]}
    rows, configuration = [], {}
    for c, curve in means.items():
        for s in range(3):
            tid = f"{c}{s}"
            configuration[tid] = c
            noise = np.exp(rng.normal(0, 0.05, len(curve)))
            rows += [{"trial_id": tid, "evaluation": e + 1, "value": float(v * n)}
                     for e, (v, n) in enumerate(zip(curve, noise))]
    results = pd.DataFrame(rows)
    replay = replay_race(results, configuration, "fid", "min", [1, 2])
    live, expected = set(means), {}
    for i, rung in enumerate([1, 2], start=1):  # by hand: the live configurations' values at each rung
        at = results[results["evaluation"] == rung]
        values = {c: [v for t, v in zip(at["trial_id"], at["value"]) if configuration[t] == c] for c in live}
        _, stops = _independent_stops(values, alpha_at(i, 2), None)
        for c in stops:
            expected[c] = rung
        live -= stops
    assert replay.stopped == expected and "c" in expected  # the clearly worse one goes
    for tid, c in configuration.items():  # every seed of a stopped configuration stops at the same rung
        assert replay.trials_stopped.get(tid) == expected.get(c)
    kept = sum(1 for t, e in zip(results["trial_id"], results["evaluation"]) if e <= expected.get(configuration[t], 99))
    assert replay.evaluations_kept == kept and 0 < replay.saved_fraction < 1
