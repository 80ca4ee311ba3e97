"""The user's own GAN and data in a sweep: a plugin package beside the spec (tests/sweeps/plugin_lab),
image folders and npz files, on a real local Ray, real MLflow stores and real MNIST digits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import ray
from PIL import Image

from gan.data import read_idx
from sweeps.driver import run_sweep
from sweeps.specfile import SpecError, load_spec, parse_spec
from tests.helpers import MNIST_TEST_DIR, REPO, kill_session
from tests.sweeps.test_sweep import _finished_trials, local_ray, trial_runs  # noqa: F401 (a fixture)

PLUGIN = Path(__file__).parent / "plugin_lab"

PLUGIN_SPEC = f"""\
name: lab
plugins: [plugin_lab.gans]
base:
  data: {{name: mnist_low_digits, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: tiny_conv, latent_dim: 16, g_width: 8, d_width: 8}}
  train: {{iterations: 60, eval_every: 20, batch_size: 32}}
parameters:
  model.g_width: {{values: [4, 8, 16]}}
evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
max_concurrent: 1
resources: {{cpus: 1}}
"""


@pytest.fixture
def lab(tmp_path) -> Path:
    """A lab's folder, outside the repository: the plugin package and the spec that names it."""
    folder = tmp_path / "lab"
    shutil.copytree(PLUGIN, folder / "plugin_lab", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "spec.yaml").write_text(PLUGIN_SPEC)
    return folder


# -- the spec's `plugins` -------------------------------------------------------------------------

def test_a_plugins_names_are_valid_in_the_spec_and_an_unknown_name_lists_them(lab):
    spec = load_spec(lab / "spec.yaml")
    assert spec.plugins == ("plugin_lab.gans",) and spec.base.model.arch == "tiny_conv"
    (lab / "typo.yaml").write_text(PLUGIN_SPEC.replace("arch: tiny_conv", "arch: tiny_cnv"))
    with pytest.raises(SpecError) as e:
        load_spec(lab / "typo.yaml")
    assert "typo.yaml" in str(e.value) and "line 5" in str(e.value) and "'tiny_conv'" in str(e.value)


