"""How much a GAN-test figure owes to its protocol: `python -m studies.gan_test_probe TARGET [options]`.

GAN-test, the accuracy of a classifier trained on real images (the judge) on generated images of the class
that was asked for, is comparable between two studies only when the judge and the sampling are the same.
For each finished conditional run of a sweep this re-scores the run's generator under variants of the
protocol, each over `--repeats` sample sets of `--samples` images (the same sets for every judge):

- `as_logged`: the sweep's protocol (its domain classifier, the run's sampling mode). It should agree
  with the logged figure within sampling noise: a check of the probe itself.
- `other_mode`: the other sampling mode (dropout and batch norm with training behaviour when the run
  samples in eval mode, and the reverse).
- `range_0_1`: the generator's [-1, 1] pixels given to a judge trained on [0, 1] pixels, the mistake of a
  pipeline that rescales real images for the GAN but not its samples for the classifier. Emulated
  exactly: the judge trained on [-1, 1] sees 2x - 1.
- `lenet`: another judge, the LeNet of the classifier registry, trained on the same real images; the
  spread between two judges of similar real accuracy is the part of GAN-test that is the judge's.

It prints each variant's mean with a t interval over the runs of each configuration (seeds), the GAN-test
of each class beside the judge's own accuracy on real test images of that class, and writes
`gan_test_probe.csv` (one row per run, variant and sample set) and `gan_test_probe_classes.csv` into the
sweep folder (or `--out`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from analysis.load import Sweep, SweepNotFound, add_target_arguments, download_artifact, load_target
from stats.contrasts import format_interval, interval, usable_trials
from gan.config import Config
from gan.data import DATASETS, scale_pixels
from gan.sampling import GENERATOR_ARTIFACT, Sampler

__all__ = ["VARIANTS", "judge_predictions", "main", "probe", "summarise"]

VARIANTS = ("as_logged", "other_mode", "range_0_1", "lenet")
SEED_BASE = 7000  # sample set r draws its noise from SEED_BASE + r (not the evaluator's seeds)


@torch.no_grad()
def judge_predictions(judge: torch.nn.Module, images: torch.Tensor, *, range_0_1: bool = False,
                      batch_size: int = 2000) -> torch.Tensor:
    """The judge's class for each uint8 image; with `range_0_1`, as a judge trained on [0, 1] pixels would
    see the [-1, 1] output of a generator that nobody rescaled."""
    judge.eval()
    device = next(judge.parameters()).device
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = scale_pixels(images[i : i + batch_size].to(device), "tanh")
        if range_0_1:
            x = x.mul_(2).sub_(1)
        out.append(judge(x).argmax(1).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def _flipped_mode(sampler: Sampler) -> Sampler:
    raw = sampler.config.to_dict()
    raw["model"]["sample_in_train_mode"] = not sampler.config.model.sample_in_train_mode
    return Sampler(sampler.G, Config.from_dict(raw), num_classes=sampler.num_classes, device=sampler.device)


class _Judges:
    """The sweep's domain classifier and a LeNet, per dataset config, trained (or loaded) once."""

    def __init__(self, lenet_epochs: int, log):
        self.lenet_epochs, self.log = lenet_epochs, log
        self._cache: dict = {}

    def get(self, run: pd.Series, cfg: Config):
        from gan.metrics.classifier import default_spec, fit_classifier, load_or_train_classifier, train_test_split

        epochs, seed = run.get("eval.classifier_epochs"), run.get("eval.classifier_seed")
        spec = default_spec(cfg.data, epochs=None if pd.isna(epochs) else int(epochs),
                            seed=0 if pd.isna(seed) else int(seed))
        key = spec.key()
        if key not in self._cache:
            domain, domain_acc, _ = load_or_train_classifier(spec)
            x, y, test_x, test_y, info = train_test_split(spec)
            start = time.perf_counter()
            lenet = fit_classifier(x, y, info.num_classes, epochs=self.lenet_epochs, seed=spec.seed, arch="lenet")
            self.log(f"LeNet judge: {self.lenet_epochs} epochs on {len(x)} real images in "
                     f"{time.perf_counter() - start:.0f} s")
            real = {}
            for name, judge in (("domain", domain), ("lenet", lenet)):
                pred = judge_predictions(judge, test_x)
                real[name] = pd.Series((pred == test_y).float().numpy()).groupby(test_y.numpy()).mean()
                self.log(
                    f"{name} judge: {(pred == test_y).float().mean().item():.4f} on {len(test_y)} real test images"
                )
            self._cache[key] = (domain, lenet, real)
        return self._cache[key]


