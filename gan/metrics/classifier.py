"""A small convolutional classifier of real images: the `domain` feature extractor and the judge of
GAN-train, GAN-test and class histograms.

Trained once per (dataset, splits, holdout, settings) and cached on disk under an md5 of all of them,
written atomically, so concurrent trials share one copy and never read a half-written file.

The classifier the studies' specs use (Fashion-MNIST's train split, default settings) is shipped with the
project in gan/metrics/weights/, named as its cache entry and listed with its SHA-256 in SHA256SUMS: a first run
copies it into the cache instead of training it (a minute on a fast 2-core CPU, several on a slow one), and
every machine then scores with the same network. scripts/ship_classifier.py makes it;
tests/gan/metrics/test_shipped_classifier.py checks that retraining reproduces it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from record.files import atomic_path
from gan._registry import Registry
from gan.config import DataConfig
from gan.data import cache_dir, dataset_info, load_dataset, locate_dataset, scale_pixels, stratified_subset

__all__ = ["CLASSIFIERS", "PRESENTATIONS_PER_FIT", "SHIPPED", "ClassifierSpec", "DomainClassifier", "LeNet",
           "accuracy", "classifier_epochs", "default_spec", "fit_classifier", "from_blob", "load_or_train_classifier",
           "shipped_digests", "shipped_file", "train_classifier", "train_test_split",
           "verified_shipped"]

FEATURE_DIM = 128  # width of the penultimate layer used as the feature space for FID/KID/PR
_VERSION = 1  # bump when the network or its training changes, so old cache entries are not reused
# images a classifier sees in one training when no epoch count is given: a budget in images rather than
# passes, so fitting on few images takes more passes and every fit costs about the same
PRESENTATIONS_PER_FIT = 48_000
SHIPPED = Path(__file__).parent / "weights"  # the classifiers the project ships (see the module's docstring)


def classifier_epochs(n_images: int) -> int:
    """Passes over n_images that present about PRESENTATIONS_PER_FIT images, rounded up; at least 2."""
    return max(2, -(-PRESENTATIONS_PER_FIT // n_images))


class DomainClassifier(nn.Module):
    """conv5-pool-conv5-pool-fc128-fc(C), with batch norm; about 3M multiply-adds per 28x28 image."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.channels, self.num_classes = channels, num_classes
        self.body = nn.Sequential(
            nn.Conv2d(channels, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(True), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(True), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(7),  # other image sizes map to the same 7x7 grid
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(32 * 7 * 7, FEATURE_DIM), nn.ReLU(True),
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: float images in [-1, 1], (B, C, H, W) -> (features (B, 128), logits (B, num_classes))."""
        f = self.body(x)
        return f, self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[1]


class LeNet(nn.Module):
    """LeNet-5 as the DCGAN/CGAN study used it: two conv and three fully connected layers,
    conv5(6, padding 2)-pool-conv5(16)-pool-fc120-fc84-fc(C), ReLU; the 84 units are its penultimate layer."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.channels, self.num_classes = channels, num_classes
        self.body = nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=2), nn.ReLU(True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(True), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(5),  # 28 px (and 32 px, the original) images give 5x5 here
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(True),
            nn.Linear(120, 84), nn.ReLU(True),
        )
        self.head = nn.Linear(84, num_classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: float images in [-1, 1], (B, C, H, W) -> (features (B, 84), logits (B, num_classes))."""
        f = self.body(x)
        return f, self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[1]


# classifier networks by name: `fit_classifier(..., arch=...)`; the domain one is the metrics' judge
CLASSIFIERS: Registry = Registry("classifier")
CLASSIFIERS.add("domain", DomainClassifier)
CLASSIFIERS.add("lenet", LeNet)


@dataclass(frozen=True)
class ClassifierSpec:
    """What the classifier is trained on; every field enters the cache key."""

    data: DataConfig  # the split it learns from
    test_data: DataConfig | None = None  # the split its accuracy is measured on; None = a holdout of `data`
    holdout: float = 0.2  # share of `data` held out for testing when test_data is None
    epochs: int | None = None  # passes over the training images; None = enough for ~48k image presentations, at least 2
    batch_size: int = 128
    lr: float = 2e-3  # Adam learning rate, decayed by cosine to 0
    seed: int = 0

    def key(self) -> str:
        prints = {k: dataset_info(d).fingerprint for k, d in (("data", self.data), ("test_data", self.test_data))
                  if d is not None}
        content = {k: v for k, v in prints.items() if v}  # the user's files, where they define the dataset
        fields = {**asdict(self), "data": self.data.images_key(),
                  "test_data": self.test_data.images_key() if self.test_data is not None else None}
        payload = json.dumps({"v": _VERSION, **fields, **({"content": content} if content else {})},
                             sort_keys=True, default=str)
        return hashlib.md5(payload.encode()).hexdigest()


def default_spec(data_cfg: DataConfig, *, epochs: int | None = None, seed: int = 0) -> ClassifierSpec:
    """The classifier of a dataset: trained on its whole train split and tested on its test split; where
    only one split is present (e.g. the MNIST test digits alone), 20% of that split is held out instead."""
    base = dataclasses.replace(data_cfg, dataset_fraction=1.0, num_images=None, pixel_range="auto")
    train, test = dataclasses.replace(base, split="train"), dataclasses.replace(base, split="test")
    try:  # only look for the files: every trial asks, decoding here would be wasted
        locate_dataset(train, dataset_info(train))
        locate_dataset(test, dataset_info(test))
        return ClassifierSpec(train, test, epochs=epochs, seed=seed)
    except FileNotFoundError:
        return ClassifierSpec(dataclasses.replace(base, split=data_cfg.split), None, epochs=epochs, seed=seed)


def train_test_split(spec: ClassifierSpec):
    """(train images, train labels, test images, test labels, dataset info) as uint8/int64 CPU tensors."""
    data = load_dataset(spec.data, seed=spec.seed)
    if data.info.num_classes < 2:
        raise ValueError(
            f"The domain classifier needs class labels, and {data.info.title} has none; "
            "use the `inception` feature extractor for this dataset."
        )
    if spec.test_data is not None:
        test = load_dataset(spec.test_data, seed=spec.seed)
        return data.images, data.labels, test.images, test.labels, data.info
    test_idx = stratified_subset(data.labels, fraction=spec.holdout, seed=spec.seed)
    mask = torch.ones(len(data), dtype=torch.bool)
    mask[test_idx] = False
    return data.images[mask], data.labels[mask], data.images[test_idx], data.labels[test_idx], data.info


def fit_classifier(
    images: torch.Tensor, labels: torch.Tensor, num_classes: int, *, epochs: int = 4, batch_size: int = 128,
    lr: float = 2e-3, seed: int = 0, device: str | torch.device = "cpu", arch: str = "domain",
    model: nn.Module | None = None,
) -> nn.Module:
    """Train a CLASSIFIERS network (or go on training `model`) on uint8 images (N, C, H, W) with int labels,
    Adam with a one-cycle schedule; returns it in eval mode."""
    device = torch.device(device)
    torch.manual_seed(seed)
    model = (model if model is not None else CLASSIFIERS.get(arch)(images.shape[1], num_classes)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * max(1, images.shape[0] // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(seed)
    x_all, y_all = images.to(device), labels.to(device)
    model.train()
    step = 0
    while step < steps:
        perm = torch.randperm(images.shape[0], generator=gen).to(device)
        for i in range(0, images.shape[0] - batch_size + 1, batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(model(scale_pixels(x_all[idx], "tanh")), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step == steps:
                break
    return model.eval()


@torch.no_grad()
def accuracy(model: DomainClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, images.shape[0], batch_size):
        logits = model(scale_pixels(images[i : i + batch_size].to(device), "tanh"))
        correct += int((logits.argmax(1).cpu() == labels[i : i + batch_size]).sum())
    return correct / max(1, images.shape[0])


def _cache_path(spec: ClassifierSpec) -> Path:
    return cache_dir() / "classifiers" / f"{spec.data.name}-{spec.key()}.pt"


def shipped_digests() -> dict[str, str]:
    """{file name: SHA-256} of the shipped classifiers, from SHA256SUMS (`sha256sum`'s format)."""
    sums_file = SHIPPED / "SHA256SUMS"
    if not sums_file.is_file():
        return {}
    lines = (line.partition("  ") for line in sums_file.read_text().splitlines() if line.strip())
    return {name.strip(): digest for digest, _, name in lines}


def shipped_file(spec: ClassifierSpec) -> Path:
    """Where the project ships this classifier, if it does."""
    return SHIPPED / _cache_path(spec).name


def verified_shipped(spec: ClassifierSpec) -> Path | None:
    """The shipped file of this classifier, if the project ships it and the file is the one SHA256SUMS lists;
    None otherwise (a damaged file is reported and not used)."""
    path = shipped_file(spec)
    if not path.is_file():
        return None
    if hashlib.sha256(path.read_bytes()).hexdigest() != shipped_digests().get(path.name):
        print(f"the shipped classifier {path} does not match its SHA-256 in {SHIPPED / 'SHA256SUMS'}; "
              "training one instead", file=sys.stderr)
        return None
    return path


def load_or_train_classifier(spec: ClassifierSpec, device: str | torch.device = "cpu", verbose: bool = False):
    """Return (classifier in eval mode, its test accuracy, metadata): from the cache, else from the project's
    shipped copy (put in the cache), else trained and cached on first use."""
    path = _cache_path(spec)
    if not path.is_file() and (shipped := verified_shipped(spec)) is not None:
        with atomic_path(path) as tmp:
            shutil.copyfile(shipped, tmp)
    if path.is_file():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            return from_blob(blob).to(device), float(blob["test_accuracy"]), blob["meta"]
        except Exception as e:  # noqa: BLE001 (a cache file unreadable for any reason is rebuilt, never trusted)
            if verbose:
                print(f"classifier cache {path} unreadable ({e}); retraining")
    blob = train_classifier(spec, device, verbose)
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return from_blob(blob).to(device), blob["test_accuracy"], blob["meta"]


def from_blob(blob: dict) -> DomainClassifier:
    """The classifier a cache file (or `train_classifier`) holds, in eval mode on the CPU."""
    model = DomainClassifier(blob["channels"], blob["num_classes"])
    model.load_state_dict(blob["state"])
    return model.eval()


def train_classifier(spec: ClassifierSpec, device: str | torch.device = "cpu", verbose: bool = False) -> dict:
    """Train the classifier `spec` describes; returns what its cache file holds: channels, num_classes, state
    (on the CPU), test_accuracy and meta."""
    x_train, y_train, x_test, y_test, info = train_test_split(spec)
    start = time.perf_counter()
    epochs = spec.epochs or classifier_epochs(x_train.shape[0])
    model = fit_classifier(
        x_train, y_train, info.num_classes, epochs=epochs, batch_size=spec.batch_size, lr=spec.lr,
        seed=spec.seed, device=device,
    )
    acc = accuracy(model, x_test, y_test)
    meta = {
        "dataset": info.name, "train_images": int(x_train.shape[0]), "test_images": int(x_test.shape[0]),
        "epochs": epochs, "train_seconds": time.perf_counter() - start,
    }
    if verbose:
        print(f"trained {info.title} classifier: test accuracy {acc:.4f} ({meta})")
    return {
        "channels": int(x_train.shape[1]), "num_classes": info.num_classes,
        "state": {k: v.cpu() for k, v in model.state_dict().items()},
        "test_accuracy": acc, "meta": meta,
    }
