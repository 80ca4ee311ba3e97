"""Metrics: FID, KID, IS and precision/recall through torch-fidelity with the `domain` or `inception`
feature extractor, plus the studies' classifier metrics (GAN-train, GAN-test, class histograms,
memorisation, augmentation).

One file per concern, as torch-fidelity's `metric_*.py`: `registry` (names, outputs, needs), `config`
(EvalConfig), `reference` (cached real-data statistics), one module per metric family (`fid`, `kid`,
`precision_recall`, `inception_score`, `classifier_metrics`) and `evaluator` (runs them).
"""

from gan._registry import lazy_exports

# name -> the module that defines it, imported when the name is first read: the registry and the config
# need no torch, so checking a spec's `evaluation:` never loads torch or torch-fidelity
_EXPORTS = {
    "CLASS_KL": "gan.metrics.registry",
    "EXTRACTORS": "gan.metrics.registry",
    "FID": "gan.metrics.registry",
    "FID_STD": "gan.metrics.registry",
    "GAN_TEST": "gan.metrics.registry",
    "GAN_TEST_STD": "gan.metrics.registry",
    "GAN_TRAIN": "gan.metrics.registry",
    "IS": "gan.metrics.registry",
    "IS_STD": "gan.metrics.registry",
    "KID": "gan.metrics.registry",
    "KID_STD": "gan.metrics.registry",
    "METRICS": "gan.metrics.registry",
    "NN_DISTANCE": "gan.metrics.registry",
    "OUTPUTS": "gan.metrics.registry",
    "PRECISION": "gan.metrics.registry",
    "RECALL": "gan.metrics.registry",
    "TRAINING": "gan.metrics.registry",
    "MetricOutput": "gan.metrics.registry",
    "metric_direction": "gan.metrics.registry",
    "register_metric": "gan.metrics.registry",
    "ClassifierSpec": "gan.metrics.classifier",
    "DomainClassifier": "gan.metrics.classifier",
    "fit_classifier": "gan.metrics.classifier",
    "load_or_train_classifier": "gan.metrics.classifier",
    "Extractor": "gan.metrics.features",
    "InceptionWeightsMissing": "gan.metrics.features",
    "build_extractor": "gan.metrics.features",
    "EVAL_SAMPLES": "gan.metrics.config",
    "EvalConfig": "gan.metrics.config",
    "bootstrap_fid": "gan.metrics.fid",
    "frechet_distance": "gan.metrics.fid",
    "Evaluator": "gan.metrics.evaluator",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
