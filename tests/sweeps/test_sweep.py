"""Sweeps end to end on a real local Ray, a real Optuna study and real MLflow stores."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import ray
from mlflow.tracking import MlflowClient

from analysis import load_sweep, ranking
from sweeps.driver import run_sweep
from sweeps.specfile import parse_spec
from tests.helpers import MNIST_TEST_DIR, REPO, MlflowServer, kill_session

BASE = f"""\
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: dcgan, latent_dim: 8, g_width: 8, d_width: 8}}
  train: {{iterations: 30, eval_every: 10, batch_size: 32}}
evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
"""


def make_spec(body: str, name: str):
    return parse_spec(f"name: {name}\n" + BASE + textwrap.dedent(body), source=f"{name}.yaml")


@pytest.fixture
def local_ray():
    yield
    if ray.is_initialized():
        ray.shutdown()


def trial_runs(tracking_uri: str, experiment: str):
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], filter_string="tags.role = 'trial'", max_results=1000)
    return client, runs


def tune_results(root: Path, sweep_dir: str | Path) -> dict[str, list[dict]]:
    """Every result each trial of a sweep reported to Tune, from Tune's own result.json files."""
    state = json.loads((Path(sweep_dir) / "sweep.json").read_text())
    results = {}
    for f in (root / "ray" / state["run_name"]).glob("*/result.json"):
        rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        if rows:
            results[rows[0]["trial_id"]] = rows
    return results


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    """A tiny ASHA grid with seed replicates and one absurd learning rate, on the embedded MLflow store."""
    spec = make_spec("""\
        parameters:
          optim.g_lr: {values: [0.0002, 0.002, 1.0e+30]}
        method: grid
        seeds: [0, 1]
        early_stopping: {type: asha, grace_period: 1, reduction_factor: 2}
        resources: {cpus: 1}
        """, "tiny_grid")
    out = tmp_path_factory.mktemp("grid")
    summary = run_sweep(spec, out=out)
    ray.shutdown()
    state = json.loads((Path(summary["sweep_dir"]) / "sweep.json").read_text())
    return spec, out, summary, state


def test_grid_sweep_logs_every_trial_with_params_histories_and_status(grid_sweep):
    spec, out, summary, state = grid_sweep
    assert state["tracking_uri"] == f"sqlite:///{out / 'mlflow.db'}"
    client, runs = trial_runs(state["tracking_uri"], "tiny_grid")
    assert len(runs) == spec.num_trials() == 6
    assert len({r.data.tags["trial_id"] for r in runs}) == 6
    statuses = {r.data.tags["status"] for r in runs}
    assert statuses <= {"completed", "early_stopped", "diverged"}
    assert "diverged" in statuses and "early_stopped" in statuses and "completed" in statuses
    for r in runs:
        assert r.data.tags["mlflow.parentRunId"] == state["parent_run_id"]
        assert r.data.tags["node_hostname"] and r.data.tags["git_commit"]
        assert r.data.params["model.latent_dim"] == "8" and r.data.params["optim.name"] == "adam"
        fid = client.get_metric_history(r.info.run_id, "fid")
        if r.data.tags["status"] == "diverged":
            assert float(r.data.params["optim.g_lr"]) == 1e30
            continue
        assert [m.step for m in fid] == list(range(10, 10 * len(fid) + 1, 10))
        assert all(math.isfinite(m.value) for m in fid)
        if r.data.tags["status"] == "completed":
            assert len(fid) == 3
            names = {a.path for a in client.list_artifacts(r.info.run_id)}
            assert "generator.pt" in names and "samples" in names
        else:
            assert len(fid) < 3
    # seeds give replicates: every learning rate ran with seed 0 and seed 1
    pairs = {(r.data.params["optim.g_lr"], r.data.params["train.seed"]) for r in runs}
    assert len(pairs) == 6
    # the ranked summary puts finished, finite trials first
    assert summary["trials"][0]["status"] == "completed"


def test_no_metric_point_is_lost_in_the_embedded_store(grid_sweep):
    spec, out, summary, state = grid_sweep
    client, runs = trial_runs(state["tracking_uri"], "tiny_grid")
    reported = tune_results(out, summary["sweep_dir"])
    by_trial = {r.data.tags["trial_id"]: r for r in runs}
    assert reported.keys() == by_trial.keys()
    for trial_id, rows in reported.items():
        # `evaluation` is in every result, diverged ones included (whose NaN losses are not logged)
        history = client.get_metric_history(by_trial[trial_id].info.run_id, "evaluation")
        assert sorted(m.step for m in history) == sorted(row["step"] for row in rows)
        assert sorted(m.value for m in history) == sorted(row["evaluation"] for row in rows)


