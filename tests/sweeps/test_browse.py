"""What a finished Optuna sweep prints to browse it, run as printed and read in headless Chromium: the
optuna-dashboard command on the sweep's study journal, and MLflow's UI on the sweep's shared view."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from tests.helpers import CHROMIUM, MNIST_TEST_DIR, REPO, free_port, needs_chromium
from tests.helpers import page_text as _text
from tests.helpers import serve as _serve

SPEC = f"""\
name: dashboard
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: dcgan, latent_dim: 8, g_width: 8, d_width: 8}}
  train: {{iterations: 40, eval_every: 20, batch_size: 32}}
evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
parameters:
  optim.g_lr: {{distribution: loguniform, low: 0.0001, high: 0.01}}
method: optuna
num_samples: 3
resources: {{cpus: 1}}
"""
@pytest.fixture(scope="module")
def optuna_sweep(tmp_path_factory):
    """A finished Optuna sweep of three trials, run as a user runs it; its output read through a pipe."""
    tmp = tmp_path_factory.mktemp("browse")
    spec = tmp / "dashboard.yaml"
    spec.write_text(SPEC)
    sweep = subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), "--out", str(tmp / "out")], cwd=REPO,
                           capture_output=True, text=True, timeout=600)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert "trials: 0 running, 3 completed" in sweep.stdout and "\r" not in sweep.stdout  # a pipe: no bar
    return tmp, sweep.stdout


@pytest.mark.ray
@needs_chromium
def test_the_printed_dashboard_command_shows_the_study_its_trials_and_their_intermediate_fids(optuna_sweep):
    tmp_path, stdout = optuna_sweep
    (line,) = [x for x in stdout.splitlines() if x.startswith("browse the Optuna study: ")]
    command, url = re.fullmatch(r"browse the Optuna study: (.*), then open (http://127\.0\.0\.1:\d+/)", line).groups()
    argv = shlex.split(command)
    assert os.path.isfile(argv[0])  # the installed script, not a name that needs an activated environment
    journal = argv[1]
    study = optuna.load_study(study_name=None, storage=JournalStorage(JournalFileBackend(journal)))

    server = _serve(argv, f"{url}api/studies")  # exactly as printed
    try:
        with urllib.request.urlopen(f"{url}api/studies", timeout=10) as r:
            summaries = json.loads(r.read())["study_summaries"]
        (study_id,) = [s["study_id"] for s in summaries if s["study_name"] == study.study_name]
        page = f"{url}dashboard/studies/{study_id}/trials"
        dom = subprocess.run([*CHROMIUM, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
        subprocess.run([*CHROMIUM, f"--screenshot={tmp_path / 'dashboard.png'}", page],
                       capture_output=True, timeout=120)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    text = _text(dom)
    assert f"{study.study_name} (id={study_id})" in text
    assert f"{len(study.trials)} Trials" in text and len(study.trials) == 3
    first = study.trials[0]  # the page opens on the first trial: its intermediate FIDs, one per evaluation
    assert len(first.intermediate_values) == 2
    shown = " ".join(f"{step} {value!r}" for step, value in sorted(first.intermediate_values.items()))
    assert f"Intermediate Values {shown}" in text
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


@pytest.mark.ray
@needs_chromium
def test_the_printed_mlflow_page_opens_on_the_sweeps_trials_best_first_with_their_metric_and_data(optuna_sweep):
    """MLflow's UI opens an experiment on one collapsed parent run; the page the sweep prints is its shared
    view of the trials, sorted by FID, with FID and the swept params as columns."""
    tmp_path, stdout = optuna_sweep
    (line,) = [x for x in stdout.splitlines() if x.startswith("browse the runs: ")]
    command, url = re.fullmatch(r"browse the runs: (.*), then open (http://127\.0\.0\.1:5000/.*)", line).groups()
    port = free_port()  # the printed command serves on MLflow's default port 5000, which a test may not own
    argv = [sys.executable, "-m", *shlex.split(command), "--port", str(port)]
    page = url.replace(":5000/", f":{port}/")
    client = MlflowClient(shlex.split(command)[3])
    runs = client.search_runs([re.search(r"experiments/(\d+)", url).group(1)], filter_string="tags.role = 'trial'",
                              order_by=["metrics.fid ASC"])
    server = _serve(argv, f"http://127.0.0.1:{port}/health")
    try:
        table = _text(
            subprocess.run([*CHROMIUM, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
        )
        subprocess.run([*CHROMIUM, f"--screenshot={tmp_path / 'mlflow_runs.png'}", page],
                       capture_output=True, timeout=120)
        run_page = f"http://127.0.0.1:{port}/#/experiments/{runs[0].info.experiment_id}/runs/{runs[0].info.run_id}"
        run = _text(subprocess.run([*CHROMIUM, "--dump-dom", run_page], capture_output=True, text=True,
                                   timeout=120).stdout)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert "You're viewing a shared view" in table and "Sort: fid" in table
    assert "optim.g_lr" in table and "train.seed" in table  # the swept param and the seed as columns
    names = [r.info.run_name for r in runs]
    assert len(names) == 3 and all(n in table for n in names) and "sweep-" not in table  # no parent row
    shown = [n for n in dict.fromkeys(re.findall(r"g_lr=\S+ seed=0", table)) if n in names]
    assert shown == names  # best FID first
    assert re.search(r"Datasets mnist \(test, 1000 images\) \([0-9a-f]{12}\) training", run, re.I)  # its data input
