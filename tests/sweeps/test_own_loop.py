"""The user's own training function, swept like a built-in (`trainable:`): the spec refuses what is wrong where it
stands, and a lab's loop outside the repository (examples/own_loop: hinge loss, an EMA generator, its own
checkpoint format, real Fashion-MNIST, scored by gan.evaluate) is swept with adaptive seeds on a real local Ray,
its driver killed and resumed, and reported with the effects of an independent statsmodels fit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf

from sweeps.plan import plan
from sweeps.specfile import SpecError, load_spec
from tests.helpers import REPO, kill_session
from tests.sweeps.test_sweep import _finished_trials, local_ray, trial_runs  # noqa: F401 (a fixture)

EXAMPLE = REPO / "examples" / "own_loop"


@pytest.fixture
def lab(tmp_path) -> Path:
    """The example's lab, copied outside the repository, as a researcher's folder is."""
    folder = tmp_path / "lab"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_the_example_spec_names_its_function_and_checks_every_trials_config(lab):
    spec = load_spec(lab / "own_loop.yaml")
    assert spec.trainable.function == "my_lab.train:run" and spec.trainable.evaluations == 4
    assert "my_lab.train" in spec.plugins  # every trial imports it; a cluster's workers get it shipped
    text = plan(spec)
    assert "training: your function my_lab.train:run, 4 reports per trial" in text
    assert "checked against my_lab.train:Settings for every trial" in text
    config = spec.trial_config({"width": 32, "lr": 0.001, "train.seed": 3})
    assert config.to_dict() == {"width": 32, "lr": 0.001, "steps": 400, "evaluations": 4, "seed": 3}


def test_without_a_config_class_the_keys_pass_as_given_and_the_plan_says_so(lab):
    text = (lab / "own_loop.yaml").read_text().replace("  config_class: my_lab.train:Settings\n", "")
    (lab / "loose.yaml").write_text(text)
    assert "nothing checked its keys or types" in plan(load_spec(lab / "loose.yaml"))


@pytest.mark.parametrize("edit, fragments", [
    (("  steps: 400\n", "  steps: many\n"), ["line 12", "`config.steps`", "'many'", "an integer"]),
    (("  steps: 400\n", "  steps: 400\n  momentum: 0.9\n"), ["`config.momentum`", "unknown key; Settings has"]),
    (("  width: {values: [8, 32], baseline: 8}", "  depth: {values: [2, 3]}"),
     ["`parameters.depth`", "not a key"]),
    (("function: my_lab.train:run", "function: my_lab.train:runn"), ["`trainable.function`", "has no `runn`"]),
    (("function: my_lab.train:run", "function: my_lab.missing:run"), ["`trainable.function`", "cannot import"]),
    (("function: my_lab.train:run", "function: torch:manual_seed"), ["must take (config, reporter)"]),
    (("function: my_lab.train:run", "function: run"), ["`trainable.function`", "must be `module:name`"]),
    (("  evaluations: 4\nconfig:", "config:"), ["`trainable.evaluations`", "how many times each trial reports"]),
    (("metric: fid\n", "metric: my_score\n"), ["`mode`", "must be min or max"]),
    (("metric: fid\n", "metric: fid\nbase: {model: {g_width: 8}}\n"), ["`base`", "belongs to the built-in trainer"]),
])
def test_a_bad_own_trainable_spec_is_refused_where_it_stands(lab, edit, fragments):
    text = (lab / "own_loop.yaml").read_text()
    assert edit[0] in text
    (lab / "bad.yaml").write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(SpecError) as err:
        load_spec(lab / "bad.yaml")
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))


PYDANTIC_SETTINGS = """\
from pydantic import BaseModel, Field


class Optim(BaseModel):
    lr: float = Field(2e-4, gt=0)


class Settings(BaseModel):
    width: int = 32
    steps: int
    evaluations: int = 4
    seed: int = 0
    optim: Optim = Optim()
