"""Tables, plots and the HTML report, on MLflow data made by actually running a tiny sweep."""

import html
import math
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image
import statsmodels.formula.api as smf
from statsmodels.stats.multitest import multipletests

from analysis import SweepNotFound, load_sweep
from analysis.load import _swept_columns
from analysis.report import build_report
from tests.helpers import REPO, TINY_SWEEP_PARAMS, TINY_SWEEP_SPEC

PARAMS = TINY_SWEEP_PARAMS  # the factors of the `sweep` fixture's spec (tests/conftest.py)


@pytest.fixture(scope="module")
def report_dir(sweep, tmp_path_factory):
    s, _ = sweep
    folder = tmp_path_factory.mktemp("report") / "report"
    build_report(s, folder)
    return folder


def test_loaded_trials_histories_and_design(sweep):
    s, out = sweep
    assert len(s.trials) == 8 and s.swept == PARAMS
    # each run logged its levels as typed `swept.` params, and the factors are read from them: reading the same
    # runs as the release before them logged them (no `swept.` params) gives the same factors and baselines
    logged = [c for c in s.trials.columns if c.startswith("swept.")]
    assert sorted(logged) == sorted(f"swept.{p}" for p in PARAMS)
    assert s.trials["swept.model.g_width"].map(type).eq(int).all()
    earlier = s.trials.drop(columns=logged)
    assert _swept_columns(earlier, s.design, PARAMS) == (s.swept, s.baselines)
    assert set(s.trials["status"]) == {"completed"}
    assert s.baselines == {"model.latent_dim": 4, "model.g_width": 8}  # the spec's baseline, else the first value
    assert s.design.published[0].value == 100.0 and s.design.final_samples == 200
    fid = s.histories[s.histories["metric"] == "fid"]
    for _, row in s.trials.iterrows():
        steps = fid[fid["run_id"] == row["run_id"]]["step"].tolist()
        assert steps == [10 * (i + 1) for i in range(row["last_evaluation"])]
        assert row["last_step"] == steps[-1]
        assert row["fid_std"] > 0  # the sampling uncertainty of every evaluation


def raw_runs(s) -> pd.DataFrame:
    """The finished runs straight from MLflow, not through load_sweep."""
    client = MlflowClient(s.tracking_uri)
    exp = client.get_experiment_by_name("tiny_report").experiment_id
    runs = client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{s.parent_run_id}'")
    return pd.DataFrame([{"z": int(r.data.params["model.latent_dim"]), "g": int(r.data.params["model.g_width"]),
                          "fid": r.data.metrics["fid"]} for r in runs if r.data.tags["status"] == "completed"])


def test_every_figure_of_the_effects_table_equals_an_independent_statsmodels_fit_on_the_raw_runs(sweep, report_dir):
    """The report's one model is OLS of log FID on both factors and their interaction: fitted here with
    statsmodels' formula API in sum-to-zero coding, on the runs read straight from MLflow."""
    s, _ = sweep
    raw = raw_runs(s)
    assert len(raw) == 8
    fit = smf.ols("np.log(fid) ~ C(z, Sum) * C(g, Sum)", data=raw).fit()
    ci = fit.conf_int()
    effects = pd.read_csv(report_dir / "effects.csv")
    # two levels each: sum-to-zero codes the first level +1, the other -1; level minus baseline is +-2 coef
    # (g_width's baseline is 8, its second level; latent_dim's is 4, its first); the interaction 4 coef
    expected = {"model.g_width": ("C(g, Sum)[S.4]", 2.0), "model.latent_dim": ("C(z, Sum)[S.4]", -2.0),
                "model.latent_dim x model.g_width": ("C(z, Sum)[S.4]:C(g, Sum)[S.4]", -4.0)}
    for _, row in effects.iterrows():
        name, k = expected[row["parameter"]]
        low, high = sorted((k * ci.loc[name, 0], k * ci.loc[name, 1]))
        assert row["estimate"] == pytest.approx(k * fit.params[name], abs=1e-6)
        assert (row["low"], row["high"]) == (pytest.approx(low, abs=1e-6), pytest.approx(high, abs=1e-6))
        assert row["p"] == pytest.approx(fit.pvalues[name], abs=1e-6)
        assert row["df"] == fit.df_resid == 4
        assert row["ratio"] == pytest.approx(math.exp(k * fit.params[name]), abs=1e-6)
    # Holm over every comparison of the report: the effects and the interaction
    adjusted = multipletests(effects["p"], method="holm")[1]
    assert list(effects["p_adjusted"]) == pytest.approx(list(adjusted), abs=1e-6)
    # each configuration: the same fit's interval of its mean, back-transformed (a geometric mean)
    cells = pd.read_csv(report_dir / "fid_by_params.csv")
    assert len(cells) == 4
    for _, row in cells.iterrows():
        at = pd.DataFrame({"z": [row["model.latent_dim"]], "g": [row["model.g_width"]]})
        pred = fit.get_prediction(at)
        low, high = np.exp(pred.conf_int()[0])
        assert row["n"] == 2
        assert row["mean"] == pytest.approx(float(np.exp(pred.predicted_mean[0])), abs=1e-6)
        assert (row["low"], row["high"]) == (pytest.approx(low, abs=1e-6), pytest.approx(high, abs=1e-6))