@pytest.mark.parametrize("plugins, message", [
    ("plugin_lab.gans", "must be a list of module names"),
    ("[../plugin_lab/gans.py]", "must be a dotted module name"),
    ("[plugin_lab.missing]", "no module named 'plugin_lab.missing' on the import path or in the spec's folder"),
    ("[plugin_lab.broken]", "importing `plugin_lab.broken` failed: RuntimeError: this lab's plugin is broken"),
])
def test_a_bad_plugin_is_refused_naming_the_key_and_line_without_a_traceback(lab, plugins, message):
    (lab / "plugin_lab" / "broken.py").write_text("raise RuntimeError(\"this lab's plugin is broken\")\n")
    (lab / "bad.yaml").write_text(PLUGIN_SPEC.replace("plugins: [plugin_lab.gans]", f"plugins: {plugins}"))
    proc = subprocess.run([sys.executable, "-m", "sweeps.run", str(lab / "bad.yaml"), "--dry-run"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and "bad.yaml" in proc.stderr and "plugins" in proc.stderr and "line 2" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_scale_cannot_change_the_plugins(lab):
    text = PLUGIN_SPEC + "scales:\n  smoke:\n    plugins: [other]\n"
    with pytest.raises(SpecError, match="cannot be overridden by a scale"):
        parse_spec(text, source=str(lab / "spec.yaml"))


# -- a plugin's GAN, swept, killed, resumed and reported -------------------------------------------

@pytest.mark.ray
def test_a_plugin_gan_is_swept_resumed_and_reported_like_a_built_in(lab, local_ray):
    """The driver runs in the repository, where the lab's folder is not on any import path: the trials
    import the plugin only because Ray ships it (py_modules). The driver is killed after the first trial,
    and the resumed sweep ends every trial exactly once."""
    out = lab / "out"
    cmd = [sys.executable, "-m", "sweeps.run", str(lab / "spec.yaml"), "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.time() + 300
    while _finished_trials(out / "mlflow.db") < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "the sweep ended before it could be interrupted:\n" + proc.stdout.read()[-3000:]
    kill_session(proc.pid)  # the driver and the local Ray it started, and nothing else
    proc.wait()
    assert _finished_trials(out / "mlflow.db") < 3

    resumed = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"plugins: plugin_lab.gans (shipped to the workers: {lab / 'plugin_lab'})" in resumed.stdout

    (sweep_dir,) = (out / "sweeps").glob("lab-*")
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["finished"] is True
    client, runs = trial_runs(state["tracking_uri"], "lab")
    runs = [r for r in runs if r.data.tags["status"] != "lost"]
    assert sorted(r.data.params["model.g_width"] for r in runs) == ["16", "4", "8"]  # each once
    for r in runs:
        assert r.data.tags["status"] == "completed" and r.info.status == "FINISHED"
        assert (r.data.params["model.arch"], r.data.params["data.name"]) == ("tiny_conv", "mnist_low_digits")
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "fid")]
        assert steps == [20, 40, 60]  # every evaluation once, resumed or not
        assert all(np.isfinite(m.value) for m in client.get_metric_history(r.info.run_id, "fid"))
        # the training data as MLflow's dataset input, once, though the resumed sweep opened the run again
        (used,) = client.get_run(r.info.run_id).inputs.dataset_inputs
        assert used.dataset.name == "mnist_low_digits (test, 1000 images)"
        assert used.dataset.source == str(MNIST_TEST_DIR.resolve())
        assert json.loads(used.dataset.profile)["images"] == 1000
        assert [(t.key, t.value) for t in used.tags] == [("mlflow.data.context", "training")]

    # the report of the spec file imports its plugins, and draws the best generator's figures
    report = subprocess.run([sys.executable, "-m", "analysis.report", str(lab / "spec.yaml"), "--root", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    page = (sweep_dir / "report" / "report.html").read_text()
    assert "latent interpolation of the best generator" in page and "class histogram" in page


# -- the user's own images, swept ------------------------------------------------------------------

def test_a_swept_architecture_that_cannot_fit_an_npzs_side_is_refused_at_its_key(tmp_path):
    x, y = _digits(5)
    np.savez(tmp_path / "digits.npz", x=x, y=y)  # 28 x 28, a side the spec says only in the file
    text = textwrap.dedent(USER_DATA_SPEC.format(name="deep", data=f"{{name: npz, root: {tmp_path / 'digits.npz'}}}"))
    assert parse_spec(text, source="deep.yaml").trial_configs()  # the base's 3 blocks fit 28 x 28
    with pytest.raises(SpecError) as e:  # 5 blocks do not: refused before any trial, at the swept key
        parse_spec(
            text.replace("model.d_width: {values: [8, 16]}", "model.depth: {values: [3, 5]}"), source="deep.yaml"
        )
    assert "`parameters.model.depth`" in str(e.value) and "model.depth=5" in str(e.value), str(e.value)


def _digits(n_per_class: int, classes=(0, 1, 2)):
    x = read_idx(MNIST_TEST_DIR / "t10k-images-idx3-ubyte.gz")
    y = read_idx(MNIST_TEST_DIR / "t10k-labels-idx1-ubyte.gz")
    keep = np.concatenate([np.flatnonzero(y == c)[:n_per_class] for c in classes])
    return x[keep].copy(), y[keep].astype(np.int64)


USER_DATA_SPEC = """\
name: {name}
base:
  data: {data}
  model: {{arch: dcgan, latent_dim: 16, g_width: 8, d_width: 8}}
  train: {{iterations: 30, eval_every: 15, batch_size: 32}}
parameters:
  model.d_width: {{values: [8, 16]}}
evaluation: {{metrics: [fid], num_samples: 200, real_samples: 300}}
resources: {{cpus: 1}}
"""


@pytest.mark.ray
def test_an_image_folder_and_an_npz_are_swept_at_smoke_scale(tmp_path, local_ray):
    x, y = _digits(150)
    images = tmp_path / "images"
    for i, (img, label) in enumerate(zip(x, y)):
        (images / f"class_{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(images / f"class_{label}" / f"{i}.png")
    npz = tmp_path / "digits.npz"
    np.savez(npz, x=x, y=y)
    for name, data in (("folder", f"{{name: image_folder, root: {images}, image_size: 32}}"),
                       ("arrays", f"{{name: npz, root: {npz}}}")):
        spec = parse_spec(textwrap.dedent(USER_DATA_SPEC.format(name=name, data=data)), source=f"{name}.yaml")
        summary = run_sweep(spec, out=tmp_path / name)
        ray.shutdown()
        assert not summary["interrupted"]
        state = json.loads((Path(summary["sweep_dir"]) / "sweep.json").read_text())
        _, runs = trial_runs(state["tracking_uri"], name)
        assert len(runs) == 2 and all(r.data.tags["status"] == "completed" for r in runs)
        assert all(np.isfinite(r.data.metrics["fid"]) for r in runs)
        assert {r.data.params["data.root"] for r in runs} == {str(images if name == "folder" else npz)}


def test_only_the_named_plugins_are_imported_from_the_spec_folder(tmp_path):
    """A spec folder shared with others may hold a file named like a module some library tries (`ujson.py`):
    naming a plugin does not put the folder on the import path, so that file never runs."""
    import importlib.util

    folder = tmp_path / "shared"
    folder.mkdir()
    marker = tmp_path / "ran"
    (folder / "ujson.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (folder / "spec.yaml").write_text(PLUGIN_SPEC.replace("plugins: [plugin_lab.gans]", "plugins: [os]")
                                      .replace("arch: tiny_conv", "arch: dcgan").replace("mnist_low_digits", "mnist"))
    proc = subprocess.run([sys.executable, "-c", "import sys; from sweeps.specfile import load_spec; "
                           f"load_spec({str(folder / 'spec.yaml')!r}); "
                           f"assert {str(folder)!r} not in sys.path, sys.path; "
                           "import importlib.util; assert importlib.util.find_spec('ujson') is None"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not marker.exists()
    assert importlib.util.find_spec("ujson") is None  # (the test itself runs without ujson installed)


def test_a_plugin_that_exits_on_import_is_refused_with_a_message(lab):
    (lab / "plugin_lab" / "leaves.py").write_text("import sys\nsys.exit(3)\n")
    (lab / "bad.yaml").write_text(PLUGIN_SPEC.replace("plugins: [plugin_lab.gans]", "plugins: [plugin_lab.leaves]"))
    proc = subprocess.run([sys.executable, "-m", "sweeps.run", str(lab / "bad.yaml"), "--dry-run"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "importing `plugin_lab.leaves` called sys.exit(3)" in proc.stderr
    assert "Traceback" not in proc.stderr
    # an exception that is not an Exception (a BaseException of its own): said the same way
    (lab / "plugin_lab" / "leaves.py").write_text("class Stop(BaseException):\n    pass\nraise Stop('gave up')\n")
    proc = subprocess.run([sys.executable, "-m", "sweeps.run", str(lab / "bad.yaml"), "--dry-run"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "importing `plugin_lab.leaves` failed: Stop: gave up" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_namespace_package_plugin_is_imported_and_shipped(tmp_path):
    """A plugin package without __init__.py (a namespace package) is found beside the spec and shipped to the
    workers, not taken for an installed one."""
    folder = tmp_path / "lab"
    shutil.copytree(PLUGIN, folder / "ns_lab", ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    assert not (folder / "ns_lab" / "__init__.py").exists()
    (folder / "spec.yaml").write_text(PLUGIN_SPEC.replace("plugin_lab.gans", "ns_lab.gans"))
    proc = subprocess.run([sys.executable, "-m", "sweeps.run", str(folder / "spec.yaml"), "--dry-run"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"plugins: ns_lab.gans (shipped to the workers: {(folder / 'ns_lab').resolve()})" in proc.stdout
    assert "their code has run" in proc.stdout


def test_a_plugin_in_a_folder_others_may_write_to_is_refused(lab):
    """Code that another user could have put there is not imported (a fresh process: this one has the plugin)."""
    def dry_run():
        return subprocess.run([sys.executable, "-m", "sweeps.run", str(lab / "spec.yaml"), "--dry-run"], cwd=REPO,
                              capture_output=True, text=True, timeout=300)

    os.chmod(lab, 0o777)
    try:
        done = dry_run()
    finally:
        os.chmod(lab, 0o755)
    assert done.returncode == 2 and "`plugin_lab` would be imported from" in done.stderr
    assert "others may write to it (mode 0o777)" in done.stderr and "Traceback" not in done.stderr
    os.chmod(lab / "plugin_lab", 0o777)
    done = dry_run()
    assert done.returncode == 2 and "plugin_lab, but group or others may write to it (mode 0o777)" in done.stderr


def test_a_plugin_found_through_the_working_folder_is_judged_as_one_beside_the_spec(lab):
    """`python -m` puts the working folder on the import path, so a plugin run from the lab's folder is found there
    rather than beside the spec: its code is judged all the same, and not run when others may have written it."""
    marker = lab / "ran"
    (lab / "plugin_lab" / "marks.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (lab / "marks.yaml").write_text(PLUGIN_SPEC.replace("plugins: [plugin_lab.gans]",
                                                        "plugins: [plugin_lab.gans, plugin_lab.marks]"))

    def dry_run():
        return subprocess.run([sys.executable, "-m", "sweeps.run", "marks.yaml", "--dry-run"], cwd=lab,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                              timeout=300)

    os.chmod(lab / "plugin_lab" / "marks.py", 0o666)
    done = dry_run()
    assert done.returncode == 2 and "marks.py, but group or others may write to it (mode 0o666)" in done.stderr
    assert "Traceback" not in done.stderr and not marker.exists()
    os.chmod(lab / "plugin_lab" / "marks.py", 0o644)
    done = dry_run()  # the same plugin, nobody else's: imported and run
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker.exists()


def test_a_writable_file_inside_a_plugin_package_is_refused_and_a_linked_spec_folder_is_not(lab, tmp_path):
    def dry_run(spec):
        return subprocess.run([sys.executable, "-m", "sweeps.run", str(spec), "--dry-run"], cwd=REPO,
                              capture_output=True, text=True, timeout=300)

    link = tmp_path / "linked-lab"
    link.symlink_to(lab)  # a symlink's own mode is 0777 on Linux: what it points to is judged
    done = dry_run(link / "spec.yaml")
    assert done.returncode == 0, done.stderr[-2000:]
    os.chmod(lab / "plugin_lab" / "gans.py", 0o666)
    done = dry_run(lab / "spec.yaml")
    assert done.returncode == 2 and "gans.py, but group or others may write to it (mode 0o666)" in done.stderr
