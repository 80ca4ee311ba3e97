"""Metrics: FID, KID, IS and precision/recall through torch-fidelity with the `domain` or `inception`
feature extractor, plus the studies' classifier metrics (GAN-train, GAN-test, class histograms,
memorisation, augmentation).

One file per concern, as torch-fidelity's `metric_*.py`: `registry` (names, outputs, needs), `config`
(EvalConfig), `reference` (cached real-data statistics), one module per metric family (`fid`, `kid`,
`precision_recall`, `inception_score`, `classifier_metrics`) and `evaluator` (runs them).
"""

from gan._registry import lazy_exports

# each module and the names it exports, imported when one of them is first read: the registry and the config
# need no torch, so checking a spec's `evaluation:` never loads torch or torch-fidelity
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "gan.metrics.registry": ("CLASS_KL", "EXTRACTORS", "FID", "FID_STD", "GAN_TEST", "GAN_TEST_STD", "GAN_TRAIN", "IS",
        "IS_STD", "KID", "KID_STD", "METRICS", "NN_DISTANCE", "OUTPUTS", "PRECISION", "RECALL", "TRAINING",
        "MetricOutput", "metric_direction", "register_metric"),
    "gan.metrics.classifier": ("ClassifierSpec", "DomainClassifier", "fit_classifier", "load_or_train_classifier"),
    "gan.metrics.features": ("Extractor", "InceptionWeightsMissing", "build_extractor"),
    "gan.metrics.config": ("EVAL_SAMPLES", "EvalConfig"),
    "gan.metrics.fid": ("bootstrap_fid", "frechet_distance"),
    "gan.metrics.evaluator": ("Evaluator",),
})
