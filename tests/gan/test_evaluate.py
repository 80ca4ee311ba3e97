"""gan.evaluate, the evaluator of a generator the user trained in their own loop: what it is handed is checked."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import gan
from gan.data import read_idx
from tests.helpers import MNIST_TEST_DIR, mnist_test_data

SETTINGS = dict(data=mnist_test_data(), metrics=["fid", "class_histogram"], num_samples=100, real_samples=100)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """Real MNIST test digits, uint8 (N, 1, 28, 28): a 'generator' that draws them scores like the data."""
    return torch.from_numpy(read_idx(MNIST_TEST_DIR / "t10k-images-idx3-ubyte.gz")[:, None].copy())


def test_a_generator_is_scored_and_a_diverged_one_scores_nan_on_every_metric(digits):
    def real(n, seed=0):
        return digits[seed * n:(seed + 1) * n].float() / 127.5 - 1  # floats in [-1, 1], as a tanh draws them

    scores = gan.evaluate(real, **SETTINGS)
    assert math.isfinite(scores["fid"]) and math.isfinite(scores["class_kl"])

    def diverged(n, seed=0):
        images = real(n, seed)
        images[3, 0, 5, 5] = float("nan")  # one pixel is enough: the weights behind it are gone
        return images

    scores = gan.evaluate(diverged, **SETTINGS)
    assert scores.pop("eval_samples") == 100.0
    assert {"fid", "class_kl"} <= set(scores) and all(math.isnan(v) for v in scores.values()), scores


@pytest.mark.parametrize("draw, said", [
    (lambda d, n: d[: n // 2], r"returned images of shape \(50, 1, 28, 28\), but must return \(100, 1, H, W\)"),
    (lambda d, n: d[:n].permute(0, 2, 3, 1), r"shape \(100, 28, 28, 1\).*channels first"),
    (lambda d, n: d[:n].expand(-1, 3, -1, -1), r"shape \(100, 3, 28, 28\).*the 1 channel\(s\)"),
    (lambda d, n: (d[:n], np.zeros(n // 2, np.int64)), r"returned labels of shape \(50,\), but must return one label"),
])
def test_images_or_labels_of_the_wrong_shape_are_refused_saying_what_is_expected(digits, draw, said):
    with pytest.raises(ValueError, match=said):
        gan.evaluate(lambda n, seed=0: draw(digits, n), **SETTINGS)
