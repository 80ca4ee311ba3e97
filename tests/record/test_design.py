"""record.design and record.figures: design.json reads back as written, and a published figure is compared with
ours by one rule."""

from __future__ import annotations

import math

from record.design import Factor, SweepDesign, level_label, variant_settings
from record.figures import INSIDE, MISSING, NO_INTERVAL, NOT_COMPARABLE, OUTSIDE, PublishedFigure, figure_verdict


def test_a_design_reads_back_from_its_json_as_it_was_written():
    design = SweepDesign(
        metric="fid", mode="min", method="grid", seeds=[0, 1],
        factors=[Factor("model.g_width", ["model.g_width"], [8, 32], baseline=32),
                 Factor("ablation", ["model.batch_norm"], [{"name": "no bn", "model.batch_norm": False}],
                        variant=True, defaults={"model.batch_norm": True})],
        early_stopping={"type": "race", "grace_period": 1}, extractor="domain", final_samples=2000,
        published=[PublishedFigure({"model.g_width": 32}, "fid", 24.6, "a table")], min_effect=5.0)
    assert SweepDesign.from_json(design.to_json()) == design


def test_levels_are_written_one_way():
    assert level_label(8) == "8" and level_label((0.5, 0.999)) == "(0.5, 0.999)" == level_label([0.5, 0.999])
    named = {"name": "no bn", "model.batch_norm": False}
    assert level_label(named) == "no bn" and variant_settings(named) == {"model.batch_norm": False}
    assert level_label({"loss.label_smoothing": 0.1}) == "label_smoothing=0.1"


def test_a_published_figure_is_inside_outside_or_not_compared_and_says_why():
    assert figure_verdict(25.0, 3, 24.0, 22.0, 26.0)[0] == INSIDE
    kind, sentence = figure_verdict(30.0, 3, 24.0, 22.0, 26.0)
    assert kind == OUTSIDE and "ours lower" in sentence
    assert figure_verdict(25.0, 3, 24.0, 22.0, 26.0, reasons=["measured with inception"])[0] == NOT_COMPARABLE
    assert figure_verdict(25.0, 1, 24.0, math.nan, math.nan)[0] == NO_INTERVAL
    assert figure_verdict(25.0, 0, math.nan, math.nan, math.nan) == (MISSING, "not run at this scale")
