"""Evaluation of a generator: the `Evaluator` runs the registered metrics, each `fn(ctx) -> {name: value}`.

An `Evaluator` is built once per run (it loads or trains the domain classifier and loads or computes
the real-data features, both cached on disk) and then scores any number of sample sets cheaply:

    evaluator = Evaluator(EvalConfig(metrics=("fid", "kid", "precision_recall")), train_data_cfg)
    scores = evaluator.evaluate(trainer.generate)          # {'fid': ..., 'kid': ..., 'eval_samples': 2000}

The metric math is torch-fidelity's (`*_features_to_metric`); the metric modules only decide which
features go in. What each metric needs (the classifier, labels) comes from its registration.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from gan.config import DataConfig
from gan.data import dataset_info, load_dataset, resize_uint8, scale_pixels
from gan.metrics.classifier import ClassifierSpec, classifier_epochs, default_spec, load_or_train_classifier
from gan.metrics.config import EVAL_SAMPLES, EvalConfig
from gan.metrics.features import build_extractor
from gan.metrics.reference import RealReference, load_real_reference
from gan.metrics.registry import METRICS, metric_needs
from gan.numerics import autocast

__all__ = ["EvalContext", "Evaluator"]


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


def scored_data(config: EvalConfig, data: DataConfig) -> DataConfig:
    """The images an evaluation of `data` scores against: at the evaluation's size, and read whatever range
    training scaled them to (uint8), so that one classifier and one reference serve every trial."""
    if config.image_size is not None:  # the native size is spelled None, so caches are shared
        native = dataset_info(data).image_size
        data = dataclasses.replace(data, image_size=None if config.image_size == native else config.image_size)
    return dataclasses.replace(data, pixel_range="auto")


def classifier_spec(config: EvalConfig, data: DataConfig) -> ClassifierSpec:
    """The domain classifier an evaluation of `data` under `config` trains, or finds cached or shipped."""
    return default_spec(scored_data(config, data), epochs=config.classifier_epochs, seed=config.classifier_seed)


class Evaluator:
    """Scores generated samples against one dataset; build once per run, call `evaluate` at each report."""

    def __init__(self, config: EvalConfig, data: DataConfig, *, conditional: bool = False, verbose: bool = False):
        self.config = config
        self.info = dataset_info(data)
        self.data_cfg = data = scored_data(config, data)
        self.conditional = conditional
        self.num_classes = self.info.num_classes
        self.device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if config.device == "auto" else config.device))
        ref_cfg = dataclasses.replace(
            data, split=config.real_split or data.split, dataset_fraction=config.real_fraction, num_images=None
        )
        self.reference_data = ref_cfg
        self._classifier = None
        # the domain extractor is the classifier's feature layer; metrics say whether they need it
        needs_classifier = config.extractor == "domain" or any(
            "classifier" in metric_needs(m) for m in config.metrics
        )
        if needs_classifier:
            self.classifier_spec = self._classifier_spec()
        self.extractor = build_extractor(
            config.extractor, classifier=getattr(self, "classifier_spec", None),
            inception_weights=config.inception_weights, device=self.device, precision=config.precision,
        )
        self.real = load_real_reference(self.extractor, ref_cfg, config.real_samples, config.seed)
        if verbose:
            print(f"real reference: {self.real.features.shape[0]} images, "
                  f"{'cached' if self.real.from_cache else 'computed'} at {self.real.cache_path}")

    def _classifier_spec(self) -> ClassifierSpec:
        return classifier_spec(self.config, self.data_cfg)

    @property
    def classifier(self):
        if self._classifier is None:
            self._classifier, self.classifier_accuracy, _ = load_or_train_classifier(self.classifier_spec, "cpu")
        return self._classifier

    def classifier_epochs_for(self, n: int) -> int:
        return self.config.classifier_epochs or classifier_epochs(n)

    @torch.no_grad()
    def classify(self, images: torch.Tensor) -> torch.Tensor:
        clf = self.classifier
        preds = [clf(scale_pixels(x, "tanh")).argmax(1) for x in images.split(1000)]
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

    def _check_needs(self, metric: str) -> None:
        if "labels" in metric_needs(metric) and not self.conditional:
            raise ValueError(f"The metric `{metric}` needs a conditional generator (`model.conditional: true`).")

    def evaluate(
        self, generate: Callable[..., tuple[torch.Tensor, torch.Tensor]], num_samples: int | None = None,
        metrics: tuple[str, ...] | None = None, artifacts: dict | None = None,
    ) -> dict[str, float]:
        """Score `generate(n, seed=...) -> (uint8 images, labels)` with the configured metrics."""
        n = num_samples or self.config.num_samples
        size, precision = self.config.image_size, self.config.precision
        raw_generate = generate

        def generate(
            k, *args, **kwargs
        ):  # every draw (GAN-test draws more sets) at the evaluation's precision and size
            with autocast(precision, "cpu", *(("cuda",) if torch.cuda.is_available() else ())):
                images, labels = raw_generate(k, *args, **kwargs)
            return (images if size is None or images.shape[-1] == size else resize_uint8(images, size)), labels
        for name in metrics or self.config.metrics:  # before anything is drawn
            self._check_needs(name)
        images, labels = generate(n, seed=self.config.seed)
        ctx = EvalContext(self, generate, images, labels)
        scores: dict[str, float] = {}
        for name in metrics or self.config.metrics:
            scores.update(METRICS.load(name)(ctx))
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
