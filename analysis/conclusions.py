"""Plain sentences from the statistics: one per comparison, the best configurations, where the variance
comes from, whether early stopping could be trusted, and how our figures stand beside published ones."""

from __future__ import annotations

import math

import pandas as pd

from stats.asha import GRACE_CORRELATION_WARNING, RELIABLE_CORRELATION, AshaReplay
from record.design import level_label
from record.names import SEED
from stats.fit import TESTS
from stats.contrasts import (
    ALPHA, BETTER, NEEDS_SEEDS, WORSE, Effect, EffectAnalysis, decimals_for, format_number,
)

__all__ = [
    "asha_sentences",
    "race_sentence",
    "best_set_sentence",
    "collapse_sentences",
    "coherence_sentence",
    "effect_sentence",
    "effect_table",
    "interacting",
    "interaction_sentence",
    "model_sentences",
    "plan_sentence",
    "significance_note",
    "variance_sentence",
    "variances_sentence",
]


def short(name: str) -> str:
    """`model.g_width` -> `g_width`; a variant's label stays as it is."""
    return name.split(".")[-1]


def _range(low: float, high: float, d: int) -> str:
    return f"{format_number(low, d)} to {format_number(high, d)}"


def _pct(ratio: float) -> str:
    """A ratio as a signed percentage change: 0.71 -> -29%."""
    return f"{(ratio - 1) * 100:+.0f}%".replace("-0%", "0%").replace("+0%", "0%")


def _change(e: Effect, metric: str) -> tuple[str, str]:
    """(the change as the report states it, its 95% interval), on the scale the comparison was fitted on."""
    if e.scale == "log":
        return _pct(e.ratio), f"{_pct(e.ratio_low)} to {_pct(e.ratio_high)}"
    d = decimals_for((e.high - e.low) / 2, e.estimate)
    sign = "+" if e.estimate >= 0 else ""
    return f"{sign}{format_number(e.estimate, d)}", _range(e.low, e.high, d)


def _means(e: Effect) -> str:
    """`148 -> 104` in metric units: the two sides' means (geometric on the log scale)."""
    if not (math.isfinite(e.level_mean) and math.isfinite(e.baseline_mean)):
        return ""
    d = decimals_for(abs(e.difference) / 2, e.baseline_mean)
    return f"{format_number(e.baseline_mean, d)} -> {format_number(e.level_mean, d)}; "


def plan_sentence(e: Effect, metric: str) -> str:
    """How many seeds per configuration would settle an undecided comparison."""
    if not math.isfinite(e.target):
        return ""
    d = decimals_for(e.target / 2, e.target)
    what = (f"a {e.target / e.baseline_mean:.0%} change ({format_number(e.target, d)} {metric})" if e.scale == "log"
            else f"a difference of {format_number(e.target, d)} {metric}")
    if e.seeds_needed is None:
        return f" Detecting {what} with 80% power would take more than 1000 seeds per configuration."
    more = "" if e.seeds_needed > e.seeds_now else " (as many as it has: a rerun with other seeds may settle it)"
    return (f" Detecting {what} with 80% power takes {e.seeds_needed} seeds per configuration; this sweep has "
            f"{e.seeds_now}{more}.")


