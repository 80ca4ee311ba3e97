"""Bad specs fail before any work starts, naming file, key path, line and what is allowed."""

import subprocess
import sys
import textwrap

import pytest

from sweeps.run import plan
from sweeps.spec import SpecError, load_spec, parse_spec
from tests.helpers import REPO

GOOD = """\
name: t
base:
  data: {name: fashion_mnist}
  model: {arch: dcgan, latent_dim: 8}
  train: {iterations: 20, eval_every: 10}
parameters:
  model.latent_dim: {values: [8, 16]}
method: grid
"""


@pytest.mark.parametrize(
    "text, fragments",
    [
        (GOOD + "colour: blue\n", ["`colour`", "unknown key", "parameters", "line 9"]),
        (GOOD.replace("arch: dcgan", "arch: unet"), ["base", "`model.arch`", "'unet'", "'dcgan', 'mlp'", "line 4"]),
        (GOOD.replace("latent_dim: 8}", "latent_dim: big}"), ["`model.latent_dim`", "'big'", "an integer"]),
        (GOOD.replace("model.latent_dim: {values: [8, 16]}", "model.latnt_dim: {values: [8]}"),
         ["`parameters.model.latnt_dim`", "not a key of the training config", "line 7"]),
        (GOOD.replace("{values: [8, 16]}", "{values: [8, 0]}"),
         ["`parameters.model.latent_dim`", "model.latent_dim=0", "[1, 8192]"]),
        (GOOD.replace("{values: [8, 16]}", "{distribution: uniform, low: 2, high: 1}").replace("grid", "random"),
         ["wrong way round", "low=2", "high=1"]),
        (GOOD.replace("{values: [8, 16]}", "{distribution: uniform, low: 1, high: 2}"),
         ["cannot be enumerated by `method: grid`"]),
        (GOOD.replace("{values: [8, 16]}", "{distribution: gaussian, low: 1, high: 2}").replace("grid", "random"),
         ["`parameters.model.latent_dim.distribution`", "'gaussian'", "loguniform"]),
        (GOOD + "metric: gan_test_acc\n", ["`metric`", "add `gan_test` to `evaluation.metrics`"]),
        (GOOD + "metric: beauty\n", ["`metric`", "'beauty'", "fid"]),
        (GOOD.replace("method: grid", "method: optuna") + "seeds: [0, 1]\nearly_stopping: asha\n",
         ["`early_stopping`", "seed replicates", "early_stopping: none"]),
        (GOOD.replace("{values: [8, 16]}", "{values: [8, 16], baseline: 32}"),
         ["`parameters.model.latent_dim.baseline`", "32", "one of the values"]),
        (GOOD + "published: {source: s, results: [{params: {model.latent_dim: 8}, metric: fid}]}\n",
         ["`published.results.0`", "`value` is required"]),
        (GOOD + "published: {source: s, results: [{params: {model.latnt_dim: 8}, metric: fid, value: 3}]}\n",
         ["`published.results.0.params.model.latnt_dim`", "not a key"]),
        (GOOD + "budget: {hold: [epochs, flops]}\n", ["`budget.hold`", "epochs, iterations, seconds"]),
        (GOOD + "budget: {hold: [epochs]}\n", ["`budget.hold`", "needs `base.train.epochs`"]),
        (GOOD + "budget: {hold: [seconds]}\n", ["`budget.seconds`", "training time per trial"]),
        (GOOD.replace("method: grid", "method: bayes"), ["`method`", "'bayes'", "optuna"]),
        (GOOD + "early_stopping: {type: asha, reduction_factor: 1}\n", ["`early_stopping.reduction_factor`", "> 1"]),
        (GOOD + "early_stopping: {type: asha, patience: 3}\n", ["`early_stopping.patience`", "grace_period"]),
        (GOOD + "evaluation: {extractor: clip}\n", ["`evaluation.extractor`", "'clip'", "'domain', 'inception'"]),
        (GOOD + "evaluation: {metrics: [fid, lpips]}\n", ["`evaluation.metrics`", "'lpips'", "'precision_recall'"]),
        (GOOD + "resources: {cpus: 0}\n", ["`resources`", "cpus must be > 0"]),
        (GOOD.replace("name: t\n", ""), ["`name`", "required"]),
        (GOOD + "  bad indentation: [\n", ["not valid YAML", "line"]),
        (GOOD.replace("model.latent_dim: {values: [8, 16]}", "train.seed: {values: [1, 2]}"), ["`seeds`"]),
    ],
)
def test_bad_specs_are_rejected_with_location(text, fragments):
    with pytest.raises(SpecError) as err:
        parse_spec(text, source="study.yaml")
    msg = str(err.value)
    assert msg.startswith("study.yaml")
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_scales_override_and_unknown_scale():
    text = GOOD + textwrap.dedent("""\
        scales:
          smoke:
            base: {train: {iterations: 4, eval_every: 2}}
            parameters: {model.latent_dim: {values: [4]}}
        """)
    full = parse_spec(text)
    smoke = parse_spec(text, scale="smoke")
    assert full.base.train.iterations == 20 and smoke.base.train.iterations == 4
    assert smoke.base.model.latent_dim == 8 and [p.values for p in smoke.parameters] == [(4,)]
    with pytest.raises(SpecError, match="no scale 'huge'.*smoke"):
        parse_spec(text, scale="huge")