"""


@pytest.mark.parametrize("config, fragments", [
    ("  steps: 400\n", None),
    ("  steps: many\n", ["`config.steps`", "'many'", "valid integer", "(Settings)", "line 11"]),
    ("  steps: 400\n  momentum: 0.9\n", ["`config.momentum`", "unknown key; Settings has"]),
    ("  evaluations: 4\n", ["`config`", "needs steps"]),
    ("  steps: 400\n  optim: {lr: -1}\n", ["`config.optim.lr`", "-1", "greater than 0"]),
    ("  steps: 400\n  optim: {lr: 0.1, beta: 0.5}\n", ["`config.optim.beta`", "unknown key; Optim has lr"]),
])
def test_a_pydantic_model_checks_every_trials_config_as_a_dataclass_does(lab, config, fragments):
    (lab / "pyd_lab").mkdir()  # a package of its own: `my_lab` may be imported already, from another test's copy
    (lab / "pyd_lab" / "__init__.py").write_text("")
    (lab / "pyd_lab" / "settings.py").write_text(PYDANTIC_SETTINGS)
    (lab / "pyd.yaml").write_text("name: pyd\ntrainable:\n  function: my_lab.train:run\n"
                                  "  config_class: pyd_lab.settings:Settings\n  evaluations: 4\nmetric: fid\n"
                                  "parameters:\n  width: {values: [8, 32]}\nconfig:\n  width: 8\n" + config)
    if fragments is None:
        spec = load_spec(lab / "pyd.yaml")
        assert "checked against pyd_lab.settings:Settings for every trial" in plan(spec)
        return
    with pytest.raises(SpecError) as err:
        load_spec(lab / "pyd.yaml")
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))


def test_a_function_that_fails_to_import_is_refused_without_a_traceback(lab):
    (lab / "my_lab" / "broken.py").write_text("import torch\nraise RuntimeError('our loop is half written')\n")
    text = (lab / "own_loop.yaml").read_text().replace("function: my_lab.train:run", "function: my_lab.broken:run")
    (lab / "bad.yaml").write_text(text)
    done = subprocess.run([sys.executable, "-m", "sweeps.run", str(lab / "bad.yaml"), "--dry-run"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "our loop is half written" in done.stderr and "Traceback" not in done.stderr


SMALL = """\
scales:
  test:
    config: {steps: 40, images: 1000, eval_samples: 200, real_samples: 500}
    parameters: {lr: {values: [0.001]}}
    seeds: {initial: 2, max: 3}
"""


@pytest.mark.ray
def test_a_labs_own_loop_is_swept_killed_resumed_and_reported(lab, local_ray):
    spec = lab / "own_loop.yaml"
    spec.write_text(spec.read_text().split("scales:")[0] + SMALL)
    out = lab / "out"
    cmd = [sys.executable, "-m", "sweeps.run", str(spec), "--scale", "test", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.time() + 600
    while _finished_trials(out / "mlflow.db") < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "the sweep ended before it could be interrupted:\n" + proc.stdout.read()[-3000:]
    kill_session(proc.pid)  # the driver and the local Ray it started, and nothing else
    proc.wait()

    resumed = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    (sweep_dir,) = (out / "sweeps").glob("own_loop-test-*")
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["finished"] is True
    client, runs = trial_runs(state["tracking_uri"], "own_loop")
    runs = [r for r in runs if r.data.tags["status"] != "lost"]
    keys = [(r.data.params["width"], r.data.params["train.seed"]) for r in runs]
    assert len(keys) == len(set(keys)) and len(keys) >= 4  # every trial once: 2 configurations x 2 seeds or more
    for r in runs:
        assert r.data.tags["status"] == "completed" and r.info.status == "FINISHED"
        assert r.data.params["seed"] == r.data.params["train.seed"]  # the seed the function was given
        fid = client.get_metric_history(r.info.run_id, "fid")
        assert sorted(m.step for m in fid) == [10, 20, 30, 40]  # every evaluation once, resumed or not
        assert all(np.isfinite(m.value) for m in fid)

    report = subprocess.run([sys.executable, "-m", "analysis.report", str(sweep_dir)], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    data = pd.DataFrame([{"w": int(r.data.params["width"]), "fid": r.data.metrics["fid"]} for r in runs])
    effects = pd.read_csv(sweep_dir / "report" / "effects.csv").set_index("parameter")
    width = effects.loc["width"]
    logs = {w: np.log(data.loc[data["w"] == w, "fid"].to_numpy()) for w in (8, 32)}
    assert width["estimate"] == pytest.approx(logs[32].mean() - logs[8].mean(), abs=1e-9)
    # two configurations: Student's t-test of the log FIDs (OLS), or Welch's where Bartlett's test says the
    # variances differ (the report's rule, docs/statistics.md); with equal seeds HC2 is exactly the first
    if scipy.stats.bartlett(logs[8], logs[32]).pvalue < 0.01:
        expected = scipy.stats.ttest_ind(logs[32], logs[8], equal_var=False).pvalue
    elif len(logs[8]) == len(logs[32]):
        expected = smf.ols("np.log(fid) ~ C(w)", data=data).fit().pvalues["C(w)[T.32]"]
    else:
        expected = None  # unequal seeds, one variance: HC2 with Bell-McCaffrey df (tests/stats/test_fit.py)
    if expected is not None:
        assert width["p"] == pytest.approx(expected, rel=1e-6)


FAILING_LAB = """\
def run(config, reporter):
    if config["kind"] == "nan":
        reporter.report(step=1, fid=float("nan"))
    elif config["kind"] == "missing":
        reporter.report(step=1, loss=1.0)
    elif config["kind"] == "raises":
        raise ValueError(f"the lab's loop failed on purpose at seed {config['seed']}")
    else:
        reporter.report(step=1, fid=100.0 + config["seed"])
