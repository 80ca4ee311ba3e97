"""analysis: reads a sweep back from MLflow into pandas and writes tables, plots and an HTML report."""

from analysis.load import Sweep, SweepNotFound, load_sweep
from analysis.tables import ranking, summary_table, to_markdown

__all__ = ["Sweep", "SweepNotFound", "load_sweep", "ranking", "summary_table", "to_markdown"]
