"""Splitting a data-size effect into data and compute, on trial tables with a planted answer."""

import numpy as np
import pandas as pd
import pytest

from analysis.budget import budget_curves, split_drop

FRACTIONS = (0.1, 0.3, 1.0)
FULL = 1000  # iterations of the full set under the epochs plan


def trials(seeds: int = 4, data_gain: float = 40.0, compute_gain: float = 60.0, sd: float = 3.0) -> pd.DataFrame:
    """FID = 200 - data_gain * log10(fraction / 0.1) - compute_gain * log10(iterations / 100) + noise; the
    epochs plan trains FULL * fraction iterations, the iterations plan FULL at every fraction (at 1.0 the
    two coincide and run once, as the sweep does)."""
    rng = np.random.default_rng(0)
    rows = []
    for plan in ("epochs", "iterations"):
        for f in FRACTIONS:
            if plan == "iterations" and f == 1.0:
                continue
            iters = int(FULL * f) if plan == "epochs" else FULL
            for s in range(seeds):
                fid = 200 - data_gain * np.log10(f / 0.1) - compute_gain * np.log10(iters / 100) + rng.normal(0, sd)
                rows.append({"data.dataset_fraction": f, "budget": plan, "train.seed": s, "status": "completed",
                             "fid": fid, "last_step": iters})
    return pd.DataFrame(rows)


def test_split_recovers_the_planted_data_and_compute_parts():
    split = split_drop(trials(), "fid", "data.dataset_fraction", "budget", "iterations", FULL)
    assert split.shared_large and (split.small, split.large) == (0.1, 1.0)
    # 0.1 -> 1.0 is one decade of data and, at fixed epochs, one decade of iterations
    assert split.drop_epochs[0] == pytest.approx(100, abs=6)
    assert split.drop_fixed[0] == pytest.approx(40, abs=6)
    assert split.compute[0] == pytest.approx(60, abs=6)
    for est, low, high in (split.drop_epochs, split.drop_fixed, split.compute):
        assert low < est < high
    assert split.drop_fixed[0] / split.drop_epochs[0] == pytest.approx(0.4, abs=0.05)
    text = split.sentence("fid")
    assert f"data accounts for about {split.drop_fixed[0] / split.drop_epochs[0]:.0%}" in text and "real" in text


def test_curves_share_the_largest_run_and_no_compute_effect_is_within_noise():
    curves = budget_curves(trials(), "fid", "data.dataset_fraction", "budget", "iterations", FULL)
    fixed = curves[curves["plan"] == "iterations"].set_index("data.dataset_fraction")
    assert list(fixed.index) == list(FRACTIONS) and bool(fixed.loc[1.0, "shared"]) and not fixed.loc[0.1, "shared"]
    assert (fixed["iterations"] == FULL).all()
    none = split_drop(trials(compute_gain=0.0), "fid", "data.dataset_fraction", "budget", "iterations", FULL)
    assert none.compute[1] < 0 < none.compute[2] and "within noise" in none.sentence("fid")
