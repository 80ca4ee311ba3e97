"""`resources: {pack_seeds: true}` checked when the spec is read: what a packed sweep cannot run as its unpacked
twin would is refused here, with the reason, before any work starts (sweeps.packs runs the packs)."""

from __future__ import annotations

from gan.config import ConfigError
from gan.packable import pack_refusal
from record.names import SEED
from sweeps.specfile._yaml import Ctx

__all__ = ["check_packing"]

WHERE = ("resources", "pack_seeds")


def check_packing(ctx: Ctx, spec) -> None:
    """Refuse a packed sweep whose trials would not train, stop or be budgeted as its unpacked trials would."""
    if spec.trainable is not None:
        raise ctx.fail(WHERE, "is true, but packing trains the built-in trainer's seeds; your own training function "
                              "(`trainable`) trains each seed in a trial of its own.")
    if spec.method == "optuna":
        raise ctx.fail(WHERE, "is true, but Optuna suggests one trial at a time: packing needs a configuration's seeds "
                              "known in advance (`method: grid` or `random`).")
    if spec.adaptive is not None:
        raise ctx.fail(WHERE, "is true, but adaptive seeds add a configuration's seeds one round at a time: give a "
                              "list of seeds, which a pack trains together.")
    if spec.early_stopping.type != "none":
        raise ctx.fail(WHERE, f"is true, but early_stopping is {spec.early_stopping.type}, which stops trials one by "
                              "one while a pack's seeds train as one trial: use `early_stopping: none` (the report "
                              "replays ASHA and the race over the histories).")
    if len(spec.seeds) < 2:
        raise ctx.fail(WHERE, f"is true, but there is one seed ({spec.seeds[0]}), and nothing to pack: give two or "
                              "more under `seeds`.")
    if "seconds" in spec.budget.hold:
        raise ctx.fail(WHERE, "is true, but the budget holds seconds of training, and a pack's seeds share one clock: "
                              "each would be charged the whole pack's time. Pack under epochs or iterations.")
    why = pack_refusal(spec.base)
    if why is not None:
        raise ctx.fail(WHERE, f"is true, but the base config cannot be packed: {why}. Set `resources.pack_seeds: "
                              "false` to train each seed in a trial of its own.")
    trials = spec.trial_configs()
    per = len(spec.seeds)
    for start in range(0, len(trials), per):
        swept = {k: v for k, v in trials[start].items() if k != SEED}
        config = spec.config_for(trials[start])
        shown = ", ".join(f"{k}={v!r}" for k, v in swept.items()) or "the base config"
        why, culprit = pack_refusal(config), None
        if why is not None:  # the parameter whose values alone, set on the base (which packs), are refused
            culprit = next((p for p in spec.parameters if _refused(spec, _settings(p, swept))), None)
        elif config.train.max_seconds is not None:
            why = "train.max_seconds is set, and a pack's seeds share one clock"
            culprit = _setter(spec, "train.max_seconds")
        elif config.train.precision == "auto":
            why = ("train.precision is auto, which resolves to bf16 on a CPU with AVX-512 BF16 or AMX or on a GPU, "
                   "and a pack trains in fp32 alone; set train.precision: fp32")
            culprit = _setter(spec, "train.precision")
        if why is not None:
            raise ctx.fail(("parameters", culprit.key) if culprit else WHERE,
                           f"cannot pack the seeds of {shown}: {why}. Set `resources.pack_seeds: false` to train "
                           "each seed in a trial of its own.")


def _settings(p, swept: dict) -> dict:
    """The config keys parameter `p` sets in these swept values (a variant's: every key its values set)."""
    return {k: v for k, v in swept.items() if k in p.config_keys()}


def _refused(spec, settings: dict) -> bool:
    try:
        return bool(settings) and pack_refusal(spec.config_for(settings)) is not None
    except ConfigError:  # not a config without the other parameters' values: not this one's alone
        return False


def _setter(spec, key: str):
    """The parameter that sets `key`, or None where the base config does."""
    return next((p for p in spec.parameters if key in p.config_keys()), None)