def test_report_ranking_marks_early_stopped_trials_and_their_rung(grid_sweep):
    spec, out, summary, state = grid_sweep
    s = load_sweep(str(Path(summary["sweep_dir"])))
    rank = ranking(s.trials, "fid", "min", s.swept)
    done = rank[rank["status"] == "completed"]
    stopped = rank[rank["status"] == "early_stopped"]
    assert list(rank["rank"]) == list(range(1, 7))
    assert done["rank"].max() < stopped["rank"].min()  # finished trials rank above stopped ones
    assert list(done["fid"]) == sorted(done["fid"])
    assert list(stopped["stopped_at"]) == [f"evaluation {e}" for e in stopped["last_evaluation"]]
    assert rank.iloc[-1]["status"] == "diverged"


def test_parent_run_holds_the_resolved_spec_and_summary(grid_sweep):
    spec, out, summary, state = grid_sweep
    client = MlflowClient(state["tracking_uri"])
    parent = client.get_run(state["parent_run_id"])
    assert parent.info.status == "FINISHED"
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"spec.resolved.yaml", "summary.json"} <= names


def test_optuna_samples_in_bounds_and_stopped_trials_reach_the_study_as_pruned(tmp_path, local_ray):
    spec = make_spec("""\
        parameters:
          optim.g_lr: {distribution: loguniform, low: 0.0001, high: 0.01}
          model.g_width: {distribution: int, low: 4, high: 12, step: 4}
        method: optuna
        num_samples: 8
        search_seed: 3
        early_stopping: {type: asha, grace_period: 1, reduction_factor: 3}
        max_concurrent: 2
        resources: {cpus: 1}
        """, "tiny_optuna")
    summary = run_sweep(spec, out=tmp_path)
    sweep_dir = Path(summary["sweep_dir"])
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["finished"] is True and sweep_dir.parent == tmp_path / "sweeps"
    client, runs = trial_runs(state["tracking_uri"], "tiny_optuna")
    assert len(runs) == 8
    for r in runs:
        assert 1e-4 <= float(r.data.params["optim.g_lr"]) <= 1e-2
        assert int(r.data.params["model.g_width"]) in (4, 8, 12)
    study = json.loads((sweep_dir / "optuna_study.json").read_text())["trials"]
    assert len(study) == 8
    states = sorted(t["state"] for t in study)
    mlflow_states = sorted({"completed": "COMPLETE", "early_stopped": "PRUNED", "diverged": "PRUNED"}
                           [r.data.tags["status"]] for r in runs)
    assert states == mlflow_states
    assert "PRUNED" in states and "COMPLETE" in states
    for t in study:
        assert t["intermediate_values"], t  # every evaluation reached the study
        if t["state"] == "COMPLETE":
            assert len(t["intermediate_values"]) == 3 and t["value"] == t["intermediate_values"]["3"]
        else:  # Optuna keeps a pruned trial's last intermediate value, at the evaluation it stopped
            last = max(t["intermediate_values"], key=int)
            assert int(last) < 3 and t["value"] == t["intermediate_values"][last]


def test_optuna_runs_each_configuration_once_per_seed_and_is_told_their_mean(tmp_path, local_ray):
    spec = make_spec("""\
        parameters:
          optim.g_lr: {distribution: loguniform, low: 0.0001, high: 0.01}
        method: optuna
        num_samples: 2
        seeds: [0, 1]
        search_seed: 5
        resources: {cpus: 1}
        """, "tiny_optuna_seeds")
    summary = run_sweep(spec, out=tmp_path)
    sweep_dir = Path(summary["sweep_dir"])
    state = json.loads((sweep_dir / "sweep.json").read_text())
    client, runs = trial_runs(state["tracking_uri"], "tiny_optuna_seeds")
    assert len(runs) == 4 and all(r.data.tags["status"] == "completed" for r in runs)
    by_lr: dict[str, dict[int, float]] = {}
    for r in runs:
        by_lr.setdefault(r.data.params["optim.g_lr"], {})[int(r.data.params["train.seed"])] = r.data.metrics["fid"]
    assert len(by_lr) == 2 and all(set(seeds) == {0, 1} for seeds in by_lr.values())
    assert len({fids[0] - fids[1] for fids in by_lr.values()}) == 2  # the seeds really trained differently
    study = json.loads((sweep_dir / "optuna_study.json").read_text())["trials"]
    assert sorted(t["state"] for t in study) == ["COMPLETE", "COMPLETE"]
    for t in study:
        fids = next(f for lr, f in by_lr.items() if float(lr) == pytest.approx(t["params"]["swept/optim.g_lr"]))
        assert t["value"] == pytest.approx((fids[0] + fids[1]) / 2)


