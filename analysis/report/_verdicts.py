"""The model's verdicts: the conclusions, the configurations with their intervals and the best set, the seeds
of an adaptive sweep, the effects against the baseline and the fitted model itself."""

from __future__ import annotations

import dataclasses
import html
import math
from pathlib import Path

import pandas as pd

from analysis import plots
from stats.adaptive import record_table, sequential_sentence
from analysis.answer import answer_line, best_line
from analysis.augmentation import CLAIM_ID as AUGMENTATION_CLAIM
from analysis.claims import claim_line, claims_frame
from analysis.conclusions import effect_table, short
from stats.layout import LOG
from stats.fit import TESTS
from analysis.report._page import Page
from record.design import level_label
from record.names import SEED


def fit_summary(fit) -> pd.DataFrame:
    """The fit's own figures, one row each: scale, runs, configurations, residual SD and df, variance check."""
    rows = [
        ("scale", f"log {fit.metric}" if fit.scale == LOG else fit.metric),
        ("model", "OLS on a mean per configuration (every factor and interaction of a factorial grid)"),
        ("runs", int(fit.layout.counts.sum()) if fit.layout else 0),
        ("configurations", len(fit.layout.cells) if fit.layout else 0),
        (
            "residual SD (seed to seed)",
            f"{math.sqrt(fit.residual_var):.4g}" if math.isfinite(fit.residual_var) else "-",
        ),
        ("residual degrees of freedom", f"{fit.residual_df:g}"),
        ("Bartlett's test of equal variances, p", f"{fit.bartlett_p:.3g}" if math.isfinite(fit.bartlett_p) else "-"),
        ("tests", TESTS[fit.tests]),
        ("comparisons under Holm's correction", fit.analysis.family_size),
    ]
    return pd.DataFrame(rows, columns=["what", "value"]).astype({"value": str})


METHOD_DOC = "docs/statistics.md"  # where the method is explained once, in gansweep's own documentation


def answer_section(page: Page, fit, metric: str, factors: list[str], figures: list[tuple[str, Path]]) -> None:
    """The first screen: one line per verdict in plain words, the best configuration, then the forest plot and
    the sample grids beside them. answer.md holds the lines."""
    analysis = fit.analysis
    lines = [answer_line(e, metric) for e in analysis.effects + analysis.interactions]
    best = best_line(fit.cells, factors, metric)
    lines += [best] if best else []
    lines += [f"{short(f.parameter)} {level_label(f.baseline)} -> {level_label(f.level)}: {f.verdict} "
              f"({f.collapsed_level} of {f.runs_level} runs against {f.collapsed_baseline} of {f.runs_baseline}), real"
              for f in fit.failures if f.verdict.startswith("collapses")]
    if not fit.collapsed.empty:
        lines.append(f"collapsed runs: {len(fit.collapsed)}, left out of the fit (listed under Collapsed runs)")
    if not lines:
        return
    (page.out_dir / "answer.md").write_text("## The answer\n\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    page.add_section('<h2 id="answer">The answer</h2><ul class="answer">'
                     + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"
                     + '<p class="note">Each change is against the baseline level with its 95% interval; <i>real</i> '
                       "holds after Holm's correction over every comparison of this report (how: at the end of the "
                       "conclusions).</p>")
    if figures:
        page.add_figure_row(figures, wide_first=figures[0][1].name == "effects.png")


def conclusions_section(page: Page, conclusions: list[str], method: list[str]) -> None:
    """conclusions.md, and the list on the page; then how the verdicts were computed, in a few sentences."""
    how = " ".join(method)
    (page.out_dir / "conclusions.md").write_text(
        "## Conclusions\n\n" + "\n".join(f"- {c}" for c in conclusions)
        + (f"\n\n### How these verdicts were computed\n\n{how} The method: {METHOD_DOC} in gansweep.\n" if how
           else "\n"))
    page.add_section('<h2 id="conclusions">Conclusions</h2><ul class="conclusions">'
                     + "".join(f"<li>{html.escape(c)}</li>" for c in conclusions) + "</ul>")
    if how:
        page.add_section('<h2 id="method">How these verdicts were computed</h2>'
                         f'<p class="note">{html.escape(how)} The method is explained in gansweep\'s '
                         f"<code>{METHOD_DOC}</code>.</p>")


def configurations_table(page: Page, fit, metric: str, factors: list[str]) -> None:
    """Every configuration's centre and 95% interval from the one fit, and whether it is in the best set."""
    best = fit.cells
    if not factors or best.empty:
        return
    centre = "geometric mean" if fit.scale == LOG else "mean"
    shown = best[[*factors, "cell"]].rename(columns={"cell": f"{metric}: {centre} [95% CI] (n)"})
    shown["in best set"] = best["in_best_set"].map({True: "yes", False: "", None: "?"})
    noise = "pooled over every configuration" if fit.equal_variances else "each configuration's own"
    page.add_table(f"{metric}_by_params", f"{metric} by {' x '.join(short(f) for f in factors)} (finished trials)",
                   best,
                   note=f"<p>The {centre} over seeds with its 95% interval from the report's one fit (seed-to-seed "
                        f"variance {noise}) and the number of runs. <i>In best set</i>: cannot be told apart from the "
                        f"best configuration at 95% (Gupta's subset selection on the same fit).</p>",
                   shown=shown)