def effect_sentence(e: Effect, metric: str, depends_on: list[str] = ()) -> str:
    """One comparison in words; `depends_on` names the parameters it has a real interaction with, whose
    level changes this effect (the average over them then hides that)."""
    caveat = (f" Its size depends on {' and '.join(short(p) for p in depends_on)} (a real interaction, below)."
              if depends_on else "")
    head = f"{short(e.parameter)} {level_label(e.baseline)} -> {level_label(e.level)}"
    over = f"; averaged over {', '.join(short(p) for p in e.averaged_over)}" if e.averaged_over else ""
    runs = f"{e.n_level} vs {e.n_baseline} runs{over}"
    if e.verdict == NEEDS_SEEDS:
        shown = (
            _pct(e.ratio)
            if e.scale == "log" and math.isfinite(e.ratio)
            else format_number(
                e.estimate, decimals_for(abs(e.estimate), e.estimate) if math.isfinite(e.estimate) else 2
            )
        )
        return (f"{head}: {metric} {shown} ({runs}), but a configuration has a single run: needs >= 2 seeds to tell "
                f"an effect from noise.")
    change, ci = _change(e, metric)
    if e.verdict in (BETTER, WORSE):
        verb = "lowers" if e.estimate < 0 else "raises"
        if e.scale == "log":
            lo, hi = sorted((abs(e.ratio_low - 1), abs(e.ratio_high - 1)))
            size, ci = f"{abs(e.ratio - 1):.0%}", f"{lo:.0%} to {hi:.0%}"
        else:
            d = decimals_for((e.high - e.low) / 2, e.estimate)
            lo, hi = sorted((abs(e.low), abs(e.high)))
            size, ci = format_number(abs(e.estimate), d), _range(lo, hi, d)
        return (f"{head} {verb} {metric} by {size} (95% CI {ci}; {_means(e)}{runs}): real, {e.verdict} "
                f"(Holm-adjusted p = {e.p_adjusted:.2g}).{caveat}")
    uncorrected = (" (this interval alone excludes no change; with every comparison of the report corrected for, "
                   "the difference is within noise)" if e.low > 0 or e.high < 0 else "")
    return (f"{head}: no detectable difference ({metric} {change}, 95% CI {ci}{uncorrected}; {_means(e)}{runs})."
            f"{plan_sentence(e, metric)}{caveat}")


def interacting(analysis: EffectAnalysis, parameter: str) -> list[str]:
    """The parameters `parameter` has a real (Holm-significant) interaction with."""
    out = []
    for e in analysis.interactions:
        p, q = e.parameter.split(" x ")
        if e.verdict == "interaction" and parameter in (p, q):
            other = q if parameter == p else p
            if other not in out:
                out.append(other)
    return out


def interaction_sentence(e: Effect, metric: str) -> str:
    p, q = e.parameter.split(" x ")  # the interaction's two parameters
    step = f"{short(p)} {level_label(e.baseline[0])} -> {level_label(e.level[0])}"
    at, at_base = (f"when {short(q)} is {level_label(e.level[1])}", f"when it is {level_label(e.baseline[1])}")
    if e.scale == "log":
        r1, r2 = e.simple if len(e.simple) == 2 else (math.nan, math.nan)
        second = (f"by {abs(r2 - 1):.0%}" if math.isfinite(r1) and math.isfinite(r2) and (r1 < 1) == (r2 < 1)
                  else _change_words(r2, "it"))
        what = f"{step} {_change_words(r1, metric)} {at} and {second} {at_base}"
        ci = f"the ratio of the two {e.ratio:.2f}, 95% CI {e.ratio_low:.2f} to {e.ratio_high:.2f}"
    else:
        d = decimals_for((e.high - e.low) / 2, e.estimate)
        what = f"{step} changes {metric} by {format_number(e.estimate, d)} more {at} than {at_base}"
        ci = f"95% CI {_range(e.low, e.high, d)}"
    if e.verdict == NEEDS_SEEDS:
        return f"Largest two-way interaction: {what}; with single runs it cannot be told from noise."
    real = "a real interaction" if e.verdict == "interaction" else "within noise"
    return f"Largest two-way interaction: {what} ({ci}): {real} (Holm-adjusted p = {e.p_adjusted:.2g})."


def _change_words(ratio: float, what: str) -> str:
    if not math.isfinite(ratio):
        return f"changes {what} by an unknown amount"
    return f"{'lowers' if ratio < 1 else 'raises'} {what} by {abs(ratio - 1):.0%}"