def test_grid_seeds_and_variants_expand_to_trials():
    text = GOOD + textwrap.dedent("""\
        seeds: 2
        """)
    text = text.replace("parameters:\n", textwrap.dedent("""\
        parameters:
          smoothing:
            values:
              - {loss.label_smoothing: 0.0}
              - {loss.label_smoothing: 0.15, loss.label_smoothing_random: true}
        """))
    spec = parse_spec(text)
    trials = spec.trial_configs()
    assert len(trials) == 2 * 2 * 2  # variants x latent dims x seeds
    assert {t["train.seed"] for t in trials} == {0, 1}
    assert sum(1 for t in trials if t.get("loss.label_smoothing_random")) == 4
    assert spec.config_for(trials[-1]).loss.label_smoothing_random is True


def test_every_shipped_search_space_validates_at_both_scales():
    files = sorted((REPO / "search_spaces").glob("*.yaml"))
    assert {f.stem for f in files} >= {"hidden_dims", "dataset_fraction", "architecture", "label_smoothing",
                                       "n_critic", "latent_dim", "mlp_cgan", "optuna_dcgan"}
    for f in files:
        for scale in (None, "smoke"):
            spec = load_spec(f, scale)
            assert spec.num_trials() >= 1
            text = plan(spec)
            assert spec.name in text and "trials:" in text


def test_hidden_dims_full_scale_matches_the_study():
    spec = load_spec(REPO / "search_spaces" / "hidden_dims.yaml")
    trials = spec.trial_configs()
    combos = {(t["model.latent_dim"], t["model.g_width"], t["model.d_width"]) for t in trials}
    assert combos == {(z, g, d) for z in (16, 100) for g in (16, 100) for d in (16, 100)}
    assert spec.base.train.iterations == 5000 and spec.base.train.batch_size == 64
    fraction = load_spec(REPO / "search_spaces" / "dataset_fraction.yaml")
    cfgs = [fraction.config_for(t) for t in fraction.trial_configs() if t["train.seed"] == 0 and "train.iterations" not in t]
    assert [round(c.data.dataset_fraction, 1) for c in cfgs] == [round(0.1 * i, 1) for i in range(1, 11)]
    # the study's table: 2644 iterations at 10%, 26438 at 100% (15 epochs of batch 64)
    assert [fraction.iterations(c) for c in (cfgs[0], cfgs[-1])] == [2644, 26438]
    assert fraction.budget_iterations() == 26438  # the second plan: every fraction trains the full set's count


def test_cli_reports_bad_spec_before_starting_ray(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("arch: dcgan", "arch: unet"))
    proc = subprocess.run([sys.executable, "-m", "sweeps.run", str(bad), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "`model.arch`" in proc.stderr
    assert not (tmp_path / "out").exists()  # nothing was started or written
    dry = subprocess.run([sys.executable, "-m", "sweeps.run", str(REPO / "search_spaces" / "hidden_dims.yaml"),
                          "--scale", "smoke", "--dry-run"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert dry.returncode == 0 and "trials: 16" in dry.stdout and "model.g_width: values [8, 32]" in dry.stdout


def test_full_scale_ablations_replicate_and_their_published_figures_name_configurations_they_run():
    for f in sorted((REPO / "search_spaces").glob("*.yaml")):
        spec = load_spec(f)
        if spec.method != "optuna":  # a search, not an ablation: its winners are re-run as a grid
            assert len(spec.seeds) >= 3, f
        trials = spec.trial_configs()
        for fig in spec.published:
            matching = [t for t in trials if all(t.get(k, spec.config_for(t).to_dict()[k.split(".")[0]][k.split(".")[1]])
                                                 == (tuple(v) if isinstance(v, list) else v)
                                                 for k, v in fig.params.items())]
            assert matching, (f.name, fig)
    studies = {load_spec(REPO / "search_spaces" / f"{n}.yaml").published[0].source[:3]
               for n in ("hidden_dims", "dataset_fraction", "architecture", "mlp_cgan", "label_smoothing")}
    assert studies == {"004", "000", "003", "002", "001"}


def test_budget_plans_run_each_configuration_under_each_budget_once():
    text = GOOD.replace("iterations: 20, eval_every: 10", "epochs: 0.5, batch_size: 50, eval_every: 10").replace(
        "data: {name: fashion_mnist}", "data: {name: fashion_mnist, split: test}").replace(
        "model.latent_dim: {values: [8, 16]}", "data.dataset_fraction: {values: [0.1, 1.0]}")
    spec = parse_spec(text + "budget: {hold: [epochs, iterations, seconds], seconds: 30}\nseeds: 2\n")
    assert spec.budget_iterations() == 100  # 0.5 epochs of the 10k test images in batches of 50
    trials = spec.trial_configs()
    plans = {(t["data.dataset_fraction"], t.get("train.iterations"), t.get("train.max_seconds")) for t in trials}
    # fraction 1.0 at 0.5 epochs already trains 100 iterations: its iterations-plan twin is not run twice
    assert plans == {(0.1, None, None), (0.1, 100, None), (0.1, None, 30), (1.0, None, None), (1.0, None, 30)}
    assert len(trials) == 5 * 2
    assert [spec.iterations(spec.config_for(t)) for t in trials if t.get("train.iterations")] == [100, 100]
    assert "budget plans, side by side" in plan(spec)
