"""Spec files as a careless or hostile user writes them: a key given twice, text that is not UTF-8, a file over
the size limit. Each is refused with the file, the line (or byte) and what to do, before anything is built."""

import subprocess
import sys

import pytest

from record.folder import MAX_SPEC_BYTES, spec_label
from sweeps.specfile import SpecError, load_spec, parse_spec
from tests.helpers import REPO
from tests.sweeps.test_specfile import GOOD


@pytest.mark.parametrize("text, fragments", [
    (GOOD + "parameters:\n  model.g_width: {values: [8, 16]}\n",
     ["line 9", "`parameters` is given twice", "lines 6 and 9", "silently drop the first"]),
    (GOOD.replace("name: t\n", "name: t\nname: u\n"), ["line 2", "`name` is given twice", "lines 1 and 2"]),
    (GOOD.replace("latent_dim: 8}", "latent_dim: 8, latent_dim: 16}"), ["line 4", "`latent_dim` is given twice"]),
])
def test_a_key_given_twice_is_refused_with_both_lines(text, fragments):
    with pytest.raises(SpecError) as err:
        parse_spec(text, source="twice.yaml")
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))


def test_a_merge_key_may_still_override_what_it_merges():
    """A merge key (`<<`) beside a key it merges is not a key given twice: YAML says the mapping's own key wins."""
    text = GOOD.replace("  train: {iterations: 20, eval_every: 10}", "  train: &t {iterations: 20, eval_every: 10}")
    text += "scales:\n  more:\n    base:\n      train: {<<: *t, iterations: 40}\n"
    spec = parse_spec(text, source="merge.yaml", scale="more")
    assert (spec.base.train.iterations, spec.base.train.eval_every) == (40, 10)


@pytest.mark.parametrize("data, fragments", [
    ("\ufeff".encode("utf-16-le") + GOOD.encode("utf-16-le"),
     ["line 1", "not UTF-8 text (it starts with a UTF-16 byte-order mark)", "byte 0 is 0xff",
      "Save the spec as UTF-8"]),
    (GOOD.replace("name: t", "name: café").encode("latin-1"), ["line 1", "not UTF-8 text", "byte 9 is 0xe9"]),
    (GOOD.encode() + b"# " + b"x" * MAX_SPEC_BYTES + b"\n", [f"over {MAX_SPEC_BYTES} bytes"]),
])
def test_a_spec_file_that_is_not_utf8_or_too_large_is_refused_where_it_goes_wrong(tmp_path, data, fragments):
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    for read in (load_spec, lambda p: spec_label(p, None)):
        with pytest.raises(SpecError) as err:
            read(path)
        assert str(err.value).startswith(str(path))
        for fragment in fragments:
            assert fragment in str(err.value), (fragment, str(err.value))


def test_a_utf8_spec_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeff".encode() + GOOD.replace("name: t", "name: café").encode())
    assert load_spec(path).name == "café"


def test_the_cli_refuses_them_without_a_traceback(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.replace("name: t", "name: café").encode("latin-1"))
    done = subprocess.run([sys.executable, "-m", "sweeps.run", str(path), "--dry-run"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "not UTF-8 text" in done.stderr and "Traceback" not in done.stderr
    twice = tmp_path / "twice.yaml"
    twice.write_text(GOOD + "parameters:\n  model.g_width: {values: [8, 16]}\n")
    done = subprocess.run([sys.executable, "-m", "sweeps.run", str(twice), "--dry-run"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "given twice" in done.stderr and "Traceback" not in done.stderr


def test_a_spec_wrong_as_yaml_is_refused_before_torch_ray_or_mlflow_is_imported(tmp_path):
    """What the text and YAML alone show (a key given twice, bad YAML, an unknown top-level key, not UTF-8) is
    refused by the command line before the heavy imports: in a blink, on any CPU."""
    cases = {"twice.yaml": GOOD + "parameters:\n  model.g_width: {values: [8, 16]}\n",
             "typo.yaml": GOOD + "colour: blue\n", "broken.yaml": GOOD + "method: [grid\n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        probe = ("import sys\nfrom sweeps.cli import main\n"
                 f"rc = main([{str(tmp_path / name)!r}])\n"
                 "heavy = sorted(m for m in ('torch', 'ray', 'mlflow', 'gan') if m in sys.modules)\n"
                 "assert rc == 2 and not heavy, (rc, heavy)\n")
        done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (name, done.stderr[-2000:])
        assert done.stderr.startswith(f"error: {tmp_path / name}"), done.stderr


HEAVY = ("torch", "torch_fidelity", "torchvision", "ray", "mlflow", "optuna")


@pytest.mark.parametrize("edit, fragment", [
    (("model: {", "model: {g_width: -3, "), "`model.g_width` is -3"),
    (("arch: dcgan", "arch: dcgann"), "`model.arch` is 'dcgann', but must be one of 'dcgan', 'mlp'"),
    (("model: {", "model: {depth: 5, "), "`model.depth` is 5"),  # the DCGAN geometry, declared for the check
    (("arch: dcgan", "arch: mlp, conditional: true, label_encoding: conv"), "for `model.arch: mlp`"),
    (("train: {", "loss: {name: wgan-gp}\n  train: {compile: true, "), "`train.compile` is true, but loss 'wgan-gp'"),
    (("method: grid\n", "method: grid\nevaluation: {metrics: [fidd]}\n"), "`evaluation.metrics` is 'fidd'"),
    (("method: grid\n", "method: grid\nevaluation: {extractor: clip}\n"), "`evaluation.extractor` is 'clip'"),
])
def test_a_config_error_is_refused_before_torch_ray_or_mlflow_is_imported(tmp_path, edit, fragment):
    """A wrong value in the training or evaluation config is checked against what each built-in declares (its
    name, the label encodings it supports, its geometry, a loss that differentiates twice) without importing any
    of them: a refusal takes half a second, on any CPU, where importing torch alone takes two."""
    (tmp_path / "bad.yaml").write_text(GOOD.replace(*edit, 1))
    probe = ("import sys\nfrom sweeps.cli import main\n"
             f"rc = main([{str(tmp_path / 'bad.yaml')!r}])\n"
             f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
             "assert rc == 2 and not heavy, (rc, heavy)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert fragment in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_good_spec_is_planned_without_torch_ray_or_mlflow(tmp_path):
    """`--dry-run` of a good spec reads the built-ins' declarations and the datasets' published sizes alone; the
    built-ins' implementations are still what a run builds (loaded from the same registry entries)."""
    (tmp_path / "good.yaml").write_text(GOOD)
    probe = ("import sys\nfrom sweeps.cli import main\n"
             f"rc = main([{str(tmp_path / 'good.yaml')!r}, '--dry-run', '--out', {str(tmp_path / 'out')!r}])\n"
             f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
             "assert rc == 0 and not heavy, (rc, heavy)\n"
             "from gan import ARCHITECTURES, LOSSES\n"
             "from gan.models import build_dcgan\nfrom gan.losses import WGANGPLoss\n"
             "assert ARCHITECTURES.load('dcgan') is build_dcgan and LOSSES.load('wgan-gp') is WGANGPLoss\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
