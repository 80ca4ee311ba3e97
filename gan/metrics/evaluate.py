"""Evaluation of a generator: a registry of metrics, each `fn(ctx) -> {name: value}`.

An `Evaluator` is built once per run (it loads or trains the domain classifier and loads or computes
the real-data features, both cached on disk) and then scores any number of sample sets cheaply:

    evaluator = Evaluator(EvalConfig(metrics=("fid", "kid", "precision_recall")), train_data_cfg)
    scores = evaluator.evaluate(trainer.generate)          # {'fid': ..., 'kid': ..., 'eval_samples': 2000}

The metric math is torch-fidelity's (`*_features_to_metric`); this module only decides which
features go in. Metric names are constants, used unchanged as MLflow metric names and table columns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric

from gan._io import atomic_path
from gan._registry import Registry
from gan.config import ConfigError, DataConfig, _build, _check_choice, _check_range
from gan.data import DATASETS, cache_dir, load_dataset, resize_uint8
from gan.metrics.classifier import ClassifierSpec, accuracy, default_spec, fit_classifier, load_or_train_classifier
from gan.metrics.features import EXTRACTORS, Extractor, build_extractor

__all__ = [
    "CLASS_KL", "EVAL_SAMPLES", "FID", "FID_STD", "GAN_TEST", "GAN_TEST_STD", "GAN_TRAIN", "IS", "IS_STD", "KID",
    "KID_STD", "METRICS", "NN_DISTANCE", "OUTPUTS", "PRECISION", "RECALL",
    "EvalConfig", "Evaluator", "MetricOutput", "augmentation_experiment", "bootstrap_fid", "frechet_distance",
    "metric_direction", "register_metric",
]

# metric names (MLflow metric names and table columns)
FID, FID_STD, KID, KID_STD, IS, IS_STD = "fid", "fid_std", "kid", "kid_std", "is", "is_std"
PRECISION, RECALL = "precision", "recall"
GAN_TRAIN, GAN_TEST, GAN_TEST_STD = "gan_train_acc", "gan_test_acc", "gan_test_acc_std"
CLASS_KL, NN_DISTANCE, EVAL_SAMPLES = "class_kl", "nn_distance", "eval_samples"

METRICS: Registry = Registry("metric")


@dataclass(frozen=True)
class MetricOutput:
    """One value a registered metric reports: its name, which way is better, and who computes it."""

    name: str  # MLflow metric name and table column
    direction: str | None  # "min" or "max" (which value is better); None for the uncertainty of another output
    producer: str  # registry name of the metric function that computes it (what `evaluation.metrics` lists)
    uncertainty_of: str | None = None  # for a `*_std` output: the output whose spread it measures
    positive: bool = False  # values are > 0 and their seed-to-seed spread grows with them: analysed on the log scale
    bounds: tuple[float, float] = (-math.inf, math.inf)  # the range values can take; intervals stay inside it


OUTPUTS: dict[str, MetricOutput] = {}  # every reported value by name, filled by register_metric


def register_metric(name: str, outputs: Mapping[str, str], *, positive: tuple[str, ...] = (),
                    bounds: Mapping[str, tuple[float, float]] | None = None):
    """Register `fn(ctx) -> {output: value}` under `name`. `outputs` maps each output it reports to its
    direction: "min" or "max" (which value is better), or "std of <output>" for an uncertainty.
    `positive` names the outputs that are > 0 with a seed spread that grows with their size (FID): the
    statistics compare them as ratios, on the log scale. `bounds` gives an output's range (e.g. (0, 1) for
    an accuracy); a positive output's range starts at 0."""
    bounds = dict(bounds or {})

    def decorator(fn):
        declared = {}
        for out, direction in outputs.items():
            if out in OUTPUTS or out in declared:
                raise ValueError(f"The metric output `{out}` is already registered.")
            if direction in ("min", "max"):
                low, high = bounds.get(out, (0.0 if out in positive else -math.inf, math.inf))
                declared[out] = MetricOutput(out, direction, name, positive=out in positive, bounds=(low, high))
            elif isinstance(direction, str) and direction.startswith("std of ") and direction[7:] in outputs:
                declared[out] = MetricOutput(out, None, name, uncertainty_of=direction[7:])
            else:
                raise ValueError(f"The direction of `{out}` is {direction!r}, but must be min, max or 'std of <output>'.")
        METRICS.add(name, fn)
        OUTPUTS.update(declared)
        return fn

    return decorator