def effect_table(analysis: EffectAnalysis) -> pd.DataFrame:
    rows = []
    for e in analysis.effects + analysis.interactions:
        change, ci = _change(e, analysis.metric)
        if e.scale == "log":
            detectable = f"{math.expm1(e.detectable):.0%}" if math.isfinite(e.detectable) else "-"
        else:
            detectable = format_number(e.detectable, decimals_for(e.detectable, e.detectable))
        d = decimals_for(abs(e.difference) / 2, e.baseline_mean) if math.isfinite(e.difference) else 2
        rows.append({
            "comparison": (f"{short(e.parameter)} {level_label(e.baseline)} -> {level_label(e.level)}"
                           if e.kind == "effect" else
                           " x ".join(f"{short(p)} {level_label(b)} -> {level_label(a)}" for p, a, b in
                                      zip(e.parameter.split(" x "), e.level, e.baseline)) + " (interaction)"),
            "change": change, "95% CI": ci,
            "means": (f"{format_number(e.baseline_mean, d)} -> {format_number(e.level_mean, d)}"
                      if math.isfinite(e.difference) else ""),
            "runs": f"{e.n_level} vs {e.n_baseline}", "method": e.method,
            "averaged over": ", ".join(short(p) for p in e.averaged_over),
            "p": f"{e.p:.2g}" if math.isfinite(e.p) else "-",
            "Holm p": f"{e.p_adjusted:.2g}" if math.isfinite(e.p_adjusted) else "-",
            "detectable": detectable,
            "seeds for target": ("-" if not math.isfinite(e.target) else
                                 "> 1000" if e.seeds_needed is None else str(e.seeds_needed)),
            "verdict": e.verdict,
        })
    return pd.DataFrame(rows)


def best_set_sentence(table: pd.DataFrame, params: list[str], metric: str) -> str:
    """The configurations that cannot be told apart from the best; `table` is a fit's cells (ranked, with
    `cell` and `in_best_set`)."""
    if table.empty:
        return f"No trial finished with a finite {metric}: nothing to rank."
    top = table.iloc[0]
    config = lambda row: ", ".join(f"{short(p)}={level_label(row[p])}" for p in params) or "the base config"  # noqa: E731
    if len(table) == 1:  # e.g. a partial sweep: no other configuration has finished yet
        return (f"Only one configuration has finished runs ({config(top)}, {metric} {top['cell']}): nothing to rank "
                f"it against.")
    if table["in_best_set"].isna().any():
        return (f"Best configuration: cannot be told from noise with one run per configuration (the best single run: "
                f"{config(top)}, {metric} {top['cell']}). Run at least 2 seeds to know which configurations tie.")
    kept = table[table["in_best_set"] == True]  # noqa: E712  (object column)
    names = "; ".join(f"{config(r)} ({r['cell']})" for _, r in kept.iterrows())
    if len(kept) == 1:
        return f"Best configuration: {names}, distinguishable from every other at 95%."
    return (f"Best configurations: {len(kept)} of {len(table)} cannot be told apart at 95% (Gupta's subset selection): "
            f"{names}. Any of them may be the best; the order among them is noise.")


def coherence_sentence(analysis: EffectAnalysis, table: pd.DataFrame) -> str | None:
    """Why a single best configuration can stand beside factors that each show no detectable difference;
    None when the report says nothing that needs it."""
    kept = table[table["in_best_set"] == True] if "in_best_set" in table else table.iloc[0:0]  # noqa: E712
    if len(kept) != 1 or len(table) < 2:
        return None
    best = kept.iloc[0]
    differ = [p for p in analysis.params if p in table and (table[p] != best[p]).any()]
    decided = {e.parameter for e in analysis.effects if e.verdict in (BETTER, WORSE)}
    if not differ or decided & set(differ):
        return None
    real = [e for e in analysis.interactions if e.verdict == "interaction"]
    why = ("its advantage comes from the combination of its levels, which the real interaction above measures"
           if real else
           "a comparison of two single configurations pools fewer runs' worth of evidence against fewer "
           "alternatives than a factor averaged over the others, so it can be sharper; no factor is shown to "
           "matter on average")
    return (f"Best configuration and factors: it is distinguishable from every other configuration although no "
            f"factor alone has a detectable effect; {why}.")


