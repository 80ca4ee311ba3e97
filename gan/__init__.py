"""gan: datasets, architectures, losses and the training loop, in plain PyTorch.

This package never imports Ray, Optuna or MLflow; `sweeps/` connects it to them. Its names are imported on first
use, so that checking a config (gan.config, with the built-ins' declarations of gan.builtins) never imports torch.
"""

from gan._registry import lazy_exports
import gan.builtins  # noqa: F401 (the built-ins' registry entries, before any config is checked)

_EXPORTS = {
    "ARCHITECTURES": "gan._registry",
    "DATASETS": "gan._registry",
    "LOSSES": "gan._registry",
    "Registry": "gan._registry",
    "Config": "gan.config",
    "ConfigError": "gan.config",
    "DataConfig": "gan.config",
    "LossConfig": "gan.config",
    "ModelConfig": "gan.config",
    "OptimConfig": "gan.config",
    "TrainConfig": "gan.config",
    "flatten": "gan.config",
    "DataNotFoundError": "gan.data",
    "DatasetInfo": "gan.data",
    "ImageData": "gan.data",
    "dataset_info": "gan.data",
    "load_dataset": "gan.data",
    "stratified_subset": "gan.data",
    "build_loss": "gan.losses",
    "build_models": "gan.models",
    "register_architecture": "gan.registration",
    "register_dataset": "gan.registration",
    "register_loss": "gan.registration",
    "register_metric": "gan.registration",
    "Report": "gan.train",
    "Trainer": "gan.train",
    "TrainResult": "gan.train",
    "train": "gan.train",
    "evaluate": "gan.evaluate",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
