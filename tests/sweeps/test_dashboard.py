"""The optuna-dashboard command a finished Optuna sweep prints: run exactly as printed, against the
sweep's own study journal, and read in headless Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from tests.helpers import MNIST_TEST_DIR, REPO

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
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--virtual-time-budget=15000"]


def _text(dom: str) -> str:
    dom = re.sub(r"<script.*?</script>|<style.*?</style>", "", dom, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (scripts/install.sh --test)")
def test_the_printed_dashboard_command_shows_the_study_its_trials_and_their_intermediate_fids(tmp_path):
    spec = tmp_path / "dashboard.yaml"
    spec.write_text(SPEC)
    sweep = subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), "--out", str(tmp_path / "out")], cwd=REPO,
                           capture_output=True, text=True, timeout=600)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert "trials: 0 running, 3 completed" in sweep.stdout and "\r" not in sweep.stdout  # a pipe: no bar
    (line,) = [x for x in sweep.stdout.splitlines() if x.startswith("browse the Optuna study: ")]
    command, url = re.fullmatch(r"browse the Optuna study: (.*), then open (http://127\.0\.0\.1:\d+/)", line).groups()
    argv = shlex.split(command)
    assert os.path.isfile(argv[0])  # the installed script, not a name that needs an activated environment
    journal = argv[1]
    study = optuna.load_study(study_name=None, storage=JournalStorage(JournalFileBackend(journal)))

    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}api/studies", timeout=2) as r:
                    summaries = json.loads(r.read())["study_summaries"]
                    break
            except OSError:
                assert server.poll() is None and time.time() < deadline, "optuna-dashboard did not start"
                time.sleep(0.5)
        (study_id,) = [s["study_id"] for s in summaries if s["study_name"] == study.study_name]
        page = f"{url}dashboard/studies/{study_id}/trials"
        dom = subprocess.run([*CHROMIUM, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
        subprocess.run([*CHROMIUM, "--window-size=1400,900", f"--screenshot={tmp_path / 'dashboard.png'}", page],
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