def test_dry_run_with_a_pilot_plans_the_seeds_of_each_comparison(sweep, tmp_path):
    _, out = sweep
    folder = next((out / "sweeps").iterdir())
    spec = tmp_path / "planned.yaml"
    spec.write_text(TINY_SWEEP_SPEC.replace("seeds: [0, 1]", "seeds: [0, 1, 2]"))
    proc = subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), "--dry-run", "--pilot", str(folder)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "plan from the pilot" in proc.stdout and "3 seeds per configuration planned" in proc.stdout
    lines = [ln for ln in proc.stdout.splitlines() if "needs" in ln and "seeds per configuration" in ln]
    assert len(lines) == 3  # two effects and their interaction
    wide = tmp_path / "wide.yaml"
    wide.write_text(spec.read_text() + "metric: {name: fid, min_effect: 1000}\n")
    wider = subprocess.run([sys.executable, "-m", "sweeps.run", str(wide), "--dry-run", "--pilot", str(folder)],
                           capture_output=True, text=True, cwd=REPO, timeout=300)
    assert wider.returncode == 0, wider.stderr
    assert "difference to detect: 1000 fid" in wider.stdout
    assert all("needs 2 seeds" in ln for ln in wider.stdout.splitlines() if "needs" in ln and "per configuration" in ln)
    refused = subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), "--dry-run", "--pilot",
                              str(tmp_path / "nowhere")], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert refused.returncode == 2 and "--pilot" in refused.stderr and "Traceback" not in refused.stderr
    assert not (REPO / "mlflow.db").exists()  # reading a pilot creates no tracking store


def test_conclusions_scorecard_and_early_stopping_check(sweep, report_dir):
    s, _ = sweep
    text = (report_dir / "conclusions.md").read_text()
    assert text.startswith("## Conclusions")
    assert "g_width 8 -> 4" in text and "latent_dim 4 -> 12" in text
    assert "Best configuration" in text and "Seed-to-seed SD of the final fid" in text
    assert "Replayed ASHA" in text  # the sweep ran without early stopping
    card = pd.read_csv(report_dir / "scorecard.csv")
    assert card.loc[0, "verdict"].startswith("not comparable: measured with inception")
    assert card.loc[1, "verdict"] == "not run at this scale"
    assert set(pd.read_csv(report_dir / "early_stopping.csv")["evaluation"]) <= {1, 2, 3}


def _not_blank(path) -> bool:
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    return pixels.std() > 5 and len(np.unique(pixels)) > 20


def test_report_writes_tables_plots_and_html_logged_to_the_parent_run(sweep, report_dir):
    s, out = sweep
    names = {p.name for p in report_dir.iterdir()}
    assert {"report.html", "conclusions.md", "ranking.md", "ranking.csv", "fid_by_params.md", "fid_by_params.csv",
            "effects.csv", "effects.png", "scorecard.csv", "early_stopping.csv", "importance.png", "importance.csv",
            "fid_vs_step.png", "losses.png", "samples_best.png", "interpolation.png", "class_histogram.png"} <= names
    for png in report_dir.glob("*.png"):
        assert png.stat().st_size > 2000 and _not_blank(png), png
    page = (report_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 7 and "<table" in page and 'src="http' not in page
    assert page.index('id="conclusions"') < page.index("<table")  # the conclusions come first
    importance = pd.read_csv(report_dir / "importance.csv")
    assert (importance["low"] <= importance["importance"] + 1e-9).all()
    assert (importance["importance"] <= importance["high"] + 1e-9).all()
    client = MlflowClient(s.tracking_uri)
    logged = {a.path for a in client.list_artifacts(s.parent_run_id, "report")}
    assert "report/report.html" in logged


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (scripts/install.sh --test)")
def test_html_report_and_its_conclusions_render_in_headless_chromium(report_dir, tmp_path):
    report = report_dir / "report.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", *flags, "--window-size=1200,900", f"--screenshot={shot}", report.resolve().as_uri()],
                   capture_output=True, timeout=180, check=True)
    assert _not_blank(shot)  # the top of the page, where the conclusions are
    dom = subprocess.run(["chromium", *flags, "--dump-dom", report.resolve().as_uri()], capture_output=True, text=True,
                         timeout=180, check=True).stdout
    items = dom.split('<ul class="conclusions">', 1)[1].split("</ul>", 1)[0]
    expected = [line[2:] for line in (report_dir / "conclusions.md").read_text().splitlines() if line.startswith("- ")]
    assert items.count("<li>") == len(expected) >= 5
    assert html.escape(expected[0]) in items


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