def variance_sentence(vc: dict | None, metric: str, uncertainty: str | None) -> str:
    if vc is None:
        return f"Seed-to-seed spread of {metric}: unknown (no configuration has two finished runs)."
    if vc.get("scale") == "log":  # SDs of log(metric): shares of its value
        show, what = (lambda v: f"{v:.1%}"), f" of its value (the SD of log {metric}, "
    else:
        d = decimals_for(vc["seed_sd"] / 2, vc["seed_sd"])
        show, what = (lambda v: format_number(v, d)), " ("
    text = (f"Seed-to-seed SD of the final {metric}: {show(vc['seed_sd'])}{what}pooled over configurations, "
            f"{vc['seed_df']:.0f} degrees of freedom)")
    if "sampling_sd" in vc:
        text += (f"; evaluation-sampling SD ({uncertainty}): {show(vc['sampling_sd'])}, so retraining with a new "
                 f"seed moves {metric} {vc['ratio']:.1f} times more than redrawing the samples of one model")
    return text + "."


def variances_sentence(equal_variances: bool, bartlett_p: float, metric: str) -> str | None:
    """Said only when the configurations' variances clearly differ, and the tests fall back on Welch."""
    if equal_variances:
        return None
    return (
        f"The seed-to-seed variance of {metric} differs between configurations (Bartlett's test p = "
        f"{bartlett_p:.2g}, below 0.01): every interval and test uses each configuration's own variance "
        f"(Welch-Satterthwaite degrees of freedom) instead of the pooled one, which holds whatever the variances but "
        f"finds less."
    )


def model_sentences(fit, params: list[str], uncertainty: str | None) -> list[str]:
    """Everything the report's one fitted model (`stats.fit.DesignFit`) says, in order: each effect,
    the largest interaction, the best set (and why it stands beside undecided factors, where it does),
    a warning when the variances differ or the scale fell back, and the variance components."""
    analysis, metric = fit.analysis, fit.metric
    out = [effect_sentence(e, metric, interacting(analysis, e.parameter)) for e in analysis.effects]
    top = analysis.largest_interaction()
    if top is not None:
        out.append(interaction_sentence(top, metric))
    out.append(best_set_sentence(fit.cells, params, metric))
    out += [t for t in (coherence_sentence(analysis, fit.cells),
                        variances_sentence(fit.equal_variances, fit.bartlett_p, metric), fit.scale_note) if t]
    out.append(variance_sentence(fit.variance, metric, uncertainty))
    return out + collapse_sentences(fit, params, metric)


def collapse_sentences(fit, params: list[str], metric: str) -> list[str]:
    """Which runs collapsed (stats.collapse), that they were left out of the fit, and each factor whose levels
    collapse at different rates; nothing for a sweep in which no run collapsed."""
    if fit.collapsed.empty:
        return []
    runs = []
    for _, r in fit.collapsed.iterrows():
        config = ", ".join(f"{short(p)}={level_label(r[p])}" for p in params if p in r) or "the base config"
        seed = f", seed {int(r[SEED])}" if SEED in r and pd.notna(r[SEED]) else ""
        how = (f"{metric} {r[metric]:.4g}, {r['z']:.1f} SDs beyond the rest of its configuration"
               if pd.notna(r.get("z")) else "diverged")
        runs.append(f"{config}{seed} ({how})")
    total = int(fit.failure_rates["runs"].sum()) if not fit.failure_rates.empty else len(fit.collapsed)
    out = [f"Collapsed runs: {len(fit.collapsed)} of {total}: {'; '.join(runs)}. They are left out of every "
           f"verdict and interval above, and counted as failures below (a run that diverged, or one far on the bad "
           f"side of its configuration's other runs: Bonferroni-corrected outlier test at 1%)."]
    for f in fit.failures:
        rates = (f"{short(f.parameter)} {level_label(f.level)} collapses in {f.collapsed_level} of {f.runs_level} "
                 f"runs against {f.collapsed_baseline} of {f.runs_baseline} at {level_label(f.baseline)}")
        if f.verdict.startswith("collapses"):
            out.append(f"{rates}: real, it {f.verdict} (Fisher's exact test, Holm-adjusted p = {f.p_adjusted:.2g}).")
        elif f.collapsed_level or f.collapsed_baseline:
            out.append(f"{rates}: no detectable difference in how often they collapse (Fisher's exact test, "
                       f"Holm-adjusted p = {f.p_adjusted:.2g}).")
    return out


