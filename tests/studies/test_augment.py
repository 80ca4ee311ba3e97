"""The augmentation study over a finished sweep (studies.augment): a classifier per mix of real and generated
images, resumable, and read back by the report."""

import pytest
import scipy.stats
import statsmodels.api as sm

from analysis.augmentation import augmentation_claim, augmentation_claims
from analysis.claims import claims_page
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
    # the study's claim, generated images help: 1000 real alone against 1000 real + 200 generated, the test
    # Bartlett's rule picks (HC2 or Welch) as every verdict, its p the same as statsmodels' or scipy's own
    claim = augmentation_claim(cells)
    assert (claim.claim.parameter, claim.claim.level, claim.claim.against) == ("generated", "200", "0")
    assert "ours at 1000 + 200" in claim.claim.not_comparable
    part = cells[(cells["plan"] == "mixed") & (cells["real"] == 1000)]
    helped = (part["generated"] > 0).to_numpy(dtype=float)
    acc = part["test_accuracy"].to_numpy()
    if claim.effect.method == "hc2":
        ols = sm.OLS(acc, sm.add_constant(helped)).fit(cov_type="HC2", use_t=True)
        estimate, p = ols.params[1], ols.pvalues[1]
    else:
        estimate = acc[helped == 1].mean() - acc[helped == 0].mean()
        p = scipy.stats.ttest_ind(acc[helped == 1], acc[helped == 0], equal_var=False).pvalue
    assert claim.effect.estimate == pytest.approx(estimate) and claim.effect.p == pytest.approx(p)
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
    assert "001-augmentation-4-epochs" in (folder / "claims.md").read_text()  # the report judges the study's claim
    row = next(line for line in claims_page([s], "test CPU").splitlines()
               if line.startswith("| 001-augmentation-4-epochs"))
    assert "seeds 0,1 of the classifier" in row and f"({s.experiment})" in row  # the claims page's row
    # a second study, the classifier trained 2 epochs: the claim judged for each budget, newest first
    short = AugmentPlan(real=(1000,), generated=(0, 200), plans=("mixed",), epochs=2, classifier="lenet", seeds=(0, 1))
    run_augmentation(s, short, tmp_path / "aug", log=lines.append)
    judged = augmentation_claims(s)
    assert [v.claim.id for v, _ in judged] == ["001-augmentation-2-epochs", "001-augmentation-4-epochs"]
    assert [len(cells) for _, cells in judged] == [4, 8]
