"""What a pack of seeds (gan.packed) cannot train as the seeds' separate runs would, said without torch: a sweep's
spec is checked against it before anything heavy is imported (sweeps.specfile)."""

from __future__ import annotations

from gan.config import Config

__all__ = ["PACKABLE_ARCHITECTURES", "pack_refusal"]

PACKABLE_ARCHITECTURES = ("dcgan", "mlp")


def pack_refusal(config: Config) -> str | None:
    """Why a configuration's seeds cannot be trained packed with the same result as separate runs, or None."""
    c = config
    if c.model.arch not in PACKABLE_ARCHITECTURES:
        return f"model.arch is {c.model.arch!r}; packing runs the built-in {' and '.join(PACKABLE_ARCHITECTURES)}"
    if c.model.dropout:
        return "model.dropout draws its masks from the global RNG, which the packed seeds would share"
    if c.loss.name == "wgan-gp":
        return "wgan-gp's penalty draws each seed's mixing weights and differentiates D's gradient inside the pack"
    if c.loss.name == "bce" and c.loss.label_smoothing_random:
        return "loss.label_smoothing_random draws each seed's targets inside the pack"
    if c.loss.name not in ("bce", "wgan"):
        return f"loss.name is {c.loss.name!r}; packing runs bce and wgan"
    if c.loss.classifier_weight:
        return "loss.classifier_weight (classifier guidance) is not packed"
    if c.train.precision == "fp16":
        return "fp16's loss scaling skips a step when any gradient overflows, which would skip every seed's"
    if c.train.precision == "bf16":
        return ("bf16 rounds a pack's larger operations otherwise than a seed's own: their gradients differed by 5% "
                "to 17% at the first steps, against 1e-6 to 1e-3 in fp32")
    if c.train.compile:
        return "train.compile is not packed"
    if c.train.channels_last is True:
        return "train.channels_last: true is not packed (a pack runs the contiguous layout)"
    return None
