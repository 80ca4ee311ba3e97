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


def test_a_config_error_is_refused_with_torch_alone_of_the_heavy_imports(tmp_path):
    """A wrong value in the training config needs the config's own checks (torch), not torch-fidelity and the
    torchvision it loads (about a second), Ray or MLflow."""
    (tmp_path / "bad.yaml").write_text(GOOD.replace("model: {", "model: {g_width: -3, ", 1))
    probe = ("import sys\nfrom sweeps.cli import main\n"
             f"rc = main([{str(tmp_path / 'bad.yaml')!r}])\n"
             "heavy = sorted(m for m in ('torch_fidelity', 'torchvision', 'ray', 'mlflow') if m in sys.modules)\n"
             "assert rc == 2 and not heavy and 'torch' in sys.modules, (rc, heavy)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "`model.g_width` is -3" in done.stderr, done.stderr
