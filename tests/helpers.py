"""Real data locations and small builders shared by the tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MNIST_TEST_DIR = REPO.parent / "shared" / "data" / "mnist"  # the real MNIST test split (10k digits)
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def mnist_test_data(**overrides) -> dict:
    return {"name": "mnist", "root": str(MNIST_TEST_DIR), "split": "test", **overrides}
