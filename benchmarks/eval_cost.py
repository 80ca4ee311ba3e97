"""Cost of one evaluation: FID + KID + precision/recall on generated 28x28 samples, with the `domain`
extractor (real statistics cached) and with the FID Inception network.

    python benchmarks/eval_cost.py [--domain-samples 10000] [--inception-samples 1000 (0: skip)]
    [--inception-weights PATH]
    python benchmarks/eval_cost.py --levers [--train-iterations 500] [--rounds 3]

--levers prints the evaluation's levers side by side in one process, on a generator trained here for
--train-iterations steps (the main job's 32/32 DCGAN on Fashion-MNIST, so the FIDs mean something): fp32 in
the contiguous layout (the evaluation before the levers), fp32 with the domain extractor channels-last (the
default), and evaluation.precision bf16, each a whole 10k-sample FID+KID+precision/recall evaluation
(drawing the samples included), the best of --rounds, with its FID and the FID's distance from the
contiguous fp32 one in units of its fid_std. It runs on CUDA unchanged when a GPU is present.

Without --inception-weights (or $GANSWEEP_INCEPTION_WEIGHTS / torch's hub cache) the Inception timing
uses randomly initialised weights: the time is real, the FID value is meaningless and not printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from machine import cpu_model  # benchmarks/, the script's own folder
from gan import Config, Trainer
from gan.config import DataConfig
from gan.metrics import EvalConfig, Evaluator, bootstrap_fid
from gan.metrics import METRICS
from gan.metrics.evaluator import EvalContext
from gan.metrics.features import inception_weights_path
from gan.numerics import autocast


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


def levers(args, data: DataConfig, metrics: tuple[str, ...]) -> None:
    cfg = Config.from_dict({"data": {"name": "fashion_mnist"}, "model": {"g_width": 32, "d_width": 32},
                            "optim": {"g_lr": 5e-4, "d_lr": 5e-4},
                            "train": {"iterations": args.train_iterations, "batch_size": 32,
                                      "eval_every": args.train_iterations}})
    trainer = Trainer(cfg)
    _, t_train = timed(trainer.run)
    device = (
        torch.cuda.get_device_name() if trainer.device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    )
    print(
        f"device: {device}; generator: 32/32 DCGAN trained {args.train_iterations} steps on Fashion-MNIST "
        f"({t_train:.0f} s); {args.domain_samples} samples, FID+KID+PR with the domain extractor, best of {args.rounds}"
    )
    variants = {}
    for name, precision, contiguous in (("fp32, contiguous (before)", "fp32", True),
                                        ("fp32, channels-last (default)", "fp32", False),
                                        ("bf16, channels-last", "bf16", False)):
        ev = Evaluator(EvalConfig(metrics=metrics, real_samples=10000, num_samples=args.domain_samples,
                                  precision=precision), data)
        if contiguous:
            ev.extractor.module.to(memory_format=torch.contiguous_format)
        ev.evaluate(trainer.generate)  # prepares the cached real-data terms
        variants[name] = ev
    rows = {name: [] for name in variants}
    for _ in range(args.rounds):  # interleaved, so drift in the machine's speed falls on every variant alike
        for name, ev in variants.items():
            with autocast(ev.config.precision, trainer.device.type):
                (images, _), t_gen = timed(lambda: trainer.generate(args.domain_samples))
            _, t_feat = timed(lambda: ev.extractor(images))
            scores, t_all = timed(lambda: ev.evaluate(trainer.generate))
            rows[name].append((t_all, t_gen, t_feat, scores))
    base = min(rows["fp32, contiguous (before)"], key=lambda r: r[0])
    print(
        "| evaluation | total | drawing 10k | features | metrics | speed-up | FID (fid_std) | FID - before, in fid_std |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in rows.items():
        t_all, t_gen, t_feat, scores = min(runs, key=lambda r: r[0])
        t_gen, t_feat = min(r[1] for r in runs), min(r[2] for r in runs)
        shift = (scores["fid"] - base[3]["fid"]) / base[3]["fid_std"]
        print(f"| {name} | {t_all:.2f} s | {t_gen:.2f} s | {t_feat:.2f} s | {t_all - t_gen - t_feat:.2f} s | "
              f"{base[0] / t_all:.2f}x | {scores['fid']:.2f} ({scores['fid_std']:.2f}) | {shift:+.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--domain-samples", type=int, default=10000)
    p.add_argument("--inception-samples", type=int, default=1000)
    p.add_argument("--inception-weights", default=None)
    p.add_argument("--levers", action="store_true", help="the evaluation's precision and layout side by side")
    p.add_argument("--train-iterations", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    print(f"CPU: {cpu_model()}", flush=True)
    data = DataConfig(name="fashion_mnist")
    if args.levers:
        return levers(args, data, ("fid", "kid", "precision_recall"))
    trainer = Trainer(Config.from_dict({"data": {"name": "fashion_mnist"}, "train": {"iterations": 1}}))
    metrics = ("fid", "kid", "precision_recall")
    print(f"CPU threads: {torch.get_num_threads()}; generator: default DCGAN (width 64), Fashion-MNIST")

    _, t_setup = timed(lambda: Evaluator(EvalConfig(metrics=metrics, real_samples=10000), data))
    ev, t_cached = timed(lambda: Evaluator(EvalConfig(metrics=metrics, real_samples=10000), data))
    print(
        f"domain setup: {t_setup:6.2f} s first time in this cache, {t_cached:6.2f} s with cached classifier and statistics"
    )
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
        _, t_metric = timed(lambda: METRICS.load(name)(ctx))
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
        print(
            f"inception: real reference of {n} images {t_setup:6.2f} s; FID+KID+PR on {n} samples {t_eval:6.2f} s ({label})"
        )


if __name__ == "__main__":
    main()