def test_the_asha_replay_does_not_depend_on_the_order_results_happened_to_arrive(sweep):
    """Two runs of one sweep schedule their trials differently; the report's replay must say the same."""
    import dataclasses

    from stats.fit import fit_design
    from analysis.report._early_stopping import _early_stopping_check

    s, _ = sweep
    best = fit_design(s.trials, s.metric, s.mode, PARAMS, s.baselines).cells
    reordered = s.histories.copy()
    reordered["timestamp"] = reordered["timestamp"].max() - reordered["timestamp"]  # the reverse arrival order
    other = dataclasses.replace(s, histories=reordered)
    first = _early_stopping_check(s, PARAMS, best)
    second = _early_stopping_check(other, PARAMS, best)
    assert first[2] == second[2] and any(t.startswith("Replayed ASHA") for t in first[2])
    assert first[1].stopped == second[1].stopped
    # another run of the sweep: every result the same, but Tune draws new trial ids (here: their reverse order)
    ids = sorted(s.trials["trial_id"])
    new_id = dict(zip(ids, [f"t{i:02d}" for i in reversed(range(len(ids)))]))
    renamed = dataclasses.replace(s, trials=s.trials.assign(trial_id=s.trials["trial_id"].map(new_id)),
                                  histories=s.histories.assign(trial_id=s.histories["trial_id"].map(new_id)))
    third = _early_stopping_check(renamed, PARAMS, best)
    assert third[2] == first[2] and {new_id[t]: e for t, e in first[1].stopped.items()} == third[1].stopped


def test_text_from_the_tracking_store_reaches_the_page_escaped(sweep, tmp_path):
    """Anyone who can write to a shared tracking store names experiments, tags and params: none of it may run
    as script in a colleague's report."""
    import shutil

    from mlflow.tracking import MlflowClient

    _, out = sweep
    shutil.copy(out / "mlflow.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tiny_report")
    hostile = "<script>alert(1)</script>"
    client.rename_experiment(exp.experiment_id, hostile)
    trial = client.search_runs([exp.experiment_id], "tags.role = 'trial'")[0]
    client.set_tag(trial.info.run_id, "status", '<img src=x onerror="alert(2)">')
    client.set_tag(trial.info.run_id, "mlflow.runName", hostile)
    page = build_report(load_sweep(hostile, tracking_uri=uri), tmp_path / "report", log_to_mlflow=False).read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text


def test_trials_trained_in_bf16_are_marked_in_the_header_and_the_ranking(sweep, tmp_path):
    """bf16 training is not shown equivalent to fp32 (the precision study in docs/gan.md), so a report says which
    trials it trained, swept or not."""
    import dataclasses

    s, _ = sweep
    assert set(s.trials["train.precision"]) == {"fp32"}
    plain = build_report(s, tmp_path / "fp32", log_to_mlflow=False).read_text()
    assert "trained in fp32" in plain and "not been shown to train the same GAN" not in plain
    assert "train.precision" not in pd.read_csv(tmp_path / "fp32" / "ranking.csv").columns
    trials = s.trials.copy()
    trials.loc[trials["model.g_width"] == 4, "train.precision"] = "bf16"
    page = build_report(dataclasses.replace(s, trials=trials), tmp_path / "bf16", log_to_mlflow=False).read_text()
    assert "trained in bf16, fp32" in page and "not been shown to train the same GAN as fp32" in page
    rank = pd.read_csv(tmp_path / "bf16" / "ranking.csv")
    assert (rank["train.precision"] == np.where(rank["model.g_width"] == 4, "bf16", "fp32")).all()


def test_a_collapsed_run_is_named_and_its_samples_shown_beside_a_typical_runs(sweep, tmp_path):
    """One run's FID made 40 times worse, as a collapsed seed's: the report sets it aside, names it, gives its
    configuration's collapse rate and shows its last sample grid beside a typical run's of the same configuration."""
    import dataclasses

    s, _ = sweep
    trials = s.trials.copy()
    victim = trials.sort_values("fid").index[0]
    trials.loc[victim, "fid"] = trials.loc[victim, "fid"] * 40
    folder = tmp_path / "report"
    build_report(dataclasses.replace(s, trials=trials), folder, log_to_mlflow=False)
    collapsed = pd.read_csv(folder / "collapsed.csv")
    assert list(collapsed["run_id"]) == [trials.loc[victim, "run_id"]] and collapsed["z"].iloc[0] > 5
    assert "Collapsed runs: 1 of 8" in (folder / "conclusions.md").read_text()
    rates = pd.read_csv(folder / "failure_rates.csv")
    assert rates["collapsed"].sum() == 1 and rates["runs"].sum() == 8
    assert (folder / "samples_collapsed.png").is_file() and (folder / "samples_typical.png").is_file()
    assert "collapsed runs: 1, left out of the fit" in (folder / "answer.md").read_text()


@pytest.mark.parametrize("damage", ["{broken", '{"factors": [{"evil": 1}]}', "[]"])
def test_a_damaged_design_in_a_sweep_folder_is_refused_in_one_line(sweep, tmp_path, damage):
    """The report (and a pilot plan) reads the sweep's design from its folder: damage there is an error that names
    the file, not a traceback."""
    _, out = sweep
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (design,) = copy.glob("sweeps/*/design.json")
    design.write_text(damage)
    done = subprocess.run([sys.executable, "-m", "analysis.report", str(copy), "--no-mlflow"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"error: {design}: not a sweep's design" in done.stderr