@pytest.fixture
def mlflow_server(tmp_path):
    server = MlflowServer(tmp_path).start()
    yield server.uri
    server.stop()


KILL_SPEC = f"""\
name: resumable
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: dcgan, latent_dim: 8, g_width: 8, d_width: 8}}
  train: {{iterations: 120, eval_every: 20, batch_size: 32}}
evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
parameters:
  optim.g_lr: {{distribution: loguniform, low: 0.0001, high: 0.01}}
method: optuna
num_samples: 6
max_concurrent: 2
resources: {{cpus: 1}}
"""


def _finished_trials(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as con:
            return con.execute("select count(*) from runs r join tags t on r.run_uuid = t.run_uuid "
                               "where t.key = 'status' and t.value = 'completed'").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.ray
def test_killed_driver_resumes_without_duplicates_and_keeps_the_optuna_study(tmp_path, local_ray):
    spec_file = tmp_path / "resumable.yaml"
    spec_file.write_text(KILL_SPEC)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sweeps.run", str(spec_file), "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while _finished_trials(out / "mlflow.db") < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(1)
    assert proc.poll() is None, "the sweep ended before it could be interrupted"
    kill_session(proc.pid)  # the driver and the local Ray it started, and nothing else
    proc.wait()
    (sweep_dir,) = (out / "sweeps").glob("resumable-*")
    before = json.loads((sweep_dir / "optuna_study.json").read_text())["trials"]
    done_before = {t["number"]: t for t in before if t["state"] != "RUNNING"}
    assert 2 <= len(done_before) < 6
    # a kill during Tune's background copy of its state leaves a truncated file in storage (an empty
    # searcher state was seen): without the backup the sweep refuses to resume, naming the file ...
    (searcher_state,) = (out / "ray" / sweep_dir.name).glob("searcher-state-*.pkl")
    searcher_state.write_bytes(b"")
    backup = sweep_dir / "tune_state.zip"
    backup.rename(backup.with_suffix(".away"))
    refused = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert f"{searcher_state.name} is empty" in refused.stderr and "cannot be resumed" in refused.stderr
    assert "resuming" not in refused.stdout
    # ... and with it, it resumes
    backup.with_suffix(".away").rename(backup)
    # runs of trials that never reached Tune's last snapshot, as a kill can leave them: one that logged
    # nothing (it must go) and one that logged an evaluation (it must be kept as `lost`)
    state = json.loads((sweep_dir / "sweep.json").read_text())
    client = MlflowClient(state["tracking_uri"])
    orphans = {}
    for name, fid in (("empty", None), ("evaluated", 321.0)):
        run = client.create_run(state["experiment_id"], run_name=f"orphan-{name}", tags={
            "mlflow.parentRunId": state["parent_run_id"], "trial_id": f"orphan-{name}",
            "sweep_id": state["sweep_id"], "role": "trial", "status": "running"})
        if fid is not None:
            client.log_metric(run.info.run_id, "fid", fid, step=20)
        orphans[name] = run.info.run_id

    resumed = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout

    assert [p.name for p in (out / "sweeps").iterdir()] == [sweep_dir.name]  # the same sweep went on
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["finished"] is True
    assert client.get_run(orphans["empty"]).info.lifecycle_stage == "deleted"
    kept = client.get_run(orphans["evaluated"])
    assert (kept.info.status, kept.data.tags["status"], kept.data.metrics["fid"]) == ("KILLED", "lost", 321.0)
    _, runs = trial_runs(state["tracking_uri"], "resumable")
    lost = [r for r in runs if r.data.tags["status"] == "lost"]
    assert all(r.data.metrics and r.info.status == "KILLED" for r in lost)  # a real orphan, if the kill made one
    runs = [r for r in runs if r.data.tags["status"] != "lost"]
    trial_ids = [r.data.tags["trial_id"] for r in runs]
    assert len(trial_ids) == len(set(trial_ids)) == 6  # no trial logged twice, none missing
    for r in runs:
        assert r.data.tags["status"] in ("completed", "early_stopped"), r.data.tags
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "fid")]
        assert len(steps) == len(set(steps)), steps  # no evaluation logged twice
    every = json.loads((sweep_dir / "optuna_study.json").read_text())["trials"]
    # a trial Optuna was asked for after Tune's last snapshot (the kill fell in between) is told FAIL
    after = [t for t in every if t["state"] != "FAIL"]
    assert len(every) - len(after) <= 2
    assert len(after) == 6 and all(t["state"] in ("COMPLETE", "PRUNED") for t in after)
    for number, t in done_before.items():  # what the study learned before the crash is still there
        assert every[number]["params"] == t["params"] and every[number]["value"] == t["value"]
    # Optuna's own storage, the journal in the sweep folder, holds the same study (optuna-dashboard reads it)
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name="resumable",
                              storage=JournalStorage(JournalFileBackend(str(sweep_dir / "optuna.journal"))))
    assert all(t.state.is_finished() for t in study.get_trials())
    assert [(t.number, t.state.name, t.params, t.value) for t in study.get_trials()] == [
        (t["number"], t["state"], t["params"], t["value"]) for t in every]
    assert "optuna-dashboard" in resumed.stdout



