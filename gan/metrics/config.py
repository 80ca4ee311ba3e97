"""The evaluation's typed config, `evaluation:` in a run's YAML."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from gan.config import PRECISIONS, ConfigError, _build, _check_choice, _check_range
from gan.metrics.registry import EXTRACTORS, METRICS

__all__ = ["EVAL_SAMPLES", "EvalConfig"]

EVAL_SAMPLES = "eval_samples"  # reported with every evaluation: the generated samples it scored (num_samples)


@dataclass(frozen=True)
class EvalConfig:
    extractor: str = "domain"  # feature extractor: domain (fast, CPU) or inception (comparable with published FIDs)
    # metric registry names: fid, kid, is, precision_recall, gan_test, gan_train, class_histogram, memorization
    metrics: tuple[str, ...] = ("fid",)
    num_samples: int = 2000  # generated samples per evaluation (recorded as eval_samples)
    real_samples: int = 10000  # real reference images (capped by the split size); their features are cached
    real_split: str | None = None  # split of the reference images; None = the training split
    # share of that split used as the reference; 1.0 = all of it, independent of data.dataset_fraction
    real_fraction: float = 1.0
    # side at which samples are scored: generated images are resized to it as datasets are, and the reference,
    # classifier and extractor see the dataset at that size; None = the training size. Puts runs trained at different
    # sizes in one feature space
    image_size: int | None = None
    inception_weights: str | None = (
        None  # local FID Inception weights; None = $GANSWEEP_INCEPTION_WEIGHTS or torch-fidelity's download
    )
    classifier_epochs: int | None = None  # domain classifier epochs; None = enough for ~48k image presentations
    classifier_seed: int = 0  # seeds the domain classifier's training (a new seed is a new feature space)
    gan_test_repeats: int = 5  # GAN-test repeats (fresh samples each) for its mean and std
    prc_neighborhood: int = 3  # k of the k-NN balls of precision/recall
    kid_subset_size: int = 1000  # KID subset size (capped by the sample counts)
    fid_bootstrap: int = 10  # bootstrap resamples of the generated features behind `fid_std`; 0 = no fid_std
    seed: int = 0  # seeds the sampled noise and labels, and the real reference subset
    device: str = "auto"  # where extractors run
    # the evaluation's forward passes (drawing the samples, the feature extractor): fp32, or bf16 autocast; real-
    # data features are cached per precision
    precision: str = "fp32"

    def __post_init__(self):
        _check_choice("evaluation.extractor", self.extractor, EXTRACTORS.names())
        _check_choice("evaluation.precision", self.precision, PRECISIONS)
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
        if raw is not None and not isinstance(raw, Mapping):
            raise ConfigError(f"The value of `evaluation` is {raw!r}, but must be a mapping of evaluation keys.")
        raw = dict(raw or {})
        if isinstance(raw.get("metrics"), list):
            raw["metrics"] = tuple(raw["metrics"])
        if "metrics" in raw and not (
            isinstance(raw["metrics"], tuple) and all(isinstance(m, str) for m in raw["metrics"])
        ):
            raise ConfigError(
                f"The value of `evaluation.metrics` is {raw['metrics']!r}, but must be a list of metric names."
            )
        metrics = raw.pop("metrics", None)
        cfg = _build(cls, raw, "evaluation.")
        return dataclasses.replace(cfg, metrics=metrics) if metrics is not None else cfg