def asha_sentences(correlations: pd.DataFrame, early_stopping: dict, replay: AshaReplay | None,
                   best_label: str | None, best_stopped: tuple[int, int] | None) -> list[str]:
    """Rank correlation at the grace rung (with a warning below GRACE_CORRELATION_WARNING) and, for a sweep
    that ran without early stopping, what a replayed ASHA would have done."""
    out = []
    grace = int(early_stopping.get("grace_period") or 1)
    rf = early_stopping.get("reduction_factor") or 2
    if not correlations.empty:
        at = correlations.set_index("evaluation")
        if grace in at.index:
            rho, n = at.loc[grace, "rho"], int(at.loc[grace, "trials"])
            text = (f"Early stopping: at the grace rung (evaluation {grace}) the rank correlation with the final "
                    f"metric is {rho:.2f} (Spearman, {n} trials that finished)")
            if rho < GRACE_CORRELATION_WARNING:
                later = correlations[
                    (correlations["evaluation"] > grace) & (correlations["rho"] >= RELIABLE_CORRELATION)
                ]
                hint = (f"; a grace period of {int(later['evaluation'].iloc[0])} evaluations (rho "
                        f"{later['rho'].iloc[0]:.2f}) would rank reliably" if not later.empty else
                        "; no evaluation before the last ranks reliably, so run without early stopping")
                text += f": below {GRACE_CORRELATION_WARNING}, so early stopping is unreliable for this study{hint}."
            else:
                text += "."
            out.append(text)
    if replay is not None:
        text = (f"Replayed ASHA (grace {grace}, reduction factor {rf:g}) over these histories, every trial running "
                f"at once, would have stopped "
                f"{len(replay.stopped)} trials and saved {replay.saved_fraction:.0%} of the evaluations")
        if best_label and best_stopped is not None:
            stopped, runs = best_stopped
            fate = ("kept all its runs" if stopped == 0 else
                    f"lost {stopped} of its {runs} runs to early stopping")
            text += f"; the best configuration by final mean ({best_label}) would have {fate}"
        out.append(text + ".")
    return out


def race_sentence(rules: pd.DataFrame, grace: int, reduction_factor: float) -> str:
    """The replayed ASHA beside the replayed race (`stats.race.compare_rules`), in one sentence."""
    asha, race = (rules.iloc[i] for i in (0, 1))

    def said(row) -> str:
        near = int(row["near-best configurations stopped"])
        return (f"{row['evaluations saved']} of the evaluations saved, {int(row['runs stopped'])} runs stopped in "
                f"{int(row['configurations touched'])} configurations, the best set "
                + ("kept whole" if row["best set kept whole"] == "yes" else "cut into")
                + (f", {near} configuration{'s' if near != 1 else ''} within min_effect of the best stopped" if near
                   else ", none within min_effect of the best stopped"))

    return (f"Seed-aware early stopping replayed at the same rungs (grace {grace}, reduction factor "
            f"{reduction_factor:g}; a configuration stopped with all its seeds once the model shows it worse than the "
            f"incumbent by more than min_effect, at the rung's share of the 5%): {said(race)}; ASHA on single runs: "
            f"{said(asha)}.")


def significance_note(family: int, scale: str, metric: str, tests: str = "hc2") -> str:
    fitted = f"log {metric}" if scale == "log" else metric
    how = TESTS[tests]
    centre = "geometric means over seeds" if scale == "log" else "means over seeds"
    return (f"Verdicts: one OLS fit of {fitted} on a mean per configuration; effects are contrasts of configuration "
            f"means averaged over the other parameters, tested with {how}, Holm-corrected over the {family} "
            f"comparisons of this report at family-wise {ALPHA:.0%}; the best set is Gupta's subset selection on the "
            f"same fit. Configurations show {centre} with 95% intervals from the fit's pooled variance. The seeds a "
            f"comparison needs are those that detect the stated difference with 80% power at the Bonferroni level.")
