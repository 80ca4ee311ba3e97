"""Write a sweep's report: `python -m analysis.report <sweep folder | spec.yaml | experiment> [options]`.

Produces, in one folder: report.html (self-contained: images embedded, opens with no server),
tables as Markdown and CSV, and the plots as PNG. The folder is also logged as the `report`
artifact of the sweep's parent MLflow run.
"""

from __future__ import annotations

import argparse
import base64
import html
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from analysis import plots
from analysis.adaptive import record_table, sequential_sentence, sequential_verdicts
from analysis.asha import replay_asha, rung_correlations
from analysis.race import compare_rules, replay_race
from analysis.augmentation import PLANS, accuracy_grid, augmentation_results, published_beside
from analysis.conclusions import (
    asha_sentences, effect_table, model_sentences, race_sentence, scorecard, short, significance_note,
)
from record.design import level_label
from analysis.budget import SIZE_PARAMS, budget_curves, split_drop
from analysis.load import BUDGET, Sweep, SweepNotFound, add_target_arguments, download_artifact, load_target
from analysis.layout import LOG
from analysis.model import TESTS, fit_design
from analysis.stats import usable_trials
from analysis.tables import ranking, summary_table, to_markdown
from gan.data import DATASETS
from gan.metrics import OUTPUTS
from gan.sampling import GENERATOR_ARTIFACT, Sampler
from gan.status import Status

__all__ = ["build_report", "main"]

# every registry output that ranks runs, then the training time
SUMMARY_METRICS = [name for name, out in OUTPUTS.items() if out.direction] + ["wall_time_s"]


def _interpolation(sampler, pairs: int = 5, steps: int = 10) -> np.ndarray:
    """z1 + i/K (z2 - z1), i = 0..K, for a few random pairs (one class per row when conditional)."""
    gen = torch.Generator(sampler.device).manual_seed(0)
    z1, z2 = sampler.noise(pairs, gen), sampler.noise(pairs, gen)
    t = torch.linspace(0, 1, steps + 1, device=sampler.device)
    z = (z1[:, None] + t[None, :, None] * (z2 - z1)[:, None]).reshape(-1, sampler.config.model.latent_dim)
    y = (torch.arange(pairs) % sampler.num_classes).repeat_interleave(steps + 1)
    return sampler.decode(z, y).numpy()


def _class_histogram(sampler, n: int = 2000):
    """Predicted classes of n generated samples by the dataset's domain classifier, with KL to the real distribution."""
    from gan.metrics import EvalConfig, Evaluator

    cfg = sampler.config
    if sampler.num_classes < 2:
        return None
    ev = Evaluator(EvalConfig(metrics=("class_histogram",), real_samples=5000, num_samples=n), cfg.data,
                   conditional=cfg.model.conditional)
    generate = sampler.generate  # as the trainer's evaluations drew them
    arts: dict = {}
    scores = ev.evaluate(generate, artifacts=arts)
    return arts["class_histogram"], scores["class_kl"]


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%">'


def _table_html(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0, classes="t", escape=True)


def _evaluation_results(sweep: Sweep, metric: str) -> pd.DataFrame:
    """trial_id, evaluation, value and timestamp of every evaluation of the metric, in arrival order."""
    h = sweep.histories
    values = h[h["metric"] == metric][["run_id", "trial_id", "step", "value", "timestamp"]]
    counter = h[h["metric"] == "evaluation"][["run_id", "step", "value"]].rename(columns={"value": "evaluation"})
    if counter.empty:  # older sweeps: number the evaluations of each trial in step order
        values = values.sort_values(["run_id", "step"])
        values["evaluation"] = values.groupby("run_id").cumcount() + 1
    else:
        values = values.merge(counter, on=["run_id", "step"], how="left")
    values["evaluation"] = values["evaluation"].astype(int)
    return values.sort_values(["timestamp", "evaluation"]).reset_index(drop=True)


def _early_stopping_check(sweep: Sweep, factors: list[str], best: pd.DataFrame):
    """Rank correlations at every evaluation against the final metric, the replayed ASHA (for sweeps that
    ran without early stopping), and their sentences."""
    metric, trials = sweep.metric, sweep.trials
    results = _evaluation_results(sweep, metric)
    finished = usable_trials(trials, metric).set_index("trial_id")[metric]
    correlations = rung_correlations(results, finished)
    es = dict(sweep.design.early_stopping) if sweep.design else {"type": sweep.params.get("spec.early_stopping", "none")}
    replay, best_label, best_stopped = None, None, None
    if es.get("type") in (None, "none") and not results.empty and results["evaluation"].max() > 1:
        es.setdefault("grace_period", 1)
        es["grace_period"] = es.get("grace_period") or 1
        es["reduction_factor"] = es.get("reduction_factor") or 2
        # in the order results arrive when every trial runs at once at the same speed: the sweep's own
        # arrival order depends on scheduling, and a replay in it would differ between two runs of one sweep
        canonical = results.sort_values(["evaluation", "trial_id"], kind="stable")
        replay = replay_asha(canonical, sweep.mode, int(es["grace_period"]), float(es["reduction_factor"]))
        if not best.empty:
            top = best.iloc[0]
            runs = trials
            for f in factors:
                runs = runs[runs[f].map(level_label) == level_label(top[f])]
            best_label = ", ".join(f"{short(f)}={level_label(top[f])}" for f in factors) or "the base config"
            best_stopped = (sum(1 for t in runs["trial_id"] if t in replay.stopped), len(runs))
    sentences = asha_sentences(correlations, es, replay, best_label, best_stopped)
    rules = None
    if replay is not None and factors and len(best) > 1:
        rules = _race_beside_asha(sweep, factors, best, canonical, replay, es)
        sentences.append(race_sentence(rules, int(es["grace_period"]), float(es["reduction_factor"])))
    return correlations, replay, sentences, rules


def _race_beside_asha(sweep: Sweep, factors: list[str], best: pd.DataFrame, results: pd.DataFrame, replay,
                      es: dict) -> pd.DataFrame:
    """The seed-aware race (`analysis.race`) replayed over the same histories at ASHA's rungs below the
    last, beside the replayed ASHA, both judged by the final fit."""
    def label(row) -> str:
        return ", ".join(f"{short(f)}={level_label(row[f])}" for f in factors)

    configuration = {str(r["trial_id"]): label(r) for _, r in sweep.trials.iterrows()}
    rungs = [int(r) for r in replay.rungs if r < results["evaluation"].max()]
    min_effect = sweep.design.min_effect if sweep.design else None
    race = replay_race(results.assign(trial_id=results["trial_id"].astype(str)), configuration, sweep.metric,
                       sweep.mode, rungs, min_effect)
    return compare_rules({str(t): e for t, e in replay.stopped.items()}, replay.saved_fraction, race, configuration,
                         best, [label(r) for _, r in best.iterrows()], sweep.mode, min_effect)


def _budget_split(sweep: Sweep, factors: list[str]):
    """(BudgetSplit, curves, size factor) for a data-size sweep run at fixed epochs and at a fixed
    iteration count or time, when those two are its only factors; else None."""
    hold = (sweep.design.budget.get("hold") or []) if sweep.design else []
    fixed = next((p for p in ("iterations", "seconds") if p in hold), None)
    size = next((f for f in factors if f in SIZE_PARAMS), None)
    if "epochs" not in hold or fixed is None or size is None or set(factors) - {size, BUDGET}:
        return None
    iterations = sweep.design.budget.get("iterations") if fixed == "iterations" else None
    split = split_drop(sweep.trials, sweep.metric, size, BUDGET, fixed, iterations)
    if split is None:
        return None
    return split, budget_curves(sweep.trials, sweep.metric, size, BUDGET, fixed, iterations), size


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


def build_report(sweep: Sweep, out_dir: Path, *, table_params: list[str] | None = None,
                 log_to_mlflow: bool = True, detect: float | None = None) -> Path:
    """`detect`: the difference (metric units) the plan for undecided comparisons is for; default the
    spec's `metric.min_effect`, else 10% of each comparison's baseline."""
    from mlflow.tracking import MlflowClient

    out_dir.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(sweep.tracking_uri)
    metric, mode, trials = sweep.metric, sweep.mode, sweep.trials
    factors = table_params or [p for p in sweep.swept if p in trials]
    uncertainty = next((o.name for o in OUTPUTS.values() if o.uncertainty_of == metric), None)
    sections: list[str] = []

    def add_table(name: str, title: str, df: pd.DataFrame, note: str = "", shown: pd.DataFrame | None = None) -> None:
        df.to_csv(out_dir / f"{name}.csv", index=False)
        shown = df if shown is None else shown
        (out_dir / f"{name}.md").write_text(f"## {title}\n\n{to_markdown(shown)}\n")
        sections.append(f"<h2>{html.escape(title)}</h2>{note}{_table_html(shown)}")

    counts = trials["status"].value_counts().to_dict()
    extractor = sweep.design.extractor if sweep.design else str(trials.get("eval.extractor", pd.Series(["?"])).iloc[0])
    esc = html.escape  # every text from the tracking store or the sweep folder is escaped before it reaches the page
    header = (f"<p>Experiment <b>{esc(sweep.experiment)}</b>, sweep run <code>{esc(str(sweep.parent_run_id))}</code> "
              f"at <code>{esc(sweep.tracking_uri)}</code>. {len(trials)} trials: "
              + ", ".join(f"{v} {esc(str(k))}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0])))
              + f". Ranked by <b>{esc(metric)}</b> ({'lower' if mode == 'min' else 'higher'} is better); extractor "
              f"<code>{html.escape(extractor)}</code>.</p>")

    # -- the statistics behind the conclusions ----------------------------------------------------
    min_effect = detect if detect is not None else (sweep.design.min_effect if sweep.design else None)
    fit = fit_design(trials, metric, mode, factors, sweep.baselines, uncertainty=uncertainty, min_effect=min_effect)
    if sweep.adaptive:  # the verdicts the sweep reached at its looks, which hold their 5% under the repeated looks
        fit = sequential_verdicts(fit, sweep.adaptive)
    analysis, best = fit.analysis, fit.cells
    correlations, replay, asha_text, rules = _early_stopping_check(sweep, factors, best)
    dataset = str(trials["data.name"].iloc[0]) if "data.name" in trials else None
    card = scorecard(trials, sweep.design.published if sweep.design else [], extractor=extractor,
                     final_samples=int(trials["eval_samples"].max()) if "eval_samples" in trials else 0,
                     dataset=dataset, factors=sweep.design.factors if sweep.design else [])

    conclusions = ([sequential_sentence(sweep.adaptive)] if sweep.adaptive else []) + model_sentences(fit, factors, uncertainty)
    split = _budget_split(sweep, factors)
    if split is not None:
        conclusions.append(split[0].sentence(metric))
    conclusions += asha_text + card.sentences
    note = significance_note(analysis.family_size, fit.scale, metric, fit.tests) if analysis.family_size else ""
    (out_dir / "conclusions.md").write_text("## Conclusions\n\n" + "\n".join(f"- {c}" for c in conclusions)
                                            + (f"\n\n{note}\n" if note else "\n"))
    sections.append('<h2 id="conclusions">Conclusions</h2><ul class="conclusions">'
                    + "".join(f"<li>{html.escape(c)}</li>" for c in conclusions) + "</ul>"
                    + (f'<p class="note">{html.escape(note)}</p>' if note else ""))

    if factors and not best.empty:
        centre = "geometric mean" if fit.scale == LOG else "mean"
        shown = best[[*factors, "cell"]].rename(columns={"cell": f"{metric}: {centre} [95% CI] (n)"})
        shown["in best set"] = best["in_best_set"].map({True: "yes", False: "", None: "?"})
        noise = "pooled over every configuration" if fit.equal_variances else "each configuration's own"
        add_table(f"{metric}_by_params", f"{metric} by {' x '.join(short(f) for f in factors)} (finished trials)", best,
                  note=f"<p>The {centre} over seeds with its 95% interval from the report's one fit (seed-to-seed "
                       f"variance {noise}) and the number of runs. <i>In best set</i>: cannot be told apart from the "
                       f"best configuration at 95% (Gupta's subset selection on the same fit).</p>",
                  shown=shown)
    figures: list[tuple[str, Path]] = []
    if sweep.adaptive:
        seeds = record_table(sweep.adaptive)
        add_table("seeds", "Seeds per configuration (adaptive)", seeds,
                  note="<p>" + html.escape(sequential_sentence(sweep.adaptive)) + " <i>stopped after look</i>: the "
                       "look at which the configuration got no further seed (empty: it reached max).</p>",
                  shown=seeds.drop(columns=[c for c in sweep.adaptive["params"] if c in seeds]))
        figures.append(("seeds per configuration, and the look after which each got no more",
                        plots.adaptive_seeds(sweep.adaptive, out_dir / "seeds.png")))
    if analysis.effects or analysis.interactions:
        table = effect_table(analysis)
        add_table("effects", "Effects against the baseline", analysis.to_frame(), shown=table,
                  note=f"<p>{html.escape(note)} Baselines: "
                       + html.escape(", ".join(f"{short(k)}={level_label(v)}" for k, v in analysis.baselines.items()))
                       + ".</p>")
        shown_effects = analysis.effects + analysis.interactions
        figures.append((f"effects on {metric} against the baseline (forest plot)",
                        plots.forest(shown_effects, metric, out_dir / "effects.png", list(table["comparison"]))))
    fit_frame = fit_summary(fit)
    add_table("fit", f"The fitted model of {metric}", fit_frame,
              note="<p>The one model behind every verdict, interval and the best set of this report.</p>")
    if split is not None:
        budget_split, curves, size = split
        add_table("budget", f"{metric} by {short(size)} under each budget plan", curves,
                  note="<p>" + html.escape(budget_split.sentence(metric)) + " <i>shared</i>: the largest size trains "
                       "the same iterations under both plans, so its runs serve both curves.</p>")
        figures.append((f"{metric} against {short(size)} at fixed epochs and at fixed "
                        f"{'iterations' if budget_split.fixed == 'iterations' else 'training time'}",
                        plots.budget_curves(curves, size, metric, out_dir / "budget.png")))
    if not card.table.empty:
        add_table("scorecard", "Published figures beside ours", card.table,
                  note="<p>Our mean and 95% interval over the runs of the published configuration. Figures measured "
                       "with another feature extractor or on another dataset are not compared.</p>")
    aug = augmentation_results(sweep)
    if aug is not None and not aug.empty:
        meta = aug.attrs
        plan = meta.get("plan", {})
        note = (f"<p>A {esc(str(plan.get('classifier', '?')))} classifier trained for {esc(str(plan.get('epochs', '?')))} "
                f"epochs on real training images mixed with images of generator run "
                f"<code>{esc(str(meta.get('generator_run')))}</code>, scored "
                f"on the real test split; mean ± 95% CI over {len(plan.get('seeds', []))} trainings per cell (n). "
                "Plans: <i>mixed</i> (shuffled together), <i>filtered</i> (only generated images the real-data "
                "classifier labels as their class), <i>pretrained</i> (half the epochs on generated, then real).</p>")
        for name in [p for p in PLANS if p in set(aug["plan"])]:
            add_table(f"augmentation_{name}", f"Augmentation ({name}): test accuracy (%) by real (rows) and generated "
                                              "(columns) training images", accuracy_grid(aug, name), note=note)
            figures.append((f"augmentation ({name}): test accuracy over real and generated training images",
                            plots.accuracy_contour(aug, name, out_dir / f"augmentation_{name}.png")))
        add_table("augmentation_published", "Augmentation: the study's figures beside ours", published_beside(aug))
        with tempfile.TemporaryDirectory() as tmp:
            pca = download_artifact(client, meta["run_id"], "pca.png", Path(tmp))
            if pca:
                (out_dir / "augmentation_pca.png").write_bytes(Path(pca).read_bytes())
                figures.append(("penultimate activations of 100 real test and 100 generated images (PCA)",
                                out_dir / "augmentation_pca.png"))
    if not correlations.empty or replay is not None:
        add_table("early_stopping", "Early stopping check: rank correlation with the final metric", correlations,
                  note="<p>" + html.escape(" ".join(asha_text)) + "</p>")
    if rules is not None:
        add_table("early_stopping_rules", "Early stopping replayed: ASHA on single runs beside the race on configurations",
                  rules, note="<p>Both rules replayed over this sweep's histories with every run at once, judged by "
                              "the final fit: <i>near-best</i> configurations ended within min_effect (default 10%) "
                              "of the best final mean.</p>")

    rank = ranking(trials, metric, mode, factors)
    add_table("ranking", f"Ranking of trials by {metric}", rank,
              note="<p>Single runs: their order within a configuration's interval is noise. Early-stopped trials "
                   "show the evaluation at which ASHA stopped them; their metric is the value at that point, not "
                   "comparable with finished trials.</p>")
    present = [m for m in SUMMARY_METRICS if m in trials and trials[m].notna().any()]
    if present:
        summary = summary_table(trials, factors, present)
        add_table("summary", "All metrics by configuration: last and best over training (mean ± 95% CI (n))", summary,
                  shown=summary[[c for c in summary.columns if not c.endswith("_mean")]],
                  note="<p>Finished runs. <i>best</i>: the best of a run's evaluations, as the studies report it; "
                       "picking the best of several noisy evaluations flatters it, so the last value is the fair "
                       "one to compare configurations by. <i>s/epoch</i>: training seconds per pass over the data, "
                       "evaluations excluded.</p>")

    if (sweep.histories["metric"] == metric).any():
        figures.append((f"{metric} against training iterations", plots.metric_vs_step(sweep, metric, out_dir / f"{metric}_vs_step.png")))
    numeric = [p for p in factors if pd.api.types.is_numeric_dtype(trials[p]) and trials[p].nunique() > 1]
    done = trials[trials["status"] == Status.COMPLETED]
    for p in numeric:
        others = [q for q in factors if q != p]
        if metric in done and done[metric].notna().any():
            figures.append((f"final {metric} vs {p}",
                            plots.final_vs_param(trials, metric, p, out_dir / f"{metric}_vs_{p.replace('.', '_')}.png", others)))
    finite = trials[trials[metric].map(lambda v: isinstance(v, float) and math.isfinite(v))] if metric in trials else trials.iloc[0:0]
    finished = finite[finite["status"] == Status.COMPLETED]
    ordered = finished.sort_values(metric, ascending=mode == "min")
    best_run = ordered.iloc[0] if len(ordered) else None
    worst_run = ordered.iloc[-1] if len(ordered) > 1 else None
    chosen = [r["run_id"] for r in (best_run, worst_run) if r is not None]
    if chosen:
        figures.append(("losses of the best and worst finished trials", plots.loss_curves(sweep, chosen, out_dir / "losses.png")))
    importance = plots.param_importance(trials, factors, metric, mode, out_dir / "importance.png")
    if importance:
        importance[1].to_csv(out_dir / "importance.csv", index=False)
        figures.append(("parameter importance (fANOVA over finished trials, 95% bootstrap intervals)", importance[0]))

    with tempfile.TemporaryDirectory() as tmp:
        for label, row in (("best", best_run), ("worst", worst_run)):
            if row is None:
                continue
            folder = download_artifact(client, row["run_id"], "samples", Path(tmp) / label)
            grids = sorted(folder.glob("*.png")) if folder else []
            if grids:
                dst = out_dir / f"samples_{label}.png"
                dst.write_bytes(grids[-1].read_bytes())
                figures.append((f"samples of the {label} single run ({plots._label(row, factors)}, "
                                f"{metric} {row[metric]:.4g})", dst))
        if best_run is not None:
            weights = download_artifact(client, best_run["run_id"], GENERATOR_ARTIFACT, Path(tmp) / "g")
            if weights:
                sampler = Sampler.load(weights)
                info = DATASETS.get(sampler.config.data.name)
                strip = _interpolation(sampler)
                figures.append(("latent interpolation of the best generator (5 pairs, K = 10)",
                                plots.image_strip(strip, out_dir / "interpolation.png", rows=5)))
                hist = _class_histogram(sampler)
                if hist:
                    (counts_h, kl) = hist
                    figures.append((f"class histogram of the best generator (KL to real {kl:.3f})",
                                    plots.class_histogram(counts_h["generated"], counts_h["real"],
                                                          list(info.class_names), out_dir / "class_histogram.png")))
    for title, path in figures:
        sections.append(f"<h2>{html.escape(title)}</h2>{_img(path)}")

    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(sweep.experiment)} sweep report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table.t{{border-collapse:collapse;font-size:13px;margin:.5em 0 1.5em}} table.t td,table.t th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}}
