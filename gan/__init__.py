"""gan: datasets, architectures, losses and the training loop, in plain PyTorch.

This package never imports Ray, Optuna or MLflow; `sweeps/` connects it to them.
"""

from gan._registry import ARCHITECTURES, DATASETS, LOSSES, Registry
from gan.config import Config, ConfigError, DataConfig, LossConfig, ModelConfig, OptimConfig, TrainConfig, flatten
from gan.data import DataNotFoundError, ImageData, load_dataset, stratified_subset
from gan.losses import build_loss
from gan.models import build_models
from gan.status import Status
from gan.train import Report, Trainer, TrainResult, train

__all__ = [
    "ARCHITECTURES",
    "DATASETS",
    "LOSSES",
    "Config",
    "ConfigError",
    "DataConfig",
    "DataNotFoundError",
    "ImageData",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "Registry",
    "Report",
    "Status",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_loss",
    "build_models",
    "flatten",
    "load_dataset",
    "stratified_subset",
    "train",
]
