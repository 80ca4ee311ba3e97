"""The race on a real local Ray: a configuration is stopped with all its seeds at the rung, on the values
MLflow logged there, as an independent one-sided t-test decides."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import ray
import scipy.stats

from analysis import load_sweep
from record.folder import RACE_FILE as RACE_RECORD
from sweeps.driver import run_sweep
from sweeps.specfile import SpecError, parse_spec
from record.names import Result
from tests.helpers import MNIST_TEST_DIR

# a generator that learns against one that cannot (learning rate 1e-9): at 40 iterations their FIDs are
# about 0.6 apart on the log scale against a seed SD near 0.1, so t is about 5 after the 10% margin
# (the one-sided 5% point at 4 df is 2.13): the stop does not hang on the last digits of a machine
SPEC = f"""\
name: race_tiny
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: dcgan, latent_dim: 8, g_width: 16, d_width: 8}}
  train: {{iterations: 80, eval_every: 20, batch_size: 32}}
evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
parameters:
  optim.g_lr: {{values: [0.002, 1.0e-9]}}
method: grid
seeds: [0, 1, 2]
early_stopping: {{type: race, grace_period: 2, reduction_factor: 2}}
resources: {{cpus: 1}}
"""


def test_the_race_needs_seeds_configurations_in_advance_and_every_run_of_a_round():
    for text, said in [(SPEC.replace("seeds: [0, 1, 2]", "seeds: [0]"), "at least 2 seeds"),
                       (SPEC + "max_concurrent: 2\n", "leave max_concurrent at 0"),
                       (SPEC.replace("method: grid", "method: optuna\nnum_samples: 2"), "needs the configurations"),
                       (SPEC.replace("type: race", "type: halving"), "one of: none, asha, race")]:
        with pytest.raises(SpecError) as e:
            parse_spec(text, source="r.yaml")
        assert said in str(e.value), text


@pytest.fixture(scope="module")
def race_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("race")
    summary = run_sweep(parse_spec(SPEC, source="race_tiny.yaml"), out=out)
    ray.shutdown()
    return summary, Path(summary["sweep_dir"])


def test_a_configuration_shown_worse_at_the_rung_stops_with_all_its_seeds(race_sweep):
    summary, folder = race_sweep
    assert not summary["interrupted"]
    sweep = load_sweep(str(folder))
    trials = sweep.trials.assign(lr=sweep.trials["optim.g_lr"].astype(float))
    frozen, learning = trials[trials["lr"] < 1e-6], trials[trials["lr"] > 1e-6]
    assert set(frozen["status"]) == {"early_stopped"} and set(learning["status"]) == {"completed"}
    assert set(frozen["last_evaluation"].astype(int)) == {2}  # all three together, at the rung
    race = json.loads((folder / RACE_RECORD).read_text())
    assert list(race["stopped"].values()) == [2]
    # independently, on what MLflow holds: each run's FID at evaluation 2, Student's t on the logs
    h = sweep.histories
    ev = h[h["metric"] == "evaluation"][["run_id", "step", "value"]].rename(columns={"value": "evaluation"})
    fid = h[h["metric"] == "fid"].merge(ev, on=["run_id", "step"])
    at = fid[fid["evaluation"] == 2].set_index("run_id")["value"]
    good, bad = np.log(at[learning["run_id"]].to_numpy()), np.log(at[frozen["run_id"]].to_numpy())
    margin = math.log1p(0.1)  # min_effect: 10% of the incumbent
    p = scipy.stats.ttest_ind(bad - margin, good, alternative="greater").pvalue
    (recorded,) = race["decided"]["2"]["stopped"].values()
    assert p < 0.05 and recorded == pytest.approx(p, rel=1e-6)


def test_a_resumed_race_neither_waits_for_nor_counts_a_run_that_tunes_snapshot_did_not_hold(tmp_path):
    """race.json names a run that Tune's last snapshot did not hold (its driver was killed just after the
    run started); Tune runs that configuration and seed again as a new trial. The rung is decided on the
    runs Tune has, with the lost run's value left out. The controller here is a stand-in with the two
    calls Tune's scheduler API gives a scheduler (`get_trials`, `stop_trial`)."""
    from types import SimpleNamespace

    from ray.tune.experiment import Trial

    from sweeps.race_scheduler import RaceScheduler

    def trial(tid, lr, seed):
        return SimpleNamespace(trial_id=tid, status=Trial.RUNNING, PAUSED=Trial.PAUSED, PENDING=Trial.PENDING,
                               config={"swept": {"optim.g_lr": lr, "train.seed": seed}, "eval": {}, "metric": "fid",
                                       "mode": "min", "config": {}})

    state = tmp_path / "race.json"
    lost = trial("lost", 1e-9, 1)
    live = [trial("a0", 0.002, 0), trial("a1", 0.002, 1), trial("b0", 1e-9, 0), trial("b1", 1e-9, 1)]
    first = RaceScheduler([1], "fid", "min", None, str(state))  # the killed driver's: the lost run got to the rung
    for t in [lost, *live]:
        first.on_trial_add(None, t)
    first.on_trial_result(SimpleNamespace(get_trials=lambda: [lost, *live]), lost, {"fid": 1.0, Result.EVALUATION: 1})
    resumed = RaceScheduler([1], "fid", "min", None, str(state))  # reads race.json, as --resume does
    controller = SimpleNamespace(get_trials=lambda: live, stop_trial=lambda t: setattr(t, "status", Trial.TERMINATED))
    for t in live:
        resumed.on_trial_add(controller, t)
    fids = {"a0": 100.0, "a1": 101.0, "b0": 300.0, "b1": 302.0}
    actions = [resumed.on_trial_result(controller, t, {"fid": fids[t.trial_id], Result.EVALUATION: 1}) for t in live]
    decided = json.loads(state.read_text())["decided"]["1"]
    assert decided["configurations"] == {"g_lr=0.002": 2, "g_lr=1e-09": 2}  # the lost run's 1.0 is not counted
    assert list(decided["stopped"]) == ["g_lr=1e-09"] and actions[-1] == "STOP"