def metric_direction(name: str) -> str | None:
    """"min" or "max" for a registered output that can rank runs, else None."""
    out = OUTPUTS.get(name)
    return out.direction if out else None


@dataclass(frozen=True)
class EvalConfig:
    extractor: str = "domain"  # feature extractor: domain (fast, CPU) or inception (comparable with published FIDs)
    metrics: tuple[str, ...] = ("fid",)  # metric registry names: fid, kid, is, precision_recall, gan_test, gan_train, class_histogram, memorization
    num_samples: int = 2000  # generated samples per evaluation (recorded as eval_samples)
    real_samples: int = 10000  # real reference images (capped by the split size); their features are cached
    real_split: str | None = None  # split of the reference images; None = the training split
    real_fraction: float = 1.0  # share of that split used as the reference; 1.0 = all of it, independent of data.dataset_fraction
    image_size: int | None = None  # side at which samples are scored: generated images are resized to it as datasets are, and the reference, classifier and extractor see the dataset at that size; None = the training size. Puts runs trained at different sizes in one feature space
    inception_weights: str | None = None  # local FID Inception weights; None = $GANSWEEP_INCEPTION_WEIGHTS or torch-fidelity's download
    classifier_epochs: int | None = None  # domain classifier epochs; None = enough for ~48k image presentations
    classifier_seed: int = 0  # seeds the domain classifier's training (a new seed is a new feature space)
    gan_test_repeats: int = 5  # GAN-test repeats (fresh samples each) for its mean and std
    prc_neighborhood: int = 3  # k of the k-NN balls of precision/recall
    kid_subset_size: int = 1000  # KID subset size (capped by the sample counts)
    fid_bootstrap: int = 10  # bootstrap resamples of the generated features behind `fid_std`; 0 = no fid_std
    seed: int = 0  # seeds the sampled noise and labels, and the real reference subset
    device: str = "auto"  # where extractors run

    def __post_init__(self):
        _check_choice("evaluation.extractor", self.extractor, EXTRACTORS.names())
        for m in self.metrics:
            _check_choice("evaluation.metrics", m, METRICS.names())
        _check_range("evaluation.num_samples", self.num_samples, 10)
        _check_range("evaluation.real_samples", self.real_samples, 10)
        if self.real_split is not None:
            _check_choice("evaluation.real_split", self.real_split, ("train", "test", "all"))
        _check_range("evaluation.real_fraction", self.real_fraction, 0.0, 1.0, lo_open=True)
        _check_range("evaluation.image_size", self.image_size, 8, 256)
        _check_range("evaluation.gan_test_repeats", self.gan_test_repeats, 1, 100)
        _check_range("evaluation.prc_neighborhood", self.prc_neighborhood, 1, 100)
        _check_range("evaluation.kid_subset_size", self.kid_subset_size, 2)
        _check_range("evaluation.fid_bootstrap", self.fid_bootstrap, 0, 1000)
        if self.fid_bootstrap == 1:
            raise ConfigError("The value of `evaluation.fid_bootstrap` is 1, but must be 0 (off) or >= 2 (a spread "
                              "needs at least two resamples).")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> "EvalConfig":
        raw = dict(raw or {})
        if isinstance(raw.get("metrics"), list):
            raw["metrics"] = tuple(raw["metrics"])
        if "metrics" in raw and not (isinstance(raw["metrics"], tuple) and all(isinstance(m, str) for m in raw["metrics"])):
            raise ConfigError(f"The value of `evaluation.metrics` is {raw['metrics']!r}, but must be a list of metric names.")
        metrics = raw.pop("metrics", None)
        cfg = _build(cls, raw, "evaluation.")
        return dataclasses.replace(cfg, metrics=metrics) if metrics is not None else cfg


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between two Gaussians, through torch-fidelity's implementation."""
    return fid_statistics_to_metric({"mu": mu1, "sigma": sigma1}, {"mu": mu2, "sigma": sigma2}, verbose=False)[
        "frechet_inception_distance"
    ]


