"""Tables, plots and the HTML report, on MLflow data made by actually running a tiny sweep."""

import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import ray
from mlflow.tracking import MlflowClient
from PIL import Image

from analysis import SweepNotFound, load_sweep, metric_table, ranking
from analysis.report import build_report
from sweeps.run import run_sweep
from sweeps.spec import parse_spec
from tests.helpers import MNIST_TEST_DIR, REPO

SPEC = f"""\
name: tiny_report
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: dcgan, conditional: true, latent_dim: 8, g_width: 8, d_width: 8}}
  train: {{iterations: 30, eval_every: 10, batch_size: 32}}
evaluation: {{metrics: [fid, class_histogram], num_samples: 200, real_samples: 500}}
parameters:
  model.latent_dim: {{values: [4, 8, 12]}}
method: grid
seeds: [0, 1]
early_stopping: {{type: asha, grace_period: 2, reduction_factor: 2}}
resources: {{cpus: 1}}
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    run_sweep(parse_spec(SPEC, source="tiny_report.yaml"), out=out)
    ray.shutdown()
    return load_sweep(str(out)), out


def test_loaded_trials_and_histories(sweep):
    s, out = sweep
    assert len(s.trials) == 6 and s.swept == ["model.latent_dim"]
    assert set(s.trials["status"]) <= {"completed", "early_stopped"}
    assert "early_stopped" in set(s.trials["status"])
    fid = s.histories[s.histories["metric"] == "fid"]
    for _, row in s.trials.iterrows():
        steps = fid[fid["run_id"] == row["run_id"]]["step"].tolist()
        assert steps == [10 * (i + 1) for i in range(row["last_evaluation"])]
        assert row["last_step"] == steps[-1]


def test_pivot_values_match_the_raw_runs(sweep):
    s, _ = sweep
    table = metric_table(s.trials, "fid", ["model.latent_dim"])
    client = MlflowClient(s.tracking_uri)
    for _, row in table.iterrows():
        raw = [r.data.metrics["fid"] for r in client.search_runs(
            [client.get_experiment_by_name("tiny_report").experiment_id],
            filter_string=f"params.`model.latent_dim` = '{int(row['model.latent_dim'])}' and tags.status = 'completed'")]
        assert row["n"] == len(raw)
        assert row["mean"] == pytest.approx(np.mean(raw))
        if len(raw) == 2:
            assert row["std"] == pytest.approx(np.std(raw, ddof=1))
    if len(table) > 1:
        assert table["delta"].iloc[1] == pytest.approx(table["mean"].iloc[1] - table["mean"].iloc[0])


def test_ranking_marks_early_stopped_trials_and_their_rung(sweep):
    s, _ = sweep
    rank = ranking(s.trials, "fid", "min", s.swept)
    done = rank[rank["status"] == "completed"]
    stopped = rank[rank["status"] == "early_stopped"]
    assert list(rank["rank"]) == list(range(1, 7))
    assert done["rank"].max() < stopped["rank"].min()  # finished trials rank above stopped ones
    assert list(done["fid"]) == sorted(done["fid"])
    assert all(stopped["stopped_at"] == "evaluation 2")


def _not_blank(path) -> bool:
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    return pixels.std() > 5 and len(np.unique(pixels)) > 20


def test_report_writes_tables_plots_and_html_logged_to_the_parent_run(sweep, tmp_path):
    s, out = sweep
    report = build_report(s, tmp_path / "report")
    names = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"report.html", "ranking.md", "ranking.csv", "fid_by_params.md", "fid_by_params.csv", "fid_vs_step.png",
            "losses.png", "samples_best.png", "interpolation.png", "class_histogram.png"} <= names
    for png in (tmp_path / "report").glob("*.png"):
        assert png.stat().st_size > 2000 and _not_blank(png), png
    page = report.read_text()
    assert page.count("data:image/png;base64,") >= 6 and "<table" in page and 'src="http' not in page
    client = MlflowClient(s.tracking_uri)
    logged = {a.path for a in client.list_artifacts(s.parent_run_id, "report")}
    assert "report/report.html" in logged


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (scripts/install.sh --test)")
def test_html_report_renders_in_headless_chromium(sweep, tmp_path):
    s, _ = sweep
    report = build_report(s, tmp_path / "report", log_to_mlflow=False)
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400", f"--screenshot={shot}",
         report.resolve().as_uri()],
        capture_output=True, timeout=180, check=True,
    )
    assert _not_blank(shot)


def test_report_cli_and_clear_errors(sweep, tmp_path):
    s, out = sweep
    proc = subprocess.run([sys.executable, "-m", "analysis.report", str(out), "--out", str(tmp_path / "r"),
                           "--no-mlflow"], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "report:" in proc.stdout and (tmp_path / "r" / "report.html").is_file()
    with pytest.raises(SweepNotFound, match="No experiment 'nope'.*tiny_report"):
        load_sweep("nope", tracking_uri=s.tracking_uri)
    client = MlflowClient(s.tracking_uri)
    exp = client.create_experiment("empty_sweep")
    client.create_run(exp, tags={"role": "sweep"})
    with pytest.raises(SweepNotFound, match="no finished trials"):
        load_sweep("empty_sweep", tracking_uri=s.tracking_uri)
    bad = subprocess.run([sys.executable, "-m", "analysis.report", "nope", "--tracking-uri", s.tracking_uri],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert bad.returncode == 2 and "No experiment 'nope'" in bad.stderr
