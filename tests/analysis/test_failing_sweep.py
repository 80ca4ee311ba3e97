"""A real tiny sweep in which one configuration is built to fail (a generator learning rate of 1e30, whose runs
diverge) and one to stay untrained (1e-12: a frozen generator), with two claims about the frozen one, one true
by construction and one false. The report names the failing runs as collapsed, the failure-rate verdict names the
learning rate, the other factor's effect keeps the interval the healthy runs give by themselves, and the claims
are judged agrees and contradicts with the p-values of an independent statsmodels fit of the MLflow runs."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf
from statsmodels.stats.multitest import multipletests
from mlflow.tracking import MlflowClient

from analysis.report import build_report
from tests.helpers import MNIST_TEST_DIR

FAILING_SWEEP_SPEC = f"""\
name: tiny_failing
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: dcgan, conditional: true, latent_dim: 8, g_width: 8, d_width: 8}}
  optim: {{d_lr: 0.0002}}
  train: {{iterations: 150, eval_every: 75, batch_size: 32}}
evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
parameters:
  optim.g_lr: {{values: [0.002, 1.0e-12, 1.0e+30], baseline: 0.002}}
  model.g_width: {{values: [4, 8], baseline: 8}}
method: grid
seeds: [0, 1, 2]
resources: {{cpus: 1}}
claims:
  - id: frozen-is-worse
    source: ours
    says: a generator that does not train is worse than one that does
    compare: {{parameter: optim.g_lr, level: 1.0e-12, against: 0.002}}
    expect: higher
  - id: frozen-is-better
    source: ours
    says: a generator that does not train is better than one that does (false)
    compare: {{parameter: optim.g_lr, level: 1.0e-12, against: 0.002}}
    expect: lower
"""


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory):
    import ray

    from analysis import load_sweep
    from sweeps.driver import run_sweep
    from sweeps.specfile import parse_spec

    out = tmp_path_factory.mktemp("failing")
    summary = run_sweep(parse_spec(FAILING_SWEEP_SPEC, source="tiny_failing.yaml"), out=out)
    ray.shutdown()
    s = load_sweep(summary["sweep_dir"])
    folder = tmp_path_factory.mktemp("report") / "report"
    build_report(s, folder, log_to_mlflow=False)
    return s, folder


def mlflow_runs(s) -> pd.DataFrame:
    """Every trial's run straight from MLflow, not through the loader."""
    client = MlflowClient(s.tracking_uri)
    exp = client.get_experiment_by_name("tiny_failing").experiment_id
    runs = client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{s.parent_run_id}'")
    return pd.DataFrame([{"run_id": r.info.run_id, "lr": float(r.data.params["optim.g_lr"]),
                          "g": int(r.data.params["model.g_width"]), "status": r.data.tags["status"],
                          "fid": r.data.metrics.get("fid", math.nan)} for r in runs])


def test_the_failing_configurations_runs_are_named_as_collapsed(failing_sweep):
    s, folder = failing_sweep
    raw = mlflow_runs(s)
    assert len(raw) == 18
    failing = raw[raw["lr"] == 1e30]
    assert (failing["status"] == "diverged").all() and (raw[raw["lr"] != 1e30]["status"] == "completed").all()
    collapsed = pd.read_csv(folder / "collapsed.csv")
    assert set(failing["run_id"]) <= set(collapsed["run_id"])
    conclusions = (folder / "conclusions.md").read_text()
    assert f"Collapsed runs: {len(collapsed)} of 18" in conclusions
    rates = pd.read_csv(folder / "failure_rates.csv")
    at_lr = rates[rates["optim.g_lr"].astype(float) == 1e30]
    assert list(at_lr["collapsed"]) == [3, 3] and list(at_lr["runs"]) == [3, 3]
    assert (at_lr["low"] > 0.29).all()  # 3 of 3: the Clopper-Pearson lower bound is 0.025 ** (1/3) = 0.292


def test_the_failure_rate_verdict_names_the_learning_rate_with_fishers_exact_p(failing_sweep):
    s, folder = failing_sweep
    collapsed = pd.read_csv(folder / "collapsed.csv")
    verdicts = pd.read_csv(folder / "failure_verdicts.csv")
    row = verdicts[(verdicts["parameter"] == "optim.g_lr") & (verdicts["level"].astype(float) == 1e30)].iloc[0]
    at_baseline = int((collapsed["optim.g_lr"] == 0.002).sum())
    assert (row["collapsed_level"], row["runs_level"]) == (6, 6)
    assert (row["collapsed_baseline"], row["runs_baseline"]) == (at_baseline, 6)
    expected = scipy.stats.fisher_exact([[6, 0], [at_baseline, 6 - at_baseline]]).pvalue
    assert row["p"] == pytest.approx(expected, rel=1e-9)
    assert row["p_adjusted"] >= row["p"] and row["p_adjusted"] < 0.05
    assert row["verdict"] == "collapses more often"
    answer = (folder / "answer.md").read_text()
    assert "g_lr 0.002 -> 1e+30: collapses more often (6 of 6 runs" in answer


