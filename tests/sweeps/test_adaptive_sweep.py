"""Adaptive seeds end to end: the searcher on a real local Ray, the rule checked on the runs MLflow holds,
and a driver killed mid-round that resumes to the same trials and decisions."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ray

from analysis import load_sweep
from stats.adaptive import next_round
from record.folder import ADAPTIVE_ARTIFACT as RECORD
from sweeps.driver import run_sweep
from sweeps.specfile import SpecError, parse_spec
from tests.helpers import MNIST_TEST_DIR, REPO, kill_session

# two generator widths far enough apart that the first look (2 seeds, 0.56% of the 5%) cannot decide them,
# so the sweep always runs a second round
SPEC = f"""\
name: adaptive_tiny
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: dcgan, latent_dim: 8, g_width: 8, d_width: 8}}
  train: {{iterations: 30, eval_every: 10, batch_size: 32}}
evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
parameters:
  model.g_width: {{values: [4, 16]}}
method: grid
seeds: {{initial: 2, max: 4, values: [3, 5, 7, 9]}}
resources: {{cpus: 1}}
max_concurrent: 2
"""


def _spec_error(text: str) -> str:
    with pytest.raises(SpecError) as e:
        parse_spec(text, source="a.yaml")
    return str(e.value)


def test_adaptive_seeds_parse_and_bad_ones_are_refused_with_the_key_and_what_is_allowed():
    spec = parse_spec(SPEC, source="a.yaml")
    assert (spec.adaptive.initial, spec.adaptive.max, spec.adaptive.looks) == (2, 4, 3)
    assert spec.seeds == (3, 5, 7, 9) and spec.num_trials() == 8
    assert spec.configurations() == [{"model.g_width": 4}, {"model.g_width": 16}]
    default = parse_spec(SPEC.replace(", values: [3, 5, 7, 9]", ""), source="a.yaml")
    assert default.seeds == (0, 1, 2, 3)
    rerun = parse_spec(SPEC, source="a.yaml", seeds=[10, 11, 12, 13])  # --seeds: another seed set, same rule
    assert rerun.seeds == (10, 11, 12, 13) and rerun.adaptive == spec.adaptive
    from sweeps.location import Where as _Where
    from sweeps.summary import resume_command as _resume_command

    where = _Where(Path("/out"), "adaptive_tiny", "x", Path("/out/sweeps/x"), "sqlite:///x.db", "/out/ray", None)
    assert "--seeds 10,11,12,13" in _resume_command(rerun, where, "a.yaml")  # an interrupted rerun resumes itself
    assert "--seeds" not in _resume_command(spec, where, "a.yaml")
    adaptive = "seeds: {initial: 2, max: 4, values: [3, 5, 7, 9]}"
    for bad, said in [
        ("seeds: {initial: 1, max: 4}", "`seeds.initial`"),
        ("seeds: {initial: 3, max: 2}", "must be >= initial"),
        ("seeds: {initial: 2, max: 100000}", "from 1 to 1000"),
        ("seeds: {initial: 2}", "needs `max`"),
        ("seeds: {initial: 2, max: 4, values: [1, 2]}", "lists 2 seeds, but `max` is 4"),
        ("seeds: {initial: 2, max: 4, first: 3}", "allowed keys: initial, max, values"),
        ("seeds: {initial: 2, max: 4.5}", "must be an integer"),
    ]:
        assert said in _spec_error(SPEC.replace(adaptive, bad)), bad
    optuna = parse_spec(SPEC.replace("method: grid", "method: optuna\nnum_samples: 3"), source="a.yaml")
    assert optuna.adaptive == spec.adaptive and optuna.num_trials() == 12  # up to 4 seeds of 3 configurations
    assert "adaptive seeds need `early_stopping: none` or `race`" in _spec_error(
        SPEC + "early_stopping: {type: asha}\n"
    )
    assert "drop `num_samples` and `budget`" in _spec_error(SPEC + "num_samples: 2\n")


def test_the_plan_says_fixed_seeds_suit_one_factor_of_three_levels_or_more():
    from sweeps.plan import plan

    note = "note: one factor of 3 levels, where the rule saves few trials and has less power than fixed seeds"
    assert note not in plan(parse_spec(SPEC, source="a.yaml"))  # two levels: one comparison, as in the grids
    three = parse_spec(SPEC.replace("values: [4, 16]", "values: [4, 8, 16]"), source="a.yaml")
    assert note in plan(three)
    crossed = SPEC.replace("values: [4, 16]}", "values: [4, 8, 16]}\n  model.d_width: {values: [4, 8]}")
    assert crossed != SPEC
    assert "note: one factor" not in plan(parse_spec(crossed, source="a.yaml"))


@pytest.fixture(scope="module")
def adaptive_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("adaptive")
    summary = run_sweep(parse_spec(SPEC, source="adaptive_tiny.yaml"), out=out)
    ray.shutdown()
    folder = Path(summary["sweep_dir"])
    return out, summary, folder, json.loads((folder / RECORD).read_text())


def _completed(folder: Path):
    """The sweep's finished runs, from MLflow: {(g_width, seed), ...} and the trials table."""
    sweep = load_sweep(str(folder))
    done = sweep.trials[sweep.trials["status"] == "completed"]
    return {(str(r["model.g_width"]), int(r["train.seed"])) for _, r in done.iterrows()}, sweep


