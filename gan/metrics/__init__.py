"""Metrics: FID, KID, IS and precision/recall through torch-fidelity with the `domain` or `inception`
feature extractor, plus the studies' classifier metrics (GAN-train, GAN-test, class histograms,
memorisation, augmentation)."""

from gan.metrics.classifier import ClassifierSpec, DomainClassifier, fit_classifier, load_or_train_classifier
from gan.metrics.evaluate import (
    CLASS_KL,
    EVAL_SAMPLES,
    FID,
    FID_STD,
    GAN_TEST,
    GAN_TEST_STD,
    GAN_TRAIN,
    IS,
    IS_STD,
    KID,
    KID_STD,
    METRICS,
    NN_DISTANCE,
    OUTPUTS,
    PRECISION,
    RECALL,
    EvalConfig,
    Evaluator,
    MetricOutput,
    augmentation_experiment,
    bootstrap_fid,
    frechet_distance,
    metric_direction,
    register_metric,
)
from gan.metrics.features import EXTRACTORS, Extractor, InceptionWeightsMissing, build_extractor

__all__ = [
    "CLASS_KL", "EVAL_SAMPLES", "EXTRACTORS", "FID", "FID_STD", "GAN_TEST", "GAN_TEST_STD", "GAN_TRAIN", "IS",
    "IS_STD", "KID", "KID_STD", "METRICS", "NN_DISTANCE", "OUTPUTS", "PRECISION", "RECALL",
    "ClassifierSpec", "DomainClassifier", "EvalConfig", "Evaluator", "Extractor", "InceptionWeightsMissing",
    "MetricOutput", "augmentation_experiment", "bootstrap_fid", "build_extractor", "fit_classifier",
    "frechet_distance", "load_or_train_classifier", "metric_direction", "register_metric",
]
