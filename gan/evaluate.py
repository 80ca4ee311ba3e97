"""gansweep's evaluator for a generator trained by the user's own loop: `gan.evaluate(generate, data=...)`.

The same metrics as the built-in trainer's evaluations (FID and friends, on the domain classifier's or
Inception's features), against the same cached real statistics, so a sweep of the user's own function reports
FID comparable with the built-ins'. The evaluator (and the domain classifier it trains the first time, cached on
disk) is built once per process for each data and evaluation setting.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Mapping

import torch

from gan.config import DataConfig, _build
from gan.metrics import EvalConfig, Evaluator
from gan.metrics.config import EVAL_SAMPLES
from record.metrics import OUTPUTS

__all__ = ["evaluate"]

_EVALUATORS: dict[str, Evaluator] = {}


def evaluate(generate: Callable[..., Any], *, data: Mapping[str, Any] | DataConfig, metrics=("fid",),
             num_samples: int = 1000, conditional: bool = False, **settings: Any) -> dict[str, float]:
    """Score a generator: `generate(n, seed=...)` returns `n` images, (N, C, H, W), as uint8 pixels or as floats
    in [-1, 1] (a tanh output), or an (images, labels) pair; labels are needed by the metrics that condition on
    them (`conditional=True`). `data`: the data config the images are compared with (e.g. {"name":
    "fashion_mnist"}); `settings`: any other `evaluation` key (extractor, real_samples, image_size, ...). Returns
    the metrics by name, as the built-in trainer reports them; a draw with a NaN or infinite pixel (a diverged
    generator) scores NaN on every metric, which a sweep's reporter takes as divergence. Images of another count
    or number of channels than asked, or labels not one per image, are a ValueError saying what is expected."""
    data_cfg = data if isinstance(data, DataConfig) else _build(DataConfig, dict(data), "data.")  # as a config's
    eval_cfg = EvalConfig.from_dict({**settings, "metrics": list(metrics), "num_samples": int(num_samples)})
    key = json.dumps([data_cfg.__dict__, eval_cfg.__dict__, conditional], sort_keys=True, default=str)
    if key not in _EVALUATORS:
        _EVALUATORS[key] = Evaluator(eval_cfg, data_cfg, conditional=conditional)

    evaluator = _EVALUATORS[key]
    channels = evaluator.info.channels

    def pixels(n: int, seed: int = 0, **kwargs):
        out = generate(n, seed=seed, **kwargs)
        images, labels = out if isinstance(out, tuple) else (out, None)
        images = torch.as_tensor(images).detach().cpu()
        if images.dim() != 4 or images.shape[0] != n or images.shape[1] != channels:
            raise ValueError(f"gan.evaluate: generate({n}) returned images of shape {tuple(images.shape)}, but must "
                             f"return ({n}, {channels}, H, W): {n} images with the {channels} channel(s) of "
                             f"{evaluator.info.title}, channels first.")
        if images.dtype != torch.uint8:
            if not torch.isfinite(images).all():
                raise _NotFinite
            images = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        if labels is None:
            labels = torch.zeros(images.shape[0], dtype=torch.long)
        labels = torch.as_tensor(labels).cpu()
        if labels.shape != (n,):
            raise ValueError(f"gan.evaluate: generate({n}) returned labels of shape {tuple(labels.shape)}, but must "
                             f"return one label per image, ({n},).")
        return images, labels

    try:
        with torch.no_grad():
            return evaluator.evaluate(pixels, num_samples=int(num_samples))
    except _NotFinite:  # a diverged generator: every score NaN, which ends a sweep's trial as diverged
        return {**{name: math.nan for name, out in OUTPUTS.items() if out.producer in eval_cfg.metrics},
                EVAL_SAMPLES: float(num_samples)}


class _NotFinite(Exception):
    """The generator drew an image with a NaN or infinite value."""
