"""The studies' metrics judged by classifiers or pixels rather than by feature statistics: GAN-test,
GAN-train (Shmelkov et al.), the predicted-class histogram (mode collapse), the nearest-training-image
distance (memorisation) and the augmentation experiment of the conditional DCGAN study."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from gan.metrics.classifier import accuracy, fit_classifier
from gan.metrics.registry import CLASS_KL, GAN_TEST, GAN_TEST_STD, GAN_TRAIN, NN_DISTANCE

if TYPE_CHECKING:  # type hints only: the evaluator module sits above the metrics
    from gan.metrics.evaluator import EvalContext

__all__ = ["class_histogram_metric", "gan_test_metric", "gan_train_metric", "memorization_metric"]  # gan.builtins


def gan_test_metric(ctx: EvalContext) -> dict[str, float]:
    """Accuracy of the real-trained classifier on generated samples of the requested class (mean, std over repeats)."""
    clf = ctx.evaluator.classifier
    accs = [accuracy(clf, ctx.images, ctx.labels)]
    cfg = ctx.evaluator.config
    for r in range(1, cfg.gan_test_repeats):
        images, labels = ctx.generate(ctx.images.shape[0], seed=cfg.seed + 1000 + r)
        accs.append(accuracy(clf, images, labels))
    # the sample standard deviation over the sets, as studies that repeat GAN-test report it
    return {GAN_TEST: float(np.mean(accs)), GAN_TEST_STD: float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0}


# needs the classifier for its test split (the evaluator's `test_set`), not for its weights
def gan_train_metric(ctx: EvalContext) -> dict[str, float]:
    """Accuracy on real test images of a classifier trained only on generated, labelled samples."""
    ev = ctx.evaluator
    model = fit_classifier(ctx.images, ctx.labels, ev.num_classes, epochs=ev.classifier_epochs_for(ctx.images.shape[0]),
                           seed=ev.config.seed)
    test_images, test_labels = ev.test_set
    return {GAN_TRAIN: accuracy(model, test_images, test_labels)}


def class_histogram_metric(ctx: EvalContext) -> dict[str, float]:
    """Predicted-class histogram of the samples and its KL divergence to the real class distribution (mode collapse)."""
    k = ctx.evaluator.num_classes
    pred = ctx.predicted_classes
    hist = torch.bincount(pred, minlength=k).double()
    real = torch.bincount(ctx.real.labels, minlength=k).double()
    p, q = (hist + 1e-6) / (hist + 1e-6).sum(), (real + 1e-6) / (real + 1e-6).sum()
    ctx.artifacts["class_histogram"] = {"generated": hist.long().tolist(), "real": real.long().tolist()}
    return {CLASS_KL: float((p * (p / q).log()).sum())}


def memorization_metric(ctx: EvalContext) -> dict[str, float]:
    """Mean pixel-space L2 distance (pixels in [0, 1]) from each generated image to its nearest training image."""
    train = ctx.evaluator.train_images.flatten(1).float() / 255
    gen = ctx.images.flatten(1).float() / 255
    nearest_d, nearest_i = [], []
    for chunk in gen.split(500):
        d = torch.cdist(chunk, train, compute_mode="donot_use_mm_for_euclid_dist")  # exact, 0 for copies
        v, i = d.min(dim=1)
        nearest_d.append(v)
        nearest_i.append(i)
    dist, idx = torch.cat(nearest_d), torch.cat(nearest_i)
    ctx.artifacts["nearest_neighbours"] = (ctx.images[:8], ctx.evaluator.train_images[idx[:8]])
    return {NN_DISTANCE: float(dist.mean())}
