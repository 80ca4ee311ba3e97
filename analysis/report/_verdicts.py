"""The model's verdicts: the conclusions, the configurations with their intervals and the best set, the seeds
of an adaptive sweep, the effects against the baseline and the fitted model itself."""

from __future__ import annotations

import html
import math

import pandas as pd

from analysis import plots
from analysis.adaptive import record_table, sequential_sentence
from analysis.conclusions import effect_table, short
from analysis.layout import LOG
from analysis.model import TESTS
from analysis.report._page import Page
from record.design import level_label


def fit_summary(fit) -> pd.DataFrame:
    """The fit's own figures, one row each: scale, runs, configurations, residual SD and df, variance check."""
    rows = [("scale", f"log {fit.metric}" if fit.scale == LOG else fit.metric),
            ("model", "OLS on a mean per configuration (every factor and interaction of a factorial grid)"),
            ("runs", int(fit.layout.counts.sum()) if fit.layout else 0),
            ("configurations", len(fit.layout.cells) if fit.layout else 0),
            ("residual SD (seed to seed)", f"{math.sqrt(fit.residual_var):.4g}" if math.isfinite(fit.residual_var) else "-"),
            ("residual degrees of freedom", f"{fit.residual_df:g}"),
            ("Bartlett's test of equal variances, p", f"{fit.bartlett_p:.3g}" if math.isfinite(fit.bartlett_p) else "-"),
            ("tests", TESTS[fit.tests]),
            ("comparisons under Holm's correction", fit.analysis.family_size)]
    return pd.DataFrame(rows, columns=["what", "value"]).astype({"value": str})


def conclusions_section(page: Page, conclusions: list[str], note: str) -> None:
    """conclusions.md, and the list at the top of the page with the significance note under it."""
    (page.out_dir / "conclusions.md").write_text("## Conclusions\n\n" + "\n".join(f"- {c}" for c in conclusions)
                                                 + (f"\n\n{note}\n" if note else "\n"))
    page.add_section('<h2 id="conclusions">Conclusions</h2><ul class="conclusions">'
                     + "".join(f"<li>{html.escape(c)}</li>" for c in conclusions) + "</ul>"
                     + (f'<p class="note">{html.escape(note)}</p>' if note else ""))


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


def effects_section(page: Page, fit, metric: str, note: str) -> None:
    """The effects and interactions against the baseline, as a table under `note` and a forest plot."""
    analysis = fit.analysis
    if not (analysis.effects or analysis.interactions):
        return
    table = effect_table(analysis)
    page.add_table("effects", "Effects against the baseline", analysis.to_frame(), shown=table,
                   note=f"<p>{html.escape(note)} Baselines: "
                        + html.escape(", ".join(f"{short(k)}={level_label(v)}" for k, v in analysis.baselines.items()))
                        + ".</p>")
    shown_effects = analysis.effects + analysis.interactions
    page.add_figure(f"effects on {metric} against the baseline (forest plot)",
                    plots.forest(shown_effects, metric, page.out_dir / "effects.png", list(table["comparison"])))


def fit_table(page: Page, fit, metric: str) -> None:
    page.add_table("fit", f"The fitted model of {metric}", fit_summary(fit),
                   note="<p>The one model behind every verdict, interval and the best set of this report.</p>")