"""


def test_an_errored_trial_says_why_in_the_console_the_summary_mlflow_and_the_report(tmp_path, local_ray):
    """A function that never reports the metric, and one that raises: each trial's reason (its exception, read
    from Tune's error file) is printed when it errors, under its rank in the summary, in summary.json, as the
    MLflow run's `error` tag and in the report's ranking; a diverged trial is not called an error."""
    lab = tmp_path / "badlab"
    (lab / "blab").mkdir(parents=True)
    (lab / "blab" / "__init__.py").write_text("")
    (lab / "blab" / "f.py").write_text(FAILING_LAB)
    (lab / "spec.yaml").write_text("name: badlab\ntrainable: {function: blab.f:run, evaluations: 1}\n"
                                   "config: {kind: ok}\nparameters:\n  kind: {values: [ok, nan, missing, raises]}\n"
                                   "metric: fid\nseeds: [0]\nmax_failures: 0\nresources: {cpus: 1}\n")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "sweeps.run", str(lab / "spec.yaml"), "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    missing = "OwnTrialError: a report has no `fid`, the sweep's metric (it has: loss)."
    raised = "ValueError: the lab's loop failed on purpose at seed 0"
    assert f"errored: {missing}" in done.stdout and f"errored: {raised}" in done.stdout
    ranked = done.stdout.split("runs ranked by fid")[1]
    assert f"error                  kind=missing, train.seed=0\n       why: {missing}" in ranked
    assert f"kind=raises, train.seed=0\n       why: {raised}" in ranked
    assert "diverged" in ranked and ranked.count("why:") == 2  # the NaN run diverged: no error to explain
    (sweep_dir,) = (out / "sweeps").glob("badlab-*")
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert sorted(r["error"] for r in summary["trials"] if "error" in r) == sorted([missing, raised])
    client, runs = trial_runs(f"sqlite:///{out / 'mlflow.db'}", "badlab")
    tags = {r.data.params["kind"]: r.data.tags for r in runs}
    assert tags["missing"]["error"] == missing and tags["raises"]["error"] == raised
    assert "error" not in tags["ok"] and "error" not in tags["nan"]
    report = subprocess.run([sys.executable, "-m", "analysis.report", str(sweep_dir)], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    ranking = pd.read_csv(sweep_dir / "report" / "ranking.csv")
    assert set(ranking.loc[ranking["status"] == "error", "error"]) == {missing, raised}
