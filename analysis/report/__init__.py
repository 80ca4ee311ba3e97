"""Write a sweep's report: `python -m analysis.report <sweep folder | spec.yaml | experiment> [options]`.

Produces, in one folder: report.html (self-contained: images embedded, opens with no server),
tables as Markdown and CSV, and the plots as PNG. The folder is also logged as the `report`
artifact of the sweep's parent MLflow run.

One module per part of the page: `_page` (the Page builder and the HTML file), `_verdicts` (conclusions,
configurations, seeds, effects, the fitted model), `_budget`, `_published` (scorecard, augmentation),
`_early_stopping` (ASHA replay and race), `_runs` (ranking, summary, plots), `_samples`; `_build` puts
them on the page in order, `_cli` is the command line.
"""

from analysis.report._build import build_report
from analysis.report._cli import main
from analysis.report._verdicts import fit_summary

__all__ = ["build_report", "fit_summary", "main"]
