"""The built-in architectures, label encodings, losses, feature extractors, metrics and datasets, registered under
their config names when `gan` is imported.

Each entry here is a `Lazy`: where its implementation lives, imported on first use, and the facts a config is
checked against (the label encodings an architecture supports, its geometry check, a loss that differentiates
twice). Checking a spec therefore never imports torch. The datasets' entries are in gan.data.datasets, whose
readers import torch when they read.
"""

from __future__ import annotations

from gan._registry import ARCHITECTURES, LABEL_ENCODINGS, LOSSES, Lazy
from gan.geometry import check_dcgan
from gan.metrics.registry import EXTRACTORS, register_metric
import gan.data.datasets  # noqa: F401 (registers the built-in datasets)

__all__: list[str] = []  # what this module registers is the interface

ARCHITECTURES.add("mlp", Lazy("gan.models:build_mlp",
                              label_encodings=("embedding", "onehot")))  # label vectors: no convolution to route them
ARCHITECTURES.add("dcgan", Lazy("gan.models:build_dcgan", check=check_dcgan))

# each a pair of input stems, G's (z, y) -> first feature map and D's (x, y) -> first feature map
LABEL_ENCODINGS.add("embedding", Lazy("gan.models:CONCAT_STEMS"))  # learned vector of label_dim units / learned plane
LABEL_ENCODINGS.add("onehot", Lazy("gan.models:CONCAT_STEMS"))  # fixed one-hot vector / one-hot planes
LABEL_ENCODINGS.add("conv", Lazy("gan.models:CONV_STEMS"))  # labels through their own first layer

LOSSES.add("bce", Lazy("gan.losses:BCELoss"))
LOSSES.add("wgan", Lazy("gan.losses:WGANLoss"))
# the gradient penalty differentiates D's gradient, so train.compile and fp16 are refused with it
LOSSES.add("wgan-gp", Lazy("gan.losses:WGANGPLoss", double_backward=True))

EXTRACTORS.add("domain", Lazy("gan.metrics.features:build_domain"))
EXTRACTORS.add("inception", Lazy("gan.metrics.features:build_inception"))

# their outputs are declared in record.metrics; `needs` says what each needs from the evaluator
register_metric("fid")(Lazy("gan.metrics.fid:fid_metric"))
register_metric("kid")(Lazy("gan.metrics.kid:kid_metric"))
register_metric("precision_recall")(Lazy("gan.metrics.precision_recall:precision_recall_metric"))
register_metric("is")(Lazy("gan.metrics.inception_score:inception_score_metric"))
register_metric("gan_test", needs=("classifier", "labels"))(Lazy("gan.metrics.classifier_metrics:gan_test_metric"))
register_metric("gan_train", needs=("classifier", "labels"))(Lazy("gan.metrics.classifier_metrics:gan_train_metric"))
register_metric("class_histogram", needs=("classifier",))(Lazy("gan.metrics.classifier_metrics:class_histogram_metric"))
register_metric("memorization")(Lazy("gan.metrics.classifier_metrics:memorization_metric"))