# last: it adds a sweep to the module's experiment
def test_a_second_invocation_is_a_new_parent_run_in_the_same_experiment(grid_sweep, local_ray):
    spec, out, summary, state = grid_sweep
    again = run_sweep(make_spec("""\
        parameters:
          optim.g_lr: {values: [0.0002]}
        method: grid
        """, "tiny_grid"), out=out)
    assert again["sweep_dir"] != summary["sweep_dir"]
    client = MlflowClient(state["tracking_uri"])
    exp = client.get_experiment_by_name("tiny_grid")
    parents = client.search_runs([exp.experiment_id], filter_string="tags.role = 'sweep'")
    assert len(parents) == 2



INTERRUPT_SPEC = f"""\
name: interruptible
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: dcgan, latent_dim: 8, g_width: 8, d_width: 8}}
  train: {{iterations: 60, eval_every: 20, batch_size: 32}}
evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
parameters:
  optim.g_lr: {{values: [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005]}}
method: grid
max_concurrent: 1
resources: {{cpus: 1}}
"""


def _interrupt_when(proc, db: Path, finished: int, signals: list[int]) -> float:
    """Send `signals` (0.3 s apart) to the driver alone once `finished` trials completed; returns how long
    the driver took to exit after the first."""
    deadline = time.time() + 300
    while _finished_trials(db) < finished and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "the sweep ended before it could be interrupted"
    start = time.time()
    for i, sig in enumerate(signals):
        if i:
            time.sleep(0.3)
        proc.send_signal(sig)
    proc.wait(timeout=180)
    return time.time() - start


