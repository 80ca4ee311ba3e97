"""The augmentation study over a finished sweep: `python -m studies.augment TARGET [options]`.

A classifier (the DCGAN/CGAN study's LeNet by default) is trained on every mix of n_real real training
images and n_generated images from the sweep's best conditional generator (named by its MLflow run),
and its accuracy on the real test split is recorded. Three plans, as the study ran them:
- `mixed`: the two sets shuffled together for all epochs;
- `filtered`: only generated images a classifier trained on the real training set labels as the class
  they were generated for (the study's quality check);
- `pretrained`: the first half of the epochs on the generated images alone, the second half on the real
  ones (cells with both).
Each cell and seed is one MLflow run under an `augmentation` run of the sweep's experiment, so a run that
stops (Ctrl-C, a crash) resumes where it stopped when started again with the same options. The report of
the sweep shows the table, a contour plot and the PCA picture of the classifier's penultimate layer
(read back by analysis.augmentation).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from analysis.augmentation import (ACCURACY, CELL_KEY, CELL_ROLE, PLANS, ROLE, accuracy_grid, augmentation_claim,
                                   augmentation_studies, finished_cells, published_beside)
from analysis.claims import claim_line
from analysis.load import Sweep, SweepNotFound, add_target_arguments, download_artifact, load_target
from stats.contrasts import usable_trials
from gan.data import dataset_info, scale_pixels
from record.names import PARENT, ROLE as ROLE_TAG, RunStatus
from gan.sampling import GENERATOR_ARTIFACT, Sampler

__all__ = ["AugmentPlan", "main", "run_augmentation"]

SIZES = (0, 600, 6000, 12000, 30000, 60000)  # the study's subset sizes, real and generated


@dataclass(frozen=True)
class AugmentPlan:
    real: tuple[int, ...] = SIZES
    generated: tuple[int, ...] = SIZES
    plans: tuple[str, ...] = PLANS
    epochs: int = 30
    classifier: str = "lenet"
    seeds: tuple[int, ...] = (0, 1)
    batch_size: int = 128
    generator_run: str | None = None  # None = the best finished run of the sweep

    def key(self) -> str:
        return hashlib.md5(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def cells(self) -> list[tuple[str, int, int, int]]:
        out = []
        for plan in self.plans:
            for r in self.real:
                for g in self.generated:
                    if r + g == 0 or (plan == "filtered" and g == 0) or (plan == "pretrained" and (r == 0 or g == 0)):
                        continue  # nothing to train on, or the same cell as `mixed`
                    out += [(plan, r, g, s) for s in self.seeds]
        return out


@dataclass
class Pools:
    real_x: torch.Tensor
    real_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    gen_x: torch.Tensor
    gen_y: torch.Tensor
    kept: torch.Tensor  # mask of generated images the real-data classifier labels as their class
    info: object = field(default=None)
    real_model: torch.nn.Module | None = None  # the classifier trained on the real images alone, once


def _real_classifier(pools: Pools, plan: AugmentPlan) -> torch.nn.Module:
    """The classifier of the real training images: the quality check's judge and the PCA picture's network."""
    from gan.metrics.classifier import fit_classifier

    if pools.real_model is None:
        pools.real_model = fit_classifier(pools.real_x, pools.real_y, pools.info.num_classes, epochs=plan.epochs,
                                          seed=0, arch=plan.classifier, batch_size=plan.batch_size)
    return pools.real_model


def _best_run(sweep: Sweep) -> pd.Series:
    done = usable_trials(sweep.trials, sweep.metric)
    if "model.conditional" in done:
        done = done[done["model.conditional"] == True]  # noqa: E712  (object column)
    if done.empty:
        raise SweepNotFound(f"Sweep {sweep.parent_run_id} has no finished conditional run to generate labelled images.")
    return done.sort_values(sweep.metric, ascending=sweep.mode == "min").iloc[0]


def _pools(sweep: Sweep, run_id: str, n_generated: int, plan: AugmentPlan, tmp: Path) -> Pools:
    from mlflow.tracking import MlflowClient

    from gan.metrics.classifier import default_spec, train_test_split

    path = download_artifact(MlflowClient(sweep.tracking_uri), run_id, GENERATOR_ARTIFACT, tmp)
    if path is None:
        raise SweepNotFound(f"Run {run_id} has no {GENERATOR_ARTIFACT} artifact.")
    sampler = Sampler.load(path)
    cfg, info = sampler.config, dataset_info(sampler.config.data)
    if not cfg.model.conditional:
        raise SweepNotFound(f"Run {run_id} trained an unconditional generator; its images have no labels.")
    # the dataset's train and test splits (or a 20% holdout where only one is present), as its classifier uses
    real_x, real_y, test_x, test_y, _ = train_test_split(default_spec(cfg.data))
    gen = torch.Generator().manual_seed(12345)
    labels = torch.arange(n_generated) % info.num_classes
    labels = labels[torch.randperm(n_generated, generator=gen)]
    gen_x, _ = sampler.generate(n_generated, labels=labels, seed=12345, batch_size=1000)
    if not n_generated:
        gen_x = torch.empty(0, *real_x.shape[1:], dtype=torch.uint8)
    pools = Pools(real_x, real_y, test_x, test_y, gen_x, labels, torch.ones(len(labels), dtype=torch.bool), info)
    if "filtered" in plan.plans and len(labels):
        judge = _real_classifier(pools, plan)
        with torch.no_grad():
            pred = torch.cat([judge(scale_pixels(x, "tanh")).argmax(1) for x in gen_x.split(2000)])
        pools.kept = pred == labels
    return pools


def _train_cell(pools: Pools, plan_name: str, n_real: int, n_gen: int, seed: int, plan: AugmentPlan):
    from gan.metrics.classifier import accuracy, fit_classifier

    gen = torch.Generator().manual_seed(seed)
    ri = torch.randperm(len(pools.real_y), generator=gen)[:n_real]
    pool = torch.nonzero(pools.kept).flatten() if plan_name == "filtered" else torch.arange(len(pools.gen_y))
    gi = pool[torch.randperm(len(pool), generator=gen)[:n_gen]]
    rx, ry, gx, gy = pools.real_x[ri], pools.real_y[ri], pools.gen_x[gi], pools.gen_y[gi]
    C = pools.info.num_classes

    def fit(x, y, epochs, model=None):
        return fit_classifier(x, y, C, epochs=epochs, seed=seed, arch=plan.classifier, model=model,
                              batch_size=min(plan.batch_size, len(y)))

    if plan_name == "pretrained":
        first = max(1, plan.epochs // 2)
        model = fit(gx, gy, first)
        model = fit(rx, ry, max(1, plan.epochs - first), model=model)
    else:
        model = fit(torch.cat([rx, gx]), torch.cat([ry, gy]), plan.epochs)
    return model, accuracy(model, pools.test_x, pools.test_y)


def _parent_run(client, sweep: Sweep, plan: AugmentPlan, generator_run: str) -> str:
    exp = client.get_experiment_by_name(sweep.experiment)
    found = client.search_runs(
        [exp.experiment_id],
        filter_string=(
            f"tags.{ROLE_TAG} = '{ROLE}' and tags.sweep_parent = '{sweep.parent_run_id}' "
            f"and tags.plan_key = '{plan.key()}'"
        ),
        max_results=1,
    )
    if found:
        return found[0].info.run_id
    run = client.create_run(exp.experiment_id, run_name=f"augmentation-{generator_run[:8]}", tags={
        ROLE_TAG: ROLE, "sweep_parent": sweep.parent_run_id, "plan_key": plan.key(), "generator_run": generator_run,
        "plan": json.dumps(asdict(plan))})
    return run.info.run_id




def _pca_picture(pools: Pools, plan: AugmentPlan, out: Path) -> Path:
    """The study's Fig. 8: penultimate activations of 100 real test and 100 generated images, by a classifier
    trained on real images only, projected on their first two principal components."""
    from sklearn.decomposition import PCA

    from analysis import plots

    model = _real_classifier(pools, plan)
    gen = torch.Generator().manual_seed(0)
    ri = torch.randperm(len(pools.test_y), generator=gen)[:100]
    gi = torch.randperm(len(pools.gen_y), generator=gen)[:100]
    with torch.no_grad():
        feats = [
            model.forward_features(scale_pixels(x, "tanh"))[0].numpy() for x in (pools.test_x[ri], pools.gen_x[gi])
        ]
    pca = PCA(n_components=2).fit(np.concatenate(feats))
    points = [pca.transform(f) for f in feats]
    return plots.pca_scatter(points[0], pools.test_y[ri].numpy(), points[1], pools.gen_y[gi].numpy(),
                             pca.explained_variance_ratio_, out)


def run_augmentation(sweep: Sweep, plan: AugmentPlan, out_dir: Path, log=print) -> pd.DataFrame:
    """Train every cell not yet in MLflow, then return all cells (plan, real, generated, seed, test_accuracy)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(sweep.tracking_uri)
    generator_run = plan.generator_run or _best_run(sweep)["run_id"]
    parent = _parent_run(client, sweep, plan, generator_run)
    client.set_tag(parent, "dataset", client.get_run(generator_run).data.params.get("data.name", ""))
    exp_id = client.get_run(parent).info.experiment_id
    done = finished_cells(client, exp_id, parent)
    todo = [c for c in plan.cells() if c not in done]
    log(f"augmentation study {parent} (generator run {generator_run}): {len(done)} cells done, {len(todo)} to train")
    out_dir.mkdir(parents=True, exist_ok=True)
    pca_logged = any(a.path == "pca.png" for a in client.list_artifacts(parent))
    if todo or not pca_logged:
        with tempfile.TemporaryDirectory() as tmp:
            # the quality check rejects some images: draw twice the largest subset, so it can keep enough
            pool_size = max(plan.generated) * (2 if "filtered" in plan.plans else 1)
            pools = _pools(sweep, generator_run, pool_size, plan, Path(tmp))
            kept = int(pools.kept.sum())
            short = [c for c in todo if c[0] == "filtered" and c[2] > kept]
            if short:
                log(f"  the quality check kept {kept} of {pool_size} generated images: skipping {len(short)} "
                    f"filtered cells that need more")
                todo = [c for c in todo if c not in short]
            if not pca_logged and len(pools.gen_y):
                client.log_artifact(parent, str(_pca_picture(pools, plan, out_dir / "pca.png")))
            for i, (name, r, g, s) in enumerate(todo, 1):
                run = client.create_run(exp_id, run_name=f"{name}-r{r}-g{g}-s{s}",
                                        tags={PARENT: parent, ROLE_TAG: CELL_ROLE})
                rid = run.info.run_id
                try:
                    for k, v in {**dict(zip(CELL_KEY, (name, r, g, s))), "classifier": plan.classifier,
                                 "epochs": plan.epochs}.items():
                        client.log_param(rid, k, v)
                    _, acc = _train_cell(pools, name, r, g, s, plan)
                    client.log_metric(rid, ACCURACY, acc)
                    client.set_terminated(rid, RunStatus.FINISHED)
                except BaseException:
                    client.set_terminated(rid, RunStatus.KILLED)  # not counted as done: it is trained again on resume
                    raise
                log(f"  [{i}/{len(todo)}] {name:<10} real {r:>6} generated {g:>6} seed {s}: test accuracy {acc:.4f}")
                done[(name, r, g, s)] = acc
    client.set_terminated(parent, RunStatus.FINISHED)
    return next(cells for cells in augmentation_studies(sweep) if cells.attrs["run_id"] == parent)