def _score_run(run: pd.Series, sampler: Sampler, judges: _Judges, repeats: int, samples: int):
    domain, lenet, real = judges.get(run, sampler.config)
    other = _flipped_mode(sampler)
    sets, classes = [], []
    for r in range(repeats):
        seed = SEED_BASE + r
        images, labels = sampler.generate(samples, seed=seed, batch_size=1000)
        other_images, _ = other.generate(samples, labels=labels, seed=seed, batch_size=1000)
        scored = {
            "as_logged": judge_predictions(domain, images) == labels,
            "other_mode": judge_predictions(domain, other_images) == labels,
            "range_0_1": judge_predictions(domain, images, range_0_1=True) == labels,
            "lenet": judge_predictions(lenet, images) == labels,
        }
        for variant, correct in scored.items():
            sets.append({"variant": variant, "set": r, "gan_test": correct.float().mean().item()})
            per_class = pd.Series(correct.float().numpy()).groupby(labels.numpy()).mean()
            classes += [{"variant": variant, "set": r, "class": int(c), "gan_test": float(v)}
                        for c, v in per_class.items()]
    sets, classes = pd.DataFrame(sets), pd.DataFrame(classes)
    classes = classes.groupby(["variant", "class"], as_index=False)["gan_test"].mean()
    judge_of = {"lenet": "lenet"}
    classes["judge_real_acc"] = [
        real[judge_of.get(v, "domain")][c] for v, c in zip(classes["variant"], classes["class"])
    ]
    return sets, classes