@pytest.mark.ray
def test_ctrl_c_and_sigterm_interrupt_a_sweep_that_resume_then_finishes_exactly_once(tmp_path, local_ray):
    spec_file = tmp_path / "interruptible.yaml"
    spec_file.write_text(INTERRUPT_SPEC)
    out = tmp_path / "out"
    db = out / "mlflow.db"
    cmd = [sys.executable, "-m", "sweeps.run", str(spec_file), "--out", str(out)]

    logs = []

    def start(*extra):
        logs.append(tmp_path / f"driver-{len(logs)}.log")  # a file, not a pipe nobody reads while it runs
        with logs[-1].open("w") as log:
            return subprocess.Popen(cmd + list(extra), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    # 1. one Ctrl-C after the first trial completed: an interrupt, not a completion
    proc = start()
    _interrupt_when(proc, db, 1, [signal.SIGINT])
    output = logs[-1].read_text()
    assert proc.returncode == 130, output[-3000:]
    assert f"--out {out} --resume" in output and "continue with: python -m sweeps.run" in output
    (sweep_dir,) = (out / "sweeps").glob("interruptible-*")
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["finished"] is False
    client = MlflowClient(state["tracking_uri"])
    assert client.get_run(state["parent_run_id"]).info.status == "KILLED"
    _, runs = trial_runs(state["tracking_uri"], "interruptible")
    assert runs and all(r.info.status != "RUNNING" for r in runs)  # no run left RUNNING
    assert {r.data.tags["status"] for r in runs} <= {"completed", "interrupted"}
    for r in runs:
        assert (r.info.status == "KILLED") == (r.data.tags["status"] == "interrupted")
    summary = json.loads((sweep_dir / "summary.json").read_text())
    statuses = [t["status"] for t in summary["trials"]]
    assert summary["interrupted"] is True and "early_stopped" not in statuses
    assert statuses.count("completed") == summary["ended"] >= 1
    assert set(statuses) <= {"completed", "interrupted", "not_started"} and "not_started" in statuses

    # 2. SIGTERM (a cluster job stopped), then a second Ctrl-C at once: exits promptly, still resumable
    proc = start("--resume")
    took = _interrupt_when(proc, db, summary["ended"] + 1, [signal.SIGTERM, signal.SIGINT])
    output = logs[-1].read_text()
    assert proc.returncode == 130 and "--resume" in output, output[-3000:]
    assert took < 60, took
    assert json.loads((sweep_dir / "sweep.json").read_text())["finished"] is False

    # 3. resume to the end: every trial exactly once, every evaluation once; Ctrl-C pressed again and
    # again once the sweep has said where its output is (while Ray shuts down at exit) ends it at once
    # with the finished sweep's code, not a traceback out of Ray's exit handler
    proc = start("--resume")
    deadline = time.time() + 900
    while "sweep output:" not in logs[-1].read_text() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    late = time.time()
    while proc.poll() is None and time.time() < late + 60:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
    proc.wait(timeout=60)
    output = logs[-1].read_text()
    assert proc.returncode == 0 and "KeyboardInterrupt" not in output, output[-3000:]
    assert "browse the runs: mlflow ui --backend-store-uri" in output
    assert [p.name for p in (out / "sweeps").iterdir()] == [sweep_dir.name]
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["finished"] is True and client.get_run(state["parent_run_id"]).info.status == "FINISHED"
    _, runs = trial_runs(state["tracking_uri"], "interruptible")
    assert len(runs) == 6 and len({r.data.tags["trial_id"] for r in runs}) == 6
    assert sorted(r.data.params["optim.g_lr"] for r in runs) == sorted(
        ["0.0001", "0.0002", "0.0005", "0.001", "0.002", "0.005"])
    for r in runs:
        assert (r.info.status, r.data.tags["status"]) == ("FINISHED", "completed"), r.data.tags
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "fid")]
        assert sorted(steps) == [20, 40, 60], steps  # each evaluation logged once, none lost
        assert r.info.run_name.startswith("g_lr=") and r.info.run_name.endswith("seed=0")


TWIN_SPEC = f"""\
name: {{name}}
base:
  data: {{{{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}}}
  model: {{{{arch: dcgan, latent_dim: 8, g_width: 8, d_width: 8}}}}
  train: {{{{iterations: 40, eval_every: 20, batch_size: 32}}}}
evaluation: {{{{metrics: [fid], num_samples: 200, real_samples: 500}}}}
parameters:
  optim.g_lr: {{{{values: [0.0002, 0.0005, 0.001, 0.005]}}}}
method: grid
max_concurrent: 4
resources: {{{{cpus: {{cpus}}}}}}
"""
TWIN_LRS = {"0.0002", "0.0005", "0.001", "0.005"}


@contextlib.contextmanager
def ray_cluster_beside(env: dict):
    """A Ray cluster without CPUs that `ray start` runs on the machine, as a user's may be. `ray.init()` alone
    joins it (through /tmp/ray/ray_current_cluster), and would hold every trial in its queue forever."""
    # --block: the cluster lives as long as this process group, and goes with it (not `ray stop`, which
    # would stop every Ray on the machine)
    head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--num-cpus",
                             "0", "--port", "6397", "--include-dashboard=false", "--disable-usage-stats"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        current = Path("/tmp/ray/ray_current_cluster")
        while time.time() < deadline and not (current.is_file() and current.read_text().strip().endswith(":6397")):
            assert head.poll() is None, "ray start failed"
            time.sleep(1)
        assert current.read_text().strip().endswith(":6397"), "the cluster did not come up"
        yield
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=120)


