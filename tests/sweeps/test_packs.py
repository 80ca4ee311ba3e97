"""Packed seeds (`resources.pack_seeds`): a configuration's seeds train in one Tune trial as one packed model, and
the sweep logs, counts, checkpoints and resumes each seed as the unpacked sweep's trial of that seed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import ray

from gan.metrics import Evaluator
from gan.train import Trainer
from record.names import SEED
from sweeps.contract import TRIAL as TRIAL_KEY
from sweeps.driver import run_sweep
from sweeps.specfile import SpecError, parse_spec
from tests.helpers import MNIST_TEST_DIR, REPO
from tests.sweeps.test_sweep import trial_runs, tune_results

PACKED_SPEC = f"""\
name: packed
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: dcgan, latent_dim: 8, g_width: 8, d_width: 8}}
  train: {{iterations: 200, eval_every: 20, batch_size: 32}}
evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
parameters:
  optim.g_lr: {{values: [0.0002, 1.0e+30]}}
method: grid
seeds: [0, 1]
resources: {{cpus: 1, pack_seeds: true}}
"""
STEPS = list(range(20, 201, 20))
COMPARED = 60  # the steps up to which a packed seed's FID is held to its separate run's (see the test's docstring)
RELATIVE_MARGIN = 1e-3  # how far a packed seed's FID may be from the same seed trained alone


def _separate_fids(spec) -> dict[tuple[str, int], list[tuple[int, float]]]:
    """Each finite configuration's seeds trained alone, in this process, as an unpacked trial trains and evaluates."""
    out = {}
    for swept in spec.trial_configs():
        if swept["optim.g_lr"] > 1:
            continue
        cfg = spec.trial_config(swept)
        trainer = Trainer(cfg)
        evaluator = Evaluator(spec.evaluation, cfg.data, conditional=cfg.model.conditional)
        fids = out[(str(swept["optim.g_lr"]), swept[SEED])] = []
        trainer.run(lambda r: fids.append((r.step, evaluator.evaluate(trainer.generate)["fid"])))
    return out


@pytest.mark.ray
def test_a_packed_sweep_logs_resumes_and_scores_each_seed_as_its_unpacked_trial(tmp_path):
    """Two configurations of two seeds in two packed trials: one learns, one diverges at once. The driver is
    interrupted (Ctrl-C) after the first checkpoint of the learning pack and resumed. MLflow must then hold one run
    per seed, each with its own seed and status, every evaluation, and the FIDs the seed scores trained alone.
    The pack and the separate run differ in the order of float arithmetic alone, which training amplifies: over
    the first 60 steps their FIDs agreed to 1e-5 relative (2-core Xeon), against a margin of 1e-3 (by 300 steps
    they drift apart by up to 0.3%, so later steps are not compared); the two seeds' FIDs differ by 1.5% to 3%
    from step 30 on (checked, against 1e-2), so a seed trained on another's data, noise or weights fails."""
    spec_file = tmp_path / "packed.yaml"
    spec_file.write_text(PACKED_SPEC)
    out = tmp_path / "out"
    log = tmp_path / "driver.log"
    with log.open("w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "sweeps.run", str(spec_file), "--out", str(out)], cwd=REPO,
                                stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 300
    while not list(out.glob("ray/packed-*/*/checkpoint_000000/seed_0/trainer.pt")) and proc.poll() is None:
        assert time.time() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=180)
    assert proc.returncode == 130, log.read_text()[-3000:]  # interrupted, not finished

    spec = parse_spec(PACKED_SPEC, source=str(spec_file))
    summary = run_sweep(spec, out=out, resume=True)
    ray.shutdown()
    assert summary["interrupted"] is False
    assert sorted(t["status"] for t in summary["trials"]) == ["completed", "completed", "diverged", "diverged"]

    # two Tune trials, one per configuration; four MLflow runs, one per seed
    assert len(tune_results(out, summary["sweep_dir"])) == 2
    state = json.loads((Path(summary["sweep_dir"]) / "sweep.json").read_text())
    client, runs = trial_runs(state["tracking_uri"], "packed")
    assert len(runs) == 4 and len({r.data.tags["trial_id"] for r in runs}) == 4
    by_seed = {(r.data.params["optim.g_lr"], int(r.data.params["train.seed"])): r for r in runs}
    assert set(by_seed) == {("0.0002", 0), ("0.0002", 1), ("1e+30", 0), ("1e+30", 1)}
    for (lr, seed), r in by_seed.items():
        assert r.info.status == "FINISHED"
        assert r.data.tags["status"] == ("diverged" if lr == "1e+30" else "completed"), r.data.tags
        assert r.info.run_name.endswith(f"seed={seed}")
        if lr == "1e+30":
            assert not client.get_metric_history(r.info.run_id, "fid")
            continue
        names = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert "generator.pt" in names and "samples" in names

    separate = _separate_fids(spec)
    # the seeds themselves differ by far more than the margin somewhere (so that a mix-up of seeds would show)
    (_, a0), (_, a1) = sorted(separate.items())
    assert max(abs(x - y) / x for (step, x), (_, y) in zip(a0, a1) if step <= COMPARED) > 10 * RELATIVE_MARGIN
    for (lr, seed), alone in separate.items():
        packed = sorted((m.step, m.value) for m in client.get_metric_history(by_seed[(lr, seed)].info.run_id, "fid"))
        assert [s for s, _ in packed] == [s for s, _ in alone] == STEPS  # every evaluation, once
        for (step, p), (_, a) in zip(packed, alone):
            if step <= COMPARED:
                assert abs(p - a) < RELATIVE_MARGIN * a, (seed, step, packed, alone)