def seeds_section(page: Page, adaptive: dict | None) -> None:
    """An adaptive sweep's seeds per configuration, as a table and a figure; nothing for other sweeps."""
    if not adaptive:
        return
    seeds = record_table(adaptive)
    page.add_table("seeds", "Seeds per configuration (adaptive)", seeds,
                   note="<p>" + html.escape(sequential_sentence(adaptive)) + " <i>stopped after look</i>: the "
                        "look at which the configuration got no further seed (empty: it reached max).</p>",
                   shown=seeds.drop(columns=[c for c in adaptive["params"] if c in seeds]))
    page.add_figure("seeds per configuration, and the look after which each got no more",
                    plots.adaptive_seeds(adaptive, page.out_dir / "seeds.png"))


def effects_figure(page: Page, fit, metric: str) -> list[tuple[str, Path]]:
    """The forest plot of the effects and interactions against the baseline (none without comparisons)."""
    analysis = fit.analysis
    if not (analysis.effects or analysis.interactions):
        return []
    labels = list(effect_table(analysis)["comparison"])
    path = plots.forest(analysis.effects + analysis.interactions, metric, page.out_dir / "effects.png", labels)
    return [(f"effects on {metric} against the baseline, 95% intervals", path)]


def effects_section(page: Page, fit, metric: str, note: str) -> None:
    """The effects and interactions against the baseline, as a table under `note`."""
    analysis = fit.analysis
    if not (analysis.effects or analysis.interactions):
        return
    page.add_table("effects", "Effects against the baseline", analysis.to_frame(), shown=effect_table(analysis),
                   note=f"<p>{html.escape(note)} Baselines: "
                        + html.escape(", ".join(f"{short(k)}={level_label(v)}" for k, v in analysis.baselines.items()))
                        + ".</p>")


def collapse_tables(page: Page, fit, metric: str, factors: list[str]) -> None:
    """The runs that collapsed, and every configuration's collapse rate with its exact interval; nothing for a
    sweep in which no run collapsed."""
    if fit.collapsed.empty:
        return
    columns = [c for c in (*factors, SEED, "run_id", metric, "z", "status") if c in fit.collapsed]
    page.add_table("collapsed", "Collapsed runs", fit.collapsed[columns],
                   note="<p>Left out of every verdict, interval and the best set: a run that diverged, or one far on "
                        "the bad side of its configuration's other runs (z: its externally studentized residual; "
                        "flagged at a Bonferroni-corrected one-sided 1%). See stats/collapse.py.</p>")
    rates = fit.failure_rates.copy()
    keyed = [p for p in factors if p in rates]  # the factors with two or more levels among the runs
    for p in keyed:
        rates[p] = rates[p].map(level_label)
    rates["rate [95% CI]"] = [f"{r.rate:.0%} [{r.low:.0%}, {r.high:.0%}]" for r in rates.itertuples()]
    page.add_table("failure_rates", "Collapse rate by configuration", rates.drop(columns=["key"]),
                   shown=rates[[*keyed, "collapsed", "runs", "rate [95% CI]"]],
                   note="<p>Collapsed runs out of every run of the configuration, diverged ones included, with a "
                        "Clopper-Pearson 95% interval.</p>")
    if fit.failures:
        verdicts = pd.DataFrame([dataclasses.asdict(f) for f in fit.failures])
        shown = pd.DataFrame({
            "factor": [short(f.parameter) for f in fit.failures],
            "level": [level_label(f.level) for f in fit.failures],
            "baseline": [level_label(f.baseline) for f in fit.failures],
            "collapsed": [f"{f.collapsed_level} of {f.runs_level} against {f.collapsed_baseline} of {f.runs_baseline}"
                          for f in fit.failures],
            "p (Holm)": [f"{f.p_adjusted:.2g}" for f in fit.failures],
            "verdict": [f.verdict for f in fit.failures]})
        page.add_table("failure_verdicts", "Collapse rate by factor level", verdicts, shown=shown,
                       note="<p>Each level against its factor's baseline, pooled over the other factors: Fisher's "
                            "exact test, Holm-adjusted over the report's whole family of comparisons.</p>")


def fit_table(page: Page, fit, metric: str) -> None:
    page.add_table("fit", f"The fitted model of {metric}", fit_summary(fit),
                   note="<p>The one model behind every verdict, interval and the best set of this report.</p>")


def claims_section(page: Page, verdicts: list) -> None:
    """What the spec's claims expected and whether each held (stats.claims), as claims.md/.csv and a list near the
    top of the page; nothing for a spec without claims."""
    if not verdicts:
        return
    frame = claims_frame(verdicts)
    frame.to_csv(page.out_dir / "claims.csv", index=False)
    lines = [claim_line(v) for v in verdicts]
    studied = any(v.claim.id.startswith(AUGMENTATION_CLAIM) for v in verdicts)
    augmentation = (" The augmentation study's claim is tested by the same model on its classifiers' accuracies "
                    "alone, a family of its own, with the study's gain as min_effect." if studied else "")
    (page.out_dir / "claims.md").write_text("## Claims\n\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    page.add_section('<h2 id="claims">Claims</h2><ul>' + "".join(f"<li>{html.escape(line)}</li>" for line in lines)
                     + '</ul><p class="note">Each claim is a comparison stated in the spec before the sweep ran, '
                       "tested by this report's model with Holm's correction over all its comparisons: agrees or "
                       "contradicts when real, smaller than min_effect when two one-sided tests show it, else open "
                       f"(how: {METHOD_DOC}).{augmentation}</p>")
