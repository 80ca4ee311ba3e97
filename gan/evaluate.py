"""gansweep's evaluator for a generator trained by the user's own loop: `gan.evaluate(generate, data=...)`.

The same metrics as the built-in trainer's evaluations (FID and friends, on the domain classifier's or
Inception's features), against the same cached real statistics, so a sweep of the user's own function reports
FID comparable with the built-ins'. The evaluator (and the domain classifier it trains the first time, cached on
disk) is built once per process for each data and evaluation setting.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

import torch

from gan.config import DataConfig, _build
from gan.metrics import EvalConfig, Evaluator

__all__ = ["evaluate"]

_EVALUATORS: dict[str, Evaluator] = {}


def evaluate(generate: Callable[..., Any], *, data: Mapping[str, Any] | DataConfig, metrics=("fid",),
             num_samples: int = 1000, conditional: bool = False, **settings: Any) -> dict[str, float]:
    """Score a generator: `generate(n, seed=...)` returns `n` images, (N, C, H, W), as uint8 pixels or as floats
    in [-1, 1] (a tanh output), or an (images, labels) pair; labels are needed by the metrics that condition on
    them (`conditional=True`). `data`: the data config the images are compared with (e.g. {"name":
    "fashion_mnist"}); `settings`: any other `evaluation` key (extractor, real_samples, image_size, ...). Returns
    the metrics by name, as the built-in trainer reports them."""
    data_cfg = data if isinstance(data, DataConfig) else _build(DataConfig, dict(data), "data.")  # as a config's
    eval_cfg = EvalConfig.from_dict({**settings, "metrics": list(metrics), "num_samples": int(num_samples)})
    key = json.dumps([data_cfg.__dict__, eval_cfg.__dict__, conditional], sort_keys=True, default=str)
    if key not in _EVALUATORS:
        _EVALUATORS[key] = Evaluator(eval_cfg, data_cfg, conditional=conditional)

    def pixels(n: int, seed: int = 0, **kwargs):
        out = generate(n, seed=seed, **kwargs)
        images, labels = out if isinstance(out, tuple) else (out, None)
        images = torch.as_tensor(images).detach().cpu()
        if images.dtype != torch.uint8:
            images = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        if labels is None:
            labels = torch.zeros(images.shape[0], dtype=torch.long)
        return images, torch.as_tensor(labels).cpu()

    with torch.no_grad():
        return _EVALUATORS[key].evaluate(pixels, num_samples=int(num_samples))
