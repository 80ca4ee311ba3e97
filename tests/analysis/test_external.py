"""Runs gansweep did not launch, analysed by the report: a plain MLflow experiment written with log_param and
log_metric only, and an Optuna study in journal storage, each with a planted effect, against an independent
statsmodels fit; and the clear refusals for what cannot be analysed."""

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analysis.external import REPORT_ROLE, load_experiment, load_optuna
from analysis.load import SweepNotFound
from tests.helpers import CHROMIUM, REPO, free_port, needs_chromium, page_text, serve

# width 64 lowers FID by 30%; the learning rate does nothing; 5% seed noise, 3 seeds
TRUE = {(0.001, 16): 120.0, (0.001, 64): 84.0, (0.01, 16): 120.0, (0.01, 64): 84.0}


def draws(seed: int = 0) -> list[tuple[float, int, int, float]]:
    rng = np.random.default_rng(seed)
    return [(lr, w, s, float(m * math.exp(rng.normal(0, 0.05)))) for (lr, w), m in TRUE.items() for s in range(3)]


def independent_fit(rows) -> dict:
    data = pd.DataFrame(rows, columns=["lr", "width", "seed", "fid"])
    fit = smf.ols("np.log(fid) ~ C(lr, Sum) * C(width, Sum)", data=data).fit()
    name = "C(width, Sum)[S.16]"  # width 64 - 16 = -2 x the coefficient of 16, the first level
    low, high = fit.conf_int().loc[name]
    return {"estimate": -2 * fit.params[name], "low": -2 * high, "high": -2 * low, "p": fit.pvalues[name]}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """A researcher's own runs: plain MLflow calls, no gansweep tags; one run failed, one never logged FID."""
    import mlflow

    folder = tmp_path_factory.mktemp("plain")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.create_experiment("my_gan", artifact_location=(folder / "artifacts").as_uri())
    mlflow.set_experiment("my_gan")
    rows = draws()
    for lr, width, seed, fid in rows:
        with mlflow.start_run():
            mlflow.log_params({"lr": lr, "width": width, "seed": seed, "optimizer": "adam"})
            for step in (100, 200):
                mlflow.log_metric("fid", fid * (1.5 if step == 100 else 1.0), step=step)
    with mlflow.start_run():
        mlflow.log_params({"lr": 0.01, "width": 64, "seed": 3})
        mlflow.log_metric("fid", 999.0, step=100)
        mlflow.end_run(status="FAILED")
    with mlflow.start_run():
        mlflow.log_params({"lr": 0.01, "width": 64, "seed": 4})
    mlflow.set_tracking_uri("")
    return uri, rows, folder