def _refusal(body: str, model: str = "d_width: 8") -> str:
    base = PACKED_SPEC.split("parameters:")[0].replace("d_width: 8", model)
    with pytest.raises(SpecError) as e:
        parse_spec(base + textwrap.dedent(body), source="packed.yaml")
    return str(e.value)


@pytest.mark.parametrize(("body", "where", "why"), [
    ("parameters: {optim.g_lr: {values: [0.0002]}}\nmethod: optuna\nnum_samples: 2\nseeds: [0, 1]\n"
     "resources: {pack_seeds: true}\n", "`resources.pack_seeds`", "Optuna suggests one trial at a time"),
    ("parameters: {optim.g_lr: {values: [0.0002]}}\nseeds: {initial: 2, max: 3}\nresources: {pack_seeds: true}\n",
     "`resources.pack_seeds`", "adaptive seeds"),
    ("parameters: {optim.g_lr: {values: [0.0002, 0.001]}}\nseeds: [0, 1]\n"
     "early_stopping: {type: asha, grace_period: 1}\nresources: {pack_seeds: true}\n",
     "`resources.pack_seeds`", "early_stopping is asha"),
    ("parameters: {optim.g_lr: {values: [0.0002]}}\nseeds: [0]\nresources: {pack_seeds: true}\n",
     "`resources.pack_seeds`", "nothing to pack"),
    ("parameters: {model.dropout: {values: [0.0, 0.3]}}\nseeds: [0, 1]\nresources: {pack_seeds: true}\n",
     "`parameters.model.dropout`", "model.dropout=0.3"),
    ("parameters: {train.precision: {values: [fp32, auto]}}\nseeds: [0, 1]\nresources: {pack_seeds: true}\n",
     "`parameters.train.precision`", "set train.precision: fp32"),
    ("parameters: {loss.name: {values: [bce, wgan-gp]}}\nseeds: [0, 1]\nresources: {pack_seeds: true}\n",
     "`parameters.loss.name`", "wgan-gp"),
    ("parameters: {optim.g_lr: {values: [0.0002]}}\nseeds: [0, 1]\n"
     "budget: {hold: [iterations, seconds], iterations: 60, seconds: 5}\nresources: {pack_seeds: true}\n",
     "`resources.pack_seeds`", "share one clock"),
    ("parameters:\n  smoothing:\n    values:\n      - {loss.label_smoothing: 0.0}\n"
     "      - {name: random, loss.label_smoothing: 0.1, loss.label_smoothing_random: true}\n"
     "seeds: [0, 1]\nresources: {pack_seeds: true}\n", "`parameters.smoothing`", "label_smoothing_random"),
    ("parameters: {optim.g_lr: {values: [0.0002]}}\nseeds: [0, 1]\nresources: {pack_seeds: 1}\n",
     "`resources.pack_seeds`", "must be"),
])
def test_what_a_pack_would_not_run_as_its_unpacked_trials_is_refused_with_where_and_why(body, where, why):
    message = _refusal(body)
    assert "packed.yaml, line " in message and where in message and why in message, message


def test_a_base_config_that_cannot_be_packed_is_refused_at_the_switch():
    message = _refusal("parameters: {optim.g_lr: {values: [0.0002]}}\nseeds: [0, 1]\nresources: {pack_seeds: true}\n",
                       model="d_width: 8, dropout: 0.2")
    assert "`resources.pack_seeds`: is true, but the base config cannot be packed: model.dropout" in message, message


def test_a_packed_grid_is_one_trial_per_configuration_with_its_seeds_in_order():
    from sweeps.packs import PACK, pack_size, seed_config
    from sweeps.plan import plan
    from sweeps.space import trial_space
    from sweeps.contract import TRIAL, TrialRequest

    spec = parse_spec(PACKED_SPEC, source="packed.yaml")
    values = trial_space(spec)[TRIAL]["grid_search"]
    assert len(values) == 2 and all(pack_size({TRIAL: v}) == 2 for v in values)
    unpacked = [(r["optim.g_lr"], r[SEED]) for r in spec.trial_configs()]
    packed = [(req.swept["optim.g_lr"], req.swept[SEED])
              for v in values for i in range(2)
              for req in [TrialRequest.from_trial_config(seed_config({**trial_space(spec), TRIAL: v}, i))]]
    assert packed == unpacked
    assert all(PACK in v for v in values)
    assert "packed: each configuration's 2 seeds train in one trial as one model" in plan(spec)


