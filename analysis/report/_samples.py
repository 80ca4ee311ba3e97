"""What the best and worst runs' generators draw: their logged sample grids, and the best generator's latent
interpolation and class histogram, drawn by the code that drew its FID samples (`gan.sampling.Sampler`)."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

import numpy as np
import torch

from analysis import plots
from analysis.load import download_artifact
from analysis.report._page import Page
from gan.config import ConfigError
from gan.data import dataset_info
from gan.sampling import GENERATOR_ARTIFACT, Sampler


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


def sample_grids(page: Page, client, factors: list[str], metric: str, best_run, worst_run) -> list[tuple[str, Path]]:
    """The last logged sample grid of the best and of the worst run, copied into the report: (title, path) each."""
    return _grids(page, client, factors, metric, [("best", "the best single run", best_run),
                                                   ("worst", "the worst single run", worst_run)])


def collapse_grids(page: Page, client, factors: list[str], metric: str, fit, trials) -> list[tuple[str, Path]]:
    """The sample grid of the run that collapsed furthest beside a typical run's of its configuration (the one
    with the median metric among the runs that did not collapse); none when no run collapsed."""
    shown = fit.collapsed[fit.collapsed["z"].notna()] if "z" in fit.collapsed else fit.collapsed.iloc[0:0]
    if shown.empty or "run_id" not in shown:
        return []
    worst = shown.loc[shown["z"].idxmax()]
    same = trials[(trials["run_id"] != worst["run_id"]) & ~trials["run_id"].isin(fit.collapsed["run_id"])]
    for p in factors:
        same = same[same[p].astype(str) == str(worst[p])]
    same = same[same[metric].notna()].sort_values(metric)
    typical = same.iloc[len(same) // 2] if len(same) else None
    return _grids(page, client, factors, metric, [("collapsed", "a collapsed run", worst),
                                                   ("typical", "a typical run of its configuration", typical)])


def _grids(page: Page, client, factors: list[str], metric: str, runs) -> list[tuple[str, Path]]:
    """The last logged sample grid of each (file label, words, run row), copied into the report."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, words, row in runs:
            if row is None:
                continue
            folder = download_artifact(client, row["run_id"], "samples", Path(tmp) / label)
            grids = sorted(folder.glob("*.png")) if folder else []
            if grids:
                dst = page.out_dir / f"samples_{label}.png"
                dst.write_bytes(grids[-1].read_bytes())
                out.append((f"samples of {words} ({plots.run_label(row, factors)}, {metric} {row[metric]:.4g})", dst))
    return out


def generator_section(page: Page, client, best_run) -> None:
    """The best run's generator, loaded: its latent interpolation and class histogram, among the figures."""
    if best_run is not None:
        with tempfile.TemporaryDirectory() as tmp:
            _generator_figures(page, client, best_run, Path(tmp) / "g")


def _generator_figures(page: Page, client, best_run, tmp: Path) -> None:
    """The best run's logged generator, loaded: its latent interpolation and its class histogram."""
    weights = download_artifact(client, best_run["run_id"], GENERATOR_ARTIFACT, tmp)
    if not weights:
        return
    try:
        sampler = Sampler.load(weights)
    except ConfigError as e:  # its architecture or dataset is a plugin's, not imported here
        page.add_section('<p class="note">' + html.escape(
            f"The best generator's figures are not drawn: {e} If a plugin registers it, pass --plugins MODULE "
            "(or give the spec file, which names its plugins).") + "</p>")
        return
    info = dataset_info(sampler.config.data)
    strip = _interpolation(sampler)
    page.add_figure("latent interpolation of the best generator (5 pairs, K = 10)",
                    plots.image_strip(strip, page.out_dir / "interpolation.png", rows=5))
    hist = _class_histogram(sampler)
    if hist:
        (counts_h, kl) = hist
        page.add_figure(f"class histogram of the best generator (KL to real {kl:.3f})",
                        plots.class_histogram(counts_h["generated"], counts_h["real"],
                                              list(info.class_names), page.out_dir / "class_histogram.png"))