def test_a_plain_mlflow_experiment_gets_the_reports_verdicts(experiment):
    uri, rows, folder = experiment
    out = folder / "report"
    done = subprocess.run([sys.executable, "-m", "analysis.report", "--experiment", "my_gan", "--factors", "lr,width",
                           "--metric", "fid", "--seed-param", "seed", "--tracking-uri", uri, "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    effects = pd.read_csv(out / "effects.csv").set_index("parameter")
    width, expected = effects.loc["width"], independent_fit(rows)
    for key in ("estimate", "low", "high", "p"):
        assert width[key] == pytest.approx(expected[key], abs=1e-9), key
    assert width["verdict"] == "better"
    conclusions = (out / "conclusions.md").read_text()
    assert "2 of 14 runs left out: 1 did not finish, 1 no finite fid." in conclusions
    # the verdicts reach MLflow's UI: a run of the report's own holds them as its description, and the report
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("my_gan")
    (report_run,) = client.search_runs([exp.experiment_id], filter_string=f"tags.role = '{REPORT_ROLE}'")
    note = report_run.data.tags["mlflow.note.content"]
    assert note.startswith("## The answer") and "width 16 -> 64: fid" in note
    assert "report/report.html" in {a.path for a in client.list_artifacts(report_run.info.run_id, "report")}


def test_the_report_run_is_not_read_back_as_a_run(experiment):
    uri, rows, _ = experiment
    sweep = load_experiment("my_gan", ["lr", "width"], "fid", tracking_uri=uri, seed_param="seed")
    assert len(sweep.trials) == 14 and (sweep.trials["status"] == "completed").sum() == 12
    assert sorted(sweep.trials.loc[sweep.trials["status"] == "completed", "train.seed"].unique()) == [0, 1, 2]
    fid = sweep.histories[sweep.histories["metric"] == "fid"]
    assert sorted(fid["step"].unique()) == [100, 200]


@pytest.mark.parametrize("kwargs, said", [
    ({"experiment": "nope", "factors": ["lr"], "metric": "fid"}, "No experiment 'nope'"),
    ({"experiment": "my_gan", "factors": ["lr", "depth"], "metric": "fid"}, "factor 'depth' is never logged"),
    ({"experiment": "my_gan", "factors": ["optimizer"], "metric": "fid"}, "factor 'optimizer' has one level (adam)"),
    ({"experiment": "my_gan", "factors": ["lr"], "metric": "kid"}, "no run of experiment 'my_gan' has the metric"),
    ({"experiment": "my_gan", "factors": ["lr"], "metric": "loss_g2"}, "--mode min or --mode max"),
])
def test_what_cannot_be_analysed_is_said(experiment, kwargs, said):
    uri, _, _ = experiment
    with pytest.raises(SweepNotFound, match=None) as err:
        load_experiment(kwargs["experiment"], kwargs["factors"], kwargs["metric"], tracking_uri=uri)
    assert said in str(err.value)


def test_the_cli_refuses_without_a_traceback(experiment):
    uri, _, _ = experiment
    done = subprocess.run([sys.executable, "-m", "analysis.report", "--experiment", "my_gan", "--factors", "depth",
                           "--metric", "fid", "--tracking-uri", uri], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 2 and "factor 'depth' is never logged" in done.stderr and "Traceback" not in done.stderr


def test_the_report_reads_a_store_and_never_writes_one(experiment, tmp_path):
    """MLflow and Optuna make their tables in any SQLite file they are pointed at: the report refuses a database
    that is not the store it is named as, a file that is not a database and a path with nothing there, and
    leaves each as it was."""
    import sqlite3

    uri, _, _ = experiment
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE notes (text)")
    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    mlflow_store = uri[len("sqlite:///"):]
    cases = [
        (["--experiment", "my_gan", "--factors", "lr", "--metric", "fid", "--tracking-uri", f"sqlite:///{other}"],
         "is a SQLite database, but not this kind of store (it has no table 'experiments')"),
        (["--experiment", "my_gan", "--factors", "lr", "--metric", "fid", "--tracking-uri", f"sqlite:///{text}"],
         "is not a readable SQLite database"),
        (["--experiment", "my_gan", "--factors", "lr", "--metric", "fid", "--tracking-uri",
          f"sqlite:///{tmp_path / 'typo' / 'mlflow.db'}"], "no such database file"),
        (["--optuna-storage", f"sqlite:///{other}", "--study", "s"], "no table 'studies'"),
        (["--optuna-storage", f"sqlite:///{mlflow_store}", "--study", "s"], "no table 'studies'"),
    ]
    before = {f: f.read_bytes() for f in (other, text, Path(mlflow_store))}
    for args, said in cases:
        done = subprocess.run([sys.executable, "-m", "analysis.report", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    assert {f: f.read_bytes() for f in before} == before
    assert not (tmp_path / "typo").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "other.db"]
    # a path SQLAlchemy reads percent-decoded is read so here too
    from urllib.parse import quote

    from analysis.stores import MLFLOW_TABLES, check_sqlite_store

    spaced = tmp_path / "my store.db"
    spaced.write_bytes(before[Path(mlflow_store)])
    check_sqlite_store(f"sqlite:///{quote(str(spaced))}", MLFLOW_TABLES, "--tracking-uri")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """An Optuna study in a journal file: the same runs as trials, the seed a user attribute, and one pruned."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = tmp_path_factory.mktemp("optuna") / "journal.log"
    storage = JournalStorage(JournalFileBackend(str(path)))
    s = optuna.create_study(study_name="my_study", storage=storage, direction="minimize")
    rows = draws(1)
    for lr, width, seed, fid in rows:
        s.enqueue_trial({"lr": lr, "width": width})  # the planted configuration, as a researcher's grid would
        trial = s.ask()
        trial.suggest_categorical("lr", [0.001, 0.01])
        trial.suggest_categorical("width", [16, 64])
        trial.set_user_attr("seed", seed)
        s.tell(trial, fid)
    pruned = s.ask()
    s.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    return str(path), rows


def test_an_optuna_study_gets_the_reports_verdicts(study, tmp_path):
    path, rows = study
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "analysis.report", "--optuna-storage", path, "--study", "my_study",
                           "--metric", "fid", "--out", str(out)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no tracking store made where it ran
    effects = pd.read_csv(out / "effects.csv").set_index("parameter")
    width, expected = effects.loc["width"], independent_fit(rows)
    for key in ("estimate", "low", "high", "p"):
        assert width[key] == pytest.approx(expected[key], abs=1e-9), key
    assert "1 of 13 runs left out: 1 did not finish." in (out / "conclusions.md").read_text()
    sweep = load_optuna(path, "my_study", metric="fid")
    assert sweep.mode == "min" and sorted(sweep.swept) == ["lr", "width"]
    with pytest.raises(SweepNotFound, match="No study 'other'.*studies there: my_study"):
        load_optuna(path, "other")


@needs_chromium
def test_mlflows_run_page_shows_the_reports_verdicts(experiment, tmp_path):
    """The report run's page in MLflow's own UI, rendered by headless Chromium: its description is the answer."""
    import os
    import signal

    from mlflow.tracking import MlflowClient

    uri, _, folder = experiment
    if not (folder / "report").is_dir():
        subprocess.run([sys.executable, "-m", "analysis.report", "--experiment", "my_gan", "--factors", "lr,width",
                        "--metric", "fid", "--tracking-uri", uri, "--out", str(folder / "report")], cwd=REPO,
                       capture_output=True, timeout=600, check=True)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("my_gan")
    run = client.search_runs([exp.experiment_id], filter_string=f"tags.role = '{REPORT_ROLE}'")[0]
    port = free_port()
    server = serve([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
                    "--port", str(port)], f"http://127.0.0.1:{port}/health")
    page = f"http://127.0.0.1:{port}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}"
    try:
        text = page_text(subprocess.run([*CHROMIUM, "--dump-dom", page], capture_output=True, text=True,
                                        timeout=120).stdout)
        subprocess.run([*CHROMIUM, f"--screenshot={tmp_path / 'run_page.png'}", page], capture_output=True,
                       timeout=120)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert "gansweep report" in text and "The answer" in text
    assert re.search(r"width 16 -> 64: fid \d+% lower \(\d+% to \d+%\), real", text), text[:3000]
