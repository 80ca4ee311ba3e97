"""Feature extractors for FID/KID/IS/precision-recall, created through torch-fidelity's registry.

- `domain`: the small classifier of `classifier.py` trained on the dataset's real images; its
  128-d penultimate layer feeds FID/KID/PR and its logits the classifier Inception Score. Cheap
  enough for every intermediate evaluation on a CPU. Numbers are comparable within one dataset and
  classifier, not with published FIDs.
- `inception`: torch-fidelity's `inception-v3-compat` (the standard FID network, 2048-d pool
  features, 1008 logits), so FIDs are comparable with published ones. Weights come from
  `inception_weights` / $GANSWEEP_INCEPTION_WEIGHTS, or torch-fidelity's own download and cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import torch

from record.errors import GansweepError
from gan.metrics.registry import EXTRACTORS
from gan.metrics.classifier import ClassifierSpec, _cache_path, load_or_train_classifier
from gan.numerics import autocast, use_channels_last

if TYPE_CHECKING:  # torch-fidelity takes about a second to import (it loads torchvision): it is imported on use
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase

__all__ = ["Extractor", "InceptionWeightsMissing", "build_domain", "build_extractor", "build_inception",
           "inception_weights_path"]

INCEPTION_TF_NAME = "inception-v3-compat"


def inception_url() -> str:
    """Where torch-fidelity downloads the FID Inception-v3 weights from."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return URL_INCEPTION_V3


def inception_file() -> str:
    """The weights file's name, as torch's hub cache keeps it."""
    return inception_url().rsplit("/", 1)[-1]


class InceptionWeightsMissing(GansweepError, FileNotFoundError):
    """No Inception weights on this machine and no way to download them."""


@dataclass
class Extractor:
    """A torch-fidelity feature extractor plus what is needed to cache statistics computed with it."""

    name: str  # `domain` or `inception`
    module: FeatureExtractorBase  # torch-fidelity's
    key: str  # identifies the exact weights, for caches of real-data features
    feature_layer: str  # layer for FID, KID and precision/recall
    logits_layer: str  # layer for the Inception Score
    batch_size: int
    channels: int  # input channels it wants (3 for Inception; grayscale is repeated)
    device: torch.device
    test_accuracy: float | None = None  # domain only: accuracy of the classifier on real test images
    precision: str = "fp32"  # of its forward pass (evaluation.precision); part of `key`

    @torch.inference_mode()
    def __call__(self, images_u8: torch.Tensor) -> dict[str, torch.Tensor]:
        """uint8 (N, C, H, W) -> {'features': (N, D), 'logits': (N, K)} as float32 CPU tensors."""
        feats, logits = [], []
        for i in range(0, images_u8.shape[0], self.batch_size):
            x = images_u8[i : i + self.batch_size].to(self.device)
            if x.shape[1] != self.channels:
                x = x.expand(-1, self.channels, -1, -1)
            with autocast(self.precision, self.device.type):
                out = self.module.convert_features_tuple_to_dict(self.module(x))
            feats.append(out[self.feature_layer].float().cpu())
            logits.append(out[self.logits_layer].float().cpu())
        return {"features": torch.cat(feats), "logits": torch.cat(logits)}



def build_domain(*, classifier: ClassifierSpec, device: torch.device, precision: str = "fp32", **_) -> Extractor:
    from torch_fidelity.utils import create_feature_extractor

    from gan.metrics.domain_extractor import DOMAIN_TF_NAME  # registers it with torch-fidelity

    _, acc, _ = load_or_train_classifier(classifier, device="cpu")
    path = _cache_path(classifier)
    module = create_feature_extractor(
        DOMAIN_TF_NAME, ["features", "logits"], cuda=False, feature_extractor_weights_path=str(path), verbose=False
    )
    # channels-last: the same arithmetic in another order (features agree to float rounding); the features of
    # 10k samples took 0.72 s against 1.13 s contiguous here (benchmarks/eval_cost.py --levers)
    layout = torch.channels_last if use_channels_last("auto", module.net, device=device) else torch.contiguous_format
    module = module.to(device, memory_format=layout)
    return Extractor(
        name="domain", module=module, key=_key(f"domain-{classifier.key()}", precision), feature_layer="features",
        logits_layer="logits", batch_size=1000, channels=module.net.channels, device=device, test_accuracy=acc,
        precision=precision,
    )


def _key(weights_key: str, precision: str) -> str:
    """The cache key of an extractor's features: its weights, and its precision where that is not fp32."""
    return weights_key if precision == "fp32" else f"{weights_key}-{precision}"


def inception_weights_path(configured: str | None) -> Path | None:
    """The local Inception weights file to use, or None to let torch-fidelity download into torch's hub cache."""
    for candidate in (configured, os.environ.get("GANSWEEP_INCEPTION_WEIGHTS")):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise InceptionWeightsMissing(f"Inception weights file {path} (from `inception_weights` or "
                                              "$GANSWEEP_INCEPTION_WEIGHTS) does not exist.")
            return path
    cached = Path(torch.hub.get_dir()) / "checkpoints" / inception_file()
    return cached if cached.is_file() else None


def _file_key(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_inception(*, inception_weights: str | None = None, device: torch.device, precision: str = "fp32",
                     **_) -> Extractor:
    from torch_fidelity.utils import create_feature_extractor

    path = inception_weights_path(inception_weights)
    try:
        with tempfile.TemporaryDirectory(prefix="gansweep-inception-") as private:
            weights = None
            if path is not None:
                # torch-fidelity unpickles the file it is given with weights_only=False. It gets a copy that holds
                # only the tensors read here with weights_only=True, in a folder of this process: never the
                # user's file, which could change between a check and its load.
                weights = Path(private) / inception_file()
                torch.save(torch.load(path, map_location="cpu", weights_only=True), weights)
            module = create_feature_extractor(
                INCEPTION_TF_NAME, ["2048", "logits_unbiased"], cuda=False,
                feature_extractor_weights_path=str(weights) if weights else None, verbose=False,
            )
    except Exception as e:
        if path is not None:
            raise
        raise InceptionWeightsMissing(
            f"Could not get the FID Inception-v3 weights ({type(e).__name__}: {e}). Download {inception_url()} "
            f"on a machine with network access and point `evaluation.inception_weights` (or "
            f"$GANSWEEP_INCEPTION_WEIGHTS) at it, or copy it to {Path(torch.hub.get_dir()) / 'checkpoints'}."
        ) from e
    key = f"inception-{_file_key(path)}" if path else f"inception-{inception_file()}"
    return Extractor(
        name="inception", module=module.to(device), key=_key(key, precision), feature_layer="2048",
        logits_layer="logits_unbiased", batch_size=64, channels=3, device=device, precision=precision,
    )


def build_extractor(name: str, **kwargs) -> Extractor:
    return EXTRACTORS.load(name)(**kwargs)
