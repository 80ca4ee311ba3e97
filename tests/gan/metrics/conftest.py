"""Fixtures shared by the metric tests."""

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3


@pytest.fixture(scope="session")
def random_inception_weights(tmp_path_factory):
    """FID Inception-v3 with randomly initialised weights, saved as a plain state dict (no network)."""

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):
            return None

    tmp = tmp_path_factory.mktemp("inception")
    torch.save({}, tmp / "empty.pt")
    torch.manual_seed(0)
    model = Unloaded("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(tmp / "empty.pt"))
    path = tmp / "inception-random-init.pt"
    torch.save(model.state_dict(), path)
    return path
