"""gan: datasets, architectures, losses and the training loop, in plain PyTorch.

This package never imports Ray, Optuna or MLflow; `sweeps/` connects it to them.
"""

from gan._registry import ARCHITECTURES, DATASETS, LOSSES, Registry
from gan.config import Config, ConfigError, DataConfig, LossConfig, ModelConfig, OptimConfig, TrainConfig, flatten
from gan.data import DataNotFoundError, DatasetInfo, ImageData, dataset_info, load_dataset, stratified_subset
from gan.losses import build_loss
from gan.models import build_models
from gan.registration import register_architecture, register_dataset, register_loss, register_metric
from gan.train import Report, Trainer, TrainResult, train
from gan.evaluate import evaluate

__all__ = [
    "ARCHITECTURES",
    "DATASETS",
    "LOSSES",
    "Config",
    "ConfigError",
    "DataConfig",
    "DataNotFoundError",
    "DatasetInfo",
    "ImageData",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "Registry",
    "Report",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_loss",
    "build_models",
    "dataset_info",
    "evaluate",
    "flatten",
    "load_dataset",
    "register_architecture",
    "register_dataset",
    "register_loss",
    "register_metric",
    "stratified_subset",
    "train",
]
