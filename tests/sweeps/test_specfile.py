"""Bad specs fail before any work starts, naming file, key path, line and what is allowed."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from record.design import level_label, variant_settings
from gan.config import flatten
from sweeps.plan import plan, sweep_design
from sweeps.specfile import SpecError, load_spec, parse_spec
from tests.helpers import REPO, free_port

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
        (
            GOOD.replace("model.latent_dim: {values: [8, 16]}", "model.latnt_dim: {values: [8]}"),
            ["`parameters.model.latnt_dim`", "not a key of the training config", "line 7"],
        ),
        (
            GOOD.replace("{values: [8, 16]}", "{values: [8, 0]}"),
            ["`parameters.model.latent_dim`", "model.latent_dim=0", "[1, 8192]"],
        ),
        (
            GOOD.replace("{values: [8, 16]}", "{distribution: uniform, low: 2, high: 1}").replace("grid", "random"),
            ["wrong way round", "low=2", "high=1"],
        ),
        (
            GOOD.replace("{values: [8, 16]}", "{distribution: uniform, low: 1, high: 2}"),
            ["cannot be enumerated by `method: grid`"],
        ),
        (
            GOOD.replace("{values: [8, 16]}", "{distribution: gaussian, low: 1, high: 2}").replace("grid", "random"),
            ["`parameters.model.latent_dim.distribution`", "'gaussian'", "loguniform"],
        ),
        (GOOD + "metric: gan_test_acc\n", ["`metric`", "add `gan_test` to `evaluation.metrics`"]),
        (GOOD + "metric: beauty\n", ["`metric`", "'beauty'", "fid"]),
        (GOOD + "metric: {name: fid, min_effect: -3}\n", ["`metric.min_effect`", "-3", "a number > 0", "line 9"]),
        (GOOD + "metric: {name: fid, min_effct: 3}\n", ["`metric.min_effct`", "allowed: name, min_effect"]),
        (GOOD + "metric: {min_effect: 3}\n", ["`metric`", "needs `name`"]),
        (
            GOOD.replace("method: grid", "method: optuna") + "seeds: [0, 1]\nearly_stopping: asha\n",
            ["`early_stopping`", "seed replicates", "early_stopping: none"],
        ),
        (
            GOOD.replace("{values: [8, 16]}", "{values: [8, 16], baseline: 32}"),
            ["`parameters.model.latent_dim.baseline`", "32", "one of the values"],
        ),
        (
            GOOD + "published: {source: s, results: [{params: {model.latent_dim: 8}, metric: fid}]}\n",
            ["`published.results.0`", "`value` is required"],
        ),
        (
            GOOD + "published: {source: s, results: [{params: {model.latnt_dim: 8}, metric: fid, value: 3}]}\n",
            ["`published.results.0.params.model.latnt_dim`", "not a key"],
        ),
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
        (
            GOOD.replace(
                "model.latent_dim: {values: [8, 16]}",
                "v: {values: [{name: a, model.latent_dim: 8}, {name: a, model.latent_dim: 16}]}",
            ),
            ["`parameters.v`", "names must differ"],
        ),
        (
            GOOD.replace(
                "model.latent_dim: {values: [8, 16]}", "v: {values: [{name: a}, {name: b, model.latent_dim: 16}]}"
            ),
            ["`parameters.v.values.0`", "sets no config key"],
        ),
        (
            GOOD.replace(
                "model.latent_dim: {values: [8, 16]}", "v: {values: [{name: a, model.latent_dim: 8}], baseline: c}"
            ),
            ["`parameters.v.baseline`", "'c'", "a variant's name"],
        ),
        (
            GOOD.replace("model.latent_dim: {values: [8, 16]}", "v: {values: [{name: a, model.latent_dim: 8}]}")
            + "published: {source: s, results: [{params: {v: b}, metric: fid, value: 3}]}\n",
            ["`published.results.0.params.v`", "'b'", "levels: a"],
        ),
        (
            GOOD
            + "published: {source: s, results: [{params: {model.latent_dim: 8}, metric: fid, value: 3, "
            "statistic: mean}]}\n",
            ["`published.results.0.statistic`", "'mean'", "last, best"],
        ),
        (
            GOOD.replace("latent_dim: 8}", "latent_dim: 8, depth: 3, kernel_size: 4}"),
            ["`model.kernel_size` is 4", "cannot link sides 7 and 4"],
        ),
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


def test_named_variants_label_their_trials_and_are_compared_by_name():
    text = GOOD.replace("model.latent_dim: {values: [8, 16]}", textwrap.dedent("""\
        variant:
            values:
              - {name: small, model.latent_dim: 8}
              - {name: long, model.latent_dim: 8, train.n_critic: 2}
            baseline: small""").replace("\n", "\n  ")) + textwrap.dedent("""\
        published: {source: s, results: [{params: {variant: long}, metric: fid, value: 3, statistic: best}]}
        """)
    spec = parse_spec(text)
    trials = spec.trial_configs()
    assert trials == [{"model.latent_dim": 8, "train.seed": 0},
                      {"model.latent_dim": 8, "train.n_critic": 2, "train.seed": 0}]  # the name is no config key
    assert spec.parameters[0].baseline == {"name": "small", "model.latent_dim": 8}
    assert spec.published[0].statistic == "best" and "fid (best over training) 3 at variant=long" in plan(spec)
    factor = sweep_design(spec).factors[0]
    # the base value of every key some level leaves unset: how the report tells `small` from `long`
    assert factor.keys == ["model.latent_dim", "train.n_critic"] and factor.defaults == {"model.latent_dim": 8,
                                                                                          "train.n_critic": 1}


def test_every_shipped_search_space_validates_at_both_scales():
    files = sorted((REPO / "search_spaces").glob("*.yaml"))
    assert {f.stem for f in files} >= {"hidden_dims", "dataset_fraction", "architecture", "label_smoothing",
                                       "n_critic", "latent_dim", "mlp_cgan", "optuna_dcgan", "dcgan_variants",
                                       "cgan_variants"}
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
    cfgs = [
        fraction.config_for(t) for t in fraction.trial_configs() if t["train.seed"] == 0 and "train.iterations" not in t
    ]
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
    assert dry.returncode == 0 and "trials: up to 16 (8 in the first round)" in dry.stdout
    assert "model.g_width: values [8, 32]" in dry.stdout
    other = subprocess.run([sys.executable, "-m", "sweeps.run", str(REPO / "search_spaces" / "hidden_dims.yaml"),
                            "--scale", "smoke", "--dry-run", "--seeds", "3,4,5,6"], capture_output=True, text=True,
                           cwd=REPO, timeout=120)
    assert other.returncode == 0 and "from [3, 4, 5, 6]" in other.stdout and "trials: up to 16" in other.stdout
    short = subprocess.run([sys.executable, "-m", "sweeps.run", str(REPO / "search_spaces" / "hidden_dims.yaml"),
                            "--scale", "smoke", "--dry-run", "--seeds", "3,4,5"], capture_output=True, text=True,
                           cwd=REPO, timeout=120)  # adaptive seeds take one value per seed a configuration may get
    assert short.returncode == 2 and "lists 3 seeds, but `max` is 4" in short.stderr and "Traceback" not in short.stderr
    bad = subprocess.run([sys.executable, "-m", "sweeps.run", str(REPO / "search_spaces" / "hidden_dims.yaml"),
                          "--dry-run", "--seeds", "3,3"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert (
        bad.returncode == 2 and "--seeds" in bad.stderr and "distinct" in bad.stderr and "Traceback" not in bad.stderr
    )


def test_min_effect_goes_from_the_metric_section_to_the_design():
    spec = parse_spec(GOOD + "metric: {name: fid, min_effect: 12}\n")
    assert (spec.metric, spec.min_effect) == ("fid", 12.0)
    assert sweep_design(spec).min_effect == 12.0
    assert parse_spec(GOOD).min_effect is None


def test_full_scale_ablations_replicate_and_their_published_figures_name_configurations_they_run():
    for f in sorted((REPO / "search_spaces").glob("*.yaml")):
        spec = load_spec(f)
        if spec.method != "optuna":  # a search, not an ablation: its winners are re-run as a grid
            assert len(spec.seeds) >= 3, f
        trials = spec.trial_configs()
        variants = {fa.name: fa for fa in sweep_design(spec).factors if fa.variant}

        def value(t, k):
            if k in variants:  # the variant level whose settings the trial's config has, as the report decides
                cfg = flatten(spec.config_for(t).resolve().to_dict())
                fa = variants[k]
                return next(level_label(lv) for lv in fa.levels
                            if all(level_label(cfg[a]) == level_label(b)
                                   for a, b in {**fa.defaults, **variant_settings(lv)}.items()))
            section, key = k.split(".")
            return t.get(k, spec.config_for(t).to_dict()[section][key])

        for fig in spec.published:
            matching = [t for t in trials if all(value(t, k) == (tuple(v) if isinstance(v, list) else v)
                                                 for k, v in fig.params.items())]
            assert matching, (f.name, fig)
    studies = {load_spec(REPO / "search_spaces" / f"{n}.yaml").published[0].source[:3]
               for n in ("hidden_dims", "dataset_fraction", "architecture", "mlp_cgan", "label_smoothing",
                         "dcgan_variants", "cgan_variants")}
    assert studies == {"004", "000", "003", "002", "001"}


def test_the_dcgan_cgan_study_tables_are_specs_with_their_published_figures():
    dcgan = load_spec(REPO / "search_spaces" / "dcgan_variants.yaml")
    assert dcgan.num_trials() == 5 * 3 and dcgan.base.train.epochs == 25 and dcgan.base.train.batch_size == 100
    assert sorted(f.value for f in dcgan.published) == [17.3, 20.7, 23.4, 24.4, 30]
    assert {f.statistic for f in dcgan.published} == {"best"} and dcgan.evaluation.image_size == 28
    cgan = load_spec(REPO / "search_spaces" / "cgan_variants.yaml")
    assert cgan.num_trials() == 8 * 3
    table = {(f.params["variant"], f.metric): f.value for f in cgan.published}
    assert table[("baseline", "is")] == 4.75 and table[("one-sided label smoothing", "fid")] == 17
    assert table[("classifier loss", "gan_test_acc")] == 0.82 and len(table) == 24
    configs = {lv["name"]: cgan.config_for(t) for t in cgan.trial_configs() if t["train.seed"] == 0
               for lv in cgan.parameters[0].values
               if all(t.get(a) == b for a, b in lv.items() if a != "name")}
    assert configs["new concat"].model.label_encoding == "conv" and configs["dense CGAN"].model.arch == "mlp"
    assert configs["classifier loss"].loss.classifier_weight == 1.0


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


@pytest.mark.parametrize("case", ["out under a file", "storage under a file", "storage scheme", "no tracking server"])
def test_cli_refuses_unwritable_output_and_storage_before_any_work(tmp_path, case):
    spec = tmp_path / "good.yaml"
    spec.write_text(GOOD)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out, extra = tmp_path / "out", []
    if case == "out under a file":
        out = blocker / "out"
        where, cause = f"--out {out}", "cannot write there (Not a directory)"
    elif case == "storage under a file":
        extra = ["--storage", str(blocker / "ray")]
        where, cause = f"--storage {blocker / 'ray'}", "cannot write there (Not a directory)"
    elif case == "storage scheme":
        extra = ["--storage", "nosuchscheme://bucket/path"]
        where, cause = "--storage nosuchscheme://bucket/path", "cannot use it"
    else:
        uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        extra = ["--tracking-uri", uri]
        where, cause = f"--tracking-uri {uri}: MLflow does not answer there", "connection refused"
    proc = subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), "--out", str(out), *extra],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert where in proc.stderr and cause in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (out / "sweeps").exists() and not (out / "mlflow.db").exists()  # nothing was started
    assert "evaluation ready" not in proc.stdout  # nor the evaluation's caches prepared


def test_cli_run_as_a_ray_job_refuses_a_sweep_folder_in_rays_temporary_copy_of_the_working_dir(tmp_path):
    # what `ray job submit --working-dir .` hands its entrypoint (the real job, and the default --out refused:
    # tests/cluster); a relative folder would land in Ray's copy of the uploaded folder, which Ray deletes
    given, named = ["--out", "mine", "--storage", "ray-state"], "--out mine, --storage ray-state"
    spec = tmp_path / "good.yaml"
    spec.write_text(GOOD)
    job = {"runtime_env": {"working_dir": "gcs://_ray_pkg_0123.zip"}, "metadata": {"job_submission_id": "raysubmit_T"}}
    env = {**os.environ, "RAY_JOB_CONFIG_JSON_ENV_VAR": json.dumps(job)}
    proc = subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), *given], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"error: {named}: this sweep runs as Ray job raysubmit_T in Ray's temporary copy" in proc.stderr
    assert "Traceback" not in proc.stderr and "trials:" not in proc.stdout
    assert not any(tmp_path.glob("*/sweeps")) and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "edit, said",
    [
        (lambda t: t + "max_failures: -1\n", "`max_failures`: is -1, but must be from 0 to 100"),
        (lambda t: t + "max_concurrent: -2\n", "`max_concurrent`: is -2"),
        (lambda t: t.replace("iterations: 5000", "iterations: 1000000000000000000000"), "must be in [1, 1000000000]"),
        (lambda t: t.replace("seeds: [0, 1, 2]", "seeds: 100000000"), "a count of seeds must be from 1 to 1000"),
        (
            lambda t: t.replace("early_stopping: none", "early_stopping: {type: asha, max_evaluations: 0}"),
            "`early_stopping.max_evaluations`: is 0",
        ),
        (
            lambda t: t.replace("early_stopping: none", "early_stopping: {type: asha, reduction_factor: .nan}"),
            "`early_stopping.reduction_factor`: is nan, but must be a finite number",
        ),
        (
            lambda t: t.replace(
                "model.latent_dim: {values: [16, 100]}", "model.latent_dim: {distribution: uniform, low: .inf, high: 3}"
            ).replace("method: grid", "method: random"),
            "`parameters.model.latent_dim.low`: is inf",
        ),
        (lambda t: "d: " + "[" * 5000 + "]" * 5000 + "\n" + t, "nested more than 64 levels deep"),
        (
            lambda t: t.replace("      model.d_width: {values: [8, 32]}\n", "      model.d_widht: {values: [8, 32]}\n"),
            "in scale 'smoke'",
        ),
        (lambda t: t + "search_seed: -5\n", "`search_seed`: is -5, but must be from 0 to 4294967295"),
        (lambda t: t + "search_seed: 4294967296\n", "`search_seed`: is 4294967296"),
        # a scale's name and the spec's name name the sweep's folder: one printable path component, not too long
        (lambda t: t.replace("  smoke:\n", "  ../../../../tmp/escaped:\n"), "a scale's name is '../../../../tmp/"),
        (lambda t: t.replace("  smoke:\n", "  '..':\n"), "not only dots"),
        (lambda t: t.replace("name: hidden_dims", "name: 'hidden\\0dims'"), "a non-empty name of printable"),
        (lambda t: t.replace("name: hidden_dims", "name: " + "h" * 300), "`name`: the name is 'hhhh"),
        (lambda t: t.replace("name: hidden_dims", "name: " + "\u5bbd" * 40), "at most 100 bytes in UTF-8"),
    ],
)
def test_out_of_range_non_finite_deep_and_mistyped_scale_input_is_refused_with_where_and_what(edit, said):
    text = (REPO / "search_spaces" / "hidden_dims.yaml").read_text()
    with pytest.raises(SpecError) as e:
        parse_spec(edit(text), source="hidden_dims.yaml")  # the full scale: the smoke one is checked all the same
    assert said in str(e.value) and "hidden_dims.yaml" in str(e.value)


def test_aliases_of_a_long_text_are_refused_and_a_long_value_is_quoted_short():
    """A spec under the size limit whose aliases repeat one long text stands for gigabytes: refused by what it
    expands to. A long wrong value is quoted with both ends, in a message of bounded size."""
    long = "x" * 400_000
    text = GOOD.replace("name: t\n", f"name: t\nd: &d {long}\n") + "description: [" + ", ".join(["*d"] * 20) + "]\n"
    with pytest.raises(SpecError, match="with its YAML aliases expanded the spec's values hold more than"):
        parse_spec(text, source="long.yaml")
    with pytest.raises(SpecError) as e:
        parse_spec(GOOD.replace("arch: dcgan", f"arch: {long}"), source="long.yaml")
    said = str(e.value)
    assert len(said) < 2_500 and "characters left out" in said and "`model.arch`" in said
    assert "'dcgan', 'mlp'" in said  # what is allowed, at the message's end, is kept


def test_a_swept_data_root_is_read_and_checked_like_the_bases(tmp_path):
    """A sweep may vary the files themselves: each swept `data.root` is read when the spec is, as the base's is."""
    import numpy as np

    labelled, flat = tmp_path / "labelled.npz", tmp_path / "flat.npz"
    np.savez(labelled, x=np.zeros((20, 16, 16), np.uint8), y=np.arange(20) % 2)
    np.savez(flat, x=np.zeros((20, 16, 16), np.uint8))
    spec = """\
name: roots
base:
  data: {name: npz, root: LABELLED}
  model: {arch: mlp, latent_dim: 8, conditional: CONDITIONAL}
  train: {iterations: 20, eval_every: 10}
parameters:
  data.root: {values: [LABELLED, OTHER]}
method: grid
""".replace("LABELLED", str(labelled))

    def text(conditional, other):
        return spec.replace("CONDITIONAL", conditional).replace("OTHER", str(other))

    with pytest.raises(SpecError, match=rf"line 7: `parameters.data.root`: with data.root='{tmp_path}/gone.npz': "
                                        r"npz: `data.root` .*gone\.npz is not a file"):
        parse_spec(text("false", tmp_path / "gone.npz"), source="roots.yaml")
    with pytest.raises(SpecError, match=r"`parameters.data.root`: .*`model.conditional`: is true, but npz .*flat\.npz"):
        parse_spec(text("true", flat), source="roots.yaml")
    assert parse_spec(text("false", flat), source="roots.yaml").num_trials() == 2


def test_two_spellings_of_one_key_are_the_same_key_given_twice():
    """YAML reads `1` and `0x1` (or `true` and `yes`... in YAML 1.1) as one key and keeps the second."""
    text = GOOD + "scales:\n  1: {seeds: [0]}\n  0x1: {seeds: [1]}\n"
    with pytest.raises(SpecError, match=r"the key `0x1` is given twice in one mapping \(lines 10 and 11\)"):
        parse_spec(text, source="twice.yaml")
