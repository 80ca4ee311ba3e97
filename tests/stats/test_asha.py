"""The ASHA replay decides exactly as Ray Tune's ASHAScheduler given the same results in the same order."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from stats.asha import asha_rungs, replay_asha, rung_correlations


def arrivals(rng, trials: int, evaluations: int) -> pd.DataFrame:
    """Histories of noisy, improving curves, interleaved in a random arrival order (each trial's own results
    stay in order), as asynchronous trials report them."""
    level = rng.normal(200, 40, trials)
    queues = {f"t{i}": [level[i] * (1 + 2 / (e + 1)) + rng.normal(0, 15) for e in range(evaluations)]
              for i in range(trials)}
    done = {t: 0 for t in queues}
    rows = []
    while any(done[t] < evaluations for t in queues):
        t = rng.choice([t for t in queues if done[t] < evaluations])
        rows.append({"trial_id": t, "evaluation": done[t] + 1, "value": queues[t][done[t]]})
        done[t] += 1
    return pd.DataFrame(rows)


def ray_decisions(results: pd.DataFrame, mode: str, grace: int, rf: float, max_t: int) -> dict[str, int]:
    sched = ASHAScheduler(time_attr="evaluation", metric="fid", mode=mode, max_t=max_t, grace_period=grace,
                          reduction_factor=rf)
    trials = {t: SimpleNamespace(trial_id=t) for t in results["trial_id"].unique()}
    for t in trials.values():
        sched.on_trial_add(None, t)
    stopped = {}
    for t, evaluation, value in results[["trial_id", "evaluation", "value"]].itertuples(index=False):
        if t in stopped:
            continue
        action = sched.on_trial_result(None, trials[t], {"evaluation": evaluation, "fid": value})
        if action == TrialScheduler.STOP and evaluation < max_t:
            stopped[t] = int(evaluation)
    return stopped


@pytest.mark.parametrize("seed, grace, rf, mode", [(0, 1, 2, "min"), (1, 2, 2, "min"), (2, 1, 3, "max"),
                                                   (3, 2, 4, "min"), (4, 1, 2, "max")])
def test_replay_stops_what_rays_asha_scheduler_stops(seed, grace, rf, mode):
    rng = np.random.default_rng(seed)
    results = arrivals(rng, trials=16, evaluations=8)
    replay = replay_asha(results, mode, grace, rf, max_t=8)
    expected = ray_decisions(results, mode, grace, rf, max_t=8)
    assert replay.stopped == expected
    assert expected  # the comparison is not vacuous: ASHA stopped something
    assert replay.rungs == asha_rungs(grace, rf, 8)
    kept = sum(min(8, expected.get(t, 8)) for t in results["trial_id"].unique())
    assert replay.evaluations_kept == kept and replay.evaluations_run == 16 * 8


def test_rung_correlations_are_spearmans_rho_over_finished_trials():
    rng = np.random.default_rng(9)
    results = arrivals(rng, trials=12, evaluations=4)
    finals = results[results["evaluation"] == 4].set_index("trial_id")["value"]
    table = rung_correlations(results, finals)
    assert list(table["evaluation"]) == [1, 2, 3, 4]
    at2 = results[results["evaluation"] == 2].set_index("trial_id")["value"][finals.index]
    assert table.loc[1, "rho"] == pytest.approx(scipy.stats.spearmanr(at2, finals).statistic)
    assert table.loc[3, "rho"] == pytest.approx(1.0)
