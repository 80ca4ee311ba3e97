"""The adaptive-replication rule: its spending of the 5% over looks and a look's decisions against an
independent refit (no training). Its error control by simulation is tests/stats/test_adaptive_calibration.py."""

import math

import numpy as np
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.multitest import multipletests

from stats.adaptive import DECIDED, MAX_SEEDS, alpha_at, next_round
from stats.calibration import trials_table


@pytest.mark.parametrize("rho", [1.0, 2.0, 3.0])
def test_the_looks_spend_exactly_the_5_percent_and_no_more(rho):
    shares = [alpha_at(t, 5, rho=rho) for t in range(1, 6)]
    assert sum(shares) == pytest.approx(0.05) and all(a > 0 for a in shares)
    assert alpha_at(1, 1) == pytest.approx(0.05)  # a fixed design: one look at the whole 5%
    with pytest.raises(ValueError):
        alpha_at(6, 5)


def test_a_look_decides_what_an_independent_refit_calls_significant_at_that_looks_level():
    rng = np.random.default_rng(4)
    cells = {(a, b): list(150 * (0.7 if a else 1.0) * (0.97 if b else 1.0) * np.exp(rng.normal(0, 0.05, 3)))
             for a in (0, 1) for b in (0, 1)}
    data = trials_table(cells, ["a", "b"])
    r = next_round(data, "fid", "min", ["a", "b"], {"a": 0, "b": 0}, look=1, looks=4,
                   seeds={c: 3 for c in cells}, max_seeds=6)
    fit = smf.ols("np.log(fid) ~ C(a, Sum) * C(b, Sum)", data=data).fit()
    names = ["C(a, Sum)[S.0]", "C(b, Sum)[S.0]", "C(a, Sum)[S.0]:C(b, Sum)[S.0]"]
    adjusted = multipletests([fit.pvalues[n] for n in names], method="holm")[1]
    level = alpha_at(1, 4)
    assert level == pytest.approx(0.05 / 16)  # the default spending, rho = 2: (1/4)^2 of the 5%
    expected = {key for key, p in zip([("a", "1"), ("b", "1"), ("a x b", "(1, 1)")], adjusted) if p < level}
    assert set(r.decided) == expected and ("a", "1") in expected
    assert r.alpha == pytest.approx(level)
    if ("b", "1") not in expected and ("b", "1") not in r.settled:  # b is open: every configuration gets a seed
        assert sorted(r.add) == sorted(cells) and r.stop is None


def test_a_clear_answer_stops_at_the_first_look_and_max_seeds_stops_the_rest():
    rng = np.random.default_rng(0)
    clear = {(lv,): list(150 * (0.5 if lv else 1.0) * np.exp(rng.normal(0, 0.01, 2))) for lv in (0, 1)}
    r = next_round(trials_table(clear, ["p"]), "fid", "min", ["p"], {"p": 0}, look=1, looks=5,
                   seeds={c: 2 for c in clear}, max_seeds=6)
    assert r.stop == DECIDED and r.add == [] and r.decided[("p", "1")][0] == "better"
    vague = {(lv,): list(150 * np.exp(rng.normal(0, 0.2, 6))) for lv in (0, 1)}
    r = next_round(trials_table(vague, ["p"]), "fid", "min", ["p"], {"p": 0}, look=5, looks=5,
                   seeds={c: 6 for c in vague}, max_seeds=6)
    assert r.stop == MAX_SEEDS and r.add == []


def test_the_report_quotes_the_verdicts_the_looks_reached_whatever_type_its_levels_are_read_as():
    from stats.adaptive import record, round_record, sequential_verdicts
    from stats.fit import fit_design

    rng = np.random.default_rng(2)
    # g lowers FID by 30% only when d is at its second level: main effects and the interaction all real
    cells = {
        (g, d): list(150 * (0.6 if g == d == 32 else 0.9 if 32 in (g, d) else 1.0) * np.exp(rng.normal(0, 0.03, 3)))
        for g in (8, 32)
        for d in (8, 32)
    }
    data = trials_table(cells, ["g", "d"])
    r = next_round(data, "fid", "min", ["g", "d"], {"g": 8, "d": 8}, look=1, looks=1, seeds={c: 3 for c in cells},
                   max_seeds=3)
    assert {v for v, _ in r.decided.values()} >= {"better", "interaction"}
    rec = record(["g", "d"], [list(c) for c in cells], [3] * 4, 3, 3, [round_record(r, {c: 3 for c in cells})], r.stop)
    as_text = data.assign(g=data["g"].astype(str), d=data["d"].astype(str))  # as MLflow params come back
    fit = sequential_verdicts(fit_design(as_text, "fid", "min", ["g", "d"], {"g": "8", "d": "8"}), rec)
    said = {(e.parameter, e.verdict) for e in fit.analysis.effects + fit.analysis.interactions}
    assert said == {(p, v) for (p, _), (v, _) in r.decided.items()} | {
        (e.parameter, e.verdict)
        for e in fit.analysis.effects + fit.analysis.interactions
        if e.verdict == "no detectable difference"
    }
    assert ("g x d", "interaction") in said


def test_an_open_interaction_gets_seeds_only_while_its_estimate_is_beyond_min_effect():
    def look(interaction: float):
        # no sampling: each configuration's two seeds sit at its mean x exp(+-0.04), a pooled SD of log FID of
        # 0.057; both main effects (log 0.6, log 0.7) are then 9 to 13 standard errors out, decided at the
        # first look's 0.56%, and the interaction's log ratio `interaction` has a standard error of 0.08
        cells = {(a, b): [150 * (0.6 if a else 1.0) * (0.7 if b else 1.0) * math.exp(interaction if a and b else 0.0)
                          * math.exp(d) for d in (0.04, -0.04)] for a in (0, 1) for b in (0, 1)}
        return next_round(trials_table(cells, ["a", "b"]), "fid", "min", ["a", "b"], {"a": 0, "b": 0}, look=1,
                          looks=3, seeds={c: 2 for c in cells}, max_seeds=4)

    # an interaction of 0.2 on the log scale (t = 2.5, p = 0.07: far from decided) is beyond the 10% margin (0.095):
    # every configuration gets a seed, for the interaction
    r = look(-0.2)
    assert {("a", "1"), ("b", "1")} <= set(r.decided) and ("a x b", "1/1") not in r.decided
    assert sorted(r.add) == [(0, 0), (0, 1), (1, 0), (1, 1)] and all("a x b" in why for why in r.reasons.values())
    # none: it spends nothing, and the sweep ends
    r = look(0.0)
    assert r.add == [] and r.stop is not None and ("a x b", "1/1") not in r.decided
