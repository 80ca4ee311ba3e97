"""Metrics: FID, KID, IS and precision/recall through torch-fidelity with the `domain` or `inception`
feature extractor, plus the studies' classifier metrics (GAN-train, GAN-test, class histograms,
memorisation, augmentation).

One file per concern, as torch-fidelity's `metric_*.py`: `registry` (names, outputs, needs), `config`
(EvalConfig), `reference` (cached real-data statistics), one module per metric family (`fid`, `kid`,
`precision_recall`, `inception_score`, `classifier_metrics`) and `evaluator` (runs them).
"""

from gan.metrics.classifier import ClassifierSpec, DomainClassifier, fit_classifier, load_or_train_classifier
from gan.metrics.features import EXTRACTORS, Extractor, InceptionWeightsMissing, build_extractor
from gan.metrics.registry import (
    CLASS_KL,
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
    TRAINING,
    MetricOutput,
    metric_direction,
    register_metric,
)
from gan.metrics.config import EVAL_SAMPLES, EvalConfig

# each metric family registers its metrics on import
from gan.metrics.fid import bootstrap_fid, frechet_distance
from gan.metrics import kid as _kid, precision_recall as _precision_recall, inception_score as _inception_score  # noqa: F401
from gan.metrics import classifier_metrics as _classifier_metrics  # noqa: F401
from gan.metrics.evaluator import Evaluator

__all__ = [
    "CLASS_KL", "EVAL_SAMPLES", "EXTRACTORS", "FID", "FID_STD", "GAN_TEST", "GAN_TEST_STD", "GAN_TRAIN", "IS",
    "IS_STD", "KID", "KID_STD", "METRICS", "NN_DISTANCE", "OUTPUTS", "PRECISION", "RECALL", "TRAINING",
    "ClassifierSpec", "DomainClassifier", "EvalConfig", "Evaluator", "Extractor", "InceptionWeightsMissing",
    "MetricOutput", "bootstrap_fid", "build_extractor", "fit_classifier",
    "frechet_distance", "load_or_train_classifier", "metric_direction", "register_metric",
]
