"""The domain classifier (gan.metrics.classifier) as a torch-fidelity feature extractor, registered with
torch-fidelity on import. gan.metrics.features imports it when it builds the `domain` extractor, so that importing
gansweep's metrics (as checking a spec does) does not import torch-fidelity."""

from __future__ import annotations

import torch
import torch_fidelity
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from gan.data import scale_pixels
from gan.metrics.classifier import from_blob

__all__ = ["DOMAIN_TF_NAME", "DomainFeatureExtractor"]

DOMAIN_TF_NAME = "gansweep-domain"  # name under which torch-fidelity knows the domain classifier


class DomainFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity wrapper of a cached DomainClassifier; takes uint8 (B, C, H, W) like every extractor."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ValueError(
                "The domain feature extractor needs `feature_extractor_weights_path` (a trained classifier)."
            )
        blob = torch.load(feature_extractor_weights_path, map_location="cpu", weights_only=True)
        self.net = from_blob(blob).requires_grad_(False)

    @staticmethod
    def get_provided_features_list():
        return "features", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "logits" if metric == "isc" else "features"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 1, 28, 28, dtype=torch.uint8)

    def forward(self, x):
        assert x.dtype == torch.uint8 and x.dim() == 4, (x.dtype, x.shape)
        features, logits = self.net.forward_features(scale_pixels(x, "tanh"))
        out = {"features": features, "logits": logits}
        return tuple(out[name] for name in self.features_list)


if DOMAIN_TF_NAME not in FEATURE_EXTRACTORS_REGISTRY:  # re-imports (e.g. importlib reload) must not fail
    torch_fidelity.register_feature_extractor(DOMAIN_TF_NAME, DomainFeatureExtractor)