class _Pack:
    """A packed Tune trial as the callbacks read one: its id, config, status, last result and error file."""

    def __init__(self, seeds=(0, 1), last_result=None):
        self.trial_id, self.status, self.error_file = "abc_00000", "RUNNING", None
        self.config = {TRIAL_KEY: {"pack": [{"swept": {"optim.g_lr": 0.1, SEED: s}} for s in seeds]}}
        self.last_result = last_result or {}


class _Recorder:
    """Every hook the ledger, tracker and console would get, in order: (hook, trial id)."""

    def __init__(self):
        self.events = []

    def __getattr__(self, hook):
        if not hook.startswith("on_") and hook != "setup":
            raise AttributeError(hook)
        return lambda **kw: self.events.append((hook, getattr(kw.get("trial"), "trial_id", None)))


def _seed_result(evaluation, final=False, diverged=False):
    return {"evaluation": evaluation, "step": 20 * evaluation, "fid": 1.0, "is_final": float(final),
            "diverged": float(diverged)}


def _report(callbacks, pack, fresh: dict, latest: dict):
    """One result of the pack and, as Tune does, its checkpoint after it (last_result updated in between)."""
    result = {"seeds": {**latest, **fresh}, "fresh": {s: 1.0 for s in fresh}}
    latest.update(fresh)
    callbacks.on_trial_result(iteration=0, trials=[pack], trial=pack, result=result)
    pack.last_result = result
    callbacks.on_checkpoint(iteration=0, trials=[pack], trial=pack, checkpoint=type("C", (), {"path": "/ck"})())


def test_each_seed_of_a_pack_reaches_the_callbacks_as_a_trial_that_ends_once():
    """A seed that diverges first ends at once, gets no checkpoint of its diverged state, and nothing after its
    end; the other ends with the pack. A new driver (a resume) does not start or end again a seed that had ended:
    it is settled (`on_trial_ended_earlier`: its run ended where it is still open), and nothing else reaches it."""
    from sweeps.packs import SeedCallbacks

    rec, pack, latest = _Recorder(), _Pack(), {}
    callbacks = SeedCallbacks([rec])
    s0, s1 = "abc_00000_seed0", "abc_00000_seed1"
    callbacks.on_trial_start(iteration=0, trials=[pack], trial=pack)
    _report(callbacks, pack, {"0": _seed_result(1), "1": _seed_result(1)}, latest)
    _report(callbacks, pack, {"0": _seed_result(2, diverged=True), "1": _seed_result(2)}, latest)
    assert rec.events[-2:] == [("on_checkpoint", s1), ("on_trial_complete", s0)]
    assert ("on_checkpoint", s0) not in rec.events[rec.events.index(("on_trial_result", s0), 4):]
    _report(callbacks, pack, {"1": _seed_result(3, final=True)}, latest)
    callbacks.on_trial_complete(iteration=0, trials=[pack], trial=pack)
    ends = [e for e in rec.events if e[0] in ("on_trial_complete", "on_trial_error")]
    assert ends == [("on_trial_complete", s0), ("on_trial_complete", s1)]
    for seed in (s0, s1):  # nothing reaches a seed after its end
        assert rec.events.index(("on_trial_complete", seed)) == max(i for i, e in enumerate(rec.events) if e[1] == seed)
    assert [e for e in rec.events if e == ("on_trial_start", s0)] == [("on_trial_start", s0)]

    # a resumed pack: seed 0 ended in the earlier session; seed 1 is restored alone, and fails with its pack
    rec = _Recorder()
    callbacks = SeedCallbacks([rec])
    pack = _Pack(last_result={"seeds": {"0": _seed_result(2, diverged=True), "1": _seed_result(2)}, "fresh": {}})
    (seed0, seed1) = SeedCallbacks.seeds(pack)
    assert (seed0.status, seed1.status) == ("TERMINATED", "RUNNING")
    callbacks.on_trial_restore(iteration=0, trials=[pack], trial=pack)
    callbacks.on_trial_error(iteration=0, trials=[pack], trial=pack)
    assert rec.events == [("on_trial_ended_earlier", s0), ("on_trial_restore", s1), ("on_trial_error", s1)]


def test_an_unpacked_trial_passes_through_unchanged():
    from sweeps.packs import SeedCallbacks

    rec = _Recorder()
    trial = type("T", (), {"trial_id": "t1", "config": {"swept": {}}, "status": "RUNNING", "last_result": {}})()
    callbacks = SeedCallbacks([rec])
    callbacks.on_trial_start(iteration=0, trials=[trial], trial=trial)
    callbacks.on_trial_result(iteration=0, trials=[trial], trial=trial, result={"fid": 1.0})
    callbacks.on_checkpoint(iteration=0, trials=[trial], trial=trial, checkpoint=None)
    callbacks.on_trial_complete(iteration=0, trials=[trial], trial=trial)
    assert rec.events == [("on_trial_start", "t1"), ("on_trial_result", "t1"), ("on_checkpoint", "t1"),
                          ("on_trial_complete", "t1")]
