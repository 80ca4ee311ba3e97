"""The study-layout summary table and how trials are told apart by variant, on synthetic trial tables
(the same DataFrames `load_sweep` builds from MLflow)."""

import pandas as pd
import pytest
from scipy import stats

from record.design import Factor, SweepDesign
from analysis.load import _factor_columns
from analysis.tables import SECONDS_PER_EPOCH, summary_table


def test_a_variant_that_sets_fewer_keys_does_not_claim_the_trials_of_another():
    # the MLP cGAN Table 9 shape: one level sets label_dim 64 (the base value), the other 200 epochs on top
    levels = [{"model.label_dim": 64}, {"train.epochs": 200}]
    design = SweepDesign(metric="gan_test_acc", mode="max", method="grid", seeds=[0, 1], early_stopping={},
                         extractor="domain", final_samples=10,
                         factors=[Factor("ablation", ["model.label_dim", "train.epochs"], levels, levels[0], True,
                                         {"model.label_dim": 64, "train.epochs": 100})])
    trials = pd.DataFrame({"model.label_dim": [64, 64, 64, 64], "train.epochs": [100, 100, 200, 200],
                           "status": ["completed"] * 4})
    factors, baselines = _factor_columns(trials, design, [])
    assert factors == ["ablation"]
    assert list(trials["ablation"]) == ["label_dim=64"] * 2 + ["epochs=200"] * 2
    assert baselines == {"ablation": "label_dim=64"}
    # a key unset in the base (None) reads back as NaN in a column that also holds numbers
    levels = [{"name": "28 px", "model.depth": 3}, {"name": "64 px", "data.image_size": 64, "model.depth": 4}]
    design.factors[0] = Factor("variant", ["data.image_size", "model.depth"], levels, levels[0], True,
                               {"data.image_size": None, "model.depth": 3})
    trials = pd.DataFrame({"data.image_size": [None, 64, None], "model.depth": [3, 4, 3], "status": ["completed"] * 3})
    assert trials["data.image_size"].isna().sum() == 2
    _factor_columns(trials, design, [])
    assert list(trials["variant"]) == ["28 px", "64 px", "28 px"]


def test_summary_shows_last_and_best_over_training_with_intervals_and_seconds_per_epoch():
    trials = pd.DataFrame({
        "variant": ["a", "a", "a", "b", "b"],
        "status": ["completed"] * 4 + ["diverged"],
        "fid": [30.0, 34.0, 32.0, 50.0, float("nan")],
        "best_fid": [20.0, 22.0, 27.0, 45.0, float("nan")],
        "wall_time_s": [100.0, 120.0, 110.0, 300.0, 10.0],
        "epoch": [10.0, 10.0, 10.0, 10.0, 1.0],
    })
    table = summary_table(trials, ["variant"], ["fid"]).set_index("variant")
    assert list(table.columns) == ["fid", "fid_mean", "best fid", "best fid_mean", SECONDS_PER_EPOCH,
                                   f"{SECONDS_PER_EPOCH}_mean"]
    half = stats.t.ppf(0.975, 2) * stats.sem([20.0, 22.0, 27.0])
    assert table.loc["a", "best fid_mean"] == pytest.approx(23.0)
    assert half == pytest.approx(8.96, abs=0.01)  # the t-interval over the 3 seeds' best values
    assert table.loc["a", "best fid"] == "23.0 ± 9.0 (3)" and table.loc["a", "fid"] == "32.0 ± 5.0 (3)"
    assert table.loc["a", f"{SECONDS_PER_EPOCH}_mean"] == pytest.approx(11.0)
    assert table.loc["b", "fid"].endswith("(1)")  # the diverged run counts nowhere


def test_augmentation_figures_are_compared_only_on_the_studys_dataset_and_classifier():
    from analysis.augmentation import published_beside

    cells = pd.DataFrame({"plan": ["mixed"] * 4, "real": [60000] * 4, "generated": [0, 0, 60000, 60000],
                          "seed": [0, 1, 0, 1], "test_accuracy": [0.95, 0.944, 0.96, 0.965]})
    cells.attrs.update(dataset="mnist", plan={"classifier": "lenet"})
    table = published_beside(cells)
    verdicts = table[table["plan"] == "mixed"].set_index("real / generated")["verdict"]
    # 94.7% real only lies in 0.947 ± 0.038; 96.25% with 60k + 60k in 0.9625 ± 0.032 (t, 1 df)
    assert verdicts["60000 / 0"] == verdicts["60000 / 60000"] == "published value inside our 95% interval"
    assert verdicts["0 / 60000"] == "not run in this plan"
    cells.attrs.update(dataset="fashion_mnist")
    assert published_beside(cells)["verdict"].iloc[0] == "not comparable: published on mnist, ours on fashion_mnist"
    cells.attrs.update(dataset="mnist", plan={"classifier": "domain"})
    assert "the study's LeNet, ours with the domain classifier" in published_beside(cells)["verdict"].iloc[0]
