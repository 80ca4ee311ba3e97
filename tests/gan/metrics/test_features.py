"""The feature extractors' numerics levers: the domain extractor's channels-last layout changes its
features only by float rounding, and a bf16 evaluation (evaluation.precision) caches real features of its
own and scores like the fp32 one, far within the FID's own sampling noise."""

import pytest
import torch

from gan.config import ConfigError, DataConfig
from gan.data import load_dataset
from gan.metrics import FID, FID_STD, EvalConfig, Evaluator
from tests.helpers import mnist_test_data


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(**mnist_test_data())).images


def test_the_domain_extractor_runs_channels_last_and_its_features_match_the_contiguous_layout(digits, monkeypatch):
    # as on an AVX-512 CPU, where it runs channels-last (on others contiguous: tests/gan/test_numerics.py)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    ev = Evaluator(EvalConfig(real_samples=100), DataConfig(**mnist_test_data()))
    convs = [m.weight for m in ev.extractor.module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert any(not w.is_contiguous() for w in convs)  # (one input channel is both layouts at once)
    laid_out = ev.extractor(digits[:2000])["features"]
    ev.extractor.module.to(memory_format=torch.contiguous_format)
    plain = ev.extractor(digits[:2000])["features"]
    # the same sums in another order: measured 4e-6 apart at most, on features of mean size 2.6
    assert torch.allclose(laid_out, plain, rtol=0, atol=1e-4)


def test_a_bf16_evaluation_caches_its_own_real_features_and_scores_as_fp32_does(digits):
    data = DataConfig(**mnist_test_data())
    evs = {p: Evaluator(EvalConfig(metrics=("fid", "kid", "precision_recall"), real_samples=5000, precision=p), data)
           for p in ("fp32", "bf16")}
    fp32, bf16 = evs["fp32"], evs["bf16"]
    assert bf16.extractor.key == f"{fp32.extractor.key}-bf16" and bf16.real.cache_path != fp32.real.cache_path
    features = {p: ev.extractor(digits[:1000])["features"] for p, ev in evs.items()}
    assert features["bf16"].dtype == torch.float32
    assert not torch.equal(features["bf16"], features["fp32"])  # the forward pass did run in bf16
    for images in (digits[-2000:], digits[:2000]):  # real digits outside and inside the reference's draw
        a, b = fp32.score_images(images), bf16.score_images(images)
        # measured 0.003 to 0.006 fid_std apart (FID 4.7 to 6.5, fid_std 0.67 to 1.22): a margin of 17 times
        # that, where a bf16 reference or feature mixed up with an fp32 one moves the FID by whole units
        assert abs(a[FID] - b[FID]) <= 0.1 * a[FID_STD]
        assert abs(a["precision"] - b["precision"]) <= 0.01 and abs(a["recall"] - b["recall"]) <= 0.01


def test_an_unknown_evaluation_precision_is_refused_with_the_allowed_values():
    with pytest.raises(ConfigError, match=r"evaluation\.precision.*fp16.*'fp32', 'bf16'"):
        EvalConfig.from_dict({"precision": "fp16"})
