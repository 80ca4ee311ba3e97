"""A spec's `claims:` section: parsed into the design a report judges, listed by --dry-run, and every bad claim
refused where it stands (file, key path, line) with what is allowed."""

import subprocess
import sys

import pytest

from record.claims import Claim
from record.design import SweepDesign
from sweeps.plan import plan, sweep_design
from sweeps.specfile import SpecError, parse_spec
from tests.helpers import REPO

SPEC = """\
name: t
base:
  data: {name: fashion_mnist}
  model: {arch: dcgan, latent_dim: 8}
  train: {iterations: 20, eval_every: 10}
parameters:
  model.latent_dim: {values: [8, 16, 32]}
  model.g_width: {values: [8, 32], baseline: 8}
  variant:
    values:
      - {name: plain, optim.g_lr: 0.0002}
      - {name: fast, optim.g_lr: 0.002}
method: grid
evaluation: {metrics: [fid, class_histogram]}
claims:
  - id: wider-is-better
    source: 004, section 2.1
    says: a wider generator lowers FID
    compare: {parameter: model.g_width, level: 32, against: 8}
    expect: lower
    published: {ratio: 0.4, extractor: inception, dataset: mnist}
  - id: latent-trend
    source: 004, section 2.1
    trend: {parameter: model.latent_dim}
    expect: lower
  - id: fast-x-wide
    source: ours
    interaction: {parameters: [variant, model.g_width]}
    expect: higher
    metric: fid
"""


def test_claims_go_from_the_spec_to_the_design_and_back():
    spec = parse_spec(SPEC, source="c.yaml")
    levels, trend, inter = spec.claims
    assert levels == Claim(id="wider-is-better", source="004, section 2.1", kind="levels", parameter="model.g_width",
                           expect="lower", statement="a wider generator lowers FID", level="32", against="8",
                           metric="fid", published=0.4, published_as="ratio",
                           not_comparable="extractor inception there, domain here; dataset mnist there, "
                                          "fashion_mnist here")
    assert (trend.kind, trend.parameter, trend.metric) == ("trend", "model.latent_dim", "fid")
    # an interaction of two-level factors picks each factor's level other than its baseline
    assert (inter.parameter, inter.level, inter.other, inter.other_level) == ("variant", "fast", "model.g_width", "32")
    design = SweepDesign.from_json(sweep_design(spec).to_json())
    assert design.claims == list(spec.claims)


def test_dry_run_lists_the_claims():
    text = plan(parse_spec(SPEC, source="c.yaml"))
    assert "claims (judged by the report):" in text
    assert "wider-is-better (004, section 2.1): model.g_width 32 against 8: lower fid" in text
    assert "latent-trend" in text and "fast-x-wide" in text