def _atomic_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _digest(t: torch.Tensor) -> str:
    return hashlib.md5(t.contiguous().numpy().tobytes()).hexdigest()


@dataclass
class RealReference:
    images: torch.Tensor  # uint8 (N, C, H, W) reference images
    labels: torch.Tensor  # (N,)
    features: torch.Tensor  # (N, D) float32
    logits: torch.Tensor  # (N, K) float32
    mu: np.ndarray
    sigma: np.ndarray
    cache_path: Path
    from_cache: bool
    _sqrt: tuple | None = field(default=None, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)

    def knn_radii(self, k: int) -> torch.Tensor:
        """Distance from each reference feature to its k-th nearest other one: the real k-NN balls of
        precision. They never change during a sweep, so they are computed once and cached beside the
        statistics."""
        key = ("radii", k)
        if key not in self._memo:
            path = self.cache_path.with_name(f"{self.cache_path.stem}.radii{k}.pt")
            radii = None
            if path.is_file():
                with contextlib.suppress(Exception):
                    radii = torch.load(path, map_location="cpu", weights_only=True)
            if radii is None or radii.shape != (self.features.shape[0],):
                radii = knn_radii(self.features, k)
                _atomic_save(radii, path)
            self._memo[key] = radii
        return self._memo[key]

    def kid_plan(self, n_generated: int, subset: int, subsets: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """torch-fidelity's KID subsets for n_generated samples (its random draws, replayed), with the
        real-real kernel sum of each: (generated indices, real indices, sum of K_YY off its diagonal)."""
        key = ("kid", n_generated, subset, subsets, seed)
        if key not in self._memo:
            rng = np.random.RandomState(seed)
            gen_idx, real_idx = [], []
            for _ in range(subsets):  # the order torch-fidelity draws them in
                gen_idx.append(rng.choice(n_generated, subset, replace=False))
                real_idx.append(rng.choice(self.features.shape[0], subset, replace=False))
            real_idx = torch.from_numpy(np.stack(real_idx))
            off_diag = torch.empty(subsets, dtype=torch.float64)
            for i, idx in enumerate(real_idx):
                off_diag[i] = _kernel_sum(self.features[idx], self.features[idx], off_diagonal=True)
            self._memo[key] = (torch.from_numpy(np.stack(gen_idx)), real_idx, off_diag)
        return self._memo[key]

    def sqrt_sigma(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(Σr^½, mu_r, tr Σr) in float64, computed once: what every bootstrap FID against this reference needs."""
        if self._sqrt is None:
            sigma = torch.from_numpy(np.asarray(self.sigma, dtype=np.float64))
            eig, vec = torch.linalg.eigh(sigma)
            root = (vec * eig.clamp(min=0).sqrt()) @ vec.T
            self._sqrt = (root, torch.from_numpy(np.asarray(self.mu, dtype=np.float64)), sigma.trace())
        return self._sqrt


def _real_reference(extractor: Extractor, data_cfg: DataConfig, n: int, seed: int) -> RealReference:
    """Reference features for (dataset, split, fraction, extractor, sample count), cached atomically."""
    data = load_dataset(data_cfg, seed=seed)
    n = min(n, len(data))
    key_src = json.dumps(
        {"data": dataclasses.asdict(data_cfg), "source": data.source, "extractor": extractor.key, "n": n, "seed": seed},
        sort_keys=True,
    )
    path = cache_dir() / "real_stats" / f"{data_cfg.name}-{extractor.name}-{hashlib.md5(key_src.encode()).hexdigest()}.pt"
    gen = torch.Generator().manual_seed(seed)
    idx = torch.sort(torch.randperm(len(data), generator=gen)[:n]).values
    images, labels = data.images[idx], data.labels[idx]
    if path.is_file():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob["digest"] == _digest(blob["features"]) and blob["features"].shape[0] == n:
                return RealReference(images, labels, blob["features"], blob["logits"], blob["mu"].numpy(),
                                     blob["sigma"].numpy(), path, True)
        except Exception:
            pass  # unreadable or corrupt: recompute and overwrite below
    out = extractor(images)
    stats = fid_features_to_statistics(out["features"])
    blob = {
        "features": out["features"], "logits": out["logits"], "mu": torch.from_numpy(stats["mu"]),
        "sigma": torch.from_numpy(stats["sigma"]), "digest": _digest(out["features"]),
    }
    _atomic_save(blob, path)
    return RealReference(images, labels, out["features"], out["logits"], stats["mu"], stats["sigma"], path, False)


@dataclass
class EvalContext:
    """What a metric function sees; expensive intermediate results are computed on first use."""

    evaluator: "Evaluator"
    generate: Callable[..., tuple[torch.Tensor, torch.Tensor]]  # (n, seed=..., labels=...) -> (uint8 images, labels)
    images: torch.Tensor  # generated uint8 (N, C, H, W)
    labels: torch.Tensor  # the labels they were generated for
    artifacts: dict[str, Any] = field(default_factory=dict)  # non-scalar results (histograms, figures)
    _features: dict[str, torch.Tensor] | None = None

    @property
    def features(self) -> dict[str, torch.Tensor]:
        if self._features is None:
            self._features = self.evaluator.extractor(self.images)
        return self._features

    @property
    def real(self) -> RealReference:
        return self.evaluator.real

    @property
    def predicted_classes(self) -> torch.Tensor:
        """The domain classifier's class for each generated image. With the `domain` extractor that classifier
        is the feature network, so its logits were already computed with the features."""
        if self.evaluator.extractor.name == "domain":
            return self.features["logits"].argmax(1)
        return self.evaluator.classify(self.images)


def bootstrap_fid(features: torch.Tensor, real: RealReference, resamples: int, seed: int,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """FID of `resamples` bootstrap resamples (n of n, with replacement) of the generated features against the
    fixed real statistics: their spread is the evaluation-sampling uncertainty of the FID at this n.

    The same Fréchet distance as torch-fidelity's `fid_statistics_to_metric` (a test checks each resample
    against it), computed as tr sqrt(S Σg S) with S = Σr^½ cached once per reference, where
    torch-fidelity takes sqrtm(Σg Σr): one symmetric eigenvalue problem per resample instead of a general
    matrix square root, so all resamples cost about as much as extracting the features.
    """
    x = features.to(device=device, dtype=torch.float64)  # (n, D)
    n = x.shape[0]
    root, mu_r, trace_r = (t.to(device) for t in real.sqrt_sigma())
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(resamples):
        xb = x[torch.randint(n, (n,), generator=gen).to(device)]
        mu = xb.mean(0)
        centred = xb - mu
        sigma = centred.T @ centred / (n - 1)  # (D, D), unbiased like np.cov
        eig = torch.linalg.eigvalsh(root @ sigma @ root).clamp_(min=0)
        values.append((mu - mu_r).square().sum() + sigma.trace() + trace_r - 2 * eig.sqrt().sum())
    return torch.stack(values).cpu()


@register_metric("fid", outputs={FID: "min", FID_STD: f"std of {FID}"}, positive=(FID,))
def _fid(ctx: EvalContext) -> dict[str, float]:
    stats = fid_features_to_statistics(ctx.features["features"])
    out = {FID: frechet_distance(stats["mu"], stats["sigma"], ctx.real.mu, ctx.real.sigma)}
    cfg = ctx.evaluator.config
    if cfg.fid_bootstrap:
        fids = bootstrap_fid(ctx.features["features"], ctx.real, cfg.fid_bootstrap, cfg.seed, ctx.evaluator.device)
        out[FID_STD] = float(fids.std(correction=1))
    return out


KID_SUBSETS = 100  # torch-fidelity's default number of KID subsets


def _kernel_sum(x: torch.Tensor, y: torch.Tensor, off_diagonal: bool = False) -> float:
    """Sum of torch-fidelity's KID kernel (x·y / D + 1)^3 over all pairs (without the diagonal, for x = y)."""
    k = torch.addmm(torch.ones(()), x, y.T, alpha=1.0 / x.shape[1]).pow_(3)
    total = k.sum(dtype=torch.float64)
    return float(total - k.diagonal().sum(dtype=torch.float64)) if off_diagonal else float(total)


def kid(features: torch.Tensor, real: RealReference, subset: int, seed: int,
        subsets: int = KID_SUBSETS) -> tuple[float, float]:
    """KID mean and std over subsets, as torch-fidelity's `kid_features_to_metric` (same subsets, same
    unbiased MMD² with the cubic polynomial kernel; a test checks them equal), reusing the real-real
    kernel terms the reference caches: two kernel matrices per subset instead of three."""
    gen_idx, real_idx, yy = real.kid_plan(features.shape[0], subset, subsets, seed)
    features = features.float().cpu()
    m = subset
    mmds = np.empty(subsets)
    for i in range(subsets):
        x, y = features[gen_idx[i]], real.features[real_idx[i]]
        xx = _kernel_sum(x, x, off_diagonal=True)
        mmds[i] = (xx + float(yy[i])) / (m * (m - 1)) - 2 * _kernel_sum(x, y) / (m * m)
    return float(mmds.mean()), float(mmds.std())


@register_metric("kid", outputs={KID: "min", KID_STD: f"std of {KID}"}, positive=(KID,))
def _kid(ctx: EvalContext) -> dict[str, float]:
    f_gen, f_real = ctx.features["features"], ctx.real.features
    size = min(ctx.evaluator.config.kid_subset_size, f_gen.shape[0], f_real.shape[0])
    mean, std = kid(f_gen, ctx.real, size, ctx.evaluator.config.seed)
    return {KID: mean, KID_STD: std}


@register_metric("is", outputs={IS: "max", IS_STD: f"std of {IS}"}, positive=(IS,))
def _is(ctx: EvalContext) -> dict[str, float]:
    out = isc_features_to_metric(ctx.features["logits"], splits=10, rng_seed=ctx.evaluator.config.seed)
    return {IS: out["inception_score_mean"], IS_STD: out["inception_score_std"]}


def knn_radii(features: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    """Distance of each feature to its k-th nearest other one (the (k+1)-th counting itself), as
    torch-fidelity's precision/recall balls."""
    return torch.cat([torch.cdist(part, features).topk(k + 1, dim=1, largest=False).values[:, -1]
                      for part in features.split(chunk)])


def precision_recall(features: torch.Tensor, real: RealReference, k: int, chunk: int = 4096) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al.) as torch-fidelity's `prc_features_to_metric`
    (a test checks them equal), with the real k-NN radii cached by the reference and each real-generated
    distance computed once for both: precision = share of generated samples inside some real ball, recall
    = share of real samples inside some generated ball."""
    gen_radii = knn_radii(features, k, chunk)
    real_feats, real_radii = real.features, real.knn_radii(k)
    inside_real = torch.zeros(features.shape[0], dtype=torch.bool)
    covered = []
    for start in range(0, real_feats.shape[0], chunk):
        d = torch.cdist(real_feats[start : start + chunk], features)  # (real chunk, generated)
        covered.append((d <= gen_radii[None, :]).any(dim=1))
        inside_real |= (d <= real_radii[start : start + chunk, None]).any(dim=0)
    return inside_real.float().mean().item(), torch.cat(covered).float().mean().item()


@register_metric("precision_recall", outputs={PRECISION: "max", RECALL: "max"},
                 bounds={PRECISION: (0.0, 1.0), RECALL: (0.0, 1.0)})
def _prc(ctx: EvalContext) -> dict[str, float]:
    precision, recall = precision_recall(ctx.features["features"], ctx.real, ctx.evaluator.config.prc_neighborhood)
    return {PRECISION: precision, RECALL: recall}


def _require_conditional(ctx: EvalContext, metric: str) -> None:
    if not ctx.evaluator.conditional:
        raise ValueError(f"The metric `{metric}` needs a conditional generator (`model.conditional: true`).")


@register_metric("gan_test", outputs={GAN_TEST: "max", GAN_TEST_STD: f"std of {GAN_TEST}"}, bounds={GAN_TEST: (0.0, 1.0)})
def _gan_test(ctx: EvalContext) -> dict[str, float]:
    """Accuracy of the real-trained classifier on generated samples of the requested class (mean, std over repeats)."""
    _require_conditional(ctx, "gan_test")
    clf = ctx.evaluator.classifier
    accs = [accuracy(clf, ctx.images, ctx.labels)]
    cfg = ctx.evaluator.config
    for r in range(1, cfg.gan_test_repeats):
        images, labels = ctx.generate(ctx.images.shape[0], seed=cfg.seed + 1000 + r)
        accs.append(accuracy(clf, images, labels))
    # the sample standard deviation over the sets, as studies that repeat GAN-test report it
    return {GAN_TEST: float(np.mean(accs)), GAN_TEST_STD: float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0}


@register_metric("gan_train", outputs={GAN_TRAIN: "max"}, bounds={GAN_TRAIN: (0.0, 1.0)})
def _gan_train(ctx: EvalContext) -> dict[str, float]:
    """Accuracy on real test images of a classifier trained only on generated, labelled samples."""
    _require_conditional(ctx, "gan_train")
    ev = ctx.evaluator
    model = fit_classifier(ctx.images, ctx.labels, ev.num_classes, epochs=ev.classifier_epochs_for(ctx.images.shape[0]),
                           seed=ev.config.seed)
    test_images, test_labels = ev.test_set
    return {GAN_TRAIN: accuracy(model, test_images, test_labels)}


@register_metric("class_histogram", outputs={CLASS_KL: "min"}, bounds={CLASS_KL: (0.0, math.inf)})
def _class_histogram(ctx: EvalContext) -> dict[str, float]:
    """Predicted-class histogram of the samples and its KL divergence to the real class distribution (mode collapse)."""
    k = ctx.evaluator.num_classes
    pred = ctx.predicted_classes
    hist = torch.bincount(pred, minlength=k).double()
    real = torch.bincount(ctx.real.labels, minlength=k).double()
    p, q = (hist + 1e-6) / (hist + 1e-6).sum(), (real + 1e-6) / (real + 1e-6).sum()
    ctx.artifacts["class_histogram"] = {"generated": hist.long().tolist(), "real": real.long().tolist()}
    return {CLASS_KL: float((p * (p / q).log()).sum())}


@register_metric("memorization", outputs={NN_DISTANCE: "max"}, bounds={NN_DISTANCE: (0.0, math.inf)})
def _memorization(ctx: EvalContext) -> dict[str, float]:
    """Mean pixel-space L2 distance (pixels in [0, 1]) from each generated image to its nearest training image."""
    train = ctx.evaluator.train_images.flatten(1).float() / 255
    gen = ctx.images.flatten(1).float() / 255
    nearest_d, nearest_i = [], []
    for chunk in gen.split(500):
        d = torch.cdist(chunk, train, compute_mode="donot_use_mm_for_euclid_dist")  # exact, 0 for copies
        v, i = d.min(dim=1)
        nearest_d.append(v)
        nearest_i.append(i)
    dist, idx = torch.cat(nearest_d), torch.cat(nearest_i)
    ctx.artifacts["nearest_neighbours"] = (ctx.images[:8], ctx.evaluator.train_images[idx[:8]])
    return {NN_DISTANCE: float(dist.mean())}


class Evaluator:
    """Scores generated samples against one dataset; build once per run, call `evaluate` at each report."""

    def __init__(self, config: EvalConfig, data: DataConfig, *, conditional: bool = False, verbose: bool = False):
        self.config = config
        self.info = DATASETS.get(data.name)
        if config.image_size is not None:  # the native size is spelled None, so caches are shared
            data = dataclasses.replace(data, image_size=None if config.image_size == self.info.image_size
                                       else config.image_size)
        self.data_cfg = data
        self.conditional = conditional
        self.num_classes = self.info.num_classes
        self.device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if config.device == "auto" else config.device))
        ref_cfg = dataclasses.replace(
            data, split=config.real_split or data.split, dataset_fraction=config.real_fraction, num_images=None
        )
        self.reference_data = ref_cfg
        self._classifier = None
        needs_classifier = config.extractor == "domain" or any(
            m in config.metrics for m in ("gan_test", "gan_train", "class_histogram")
        )
        if needs_classifier:
            self.classifier_spec = self._classifier_spec()
        self.extractor = build_extractor(
            config.extractor, classifier=getattr(self, "classifier_spec", None),
            inception_weights=config.inception_weights, device=self.device,
        )
        self.real = _real_reference(self.extractor, ref_cfg, config.real_samples, config.seed)
        if verbose:
            print(f"real reference: {self.real.features.shape[0]} images, "
                  f"{'cached' if self.real.from_cache else 'computed'} at {self.real.cache_path}")

    def _classifier_spec(self) -> ClassifierSpec:
        return default_spec(self.data_cfg, epochs=self.config.classifier_epochs, seed=self.config.classifier_seed)

    @property
    def classifier(self):
        if self._classifier is None:
            self._classifier, self.classifier_accuracy, _ = load_or_train_classifier(self.classifier_spec, "cpu")
        return self._classifier

    def classifier_epochs_for(self, n: int) -> int:
        return self.config.classifier_epochs or max(2, -(-48_000 // n))

    @torch.no_grad()
    def classify(self, images: torch.Tensor) -> torch.Tensor:
        clf = self.classifier
        preds = [clf(x.float() / 127.5 - 1).argmax(1) for x in images.split(1000)]
        return torch.cat(preds)

    @property
    def train_images(self) -> torch.Tensor:
        if not hasattr(self, "_train_images"):
            self._train_images = load_dataset(self.data_cfg).images
        return self._train_images

    @property
    def test_set(self) -> tuple[torch.Tensor, torch.Tensor]:
        spec = self.classifier_spec
        if spec.test_data is not None:
            d = load_dataset(spec.test_data)
            return d.images, d.labels
        return self.real.images, self.real.labels

    def evaluate(
        self, generate: Callable[..., tuple[torch.Tensor, torch.Tensor]], num_samples: int | None = None,
        metrics: tuple[str, ...] | None = None, artifacts: dict | None = None,
    ) -> dict[str, float]:
        """Score `generate(n, seed=...) -> (uint8 images, labels)` with the configured metrics."""
        n = num_samples or self.config.num_samples
        size = self.config.image_size
        if size is not None:  # score at the evaluation size, every call (GAN-test draws more sets)
            raw_generate = generate

            def generate(k, *args, **kwargs):
                images, labels = raw_generate(k, *args, **kwargs)
                return (images if images.shape[-1] == size else resize_uint8(images, size)), labels
        images, labels = generate(n, seed=self.config.seed)
        ctx = EvalContext(self, generate, images, labels)
        scores: dict[str, float] = {}
        for name in metrics or self.config.metrics:
            scores.update(METRICS.get(name)(ctx))
        scores[EVAL_SAMPLES] = float(n)
        if artifacts is not None:
            artifacts.update(ctx.artifacts)
        return scores

    def score_images(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                     metrics: tuple[str, ...] | None = None) -> dict[str, float]:
        """Score a fixed set of uint8 images (e.g. real images, for reference values)."""
        labels = labels if labels is not None else torch.zeros(images.shape[0], dtype=torch.long)

        def generate(n, seed=0, labels_=labels):
            return images[:n], labels_[:n]

        return self.evaluate(generate, num_samples=images.shape[0], metrics=metrics)


def augmentation_experiment(
    real_images: torch.Tensor, real_labels: torch.Tensor, generated_images: torch.Tensor, generated_labels: torch.Tensor,
    test_images: torch.Tensor, test_labels: torch.Tensor, mixes: list[tuple[int, int]], *, num_classes: int,
    epochs: int | None = None, seed: int = 0,
) -> list[dict[str, float]]:
    """Train the classifier on (n_real, n_generated) mixes of real and generated labelled images and report
    its accuracy on real test images, as the conditional DCGAN study did to augment a LeNet."""
    rows = []
    gen = torch.Generator().manual_seed(seed)
    for n_real, n_gen in mixes:
        if n_real > real_images.shape[0] or n_gen > generated_images.shape[0] or n_real + n_gen == 0:
            raise ValueError(f"Mix ({n_real} real, {n_gen} generated) is not available from "
                             f"{real_images.shape[0]} real and {generated_images.shape[0]} generated images.")
        ri = torch.randperm(real_images.shape[0], generator=gen)[:n_real]
        gi = torch.randperm(generated_images.shape[0], generator=gen)[:n_gen]
        x = torch.cat([real_images[ri], generated_images[gi]])
        y = torch.cat([real_labels[ri], generated_labels[gi]])
        n = x.shape[0]
        model = fit_classifier(x, y, num_classes, epochs=epochs or max(2, -(-48_000 // n)), seed=seed,
                               batch_size=min(128, n))
        rows.append({"real": n_real, "generated": n_gen, "test_accuracy": accuracy(model, test_images, test_labels)})
    return rows

