"""Real-data statistics are cached across processes and rebuilt when corrupt; the Inception path runs
offline on randomly initialised weights (never reported as a real FID)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from gan.config import DataConfig
from gan.data import load_dataset
from gan.metrics import FID, EvalConfig, Evaluator, InceptionWeightsMissing
from tests.helpers import REPO, mnist_test_data

SCRIPT = """
import json, sys
from gan.config import DataConfig
from gan.metrics import EvalConfig, Evaluator
ev = Evaluator(EvalConfig(real_samples=int(sys.argv[1])), DataConfig(**json.loads(sys.argv[2])))
print(json.dumps({"from_cache": ev.real.from_cache, "path": str(ev.real.cache_path),
                  "mu0": float(ev.real.mu[0])}))
"""


def run_evaluator(n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(n), json.dumps(mnist_test_data())],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)


def result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0
    return json.loads(out.strip().splitlines()[-1])


def test_statistics_written_by_one_process_are_reused_by_another_and_rebuilt_when_corrupt():
    Evaluator(EvalConfig(real_samples=10), DataConfig(**mnist_test_data()))  # classifier trained and cached first
    # two processes racing on the same empty cache entry both succeed
    first, second = run_evaluator(1234), run_evaluator(1234)
    a, b = result(first), result(second)
    assert a["path"] == b["path"] and a["mu0"] == b["mu0"]
    again = result(run_evaluator(1234))
    assert again["from_cache"] is True and again["mu0"] == a["mu0"]

    with open(a["path"], "r+b") as f:  # flip bytes in the middle of the file
        f.seek(2000)
        f.write(b"\x00garbage\xff" * 50)
    rebuilt = result(run_evaluator(1234))
    assert rebuilt["from_cache"] is False and rebuilt["mu0"] == pytest.approx(a["mu0"])
    with open(a["path"], "wb") as f:  # truncated
        f.write(b"PK")
    assert result(run_evaluator(1234))["from_cache"] is False
    assert result(run_evaluator(1234))["from_cache"] is True


def eigen_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    """Independent reference: the Fréchet distance with tr sqrt(Σ1 Σ2) = Σ sqrt(eig(Σ2^½ Σ1 Σ2^½)), in numpy."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    w, v = np.linalg.eigh(s2)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.clip(np.linalg.eigvalsh(root @ s1 @ root), 0, None)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(eig).sum())


@pytest.mark.slow
def test_inception_extractor_runs_from_a_local_weights_file(random_inception_weights):
    n = 24  # Inception-v3 at 299 px costs about a quarter of a second an image on a CPU core
    cfg = EvalConfig(extractor="inception", metrics=("fid", "is", "precision_recall"), real_samples=n,
                     num_samples=n, inception_weights=str(random_inception_weights))
    ev = Evaluator(cfg, DataConfig(**mnist_test_data()))
    assert ev.real.features.shape == (n, 2048) and ev.real.logits.shape == (n, 1008)
    digits = load_dataset(DataConfig(**mnist_test_data())).images[-n:]
    scores = ev.score_images(digits)
    assert all(torch.isfinite(torch.tensor(v)) for v in scores.values())
    # the FID of these features, computed independently (numpy, through the eigenvalues of Σr^½ Σg Σr^½, which
    # stay exact for the singular covariances of 24 samples in 2048 dimensions): measured 2e-7 apart (float32
    # features), so 1e-4 leaves 500 times that; a wrong mean, covariance or square root is off by far more
    gen = ev.extractor(digits)["features"]
    assert scores[FID] >= 0
    assert scores[FID] == pytest.approx(eigen_fid(gen.double().numpy(), ev.real.features.double().numpy()), rel=1e-4)
    # batch size does not change the features: the first 12 in batches of 5 against them in one batch of 24
    ev.extractor.batch_size = 5
    assert torch.allclose(ev.extractor(digits[:12])["features"], gen[:12], rtol=1e-4, atol=1e-4)


def test_offline_without_inception_weights_says_what_is_needed(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("GANSWEEP_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(InceptionWeightsMissing) as err:
        Evaluator(EvalConfig(extractor="inception", real_samples=10), DataConfig(**mnist_test_data()))
    assert "inception_weights" in str(err.value) and "GANSWEEP_INCEPTION_WEIGHTS" in str(err.value)
    with pytest.raises(InceptionWeightsMissing, match="does not exist"):
        Evaluator(EvalConfig(extractor="inception", inception_weights=str(tmp_path / "nope.pt"), real_samples=10),
                  DataConfig(**mnist_test_data()))


class NotAWeight:
    pass


def test_inception_weights_that_are_not_plain_tensors_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"Conv2d_1a_3x3.conv.weight": NotAWeight()}, path)
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported"):
        Evaluator(EvalConfig(extractor="inception", inception_weights=str(path), real_samples=10),
                  DataConfig(**mnist_test_data()))


def test_torch_fidelity_never_unpickles_the_users_weights_file(random_inception_weights, monkeypatch):
    """torch-fidelity loads its weights with weights_only=False: it is handed a private copy of the tensors read
    with weights_only=True, so a file swapped after the check is never unpickled."""
    seen = []
    real_load = torch.load

    def load(f, *args, **kwargs):
        seen.append((str(f), kwargs.get("weights_only")))
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", load)
    from gan.metrics.features import build_extractor

    build_extractor("inception", inception_weights=str(random_inception_weights), device=torch.device("cpu"))
    unsafe = [f for f, weights_only in seen if weights_only is not True]
    assert str(random_inception_weights) not in unsafe and (str(random_inception_weights), True) in seen
    assert unsafe  # torch-fidelity's own load happened, on the private copy
