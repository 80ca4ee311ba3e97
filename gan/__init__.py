"""gan: datasets, architectures, losses and the training loop, in plain PyTorch.

This package never imports Ray, Optuna or MLflow; `sweeps/` connects it to them. Its names are imported on first
use, so that checking a config (gan.config, with the built-ins' declarations of gan.builtins) never imports torch.
"""

from gan._registry import lazy_exports
import gan.builtins  # noqa: F401 (the built-ins' registry entries, before any config is checked)

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "gan._registry": ("ARCHITECTURES", "DATASETS", "LOSSES", "Registry"),
    "gan.config": ("Config", "ConfigError", "DataConfig", "LossConfig", "ModelConfig", "OptimConfig", "TrainConfig",
        "flatten"),
    "gan.data": ("DataError", "DataNotFoundError", "DatasetInfo", "ImageData", "dataset_info", "load_dataset",
        "stratified_subset"),
    "gan.losses": ("build_loss",),
    "gan.models": ("build_models",),
    "gan.registration": ("register_architecture", "register_dataset", "register_loss", "register_metric"),
    "gan.train": ("Report", "Trainer", "TrainResult", "train"),
    "gan.evaluate": ("evaluate",),
})