def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated image counts such as 0,600,6000, got {text!r}") from None
    if not sizes or min(sizes) < 0:
        raise argparse.ArgumentTypeError(f"expected counts >= 0, got {text!r}")
    return sizes


def _seeds(text: str) -> tuple[int, ...]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if len(values) == 1 and "," not in text:
        values = list(range(values[0])) if values[0] >= 1 else []
    if not values or min(values) < 0 or len(set(values)) < len(values):
        raise argparse.ArgumentTypeError(f"expected a count >= 1 or distinct seeds >= 0 such as 10,11,12, got {text!r}")
    return tuple(sorted(values))  # the same set, the same study (its plan's key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.augment", description=__doc__.split("\n")[0])
    add_target_arguments(parser)
    parser.add_argument(
        "--generator-run", help="MLflow run whose generator makes the images; default: the best finished run"
    )
    parser.add_argument(
        "--real", type=_sizes, default=SIZES, help="real subset sizes (default: the study's 0,600,...,60000)"
    )
    parser.add_argument("--generated", type=_sizes, default=SIZES, help="generated subset sizes (default: the study's)")
    parser.add_argument("--plans", default=",".join(PLANS), help=f"comma-separated, from {', '.join(PLANS)}")
    parser.add_argument("--epochs", type=int, default=30, help="classifier epochs per cell (the study: 30)")
    parser.add_argument("--classifier", default="lenet", help="classifier network: lenet (the study's) or domain")
    parser.add_argument("--seeds", type=_seeds, default=(0, 1),
                        help="classifier trainings per cell: a count N (seeds 0 to N-1, default 2) or the seeds, "
                             "comma-separated (10,11,12: a second seed set disjoint from the first)")
    parser.add_argument("--out", help="folder for the PCA picture (default: <sweep folder>/augmentation)")
    args = parser.parse_args(argv)
    from gan.metrics.classifier import CLASSIFIERS

    plans = tuple(p.strip() for p in args.plans.split(",") if p.strip())
    bad = [p for p in plans if p not in PLANS]
    if bad or not plans:
        parser.error(f"--plans: {', '.join(bad) or 'none given'}; allowed: {', '.join(PLANS)}")
    if args.classifier not in CLASSIFIERS:
        parser.error(f"--classifier {args.classifier!r}; allowed: {', '.join(CLASSIFIERS.names())}")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    try:
        sweep = load_target(args)
        plan = AugmentPlan(real=args.real, generated=args.generated, plans=plans, epochs=args.epochs,
                           classifier=args.classifier, seeds=args.seeds,
                           generator_run=args.generator_run)
        out = Path(args.out) if args.out else (sweep.out_dir or Path(args.root)) / "augmentation"
        cells = run_augmentation(sweep, plan, out)
    except (SweepNotFound, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name in plans:
        print(f"\n{name}: test accuracy (%) by real (rows) and generated (columns) training images")
        print(accuracy_grid(cells, name).to_string(index=False))
    print("\n" + published_beside(cells).to_string(index=False))
    verdict = augmentation_claim(cells)
    if verdict is not None:
        print("\nthe study's claim: " + claim_line(verdict))
    print(
        f"\nreport it with: python -m analysis.report {args.target}" + (f" --scale {args.scale}" if args.scale else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