def healthy_runs(s, folder) -> pd.DataFrame:
    raw = mlflow_runs(s)
    collapsed = set(pd.read_csv(folder / "collapsed.csv")["run_id"])
    return raw[(raw["status"] == "completed") & ~raw["run_id"].isin(collapsed)]


def test_the_other_factors_effect_and_the_claims_equal_an_independent_fit_of_the_healthy_runs(failing_sweep):
    """OLS of log FID on learning rate x width in sum-to-zero coding (statsmodels' formula API) over the runs
    that trained and were not set aside, read straight from MLflow: the diverged runs neither widen nor shift the
    width effect, and each claim's p-value is that fit's, Holm-adjusted over the report's whole family."""
    s, folder = failing_sweep
    healthy = healthy_runs(s, folder)
    counts = healthy.groupby(["lr", "g"]).size()
    if len(counts) < 4 or counts.min() < 2:
        pytest.fail(f"the outlier rule set aside healthy runs until a configuration had one left: {counts}")
    healthy = healthy.assign(y=np.log(healthy["fid"]), cell=healthy["lr"].astype(str) + "/" + healthy["g"].astype(str))
    ols = smf.ols("y ~ C(cell) - 1", data=healthy).fit(cov_type="HC2")  # one mean per configuration
    names = list(ols.params.index)
    # g_width 4 - 8, averaged over the two learning rates that trained
    w = np.array([(0.5 if n.endswith("/4]") else -0.5) for n in names])
    se = float(np.sqrt(w @ ols.cov_params().to_numpy() @ w))
    groups = [healthy.loc[healthy["cell"] == n[len("C(cell)["):-1], "y"].to_numpy() for n in names]
    a = np.array([wi ** 2 * g.var(ddof=1) / len(g) for wi, g in zip(w, groups)])
    if scipy.stats.bartlett(*groups).pvalue < 0.01:  # the variances differ: each configuration's own (Welch)
        df = a.sum() ** 2 / np.sum(a ** 2 / np.array([len(g) - 1 for g in groups]))
    else:  # one variance: an equal-weight contrast of a balanced grid has the pooled N - k degrees of freedom
        df = len(healthy) - len(groups)
    estimate = float(w @ ols.params.to_numpy())
    q = scipy.stats.t.ppf(0.975, df)
    effects = pd.read_csv(folder / "effects.csv").set_index("parameter")
    width = effects.loc["model.g_width"]
    assert width["estimate"] == pytest.approx(estimate, abs=1e-9)
    assert (width["low"], width["high"]) == (pytest.approx(estimate - q * se, abs=1e-9),
                                             pytest.approx(estimate + q * se, abs=1e-9))
    assert width["p"] == pytest.approx(2 * scipy.stats.t.sf(abs(estimate) / se, df), rel=1e-6)
    # each claim's comparison is the frozen learning rate against the trained one, averaged over the widths
    v = np.array([(0.5 if n.startswith("C(cell)[1e-12") else -0.5) for n in names])
    claims = pd.read_csv(folder / "claims.csv").set_index("id")
    for cid in ("frozen-is-worse", "frozen-is-better"):
        assert claims.loc[cid, "estimate"] == pytest.approx(float(v @ ols.params.to_numpy()), abs=1e-9)
    both = pd.concat([effects.reset_index(), pd.read_csv(folder / "failure_verdicts.csv")]).dropna(subset=["p"])
    assert sorted(both["p_adjusted"]) == pytest.approx(sorted(multipletests(both["p"], method="holm")[1]))


def test_the_claims_are_judged_agrees_and_contradicts(failing_sweep):
    s, folder = failing_sweep
    claims = pd.read_csv(folder / "claims.csv").set_index("id")
    assert claims.loc["frozen-is-worse", "outcome"] == "agrees"
    assert claims.loc["frozen-is-better", "outcome"] == "contradicts"
    assert (claims["ratio"] > 1.2).all() and (claims["p_adjusted"] < 0.05).all()
    # the claims share the learning rate's effect: they add nothing to the Holm family
    effects = pd.read_csv(folder / "effects.csv").set_index("parameter")
    frozen = effects[(effects.index == "optim.g_lr")].iloc[0]
    assert claims.loc["frozen-is-worse", "p_adjusted"] == pytest.approx(frozen["p_adjusted"])
    text = (folder / "claims.md").read_text()
    assert "frozen-is-worse (ours): a generator that does not train is worse than one that does -- agrees" in text
    page = (folder / "report.html").read_text()
    assert page.index('id="claims"') < page.index('id="conclusions"')


def test_the_claims_page_is_built_from_the_sweeps_runs(failing_sweep, tmp_path):
    import subprocess
    import sys

    from tests.helpers import REPO

    s, _ = failing_sweep
    page = tmp_path / "claims.md"
    done = subprocess.run([sys.executable, "-m", "analysis.claims", str(s.out_dir), str(s.out_dir), "--out",
                           str(page)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in page.read_text().splitlines() if line.startswith("| frozen-")]
    assert len(rows) == 2  # one row per claim, both seed sets in it
    assert "agrees (both seed sets)" in rows[0] and "contradicts (both seed sets)" in rows[1]
    assert rows[0].count("seeds 0,1,2: agrees: fid x") == 2
    done = subprocess.run([sys.executable, "-m", "analysis.claims", str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr
