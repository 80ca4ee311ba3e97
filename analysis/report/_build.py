"""`build_report`: the statistics behind the conclusions computed once, then each section of the page in
the order it is shown."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from stats.adaptive import sequential_sentence
from analysis.conclusions import model_sentences, significance_note
from analysis.load import Sweep
from analysis.claims import sweep_claims
from analysis.verdicts import report_fit, uncertainty_of
from analysis.report._budget import budget_section, budget_split
from analysis.report._early_stopping import _early_stopping_check, early_stopping_tables
from analysis.report._page import Page
from analysis.report._published import augmentation_section, scorecard_table, sweep_scorecard
from analysis.report._runs import best_and_worst, reduced_precisions, run_plots, run_tables
from analysis.report._samples import collapse_grids, generator_section, sample_grids
from analysis.report._verdicts import (
    answer_section,
    claims_section,
    collapse_tables,
    effects_figure,
    conclusions_section, configurations_table, effects_section, fit_table, seeds_section,
)
from analysis.external import REPORT_ROLE
from record.names import NOTE, ROLE
from record.uris import shown

NOTE_LIMIT = 4000  # characters of the report's part of a run's description (MLflow's tag values hold 8000)
NOTE_END = "\n\n<!-- gansweep report ends; what follows is the run's own description -->\n\n"


def build_report(sweep: Sweep, out_dir: Path, *, table_params: list[str] | None = None,
                 log_to_mlflow: bool = True, detect: float | None = None) -> Path:
    """`detect`: the difference (metric units) the plan for undecided comparisons is for; default the
    spec's `metric.min_effect`, else 10% of each comparison's baseline."""
    from mlflow.tracking import MlflowClient

    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("answer.md", "claims.md", "claims.csv"):  # written only when there is something to say
        (out_dir / stale).unlink(missing_ok=True)
    client = MlflowClient(sweep.tracking_uri) if sweep.tracking_uri else None
    metric, mode, trials = sweep.metric, sweep.mode, sweep.trials
    uncertainty = uncertainty_of(metric)
    extractor = sweep.design.extractor if sweep.design else str(trials.get("eval.extractor", pd.Series(["?"])).iloc[0])
    page = Page(out_dir)

    # -- the statistics behind the conclusions ----------------------------------------------------
    fit, factors = report_fit(sweep, table_params=table_params, detect=detect)
    claims = sweep_claims(sweep, fit, factors)
    correlations, replay, asha_text, rules = _early_stopping_check(sweep, factors, fit.cells)
    card = sweep_scorecard(sweep, extractor)

    conclusions = model_sentences(fit, factors, uncertainty)
    split = budget_split(sweep, factors)
    if split is not None:
        conclusions.append(split[0].sentence(metric))
    conclusions += asha_text + card.sentences + sweep.notes
    family_size = fit.analysis.family_size
    note = significance_note(family_size, fit.scale, metric, fit.tests) if family_size else ""
    method = ([sequential_sentence(sweep.adaptive)] if sweep.adaptive else []) + ([note] if note else [])
    best_run, worst_run = best_and_worst(trials, metric, mode)

    # -- the page, in the order it is shown: the answer and its pictures, the tables, then the other figures --
    answer_section(page, fit, metric, factors, effects_figure(page, fit, metric)
                   + sample_grids(page, client, factors, metric, best_run, worst_run))
    claims_section(page, claims)
    conclusions_section(page, conclusions, method)
    configurations_table(page, fit, metric, factors)
    seeds_section(page, sweep.adaptive)
    effects_section(page, fit, metric, note)
    collapse_tables(page, fit, metric, factors)
    if grids := collapse_grids(page, client, factors, metric, fit, trials):
        page.add_figure_row(grids)
    fit_table(page, fit, metric)
    budget_section(page, split, metric)
    scorecard_table(page, card)
    augmentation_section(page, sweep, client)
    early_stopping_tables(page, correlations, replay, asha_text, rules)
    run_tables(page, trials, metric, mode, factors)
    run_plots(page, sweep, factors, best_run, worst_run)
    generator_section(page, client, best_run)

    report = page.write(sweep.experiment, _header(sweep, extractor))
    if log_to_mlflow and client is not None:
        _log(client, sweep, out_dir)
    return report


def _log(client, sweep: Sweep, out_dir: Path) -> None:
    """The report folder as the `report` artifact of the sweep's parent run (of runs gansweep did not launch: of a
    run of its own in their experiment), and its answer and conclusions as the run's description, which MLflow's
    run page shows."""
    if sweep.parent_run_id is None:
        exp = client.get_experiment_by_name(sweep.experiment)
        run = client.create_run(exp.experiment_id, run_name="gansweep report", tags={ROLE: REPORT_ROLE})
        client.set_terminated(run.info.run_id)
        sweep.parent_run_id = run.info.run_id
    client.log_artifacts(sweep.parent_run_id, str(out_dir), artifact_path="report")
    parts = [(out_dir / name).read_text() for name in ("answer.md", "claims.md", "conclusions.md")
             if (out_dir / name).is_file()]
    parts.append("The full report: the `report/report.html` artifact of this run.")
    before = client.get_run(sweep.parent_run_id).data.tags.get(NOTE, "")
    before = before.split(NOTE_END, 1)[1] if NOTE_END in before else before  # an earlier report's verdicts go
    room = 7900 - len(before) - len(NOTE_END)  # the run's own description is kept whole
    if room < 200:
        return  # no room beside it: the report stays the run's artifact alone
    ours = "\n\n".join(parts)
    if len(ours) > min(room, NOTE_LIMIT):
        ours = ours[:min(room, NOTE_LIMIT) - 80] + "\n\n(more in the report: the `report/` artifact of this run)"
    client.set_tag(sweep.parent_run_id, NOTE, ours + (NOTE_END + before if before else ""))


def _header(sweep: Sweep, extractor: str) -> str:
    """The sweep's experiment, run and store, its trials by status, the metric and the feature extractor."""
    trials, metric, mode = sweep.trials, sweep.metric, sweep.mode
    counts = trials["status"].value_counts().to_dict()
    esc = html.escape  # every text from the tracking store or the sweep folder is escaped before it reaches the page
    uri = shown(sweep.tracking_uri)
    where = (f"sweep run <code>{esc(str(sweep.parent_run_id))}</code> at <code>{esc(uri)}</code>"
             if sweep.parent_run_id else f"runs at <code>{esc(uri or 'an Optuna storage')}</code>")
    return (f"<p>Experiment <b>{esc(sweep.experiment)}</b>, {where}. {len(trials)} trials: "
            + ", ".join(f"{v} {esc(str(k))}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0])))
            + f". Ranked by <b>{esc(metric)}</b> ({'lower' if mode == 'min' else 'higher'} is better); extractor "
            f"<code>{html.escape(extractor)}</code>; {esc(_numerics(trials))}.</p>")


def _numerics(trials) -> str:
    """How the trials trained and were scored: their precision, memory layout and compilation (train.precision,
    train.channels_last, train.compile, eval.precision), every value that occurs; sweeps from before these settings ran
    in fp32, contiguous."""
    def values(column: str, default) -> str:
        seen = trials[column].dropna().unique().tolist() if column in trials else []
        return ", ".join(sorted(str(v) for v in seen)) or str(default)

    said = (f"trained in {values('train.precision', 'fp32')}, channels_last {values('train.channels_last', False)}, "
            f"compile {values('train.compile', False)}; "
            f"evaluated in {values('eval.precision', 'fp32')}")
    reduced = " and ".join(reduced_precisions(trials))
    if reduced:
        said += (f". {reduced} training has not been shown to train the same GAN as fp32 within 5% (the precision "
                 "study in gansweep's docs/gan.md; python -m analysis.equivalence tests a sweep of both): the ranking "
                 f"marks the trials trained in {reduced}")
    return said
