"""Typed training configuration, built from plain dicts in exactly one place (`Config.from_dict`).

Every section is a frozen dataclass. Unknown keys, wrong types and out-of-range values raise
`ConfigError` naming the dotted key, the value and what is allowed. Fields that default to `None`
mean "the standard setting of the chosen loss/architecture"; `resolve()` fills them in so a run
always records the values it actually used.

One file on purpose, though it runs past 400 lines: the sections, their one-line field comments (unit and what
`None` means) and the one builder that checks them are read together, and splitting them would part a field
from its check.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from record.errors import GansweepError
from gan._registry import ARCHITECTURES, DATASETS, LABEL_ENCODINGS, LOSSES

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "check_type",
    "flatten",
    "merge_dotted",
    "type_name",
]


class ConfigError(GansweepError, ValueError):
    """A user-supplied configuration value is wrong; the message names the key and what is allowed."""


def _fail(key: str, value: Any, allowed: str) -> typing.NoReturn:
    raise ConfigError(f"The value of `{key}` is {value!r}, but must be {allowed}.")


def _check_range(key, value, lo=None, hi=None, lo_open=False, hi_open=False):
    if value is None:
        return
    bad = (
        (lo is not None and (value <= lo if lo_open else value < lo))
        or (hi is not None and (value >= hi if hi_open else value > hi))
        or (isinstance(value, float) and not math.isfinite(value))
    )
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        _fail(key, value, f"in {left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}")


PIXEL_RANGES = ("auto", "-1..1", "0..1")  # data.pixel_range


def _check_choice(key, value, choices):
    if value not in choices:
        _fail(key, value, "one of " + ", ".join(repr(c) for c in choices))


@dataclass(frozen=True)
class DataConfig:
    name: str = "fashion_mnist"  # dataset registry name: mnist, fashion_mnist, emnist_balanced, celeba
    root: str | None = None  # folder holding the raw files; None = $GANSWEEP_DATA_DIR/<name>, then system folders
    split: str = "train"  # train, test, or all (train + test, e.g. the 70k MNIST images)
    dataset_fraction: float = 1.0  # share of the split kept, class-stratified, in (0, 1]
    num_images: int | None = None  # exact number of images kept (stratified); None = use dataset_fraction
    image_size: int | None = None  # side in pixels after resizing; None = the dataset's native size
    download: bool = False  # fetch through torchvision when the files are missing (needs network)
    # the range real pixels are scaled to for training: auto = the generator's output range (model.output_activation);
    # -1..1 or 0..1 set it apart from the activation (a sigmoid generator against -1..1 data cannot draw black)
    pixel_range: str = "auto"

    def images_key(self) -> dict:
        """The fields that decide which images are read, for cache keys of what is computed from them (a
        classifier, real statistics): all but `pixel_range`, which only scales them for training, and
        `download`, which only says whether missing files may be fetched."""
        return {k: v for k, v in asdict(self).items() if k not in ("pixel_range", "download")}

    def __post_init__(self):
        _check_choice("data.name", self.name, DATASETS.names())
        _check_choice("data.pixel_range", self.pixel_range, PIXEL_RANGES)
        _check_choice("data.split", self.split, ("train", "test", "all"))
        _check_range("data.dataset_fraction", self.dataset_fraction, 0.0, 1.0, lo_open=True)
        _check_range("data.num_images", self.num_images, 1, 10**9)
        if self.num_images is not None and self.dataset_fraction != 1.0:
            raise ConfigError(
                "`data.num_images` and `data.dataset_fraction` both set; give one of them "
                f"(num_images={self.num_images}, dataset_fraction={self.dataset_fraction})."
            )
        _check_range("data.image_size", self.image_size, 8, 256)


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "dcgan"  # architecture registry name: mlp or dcgan
    conditional: bool = False  # feed class labels to G and D (a cGAN)
    latent_dim: int = 100  # size of the noise vector z
    g_width: int = 64  # generator width: channels of its last hidden conv block (dcgan) or units per hidden layer (mlp)
    d_width: int = 64  # discriminator width, same meaning as g_width
    # dcgan: stride-2 stages per network; mlp: hidden layers; None = 2 (mlp) or the most the image size allows (dcgan)
    depth: int | None = None
    # dcgan: kernel of the stride-2 (transposed) convolutions; None = 4 where sides halve exactly, else 5
    kernel_size: int | None = None
    # layers added to each network at constant size: dcgan stride-1 3x3 conv blocks (G at its last hidden side, D at its
    # first); mlp hidden layers
    extra_layers: int = 0
    batch_norm: bool = True  # batch norm in G and D (D uses critic_norm instead under wgan-gp)
    # normalisation in D under wgan-gp, where batch norm is invalid: instance, layer or none
    critic_norm: str = "instance"
    # how labels enter the networks: embedding (learned, label_dim wide), onehot, or conv (their own first layer in G
    # and D; dcgan)
    label_encoding: str = "embedding"
    label_dim: int = 64  # width of the learned label embedding (ignored for onehot)
    dropout: float = 0.0  # dropout probability in the mlp's hidden layers (the MLP study used 0.5)
    output_activation: str = "tanh"  # generator output: tanh (pixels in [-1, 1]) or sigmoid (pixels in [0, 1])
    sample_in_train_mode: bool = False  # keep dropout and batch-norm batch statistics on when generating samples

    def __post_init__(self):
        _check_choice("model.arch", self.arch, ARCHITECTURES.names())
        for key in ("latent_dim", "g_width", "d_width", "label_dim"):
            _check_range(f"model.{key}", getattr(self, key), 1, 8192)
        _check_range("model.depth", self.depth, 1, 8)
        _check_range("model.kernel_size", self.kernel_size, 2, 15)
        _check_range("model.extra_layers", self.extra_layers, 0, 8)
        _check_choice("model.critic_norm", self.critic_norm, ("instance", "layer", "none"))
        _check_choice("model.label_encoding", self.label_encoding, LABEL_ENCODINGS.names())
        supported = getattr(ARCHITECTURES.get(self.arch), "label_encodings", None)
        if self.conditional and supported is not None and self.label_encoding not in supported:
            _fail("model.label_encoding", self.label_encoding,
                  f"one of {', '.join(repr(n) for n in supported)} for `model.arch: {self.arch}`")
        _check_range("model.dropout", self.dropout, 0.0, 1.0, hi_open=True)
        _check_choice("model.output_activation", self.output_activation, ("tanh", "sigmoid"))


@dataclass(frozen=True)
class LossConfig:
    name: str = "bce"  # loss registry name: bce, wgan or wgan-gp
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - label_smoothing (bce only); 0 = off
    label_smoothing_random: bool = False  # real targets drawn uniformly from [1 - label_smoothing, 1] per sample
    clip_value: float = 0.01  # wgan: critic weights are clipped to [-clip_value, clip_value]
    gp_lambda: float = 10.0  # wgan-gp: weight of the gradient penalty
    # the generator also minimises this weight x the cross-entropy of a frozen classifier of the dataset on its
    # conditional samples (the DCGAN/CGAN study's classifier-loss CGAN); 0 = off
    classifier_weight: float = 0.0
    # seeds that classifier's training; evaluation.classifier_seed defaults to 0, so the generator is not trained
    # against the network that judges it
    classifier_seed: int = 1

    def __post_init__(self):
        _check_choice("loss.name", self.name, LOSSES.names())
        _check_range("loss.label_smoothing", self.label_smoothing, 0.0, 0.5)
        if self.label_smoothing_random and self.label_smoothing == 0.0:
            raise ConfigError(
                "`loss.label_smoothing_random` is true but `loss.label_smoothing` is 0; "
                "set label_smoothing > 0 (the width of the random interval)."
            )
        if self.name != "bce" and self.label_smoothing:
            raise ConfigError(
                f"`loss.label_smoothing` is {self.label_smoothing}, but label smoothing only applies to "
                f"`loss.name: bce`, not {self.name!r}."
            )
        _check_range("loss.clip_value", self.clip_value, 0.0, None, lo_open=True)
        _check_range("loss.gp_lambda", self.gp_lambda, 0.0, None)
        _check_range("loss.classifier_weight", self.classifier_weight, 0.0, None)
        _check_range("loss.classifier_seed", self.classifier_seed, 0, 2**31 - 1)


@dataclass(frozen=True)
class OptimConfig:
    name: str | None = None  # adam or rmsprop; None = the loss's standard (rmsprop for wgan, adam otherwise)
    g_lr: float | None = None  # generator learning rate; None = loss standard (bce 2e-4, wgan 5e-5, wgan-gp 1e-4)
    d_lr: float | None = None  # discriminator/critic learning rate; None = same default as g_lr
    # Adam betas for G; None = loss standard (bce (0.5, 0.999), wgan-gp (0.0, 0.9))
    g_betas: tuple[float, float] | None = None
    d_betas: tuple[float, float] | None = None  # Adam betas for D; None = as g_betas
    weight_decay: float = 0.0  # L2 penalty for both optimizers

    def __post_init__(self):
        if self.name is not None:
            _check_choice("optim.name", self.name, ("adam", "rmsprop"))
        for key in ("g_lr", "d_lr"):
            _check_range(f"optim.{key}", getattr(self, key), 0.0, None, lo_open=True)
        for key in ("g_betas", "d_betas"):
            betas = getattr(self, key)
            if betas is not None and not all(0.0 <= b < 1.0 for b in betas):
                _fail(f"optim.{key}", list(betas), "two numbers in [0, 1)")
        _check_range("optim.weight_decay", self.weight_decay, 0.0, None)


PRECISIONS = ("fp32", "bf16")  # evaluation.precision
TRAIN_PRECISIONS = (
    *PRECISIONS,
    "fp16",
    "auto",
)  # train.precision: fp16 trains with a gradient scaler (made for CUDA's fp16 units); auto: gan.numerics


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 64  # images per batch, for D and G steps alike
    iterations: int | None = None  # generator updates; exactly one of iterations and epochs must be set
    epochs: float | None = None  # passes over the (subsetted) data; one iteration consumes one batch per epoch count
    n_critic: int = 1  # discriminator/critic updates per generator update, each on a fresh real batch
    noise: str = "normal"  # latent distribution: normal (N(0, 1)) or uniform (U(-1, 1))
    seed: int = 0  # seeds weights, the data subset, batches and noise
    eval_every: int = 500  # iterations between reports (losses, sample grid, and the caller's metrics)
    # wall-clock budget: training stops at the first iteration past this many seconds of training (summed over resumes),
    # with a last report; iterations/epochs stay the ceiling; None = no time budget
    max_seconds: float | None = None
    device: str = "auto"  # cpu, cuda, cuda:N, or auto (cuda when available)
    grid_columns: int = 8  # samples per row of the saved sample grid (one row per class when conditional)
    # fp32 (the studies'); bf16: forward passes and losses under bf16 autocast, weights and optimizer state in
    # fp32; fp16: the same under fp16 autocast, with the losses scaled by a gradient scaler (for CUDA; on a CPU
    # without fp16 arithmetic it runs, but for trying a spec only: 12 to 33x slower than fp32 here); auto: bf16 where
    # the hardware multiplies bf16 natively (AVX-512 BF16 or AMX, a bf16 GPU), else fp32 (gan.numerics)
    precision: str = "fp32"
    # conv weights and batches in channels-last memory layout; auto = on for convolutional architectures on a GPU or
    # an AVX-512 CPU (gan.numerics)
    channels_last: bool | str = False
    # torch.compile G and D for the training steps, once per trial; the compiling is timed apart (compile_time_s)
    compile: bool = False

    def __post_init__(self):
        _check_range("train.batch_size", self.batch_size, 1, 65536)
        if (self.iterations is None) == (self.epochs is None):
            raise ConfigError(
                "Exactly one of `train.iterations` and `train.epochs` must be set "
                f"(got iterations={self.iterations!r}, epochs={self.epochs!r})."
            )
        _check_range("train.iterations", self.iterations, 1, 10**9)
        _check_range("train.epochs", self.epochs, 0.0, 1e6, lo_open=True)
        _check_range("train.n_critic", self.n_critic, 1, 100)
        _check_choice("train.noise", self.noise, ("normal", "uniform"))
        _check_range("train.seed", self.seed, 0, 2**63 - 1)
        _check_range("train.eval_every", self.eval_every, 1, 10**9)
        _check_range("train.max_seconds", self.max_seconds, 0.0, None, lo_open=True)
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            _fail("train.device", self.device, "'auto', 'cpu', 'cuda' or 'cuda:N'")
        _check_range("train.grid_columns", self.grid_columns, 1, 64)
        _check_choice("train.precision", self.precision, TRAIN_PRECISIONS)
        if self.channels_last not in (True, False, "auto"):
            _fail("train.channels_last", self.channels_last, "true, false or 'auto'")

    def iterations_for(self, num_images: int) -> int:
        """Generator updates of the run; epochs count one update per batch, as the studies did."""
        if self.iterations is not None:
            return self.iterations
        return max(1, math.ceil(self.epochs * num_images / self.batch_size))

    def evaluation_at(self, step: int) -> int:
        """Which evaluation (1, 2, ...) a report at generator iteration `step` is: one every `eval_every`
        iterations, plus one at the last iteration when that falls between."""
        return math.ceil(step / self.eval_every)

    def evaluations_for(self, num_images: int) -> int:
        """Evaluations a run on `num_images` training images makes (a scheduler's `max_t`)."""
        return self.evaluation_at(self.iterations_for(num_images))


_LOSS_DEFAULTS = {
    # loss: (optimizer, learning rate, Adam betas)
    "bce": ("adam", 2e-4, (0.5, 0.999)),
    "wgan": ("rmsprop", 5e-5, (0.5, 0.999)),
    "wgan-gp": ("adam", 1e-4, (0.0, 0.9)),
}


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        info = DATASETS.get(self.data.name)
        if self.model.conditional and info.describe is None and info.num_classes < 2:  # else checked where described
            raise ConfigError(
                f"`model.conditional` is true, but dataset {self.data.name!r} has no class labels; "
                "use an unconditional model or a labelled dataset "
                f"({', '.join(n for n in DATASETS.names() if DATASETS.get(n).num_classes > 1)})."
            )
        if self.loss.classifier_weight and not self.model.conditional:
            raise ConfigError(
                f"`loss.classifier_weight` is {self.loss.classifier_weight}, but the classifier's cross-entropy needs "
                "the class each sample was generated for; set `model.conditional: true` or the weight to 0."
            )
        if self.train.compile and getattr(LOSSES.get(self.loss.name), "double_backward", False):
            raise ConfigError(
                f"`train.compile` is true, but loss {self.loss.name!r} differentiates the critic's gradient (its "
                "gradient penalty), which torch.compile cannot compile; set `train.compile: false`."
            )
        if self.train.precision == "fp16" and getattr(LOSSES.get(self.loss.name), "double_backward", False):
            raise ConfigError(
                f"`train.precision` is fp16, but loss {self.loss.name!r} differentiates the critic's gradient (its "
                "gradient penalty), which a gradient scaler would scale too; use bf16 (no scaler) or fp32."
            )
        self.check_geometry(self.data.image_size or info.image_size)

    @property
    def pixel_range(self) -> str:
        """The range real pixels are scaled to and generated pixels read from, as gan.data.scale_pixels names it:
        `tanh` ([-1, 1]) or `sigmoid` ([0, 1])."""
        chosen = self.data.pixel_range
        return self.model.output_activation if chosen == "auto" else "tanh" if chosen == "-1..1" else "sigmoid"

    def check_geometry(self, image_size: int) -> None:
        """The architecture's geometry at this image size, before any work starts (0: not known yet, as for a
        dataset whose side is in the user's files until they are read)."""
        check = getattr(ARCHITECTURES.get(self.model.arch), "check", None)
        if check is not None and image_size:
            try:
                check(self.model, image_size)
            except ValueError as e:
                raise ConfigError(str(e)) from None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> "Config":
        """Build and validate a config from nested plain dicts (e.g. parsed YAML)."""
        return _build(cls, raw or {}, "")

    def to_dict(self) -> dict[str, Any]:
        def convert(v):
            return list(v) if isinstance(v, tuple) else v

        return {
            s.name: {k: convert(v) for k, v in dataclasses.asdict(getattr(self, s.name)).items()}
            for s in dataclasses.fields(self)
        }

    def resolve(self) -> "Config":
        """Replace `None` defaults that depend on the loss with the concrete values they stand for."""
        opt_name, lr, betas = _LOSS_DEFAULTS[self.loss.name]
        optim = self.optim
        g_lr = optim.g_lr if optim.g_lr is not None else lr
        g_betas = optim.g_betas if optim.g_betas is not None else betas
        optim = dataclasses.replace(
            optim,
            name=optim.name or opt_name,
            g_lr=g_lr,
            d_lr=optim.d_lr if optim.d_lr is not None else g_lr,
            g_betas=g_betas,
            d_betas=optim.d_betas if optim.d_betas is not None else g_betas,
        )
        return dataclasses.replace(self, optim=optim)


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'model': {'latent_dim': 16}} -> {'model.latent_dim': 16}."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def merge_dotted(base: Mapping, swept: Mapping[str, Any]) -> dict:
    """The inverse of `flatten`, over a base: {'model.latent_dim': 16} set into a copy of nested `base`."""
    out = copy.deepcopy(dict(base))
    for key, value in swept.items():
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def check_type(value: Any, tp: Any) -> tuple[bool, Any]:
    """Check `value` against a type hint; returns (ok, value converted where lossless)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, conv = check_type(value, arg)
            if ok:
                return True, conv
        return False, value
    if tp is type(None):
        return value is None, value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if tp is str:
        return isinstance(value, str), value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            return False, value
        converted = []
        for item, arg in zip(value, args):
            ok, conv = check_type(item, arg)
            if not ok:
                return False, value
            converted.append(conv)
        return True, tuple(converted)
    raise AssertionError(f"unsupported config type {tp}")


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin is tuple:
        return f"a list of {len(typing.get_args(tp))} " + type_name(typing.get_args(tp)[0])
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _build(cls: type, raw: Any, prefix: str):
    where = prefix.rstrip(".") or "the config"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"`{where}` must be a mapping of keys to values, got {type(raw).__name__} {raw!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise ConfigError(
            f"Unknown key `{prefix}{unknown[0]}`; allowed keys in `{where}`: {', '.join(names)}."
        )
    kwargs = {}
    for key, value in raw.items():
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, f"{prefix}{key}.")
            continue
        ok, conv = check_type(value, tp)
        if not ok:
            raise ConfigError(f"The value of `{prefix}{key}` is {value!r}, but must be {type_name(tp)}.")
        kwargs[key] = conv
    return cls(**kwargs)