def probe(sweep: Sweep, *, repeats: int = 10, samples: int = 10_000, lenet_epochs: int = 10,
          run_ids: list[str] | None = None, log=print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per run, variant and sample set; the per-class GAN-test per run and variant)."""
    from mlflow.tracking import MlflowClient

    done = usable_trials(sweep.trials, sweep.metric) if run_ids is None else sweep.trials[
        sweep.trials["run_id"].isin(run_ids)]
    if "model.conditional" in done:
        done = done[done["model.conditional"] == True]  # noqa: E712  (object column)
    if done.empty:
        raise SweepNotFound(f"Sweep {sweep.parent_run_id} has no finished conditional run"
                            + (f" among {', '.join(run_ids)}" if run_ids else "") + ".")
    client = MlflowClient(sweep.tracking_uri)
    judges = _Judges(lenet_epochs, log)
    all_sets, all_classes = [], []
    for _, run in done.iterrows():
        with tempfile.TemporaryDirectory() as tmp:
            path = download_artifact(client, run["run_id"], GENERATOR_ARTIFACT, Path(tmp))
            if path is None:
                raise SweepNotFound(f"Run {run['run_id']} has no {GENERATOR_ARTIFACT} artifact.")
            sampler = Sampler.load(path)
        start = time.perf_counter()
        sets, classes = _score_run(run, sampler, judges, repeats, samples)
        group = ", ".join(f"{k}={run[k]}" for k in sweep.swept) or "all runs"
        for frame in (sets, classes):
            frame.insert(0, "run_id", run["run_id"])
            frame.insert(1, "group", group)
            frame.insert(2, "seed", run.get("train.seed"))
        sets["logged"] = run.get("gan_test_acc")
        all_sets.append(sets)
        all_classes.append(classes)
        mean = sets.groupby("variant")["gan_test"].mean()
        log(f"{run['run_name']}: " + ", ".join(f"{v} {mean[v]:.4f}" for v in VARIANTS)
            + f" ({time.perf_counter() - start:.0f} s)")
    return pd.concat(all_sets, ignore_index=True), pd.concat(all_classes, ignore_index=True)


def summarise(sets: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and variant: the mean over runs (seeds) with its t interval, the sample SD over
    the sample sets within a run (averaged over runs), and the shift from `as_logged`."""
    per_run = sets.groupby(["group", "variant", "run_id"], as_index=False).agg(
        gan_test=("gan_test", "mean"), set_sd=("gan_test", "std"), logged=("logged", "first"))
    rows = []
    for (group, variant), g in per_run.groupby(["group", "variant"], sort=False):
        iv = interval(g["gan_test"].to_numpy())
        base = per_run[(per_run["group"] == group) & (per_run["variant"] == "as_logged")]
        rows.append({"group": group, "variant": variant, "runs": len(g), "gan_test": iv.mean,
                     "interval": format_interval(iv), "sd_within_run": g["set_sd"].mean(),
                     "shift_from_as_logged": iv.mean - base["gan_test"].mean(),
                     "logged": g["logged"].mean() if variant == "as_logged" else float("nan")})
    order = {v: i for i, v in enumerate(VARIANTS)}
    return pd.DataFrame(rows).sort_values(["group", "variant"], key=lambda s: s.map(order) if s.name == "variant"
                                          else s).reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.gan_test_probe", description=__doc__.split("\n")[0])
    add_target_arguments(parser)
    parser.add_argument("--runs", help="comma-separated MLflow run ids; default: every finished conditional run")
    parser.add_argument("--repeats", type=int, default=10, help="sample sets per run and variant (the study: 10)")
    parser.add_argument("--samples", type=int, default=10_000, help="images per sample set")
    parser.add_argument("--lenet-epochs", type=int, default=10, help="training epochs of the LeNet judge")
    parser.add_argument("--out", help="folder for the CSV files (default: the sweep folder)")
    args = parser.parse_args(argv)
    if args.repeats < 2 or args.samples < 1 or args.lenet_epochs < 1:
        parser.error("--repeats must be at least 2 (a spread needs two sets), --samples and --lenet-epochs at least 1")
    try:
        sweep = load_target(args)
        runs = [r.strip() for r in args.runs.split(",") if r.strip()] if args.runs else None
        sets, classes = probe(sweep, repeats=args.repeats, samples=args.samples, lenet_epochs=args.lenet_epochs,
                              run_ids=runs)
    except (SweepNotFound, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else (sweep.out_dir or Path(args.root))
    out.mkdir(parents=True, exist_ok=True)
    sets.to_csv(out / "gan_test_probe.csv", index=False)
    classes.to_csv(out / "gan_test_probe_classes.csv", index=False)
    summary = summarise(sets)
    pd.set_option("display.width", 200)
    print("\nGAN-test by protocol variant: mean ± 95% t half-width over runs (n runs); SD over sample sets "
          "within a run")
    print(summary.drop(columns=["gan_test"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    as_logged = classes[classes["variant"] == "as_logged"].groupby(["group", "class"], as_index=False)[
        ["gan_test", "judge_real_acc"]].mean()
    dataset = _dataset_of(sweep)
    if dataset:
        names = DATASETS.get(dataset).class_names
        as_logged["class"] = [names[c] for c in as_logged["class"]]
    print("\nGAN-test of each class (as_logged, mean over runs) beside the judge's accuracy on real test images")
    print(as_logged.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"\nwritten: {out / 'gan_test_probe.csv'}, {out / 'gan_test_probe_classes.csv'}")
    return 0


def _dataset_of(sweep: Sweep) -> str | None:
    names = sweep.trials.get("data.name")
    return None if names is None or names.nunique() != 1 else str(names.iloc[0])


if __name__ == "__main__":
    sys.exit(main())
