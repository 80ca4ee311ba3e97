"""Figures other studies published: the spec's published figures beside ours (the scorecard), and the
augmentation study (`python -m studies.augment`, read back by analysis.augmentation) run over this sweep's best
generator."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

from analysis import plots
from analysis.augmentation import PLANS, accuracy_grid, augmentation_results, published_beside
from analysis.scorecard import scorecard
from analysis.load import Sweep, download_artifact
from analysis.report._page import Page


def sweep_scorecard(sweep: Sweep, extractor: str):
    """`analysis.scorecard.scorecard` of the spec's published figures against this sweep's trials."""
    trials = sweep.trials
    dataset = str(trials["data.name"].iloc[0]) if "data.name" in trials else None
    return scorecard(trials, sweep.design.published if sweep.design else [], extractor=extractor,
                     final_samples=int(trials["eval_samples"].max()) if "eval_samples" in trials else 0,
                     dataset=dataset, factors=sweep.design.factors if sweep.design else [])


def scorecard_table(page: Page, card) -> None:
    if not card.table.empty:
        page.add_table("scorecard", "Published figures beside ours", card.table,
                       note="<p>Our mean and 95% interval over the runs of the published configuration. Figures "
                            "measured with another feature extractor or on another dataset are not compared.</p>")


def augmentation_section(page: Page, sweep: Sweep, client) -> None:
    """The augmentation study's accuracy grid and contour per plan, its published figures beside ours, and
    its PCA figure; nothing when the study was not run."""
    aug = augmentation_results(sweep)
    if aug is None or aug.empty:
        return
    note = _augmentation_note(aug.attrs)
    for name in [p for p in PLANS if p in set(aug["plan"])]:
        page.add_table(f"augmentation_{name}", f"Augmentation ({name}): test accuracy (%) by real (rows) and "
                                               "generated (columns) training images", accuracy_grid(aug, name),
                       note=note)
        page.add_figure(f"augmentation ({name}): test accuracy over real and generated training images",
                        plots.accuracy_contour(aug, name, page.out_dir / f"augmentation_{name}.png"))
    page.add_table("augmentation_published", "Augmentation: the study's figures beside ours", published_beside(aug))
    with tempfile.TemporaryDirectory() as tmp:
        pca = download_artifact(client, aug.attrs["run_id"], "pca.png", Path(tmp))
        if pca:
            (page.out_dir / "augmentation_pca.png").write_bytes(Path(pca).read_bytes())
            page.add_figure("penultimate activations of 100 real test and 100 generated images (PCA)",
                            page.out_dir / "augmentation_pca.png")


def _augmentation_note(meta: dict) -> str:
    esc = html.escape  # the study's plan and run id come from the tracking store
    plan = meta.get("plan", {})
    return (f"<p>A {esc(str(plan.get('classifier', '?')))} classifier trained for {esc(str(plan.get('epochs', '?')))} "
            f"epochs on real training images mixed with images of generator run "
            f"<code>{esc(str(meta.get('generator_run')))}</code>, scored "
            f"on the real test split; mean ± 95% CI over {len(plan.get('seeds', []))} trainings per cell (n). "
            "Plans: <i>mixed</i> (shuffled together), <i>filtered</i> (only generated images the real-data "
            "classifier labels as their class), <i>pretrained</i> (half the epochs on generated, then real).</p>")