def test_the_searcher_adds_seeds_only_where_a_refit_on_the_mlflow_runs_says_so(adaptive_sweep):
    out, summary, folder, rec = adaptive_sweep
    assert not summary["interrupted"] and rec["stop"]
    assert len(rec["rounds"]) >= 2  # the first look cannot decide (see SPEC), so seeds were added
    pairs, sweep = _completed(folder)
    assert len(pairs) == len(summary["trials"]) == rec["trials"]  # every trial ran once and finished
    # the searcher's trials log their levels too (resolved on the driver as each suggestion is made)
    assert (sweep.trials["swept.model.g_width"] == sweep.trials["model.g_width"]).all()
    values = [3, 5, 7, 9]
    given = {("4",): 2, ("16",): 2}
    decided, settled = {}, set()
    trials = sweep.trials.assign(**{"model.g_width": sweep.trials["model.g_width"].astype(str)})
    for look, rd in enumerate(rec["rounds"], start=1):
        # what the sweep had at this look: each configuration's first seeds, as MLflow holds their runs
        held = trials[
            [values.index(int(s)) < given[(str(g),)] for g, s in zip(trials["model.g_width"], trials["train.seed"])]
        ]
        assert len(held) == rd["runs"] == sum(given.values())
        r = next_round(held, "fid", "min", ["model.g_width"], {"model.g_width": "4"}, look=look, looks=3,
                       seeds=dict(given), max_seeds=4, decided=decided, settled=settled)
        assert sorted(map(list, r.add)) == sorted(a["cell"] for a in rd["add"]), (look, r.add, rd)
        assert r.stop == rd["stop"]
        decided, settled = r.decided, r.settled
        for c in r.add:
            given[c] += 1
    assert {tuple(c["levels"].values()): c["seeds"] for c in rec["cells"]} == given
    assert pairs == {(g, values[i]) for (g,), n in given.items() for i in range(n)}


def test_the_console_and_the_report_say_seeds_per_configuration_and_why(adaptive_sweep):
    from analysis.report import build_report

    out, summary, folder, rec = adaptive_sweep
    report = build_report(load_sweep(str(folder)), folder / "report", log_to_mlflow=False)
    text = (report.parent / "conclusions.md").read_text()
    assert "Seeds were added adaptively" in text and f"{rec['trials']} trials instead of 8" in text
    seeds = (report.parent / "seeds.csv").read_text()
    for c in rec["cells"]:
        assert c["label"] in seeds
    assert (report.parent / "seeds.png").stat().st_size > 1000


