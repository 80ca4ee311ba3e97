"""The scorecard's matching of published figures to the trials of their configuration."""

import pandas as pd

from analysis.scorecard import scorecard
from record.design import Factor, level_label
from record.figures import PublishedFigure

LEVELS = [{"model.label_dim": 64}, {"train.epochs": 200}, {"model.label_dim": 256}]
ABLATION = Factor(name="ablation", keys=["model.label_dim", "train.epochs"], levels=LEVELS, variant=True,
                  defaults={"model.label_dim": 64, "train.epochs": 100})


def trials() -> pd.DataFrame:
    rows = []
    for level, settings, values in ((LEVELS[0], {"model.label_dim": 64, "train.epochs": 100}, [0.80, 0.81, 0.82]),
                                    (LEVELS[1], {"model.label_dim": 64, "train.epochs": 200}, [0.40, 0.41, 0.42])):
        for seed, v in enumerate(values):
            rows.append({"ablation": level_label(level), "data.name": "fashion_mnist", **settings, "train.seed": seed,
                         "gan_test_acc": v, "status": "completed"})
    return pd.DataFrame(rows)


def test_a_figure_of_a_variant_level_claims_that_level_alone():
    # both levels run with label_dim 64; the figure of the level `label_dim: 64` (epochs at its base, 100)
    # must not average in the 200-epoch trials
    figures = [PublishedFigure(params={"data.name": "fashion_mnist", "model.label_dim": 64}, metric="gan_test_acc",
                               value=0.43, dataset="fashion_mnist", source="t"),
               PublishedFigure(params={"data.name": "fashion_mnist", "train.epochs": 200}, metric="gan_test_acc",
                               value=0.44, dataset="fashion_mnist", source="t"),
               PublishedFigure(params={"data.name": "fashion_mnist", "model.label_dim": 256}, metric="gan_test_acc",
                               value=0.9, dataset="fashion_mnist", source="t"),
               PublishedFigure(params={"data.name": "mnist", "model.label_dim": 64}, metric="gan_test_acc",
                               value=0.9, dataset="mnist", source="t")]
    card = scorecard(trials(), figures, extractor="domain", final_samples=10000, dataset="fashion_mnist",
                     factors=[ABLATION]).table
    ours = list(card["ours (mean ± 95% CI (n))"])
    assert ours[0].startswith("0.81") and ours[0].endswith("(3)")
    assert ours[1].startswith("0.41") and ours[1].endswith("(3)")
    assert ours[2] == ours[3] == "-"  # a level without runs here; another dataset
    assert card["verdict"][0] == "published value outside our 95% interval (ours higher)"
    assert card["verdict"][2] == card["verdict"][3] == "not run at this scale"
    # matched on the raw keys alone, the first figure would take all six runs
    loose = scorecard(trials(), figures[:1], extractor="domain", final_samples=10000, dataset="fashion_mnist").table
    assert loose["ours (mean ± 95% CI (n))"][0].endswith("(6)")


def test_a_lone_finished_configuration_is_not_called_distinguishable():
    from analysis.conclusions import best_set_sentence
    from stats.contrasts import cell_table

    one = trials()[lambda t: t["ablation"] == level_label(LEVELS[0])]
    table = cell_table(one, "gan_test_acc", ["ablation"])
    text = best_set_sentence(table, ["ablation"], "gan_test_acc")
    assert text.startswith("Only one configuration has finished runs") and "distinguishable" not in text


def _contradicts(sentences: list[str], fit, params: list[str]) -> bool:
    """A report that calls one configuration distinguishable from every other, while every factor it differs
    from the others by gets "no detectable difference", and says nothing about why."""
    from stats.contrasts import NO_DIFFERENCE

    if not any("distinguishable from every other" in s for s in sentences):
        return False
    best = fit.cells[fit.cells["in_best_set"] == True].iloc[0]  # noqa: E712
    differ = [p for p in params if (fit.cells[p] != best[p]).any()]
    undecided = all(e.verdict == NO_DIFFERENCE for e in fit.analysis.effects if e.parameter in differ)
    return undecided and not any(s.startswith("Best configuration and factors:") for s in sentences)


def test_a_report_never_calls_a_configuration_distinguishable_while_every_factor_is_undecided_unexplained():
    """Simulated 2x2 studies in which one corner is better and the rest tie: a comparison of two single
    configurations is then sharper than either factor's average, the case where a report could contradict
    itself. Every report must either not say so or say why."""
    import numpy as np

    from stats.calibration import trials_table
    from analysis.conclusions import model_sentences
    from stats.fit import fit_design

    rng = np.random.default_rng(0)
    explained = 0
    for _ in range(150):
        corner = rng.uniform(0.84, 0.93)  # where the pairwise test can decide and the averages cannot
        cells = {(a, b): list(150 * (corner if (a, b) == (1, 1) else 1) * np.exp(rng.normal(0, 0.05, 3)))
                 for a in (0, 1) for b in (0, 1)}
        fit = fit_design(trials_table(cells, ["a", "b"]), "fid", "min", ["a", "b"], {"a": 0, "b": 0})
        sentences = model_sentences(fit, ["a", "b"], None)
        assert not _contradicts(sentences, fit, ["a", "b"]), sentences
        explained += any(s.startswith("Best configuration and factors:") for s in sentences)
    assert explained >= 3  # the case arises, so the check above is not vacuous


def _two_by_two(g_effect: float, noise: float = 0.03) -> pd.DataFrame:
    """FIDs of a 2x2 grid, 3 seeds each: g_width 8 -> 32 multiplies FID by `g_effect`, d_width does nothing."""
    rows = []
    for g in (8, 32):
        for d in (8, 32):
            for seed, wobble in enumerate((1 - noise, 1.0, 1 + noise)):
                rows.append({"model.g_width": g, "model.d_width": d, "train.seed": seed, "status": "completed",
                             "fid": 150 * (g_effect if g == 32 else 1.0) * wobble * (1 + 0.002 * (d == 32))})
    return pd.DataFrame(rows)


def test_the_answer_states_each_verdict_as_a_plain_change_with_its_interval():
    from analysis.answer import answer_line, best_line
    from stats.fit import fit_design

    params = ["model.g_width", "model.d_width"]
    fit = fit_design(_two_by_two(0.7), "fid", "min", params, {"model.g_width": 8, "model.d_width": 8})
    lines = {e.parameter: answer_line(e, "fid") for e in fit.analysis.effects + fit.analysis.interactions}
    g = lines["model.g_width"]
    assert g.startswith("g_width 8 -> 32: fid 30% lower (") and g.endswith("), real")
    low, high = (float(x.rstrip("%")) for x in g.split("(")[1].split(")")[0].split(" to "))
    assert low < 30 < high  # the interval holds the estimate, both sides said as reductions
    d = lines["model.d_width"]
    assert d.startswith("d_width 8 -> 32: fid ") and d.endswith(", within noise") and " lower to " in d
    best = best_line(fit.cells, params, "fid")
    assert best.startswith("best set: ") and best.count("g_width=32") == 2 and "g_width=8" not in best