ul.conclusions li{{margin:.35em 0;line-height:1.4}} p.note{{color:#555;font-size:13px}}
h1{{font-size:1.6em}} h2{{font-size:1.15em;margin-top:1.6em}} code{{background:#f3f3f3;padding:0 3px}}</style></head>
<body><h1>Sweep report: {html.escape(sweep.experiment)}</h1>{header}{''.join(sections)}
<p style="color:#777;font-size:12px">Written {time.strftime('%Y-%m-%d %H:%M:%S')} by gansweep.</p></body></html>"""
    report = out_dir / "report.html"
    report.write_text(page)
    if log_to_mlflow:
        client.log_artifacts(sweep.parent_run_id, str(out_dir), artifact_path="report")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__.split("\n")[0])
    add_target_arguments(parser)
    parser.add_argument("--params", help="comma-separated params for the tables (default: the swept ones)")
    parser.add_argument("--out", help="output folder (default: <sweep folder>/report)")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the report to the parent run")
    parser.add_argument("--detect", type=float, metavar="DIFFERENCE",
                        help="the difference (metric units) worth detecting: the report says how many seeds per "
                             "configuration each undecided comparison needs to find it with 80%% power (default: the "
                             "spec's metric.min_effect, else 10%% of each comparison's baseline)")
    args = parser.parse_args(argv)
    try:
        sweep = load_target(args)
    except SweepNotFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else ((sweep.out_dir / "report") if sweep.out_dir else
                                           Path("runs") / "reports" / f"{sweep.experiment}-{sweep.parent_run_id[:8]}")
    params = [p.strip() for p in args.params.split(",")] if args.params else None
    if args.detect is not None and not (math.isfinite(args.detect) and args.detect > 0):
        print(f"error: --detect is {args.detect}, but must be a difference > 0 in {sweep.metric} units", file=sys.stderr)
        return 2
    report = build_report(sweep, out, table_params=params, log_to_mlflow=not args.no_mlflow, detect=args.detect)
    print((out / "conclusions.md").read_text())
    print(f"report: {report.resolve()}")
    print(f"tables and plots: {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
