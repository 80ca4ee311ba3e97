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
from analysis.load import Sweep, SweepNotFound, load_sweep
from analysis.tables import metric_table, ranking, summary_table, to_markdown

__all__ = ["build_report", "main"]

SUMMARY_METRICS = ["fid", "kid", "is", "precision", "recall", "gan_test_acc", "gan_test_acc_std", "gan_train_acc",
                   "class_kl", "nn_distance", "wall_time_s"]


def _download(client, run_id: str, path: str, dst: Path) -> Path | None:
    try:
        return Path(client.download_artifacts(run_id, path, str(dst)))
    except Exception:
        return None


def _load_generator(path: Path):
    """Rebuild a generator from the `generator.pt` artifact (weights + resolved config)."""
    from gan.config import Config
    from gan.data import DATASETS
    from gan.losses import build_loss
    from gan.models import build_models

    blob = torch.load(path, map_location="cpu", weights_only=True)
    cfg = Config.from_dict(blob["config"])
    info = DATASETS.get(cfg.data.name)
    size = cfg.data.image_size or info.image_size
    G, _ = build_models(cfg.model, channels=info.channels, image_size=size, num_classes=info.num_classes,
                        critic=build_loss(cfg.loss).critic)
    G.load_state_dict(blob["G"])
    G.train(cfg.model.sample_in_train_mode)
    return G, cfg, info


def _noise(cfg, n: int, gen: torch.Generator) -> torch.Tensor:
    if cfg.train.noise == "uniform":
        return torch.rand(n, cfg.model.latent_dim, generator=gen) * 2 - 1
    return torch.randn(n, cfg.model.latent_dim, generator=gen)


@torch.no_grad()
def _interpolation(G, cfg, info, pairs: int = 5, steps: int = 10) -> np.ndarray:
    """z1 + i/K (z2 - z1), i = 0..K, for a few random pairs (one class per row when conditional)."""
    from gan.data import to_uint8

    gen = torch.Generator().manual_seed(0)
    z1, z2 = _noise(cfg, pairs, gen), _noise(cfg, pairs, gen)
    t = torch.linspace(0, 1, steps + 1)
    z = (z1[:, None] + t[None, :, None] * (z2 - z1)[:, None]).reshape(-1, cfg.model.latent_dim)
    y = (torch.arange(pairs) % info.num_classes).repeat_interleave(steps + 1)
    torch.manual_seed(0)
    return to_uint8(G(z, y if cfg.model.conditional else None), cfg.model.output_activation).numpy()


def _class_histogram(G, cfg, info, n: int = 2000):
    """Predicted classes of n generated samples by the dataset's domain classifier, with KL to the real distribution."""
    from gan.data import to_uint8
    from gan.metrics import EvalConfig, Evaluator

    if info.num_classes < 2:
        return None
    ev = Evaluator(EvalConfig(metrics=("class_histogram",), real_samples=5000, num_samples=n), cfg.data,
                   conditional=cfg.model.conditional)

    @torch.no_grad()
    def generate(k, seed=0, labels=None):
        gen = torch.Generator().manual_seed(seed)
        y = torch.randint(0, info.num_classes, (k,), generator=gen)
        torch.manual_seed(seed)
        return to_uint8(G(_noise(cfg, k, gen), y if cfg.model.conditional else None), cfg.model.output_activation), y

    arts: dict = {}
    scores = ev.evaluate(generate, artifacts=arts)
    return arts["class_histogram"], scores["class_kl"]


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%">'


def _table_html(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0, classes="t")


