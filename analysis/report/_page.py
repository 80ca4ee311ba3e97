"""The report page: each table written as CSV and Markdown and shown on the page, each figure embedded, and
the one self-contained report.html (images inline, opens with no server)."""

from __future__ import annotations

import base64
import html
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.tables import to_markdown


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%">'


def _table_html(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0, classes="t", escape=True)


@dataclass
class Page:
    """What the report has put on the page so far, in page order; the files go to `out_dir` as they come."""

    out_dir: Path
    sections: list[str] = field(default_factory=list)  # HTML of the conclusions and tables, in page order
    figures: list[tuple[str, Path]] = field(default_factory=list)  # (title, PNG): shown after every table

    def add_section(self, section: str) -> None:
        """HTML the caller has escaped."""
        self.sections.append(section)

    def add_table(self, name: str, title: str, df: pd.DataFrame, note: str = "",
                  shown: pd.DataFrame | None = None) -> None:
        """`df` to <name>.csv; `shown` (default `df`) to <name>.md and the page, under the title, after `note`
        (HTML the caller has escaped)."""
        df.to_csv(self.out_dir / f"{name}.csv", index=False)
        shown = df if shown is None else shown
        (self.out_dir / f"{name}.md").write_text(f"## {title}\n\n{to_markdown(shown)}\n")
        self.sections.append(f"<h2>{html.escape(title)}</h2>{note}{_table_html(shown)}")

    def add_figure(self, title: str, path: Path) -> None:
        self.figures.append((title, path))

    def add_figure_row(self, figures: list[tuple[str, Path]], wide_first: bool = False) -> None:
        """Figures side by side where the page stands now (each with its title under it), not at the end;
        `wide_first`: the first (a plot beside sample grids) twice as wide as the others."""
        cells = "".join(f'<figure style="flex:{2 if i == 0 and wide_first else 1} 1 300px;margin:0">{_img(path)}'
                        f'<figcaption class="note">{html.escape(title)}</figcaption></figure>'
                        for i, (title, path) in enumerate(figures))
        self.sections.append(f'<div style="display:flex;gap:1em;flex-wrap:wrap;align-items:flex-start">{cells}</div>')

    def write(self, experiment: str, header: str) -> Path:
        """report.html: the title, `header` (escaped HTML), the sections, then the figures."""
        figures = [f"<h2>{html.escape(title)}</h2>{_img(path)}" for title, path in self.figures]
        title = f"<title>{html.escape(experiment)} sweep report</title>"
        page = f"""<!doctype html><html><head><meta charset="utf-8">{title}<style>
body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table.t{{border-collapse:collapse;font-size:13px;margin:.5em 0 1.5em}} table.t td,table.t th{{padding:3px
8px;border-bottom:1px solid #ddd;text-align:right}}
ul.conclusions li,ul.answer li{{margin:.35em 0;line-height:1.4}} ul.answer{{font-size:1.1em}}
p.note{{color:#555;font-size:13px}}
h1{{font-size:1.6em}} h2{{font-size:1.15em;margin-top:1.6em}} code{{background:#f3f3f3;padding:0 3px}}</style></head>
<body><h1>Sweep report: {html.escape(experiment)}</h1>{header}{"".join(self.sections + figures)}
<p style="color:#777;font-size:12px">Written {time.strftime("%Y-%m-%d %H:%M:%S")} by gansweep.</p></body></html>"""
        report = self.out_dir / "report.html"
        report.write_text(page)
        return report
