"""Cost of one evaluation: FID + KID + precision/recall on generated 28x28 samples, with the `domain`
extractor (real statistics cached) and with the FID Inception network.

    python benchmarks/eval_cost.py [--domain-samples 10000] [--inception-samples 1000 (0: skip)] [--inception-weights PATH]

Without --inception-weights (or $GANSWEEP_INCEPTION_WEIGHTS / torch's hub cache) the Inception timing
uses randomly initialised weights: the time is real, the FID value is meaningless and not printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from gan import Config, Trainer
from gan.config import DataConfig
from gan.metrics import EvalConfig, Evaluator, bootstrap_fid
from gan.metrics import METRICS
from gan.metrics.evaluator import EvalContext
from gan.metrics.features import inception_weights_path


def random_inception(tmp: Path) -> Path:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, *a, **k):
            return None

    torch.save({}, tmp / "empty.pt")
    m = Unloaded("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(tmp / "empty.pt"))
    torch.save(m.state_dict(), tmp / "random.pt")
    return tmp / "random.pt"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--domain-samples", type=int, default=10000)
    p.add_argument("--inception-samples", type=int, default=1000)
    p.add_argument("--inception-weights", default=None)
    args = p.parse_args()
    data = DataConfig(name="fashion_mnist")
    trainer = Trainer(Config.from_dict({"data": {"name": "fashion_mnist"}, "train": {"iterations": 1}}))
    metrics = ("fid", "kid", "precision_recall")
    print(f"CPU threads: {torch.get_num_threads()}; generator: default DCGAN (width 64), Fashion-MNIST")

    _, t_setup = timed(lambda: Evaluator(EvalConfig(metrics=metrics, real_samples=10000), data))
    ev, t_cached = timed(lambda: Evaluator(EvalConfig(metrics=metrics, real_samples=10000), data))
    print(f"domain setup: {t_setup:6.2f} s first time in this cache, {t_cached:6.2f} s with cached classifier and statistics")
    (images, labels), t_gen = timed(lambda: trainer.generate(args.domain_samples))
    _, t_first = timed(lambda: ev.score_images(images, labels))  # also computes the cached real-data terms
    scores, t_eval = timed(lambda: ev.score_images(images, labels))
    print(f"domain   : generate {args.domain_samples} samples {t_gen:6.2f} s; FID+KID+PR {t_eval:6.2f} s per "
          f"evaluation ({t_first:.2f} s the first time in a process, which prepares the real-data KID terms and "
          f"the real k-NN radii) (fid {scores['fid']:.1f}, kid {scores['kid']:.2f}, precision "
          f"{scores['precision']:.3f}, recall {scores['recall']:.3f})")
    # the same evaluation again, one stage at a time
    ctx = EvalContext(ev, trainer.generate, images, labels)
    _, t_feat = timed(lambda: ctx.features)
    parts = [f"features {t_feat:.2f} s"]
    for name in metrics:
        _, t_metric = timed(lambda: METRICS.get(name)(ctx))
        parts.append(f"{name} {t_metric:.2f} s")
    print("           of which: " + ", ".join(parts))
    _, t_boot = timed(lambda: bootstrap_fid(ctx.features["features"], ev.real, ev.config.fid_bootstrap, 0, ev.device))
    print(f"           fid_std ({ev.config.fid_bootstrap} bootstrap FIDs, inside `fid` above) {t_boot:.2f} s: "
          f"{t_boot / (t_gen + t_eval):.1%} of generating and scoring")
    # the main job's evaluation: 1000 samples, FID and the class histogram, and its fid_std alone
    small = Evaluator(EvalConfig(metrics=("fid", "class_histogram"), real_samples=5000, num_samples=1000), data)
    t_small = min(timed(lambda: small.evaluate(trainer.generate))[1] for _ in range(5))
    feats = small.extractor(trainer.generate(1000)[0])["features"]
    t_std = min(timed(lambda: bootstrap_fid(feats, small.real, small.config.fid_bootstrap, 0, small.device))[1]
                for _ in range(5))
    print(f"main job's evaluation (1000 samples, fid + class_histogram, best of 5): {t_small:.2f} s, of which "
          f"fid_std {t_std:.3f} s ({t_std / t_small:.1%})")
    if args.inception_samples <= 0:
        return

    with tempfile.TemporaryDirectory() as tmp:
        weights = args.inception_weights or inception_weights_path(None)
        real_weights = weights is not None
        weights = weights or random_inception(Path(tmp))
        n = args.inception_samples
        cfg = EvalConfig(extractor="inception", metrics=metrics, real_samples=n, inception_weights=str(weights))
        ev, t_setup = timed(lambda: Evaluator(cfg, data))
        small, small_labels = images[:n], labels[:n]
        scores, t_eval = timed(lambda: ev.score_images(small, small_labels))
        label = f"fid {scores['fid']:.1f}" if real_weights else "random weights: values not meaningful"
        print(f"inception: real reference of {n} images {t_setup:6.2f} s; FID+KID+PR on {n} samples {t_eval:6.2f} s ({label})")


if __name__ == "__main__":
    main()