def build_report(sweep: Sweep, out_dir: Path, *, table_params: list[str] | None = None,
                 log_to_mlflow: bool = True) -> Path:
    from mlflow.tracking import MlflowClient

    out_dir.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(sweep.tracking_uri)
    metric, mode, trials = sweep.metric, sweep.mode, sweep.trials
    swept = table_params or [p for p in sweep.swept if p in trials][:3]
    sections: list[str] = []
    files: dict[str, Path] = {}

    def add_table(name: str, title: str, df: pd.DataFrame, md: str | None = None, note: str = "") -> None:
        df.to_csv(out_dir / f"{name}.csv", index=False)
        (out_dir / f"{name}.md").write_text(f"## {title}\n\n{md or to_markdown(df, None)}\n")
        files[name] = out_dir / f"{name}.md"
        sections.append(f"<h2>{html.escape(title)}</h2>{note}{_table_html(df)}")

    counts = trials["status"].value_counts().to_dict()
    header = (f"<p>Experiment <b>{html.escape(sweep.experiment)}</b>, sweep run <code>{sweep.parent_run_id}</code> "
              f"at <code>{html.escape(sweep.tracking_uri)}</code>. {len(trials)} trials: "
              + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
              + f". Ranked by <b>{metric}</b> ({'lower' if mode == 'min' else 'higher'} is better); extractor "
              f"<code>{html.escape(str(trials.get('eval.extractor', pd.Series(['?'])).iloc[0]))}</code>.</p>")

    rank = ranking(trials, metric, mode, swept)
    add_table("ranking", f"Ranking by {metric}", rank,
              note="<p>Early-stopped trials show the evaluation at which ASHA stopped them; their metric is the "
                   "value at that point, not comparable with finished trials.</p>")
    if swept and metric in trials:
        table = metric_table(trials, metric, swept)
        add_table(f"{metric}_by_params", f"{metric} by {' x '.join(swept)} (finished trials, mean ± std over seeds)",
                  table, md=to_markdown(table))
    present = [m for m in SUMMARY_METRICS if m in trials and trials[m].notna().any()]
    if present:
        add_table("summary", "All metrics by configuration (finished trials, mean and std over seeds)",
                  summary_table(trials, swept, present))

    figures: list[tuple[str, Path]] = []
    if (sweep.histories["metric"] == metric).any():
        figures.append((f"{metric} against training iterations", plots.metric_vs_step(sweep, metric, out_dir / f"{metric}_vs_step.png")))
    numeric = [p for p in swept if pd.api.types.is_numeric_dtype(trials[p]) and trials[p].nunique() > 1]
    done = trials[trials["status"] == "completed"]
    for p in numeric:
        others = [q for q in swept if q != p]
        if metric in done and done[metric].notna().any():
            figures.append((f"final {metric} vs {p}",
                            plots.final_vs_param(trials, metric, p, out_dir / f"{metric}_vs_{p.replace('.', '_')}.png", others)))
    finite = trials[trials[metric].map(lambda v: isinstance(v, float) and math.isfinite(v))] if metric in trials else trials.iloc[0:0]
    finished = finite[finite["status"] == "completed"]
    ordered = finished.sort_values(metric, ascending=mode == "min")
    best = ordered.iloc[0] if len(ordered) else None
    worst = ordered.iloc[-1] if len(ordered) > 1 else None
    chosen = [r["run_id"] for r in (best, worst) if r is not None]
    if chosen:
        figures.append(("losses of the best and worst finished trials", plots.loss_curves(sweep, chosen, out_dir / "losses.png")))
    importance = plots.param_importance(trials, sweep.swept, metric, mode, out_dir / "importance.png")
    if importance:
        figures.append(("parameter importance (fANOVA over finished trials)", importance[0]))

    with tempfile.TemporaryDirectory() as tmp:
        for label, row in (("best", best), ("worst", worst)):
            if row is None:
                continue
            folder = _download(client, row["run_id"], "samples", Path(tmp) / label)
            grids = sorted(folder.glob("*.png")) if folder else []
            if grids:
                dst = out_dir / f"samples_{label}.png"
                dst.write_bytes(grids[-1].read_bytes())
                figures.append((f"samples of the {label} trial ({plots._label(row, sweep.swept)}, "
                                f"{metric} {row[metric]:.4g})", dst))
        if best is not None:
            weights = _download(client, best["run_id"], "generator.pt", Path(tmp) / "g")
            if weights:
                G, cfg, info = _load_generator(weights)
                strip = _interpolation(G, cfg, info)
                figures.append(("latent interpolation of the best generator (5 pairs, K = 10)",
                                plots.image_strip(strip, out_dir / "interpolation.png", rows=5)))
                hist = _class_histogram(G, cfg, info)
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
    parser.add_argument("target", help="sweep folder, output root (its newest sweep), spec file (its newest sweep "
                                       "under --root), or MLflow experiment name")
    parser.add_argument("--root", default="runs", help="output root the sweeps were run with (default: runs)")
    parser.add_argument("--scale", help="with a spec file: the scale it was run at (e.g. smoke)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: the sweep's, or $MLFLOW_TRACKING_URI)")
    parser.add_argument("--parent-run", help="report this sweep (parent run id) instead of the latest")
    parser.add_argument("--params", help="comma-separated params for the tables (default: the swept ones)")
    parser.add_argument("--out", help="output folder (default: <sweep folder>/report)")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the report to the parent run")
    args = parser.parse_args(argv)
    try:
        sweep = load_sweep(args.target, tracking_uri=args.tracking_uri, parent_run_id=args.parent_run, scale=args.scale,
                           root=args.root)
    except SweepNotFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else ((sweep.out_dir / "report") if sweep.out_dir else
                                           Path("runs") / "reports" / f"{sweep.experiment}-{sweep.parent_run_id[:8]}")
    params = [p.strip() for p in args.params.split(",")] if args.params else None
    report = build_report(sweep, out, table_params=params, log_to_mlflow=not args.no_mlflow)
    print((out / "ranking.md").read_text())
    print(f"report: {report.resolve()}")
    print(f"tables and plots: {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