@pytest.mark.ray
def test_a_driver_killed_mid_round_resumes_to_the_same_trials_and_decisions(adaptive_sweep, tmp_path):
    _, _, reference, rec = adaptive_sweep
    spec_file = tmp_path / "adaptive_tiny.yaml"
    spec_file.write_text(SPEC)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sweeps.run", str(spec_file), "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    record = None
    while time.time() < deadline and proc.poll() is None:  # the first look is taken: round 2 is being handed out
        record = next((out / "sweeps").glob(f"adaptive_tiny-*/{RECORD}"), None) if (out / "sweeps").is_dir() else None
        if record is not None:
            break
        time.sleep(0.2)
    assert proc.poll() is None and record is not None, "the sweep ended before its second round"
    kill_session(proc.pid)  # the driver and the local Ray it started, and nothing else
    proc.wait()
    resumed = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout and "adaptive seeds (2 to 4 per configuration" in resumed.stdout
    folder = record.parent
    again = json.loads((folder / RECORD).read_text())
    assert again["stop"] == rec["stop"]
    assert [c["seeds"] for c in again["cells"]] == [c["seeds"] for c in rec["cells"]]
    assert [sorted(map(tuple, r["decided"])) for r in again["rounds"]] == [
        sorted(map(tuple, r["decided"])) for r in rec["rounds"]
    ]
    pairs, sweep = _completed(folder)
    assert pairs == _completed(reference)[0]
    kept = sweep.trials[sweep.trials["status"] != "lost"]
    assert len(kept) == len(set(kept["trial_id"])) == len(pairs)  # every trial exactly once


OPTUNA_SPEC = SPEC.replace("model.g_width: {values: [4, 16]}",
                           "optim.g_lr: {distribution: loguniform, low: 1.0e-5, high: 3.0e-3}").replace(
    "method: grid", "method: optuna\nnum_samples: 4")


@pytest.mark.ray
def test_under_optuna_each_configuration_gets_more_seeds_only_while_in_a_best_set_and_optuna_its_mean(tmp_path):
    out = tmp_path / "optuna"
    summary = run_sweep(parse_spec(OPTUNA_SPEC, source="adaptive_optuna.yaml"), out=out)
    ray.shutdown()
    assert not summary["interrupted"]
    folder = Path(summary["sweep_dir"])
    sweep = load_sweep(str(folder))
    runs = sweep.trials[sweep.trials["status"] == "completed"].assign(lr=lambda t: t["optim.g_lr"].astype(float))
    assert np.allclose(runs["swept.optim.g_lr"].astype(float), runs["lr"])  # Optuna's suggestions log their levels
    seeds = runs.groupby("lr")["train.seed"].apply(lambda s: sorted(int(v) for v in s))
    assert len(seeds) == 4  # four configurations, each with a prefix of the seed values
    values = [3, 5, 7, 9]
    assert all(s == values[:len(s)] and 2 <= len(s) <= 4 for s in seeds), seeds
    study = json.loads((folder / "optuna_study.json").read_text())["trials"]
    assert [t["state"] for t in study] == ["COMPLETE"] * 4
    for t in study:  # Optuna is told each configuration's mean over all the seeds it got
        mine = runs[np.isclose(runs["lr"], t["params"]["swept/optim.g_lr"])]
        assert t["value"] == pytest.approx(mine["fid"].mean(), rel=1e-9)


def test_the_optuna_seeds_go_to_the_contenders_and_a_clearly_worse_configuration_is_told_after_its_first_two():
    """The searcher driven by hand over a real Optuna study, with FIDs chosen per configuration: two tied
    contenders and one far behind."""
    import optuna

    from sweeps.searchers import AdaptiveOptunaSeeds, PruningAwareOptunaSearch
    from ray import tune

    inner = PruningAwareOptunaSearch(space={"lr": tune.uniform(0, 1)}, metric="fid", mode="min",
                                     sampler=optuna.samplers.RandomSampler(seed=0))
    search = AdaptiveOptunaSeeds(inner, [3, 5, 7, 9], 2, 4, 3)
    fids = [[100, 104, 101, 103], [102, 99, 103, 100], [300, 310]]  # configuration -> its seeds' FIDs, in order
    pending, given, n = [], {}, 0
    while True:
        while True:
            config = search.suggest(f"t{n}")
            if not isinstance(config, dict):
                break
            pending.append((f"t{n}", config))
            n += 1
        if not pending:
            assert config == "FINISHED"
            break
        trial, config = pending.pop(0)
        primary = search.owner[trial]
        which = list(search.groups).index(primary)
        index = config["__trial_index__"]
        given[which] = given.get(which, 0) + 1
        search.on_trial_complete(trial, {"fid": float(fids[which][index]), "evaluation": 3, "is_final": 1.0})
    assert given == {0: 4, 1: 4, 2: 2}  # the tied pair up to max; the one 3x worse stops at its first two
    study = inner._ot_study.get_trials(deepcopy=False)
    assert [t.state.name for t in study] == ["COMPLETE"] * 3
    assert [t.value for t in study] == pytest.approx([102.0, 101.0, 305.0])