def test_the_cli_dry_run_prints_them(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(SPEC)
    out = subprocess.run([sys.executable, "-m", "sweeps.run", str(path), "--dry-run"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "wider-is-better" in out.stdout


def _with(claim: str, spec: str = SPEC) -> str:
    return spec.split("claims:\n")[0] + "claims:\n" + claim


@pytest.mark.parametrize("claim, fragments", [
    ("  - {id: a, source: s, compare: {parameter: model.d_width, level: 8, against: 32}, expect: lower}\n",
     ["`claims.0.compare.parameter`", "'model.d_width'", "must be a swept parameter", "model.latent_dim", "line 16"]),
    ("  - {id: a, source: s, compare: {parameter: model.g_width, level: 64, against: 8}, expect: lower}\n",
     ["`claims.0.compare.level`", "64", "one of model.g_width's levels: 8, 32"]),
    ("  - {id: a, source: s, compare: {parameter: model.g_width, level: 32, against: 32}, expect: lower}\n",
     ["`claims.0.compare.against`", "the same level"]),
    ("  - {id: a, source: s, compare: {parameter: model.g_width, level: 32, against: 8}, expect: down}\n",
     ["`claims.0.expect`", "'down'", "lower, higher"]),
    ("  - {id: a, source: s, compare: {parameter: model.g_width, level: 32, against: 8}, expect: lower, "
     "metric: kid}\n", ["`claims.0.metric`", "'kid' is not computed", "add `kid` to `evaluation.metrics`"]),
    ("  - {id: a, source: s, compare: {parameter: model.g_width, level: 32, against: 8}, expect: lower, "
     "metric: loss}\n", ["`claims.0.metric`", "'loss'", "must be one of"]),
    ("  - {id: a, source: s, expect: lower}\n", ["`claims.0`", "exactly one of `compare`, `trend` or `interaction`"]),
    ("  - {id: a, source: s, trend: {parameter: variant}, expect: lower}\n",
     ["`claims.0.trend.parameter`", "two or more numeric levels"]),
    ("  - {id: a, source: s, interaction: {parameters: [model.latent_dim, model.g_width]}, expect: lower}\n",
     ["`claims.0.interaction.parameters.0`", "has 3 levels", "levels: [a, b]"]),
    ("  - {id: a, source: s, interaction: {parameters: [variant, model.g_width], levels: [plain, 32]}, "
     "expect: lower}\n", ["`claims.0.interaction.levels.0`", "baseline"]),
    ("  - {id: a, source: s, trend: {parameter: model.latent_dim}, expect: lower}\n"
     "  - {id: a, source: s, trend: {parameter: model.latent_dim}, expect: higher}\n",
     ["`claims.1.id`", "'a' is already the id", "line 17"]),
    ("  - {id: 'a b', source: s, trend: {parameter: model.latent_dim}, expect: lower}\n", ["`claims.0.id`", "'a b'"]),
    ("  - {id: a, trend: {parameter: model.latent_dim}, expect: lower}\n", ["`claims.0.source`", "non-empty string"]),
    ("  - {id: a, source: s, trend: {parameter: model.latent_dim}, expect: lower, colour: red}\n",
     ["`claims.0.colour`", "unknown key", "allowed: id, source, says"]),
    ("  - {id: a, source: s, trend: {parameter: model.latent_dim}, expect: lower, published: {ratio: -1}}\n",
     ["`claims.0.published.ratio`", "must be a number > 0"]),
    ("  - {id: a, source: s, trend: {parameter: model.latent_dim}, expect: lower, published: {ratio: 1, "
     "difference: 2}}\n", ["`claims.0.published`", "exactly one of `ratio`"]),
    ("  wider: {}\n", ["`claims`", "must be a list of claims"]),
    ("  - {id: a, source: s, trend: {parameter: model.latent_dim, at: {model.g_width: 64}}, expect: lower}\n",
     ["`claims.0.trend.at.model.g_width`", "64", "one of model.g_width's levels: 8, 32"]),
    ("  - {id: a, source: s, trend: {parameter: model.latent_dim, at: {model.latent_dim: 8}}, expect: lower}\n",
     ["`claims.0.trend.at.model.latent_dim`", "the claim's own parameter"]),
    ("  - {id: a, source: s, compare: {parameter: model.g_width, level: 32, against: 8, at: {budget: epochs}}, "
     "expect: lower}\n", ["`claims.0.compare.at.budget`", "must be a swept parameter"]),
    ("  - {id: a, source: s, compare: {parameter: model.g_width, level: 32, against: 8, at: []}, expect: lower}\n",
     ["`claims.0.compare.at`", "must map other swept parameters"]),
])
def test_a_bad_claim_is_refused_where_it_stands(claim, fragments):
    with pytest.raises(SpecError) as err:
        parse_spec(_with(claim), source="c.yaml")
    msg = str(err.value)
    assert msg.startswith("c.yaml")
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_a_claim_made_at_a_setting_and_about_the_budget_plans():
    """`at` fixes other factors' levels; with two budget plans `budget` is a factor a claim may name."""
    text = SPEC.replace("method: grid\n", "method: grid\nbudget: {hold: [iterations, epochs], iterations: 20}\n")
    text = text.replace("  train: {iterations: 20, eval_every: 10}", "  train: {epochs: 0.01, eval_every: 10}")
    text = _with("  - {id: at-epochs, source: s, trend: {parameter: model.latent_dim, at: {budget: epochs, "
                 "variant: fast}}, expect: lower}\n"
                 "  - {id: budget-x-width, source: s, interaction: {parameters: [model.g_width, budget]}, "
                 "expect: higher}\n", text)
    at, inter = parse_spec(text, source="c.yaml").claims
    assert at.at == {"budget": "epochs", "variant": "fast"}
    assert "trend over model.latent_dim at budget epochs, variant fast: lower fid" in plan(
        parse_spec(text, source="c.yaml"))
    assert (inter.other, inter.other_level) == ("budget", "epochs")  # the plan other than the first (the baseline)
    assert SweepDesign.from_json(sweep_design(parse_spec(text, source="c.yaml")).to_json()).claims[0].at == at.at


def test_a_claim_may_compare_training_time_which_no_evaluation_computes_but_a_sweep_does_not_rank_by_it():
    spec = parse_spec(_with("  - {id: slower, source: s, compare: {parameter: model.g_width, level: 32, against: 8}, "
                            "expect: higher, metric: wall_time_s}\n"), source="c.yaml")
    assert spec.claims[0].metric == "wall_time_s"
    with pytest.raises(SpecError) as err:
        parse_spec(SPEC.replace("method: grid\n", "method: grid\nmetric: wall_time_s\n"), source="c.yaml")
    said, allowed = str(err.value).split("must be one of", 1)  # refused as no ranking metric, not as not computed
    assert "`metric`" in said and "'wall_time_s'" in said and "fid" in allowed and "wall_time_s" not in allowed
