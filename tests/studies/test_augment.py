"""The augmentation study over a finished sweep (studies.augment): a classifier per mix of real and generated
images, resumable, and read back by the report."""

from analysis.report import build_report


def test_augmentation_study_over_the_sweep_resumes_and_is_reported(sweep, tmp_path):
    """`studies.augment` trains a LeNet per (plan, real, generated, seed) cell with the sweep's best
    generator's images, one MLflow run per cell; a second call trains nothing new; the report shows it."""
    from analysis.augmentation import augmentation_results
    from studies.augment import AugmentPlan, run_augmentation

    s, _ = sweep
    plan = AugmentPlan(real=(0, 1000), generated=(0, 200), plans=("mixed", "pretrained"), epochs=4,
                       classifier="lenet", seeds=(0, 1))
    lines = []
    cells = run_augmentation(s, plan, tmp_path / "aug", log=lines.append)
    assert "0 cells done, 8 to train" in lines[0]  # mixed: 3 cells, pretrained: 1 cell; 2 seeds each
    assert len(cells) == 8 and cells["test_accuracy"].between(0, 1).all()
    best = s.trials.sort_values("fid").iloc[0]["run_id"]
    assert cells.attrs["generator_run"] == best  # the best finished run made the images
    # the real-only cell: 1000 real digits, 4 epochs (about 28 steps), far above chance (0.1) on the held-out
    # digits: 0.668 and 0.618 measured for seeds 0 and 1; 0.35 leaves room for another machine
    real_only = cells[(cells["plan"] == "mixed") & (cells["real"] == 1000) & (cells["generated"] == 0)]
    assert real_only["test_accuracy"].min() > 0.35, real_only
    again = []
    assert len(run_augmentation(s, plan, tmp_path / "aug", log=again.append)) == 8
    assert "8 cells done, 0 to train" in again[0]
    assert len(augmentation_results(s)) == 8
    folder = tmp_path / "report"
    build_report(s, folder, log_to_mlflow=False)
    table = (folder / "augmentation_mixed.md").read_text()
    assert "real \\ generated" in table and "(2)" in table
    assert (folder / "augmentation_mixed.png").is_file() and (folder / "augmentation_pca.png").is_file()
    assert "47.93" not in table and "0.4793" in (folder / "augmentation_published.md").read_text()