@pytest.mark.ray
@pytest.mark.parametrize("store", ["embedded", "server"])
def test_two_sweeps_at_once_share_one_output_folder_and_store(tmp_path, store, request):
    """Two drivers write one output folder and one store at the same time, and no run, metric point or sweep
    folder is mixed up or lost.

    - embedded: with a Ray cluster running beside them (`ray_cluster_beside`), neither given `--address`: each
      must start a Ray of its own, or it would wait for CPUs forever.
    - server: each runs its 4 trials at once, so 8 trials log to one real `mlflow server` concurrently, and
      MLflow holds every point Tune saw."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    server = store == "server"
    extra = ["--tracking-uri", request.getfixturevalue("mlflow_server")] if server else []
    procs = []
    with contextlib.nullcontext() if server else ray_cluster_beside(env):
        for name in ("twin_a", "twin_b"):
            spec = tmp_path / f"{name}.yaml"
            spec.write_text(TWIN_SPEC.format(name=name, cpus=0.25 if server else 1))
            log = (tmp_path / f"{name}.log").open("w")
            procs.append(subprocess.Popen([sys.executable, "-m", "sweeps.run", str(spec), "--out", str(out), *extra],
                                          cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        try:
            for p in procs:
                p.wait(timeout=900)
        finally:
            for p in procs:
                if p.poll() is None:
                    kill_session(p.pid)
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("twin_a", "twin_b")}
    for p, text in zip(procs, logs.values()):
        assert p.returncode == 0, text[-3000:]
        assert "database is locked" not in text and "Traceback" not in text, text[-3000:]
    uri = extra[1] if server else f"sqlite:///{out / 'mlflow.db'}"
    assert (out / "mlflow.db").exists() is not server  # with a server, nothing went to the embedded store
    sweep_dirs = list((out / "sweeps").iterdir())
    assert len(sweep_dirs) == 2
    points = 0
    for sweep_dir in sweep_dirs:
        name = sweep_dir.name.partition("-")[0]
        client, runs = trial_runs(uri, name)
        assert len(runs) == 4 and {r.data.tags["status"] for r in runs} == {"completed"}
        assert {r.data.params["optim.g_lr"] for r in runs} == TWIN_LRS  # no mixed-up runs
        reported = tune_results(out, sweep_dir)
        by_trial = {r.data.tags["trial_id"]: r for r in runs}
        assert reported.keys() == by_trial.keys()
        for trial_id, rows in reported.items():
            assert [row["step"] for row in rows] == [20, 40]
            for metric in ("fid", "loss_g", "d_real"):
                history = client.get_metric_history(by_trial[trial_id].info.run_id, metric)
                assert sorted((m.step, m.value) for m in history) == sorted((row["step"], row[metric])
                                                                            for row in rows)
                points += len(history)
    assert points == 2 * 4 * 3 * 2


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs: a disk that can be filled (needs root and mount; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as f:
        while True:
            f.write(b"\0" * (1 << 16))
            f.flush()
    return filler


@pytest.mark.ray
def test_a_full_disk_at_a_checkpoint_stops_the_sweep_resumably_and_loses_nothing(tmp_path, small_disk):
    spec_file = tmp_path / "interruptible.yaml"
    spec_file.write_text(INTERRUPT_SPEC)
    out, storage = tmp_path / "out", small_disk / "ray"
    db = out / "mlflow.db"
    cmd = [sys.executable, "-m", "sweeps.run", str(spec_file), "--out", str(out), "--storage", str(storage)]
    log = tmp_path / "driver.log"
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 300
    while _finished_trials(db) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the sweep ended before the disk could be filled"
    filler = _fill(small_disk)  # the next checkpoint finds the disk full
    proc.wait(timeout=300)
    output = log.read_text()
    assert proc.returncode == 75, output[-3000:]
    stopped = next(line for line in output.splitlines() if line.startswith("stopped: "))
    assert "storage fault" in stopped and "no space left on the device" in stopped
    assert f"the sweep's storage: {storage}" in output
    assert "Nothing logged is lost" in output and f"--out {out} --resume" in output
    (sweep_dir,) = (out / "sweeps").glob("interruptible-*")
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["finished"] is False
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert "storage fault" in summary["stopped_by"]
    assert {t["status"] for t in summary["trials"]} <= {"completed", "interrupted", "not_started"}
    client, runs = trial_runs(state["tracking_uri"], "interruptible")
    assert all(r.info.status != "RUNNING" for r in runs)
    done = [r for r in runs if r.data.tags["status"] == "completed"]
    assert done and all(
        [m.step for m in client.get_metric_history(r.info.run_id, "fid")] == [20, 40, 60] for r in done)
    assert {r.data.tags["status"] for r in runs} <= {"completed", "interrupted"}

    filler.unlink()  # space again: the sweep goes on from where it stopped
    resumed = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    _, runs = trial_runs(state["tracking_uri"], "interruptible")
    assert len(runs) == 6 and len({r.data.tags["trial_id"] for r in runs}) == 6
    for r in runs:
        assert (r.info.status, r.data.tags["status"]) == ("FINISHED", "completed"), r.data.tags
        assert sorted(m.step for m in client.get_metric_history(r.info.run_id, "fid")) == [20, 40, 60]
