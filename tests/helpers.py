"""Real data locations and small builders shared by the tests."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MNIST_TEST_DIR = REPO.parent / "shared" / "data" / "mnist"  # the real MNIST test split (10k digits)
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
# the domain classifier's seed in the metric tests; run them with another to check their margins do not
# depend on one trained network (its accuracy and features differ a little from seed to seed and machine
# to machine)
CLASSIFIER_SEED = int(os.environ.get("GANSWEEP_TEST_CLASSIFIER_SEED", "0"))


def mnist_test_data(**overrides) -> dict:
    return {"name": "mnist", "root": str(MNIST_TEST_DIR), "split": "test", **overrides}
