"""The GAN-test protocol probe over a finished sweep (studies.gan_test_probe)."""

import numpy as np
import pandas as pd
import pytest


def test_gan_test_probe_rescored_under_each_protocol_variant(sweep, tmp_path):
    """`studies.gan_test_probe` re-scores finished conditional generators with the sweep's judge, the other
    sampling mode, the unscaled-pixel mistake and a LeNet judge, on the same sample sets."""
    from studies.gan_test_probe import VARIANTS, judge_predictions, main, probe, summarise
    from gan.metrics.classifier import accuracy, default_spec, load_or_train_classifier, train_test_split

    s, out = sweep
    runs = list(s.trials.sort_values("fid")["run_id"][:2])
    lines = []
    sets, classes = probe(s, repeats=3, samples=300, lenet_epochs=3, run_ids=runs, log=lines.append)
    assert len(sets) == 2 * len(VARIANTS) * 3 and set(sets["run_id"]) == set(runs)
    assert sets["gan_test"].between(0, 1).all()
    wide = sets.pivot_table(index=["run_id", "set"], columns="variant", values="gan_test")
    # batch norm with training behaviour changes the samples; the pixel mistake changes what the judge sees
    assert (wide["other_mode"] != wide["as_logged"]).any() and (wide["range_0_1"] != wide["as_logged"]).any()
    summary = summarise(sets)
    per_run = sets[sets["variant"] == "as_logged"].groupby("run_id")["gan_test"]
    for _, row in summary[summary["variant"] == "as_logged"].iterrows():
        assert row["shift_from_as_logged"] == 0
    assert summary.loc[summary["variant"] == "as_logged", "sd_within_run"].sum() == pytest.approx(
        per_run.std().mean() * (summary["variant"] == "as_logged").sum())  # sample SD (ddof 1), as studies report
    # the judge is the sweep's domain classifier: its per-class accuracy on real test digits, recomputed here
    spec = default_spec(Config_of(s))
    judge, _, _ = load_or_train_classifier(spec)
    _, _, test_x, test_y, _ = train_test_split(spec)
    pred = judge_predictions(judge, test_x)
    assert (pred == test_y).float().mean().item() == pytest.approx(accuracy(judge, test_x, test_y))
    real = pd.Series((pred == test_y).float().numpy()).groupby(test_y.numpy()).mean()
    got = classes[(classes["variant"] == "as_logged") & (classes["run_id"] == runs[0])].set_index("class")
    assert len(got) == 10 and np.allclose(got["judge_real_acc"], real.loc[got.index])
    # real digits through the unscaled-pixel mistake: the judge loses many it classifies right
    wrong = judge_predictions(judge, test_x, range_0_1=True)
    assert (wrong == test_y).float().mean() < (pred == test_y).float().mean() - 0.05

    assert main([str(out), "--runs", runs[0], "--repeats", "2", "--samples", "200", "--lenet-epochs", "2",
                 "--out", str(tmp_path)]) == 0
    written = pd.read_csv(tmp_path / "gan_test_probe.csv")
    assert len(written) == len(VARIANTS) * 2 and (tmp_path / "gan_test_probe_classes.csv").is_file()
    with pytest.raises(SystemExit):
        main([str(out), "--repeats", "1"])


def Config_of(s):
    from gan.config import DataConfig

    row = s.trials.iloc[0]
    return DataConfig(name=row["data.name"], root=row["data.root"], split=row["data.split"],
                      num_images=int(row["data.num_images"]))
