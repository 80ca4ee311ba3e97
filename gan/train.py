"""The training loop.

`Trainer(config)` builds data, models, optimizers and RNGs; `Trainer.run(report)` trains and calls
`report(Report)` every `train.eval_every` iterations (an iteration is one generator update,
preceded by `train.n_critic` discriminator updates). `train_step()` is pure compute. Checkpoints
(`save`/`load`) hold weights, optimizer states, every RNG state, the batch order and the step, so a
run stopped and resumed produces the same weights as one that never stopped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from record.files import atomic_path
from record.names import Result
from gan.config import Config, ConfigError, flatten
from gan.data import Batches, ImageData, load_dataset
from gan.losses import build_loss, generator_terms
from gan.models import build_models
from gan.numerics import autocast, resolve_precision, use_channels_last
from gan.sampling import Sampler
from record.status import Status

__all__ = ["Report", "TrainResult", "Trainer", "resolve_device", "run_loop", "train"]

# the window means a Report carries besides timing (which of them appear depends on the loss)


@dataclass(frozen=True)
class Report:
    step: int  # generator iterations done
    total_steps: int  # iterations the run is configured for
    epoch: float  # passes over the training subset so far
    evaluation: int  # which report of the run this is (1, 2, ...; `TrainConfig.evaluation_at`)
    # window means of loss_d, loss_g, d_real, d_fake[, wasserstein, gradient_penalty], plus iters_per_sec, wall_time_s
    metrics: dict[str, float]
    grid_path: Path | None  # PNG of the fixed-noise sample grid, when the trainer has an out_dir
    diverged: bool = False  # a loss became NaN or inf; this is the run's last report
    final: bool = False  # the run's last report: total_steps reached or the time budget spent (or diverged)


@dataclass
class TrainResult:
    status: Status  # completed or diverged
    step: int
    metrics: dict[str, float] = field(default_factory=dict)  # the last report's metrics


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


RESUMES_ACROSS = ("train.compile",)  # how the steps run, not what they compute: a checkpoint resumes either way


def _check_same_config(saved: dict, config: Config) -> None:
    """Refuse a checkpoint of another run. A checkpoint written before a setting existed holds no value for
    it; it was trained with that setting's default, so the saved config is compared with today's defaults
    filled in (a sweep survives an upgrade that adds options), and the message names the keys that differ."""
    try:
        saved = Config.from_dict(saved).to_dict()
    except ValueError as e:  # a key this version no longer knows, or a value it no longer allows
        raise ValueError(f"The checkpoint's config is not valid in this version ({e}); refusing to resume.") from e
    a, b = flatten(saved), flatten(config.to_dict())
    for key in RESUMES_ACROSS:
        a.pop(key, None), b.pop(key, None)
    differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    if differ:
        shown = ", ".join(f"{k}: {a.get(k)!r} in the checkpoint, {b.get(k)!r} now" for k in differ[:5])
        raise ValueError(f"The checkpoint was written by a run with a different config ({shown}); refusing to resume.")


class Trainer:
    def __init__(self, config: Config, *, data: ImageData | None = None, out_dir: str | os.PathLike | None = None):
        self.config = cfg = config.resolve()
        self.device = resolve_device(cfg.train.device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        seed = cfg.train.seed
        self.data = data if data is not None else load_dataset(cfg.data, seed=seed)
        info = self.data.info
        if cfg.model.conditional and info.num_classes < 2:  # a dataset described by its files is checked here
            raise ConfigError(f"`model.conditional` is true, but {info.title} has no class labels.")
        self.num_classes = info.num_classes
        self.conditional = cfg.model.conditional
        self.pixel_range = cfg.pixel_range
        channels, size = self.data.images.shape[1], self.data.images.shape[-1]

        torch.manual_seed(seed)  # weights and dropout masks
        self.loss = build_loss(cfg.loss)
        self.G, self.D = build_models(
            cfg.model, channels=channels, image_size=size, num_classes=info.num_classes, critic=self.loss.critic
        )
        # the levers as they run on this device (`auto` resolved for its hardware, gan.numerics)
        self.precision = resolve_precision(cfg.train.precision, self.device)
        self.channels_last = use_channels_last(cfg.train.channels_last, self.G, self.D, device=self.device)
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        self.G.to(self.device, memory_format=layout)
        self.D.to(self.device, memory_format=layout)
        # the training steps call these: G and D themselves, or torch.compile's wrappers of them (compiled on
        # the first step, which run() times apart); checkpoints, sampling and evaluation use G and D
        self.step_G, self.step_D = (
            (torch.compile(self.G), torch.compile(self.D)) if cfg.train.compile else (self.G, self.D)
        )
        self.compile_time_s: float | None = None  # set by the first step of a compiled trainer
        self.opt_g = self.optimizer(self.G.parameters(), cfg.optim.g_lr, cfg.optim.g_betas)
        self.opt_d = self.optimizer(self.D.parameters(), cfg.optim.d_lr, cfg.optim.d_betas)
        # fp16's loss scaling, one scaler per optimizer (each step skips when its gradients overflow); under
        # fp32 and bf16 they are disabled and pass the losses and steps through unchanged
        fp16 = self.precision == "fp16"
        self.scale_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scale_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.g_terms = generator_terms(cfg, self.device)  # extra generator objectives (classifier guidance)

        self.batches = Batches(
            self.data.images.to(self.device), self.data.labels.to(self.device),
            batch_size=cfg.train.batch_size, seed=seed, pixel_range=self.pixel_range,
        )
        self.sampler = Sampler(self.G, cfg, num_classes=info.num_classes, device=self.device)
        self.gen = torch.Generator(self.device).manual_seed(seed + 1)  # noise, smoothing targets, GP mixing
        grid_gen = torch.Generator(self.device).manual_seed(seed + 2)
        cols = cfg.train.grid_columns
        rows = self.num_classes if self.conditional else cols
        self.fixed_noise = self.sampler.noise(rows * cols, grid_gen)
        self.fixed_labels = torch.arange(rows, device=self.device).repeat_interleave(cols) % self.num_classes
        self.total_steps = self._total_steps()
        self.step = 0
        self.wall_time = 0.0  # seconds spent in run(), summed over resumes

    # -- setup -----------------------------------------------------------------------------

    def optimizer(self, params, lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
        """The configured optimizer (optim.name) over `params`: one network's, or a pack's stacked ones."""
        o = self.config.optim
        if o.name == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr, weight_decay=o.weight_decay)
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=o.weight_decay)

    def _total_steps(self) -> int:
        return self.config.train.iterations_for(len(self.data))

    @property
    def epoch(self) -> float:
        return self.step * self.config.train.batch_size / len(self.data)

    # -- compute ---------------------------------------------------------------------------

    def autocast(self):
        """The forward passes' and losses' precision (train.precision): bf16 or fp16 autocast, or fp32 as written."""
        return autocast(self.precision, self.device.type)

    def train_step(self) -> dict[str, torch.Tensor]:
        """One generator update after n_critic discriminator updates. Returns detached scalar tensors.
        Under bf16 or fp16 the forward passes and losses run in autocast; the backward passes follow them, and
        the weights, gradients and optimizer states stay fp32. Under fp16 each loss is scaled before its
        backward pass and the gradients unscaled before the step (a step whose gradients overflow is
        skipped, and the scale lowered)."""
        G, D, loss = self.step_G, self.step_D, self.loss
        n_critic = self.config.train.n_critic
        stats_sum: dict[str, torch.Tensor] = {}
        D.requires_grad_(True)
        for _ in range(n_critic):
            real, labels = self.batches.next()
            if self.channels_last:
                real = real.contiguous(memory_format=torch.channels_last)
            y = labels if self.conditional else None
            with torch.no_grad(), self.autocast():
                fake = G(self.sampler.noise(real.shape[0], self.gen), y)
            with self.autocast():
                d_loss, stats = loss.discriminator_loss(D, real, fake, y, self.gen)
            self.opt_d.zero_grad(set_to_none=True)
            self.scale_d.scale(d_loss).backward()
            self.scale_d.step(self.opt_d)
            self.scale_d.update()
            loss.after_discriminator_step(D)
            stats["loss_d"] = d_loss.detach()
            for k, v in stats.items():
                stats_sum[k] = stats_sum[k] + v if k in stats_sum else v
        D.requires_grad_(False)  # the generator step needs gradients through D, not for D
        with self.autocast():
            fake = G(self.sampler.noise(real.shape[0], self.gen), y)
            g_loss, g_stats = loss.generator_loss(D, fake, y)
            for term in self.g_terms:
                extra, term_stats = term(fake, y)
                g_loss = g_loss + extra
                g_stats.update(term_stats)
        self.opt_g.zero_grad(set_to_none=True)
        self.scale_g.scale(g_loss).backward()
        self.scale_g.step(self.opt_g)
        self.scale_g.update()
        out = {k: v / n_critic for k, v in stats_sum.items()}
        out.update(g_stats)
        out["loss_g"] = g_loss.detach()
        return {k: v.float() for k, v in out.items()}  # bf16 statistics summed over a window would lose digits

    def generate(
        self, n: int, *, labels: torch.Tensor | None = None, seed: int = 0, batch_size: int = 500
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples as uint8 (n, C, H, W) on the CPU and their labels: `Sampler.generate`."""
        return self.sampler.generate(n, labels=labels, seed=seed, batch_size=batch_size)

    def save_grid(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.sampler.mode():
            images = self.G(self.fixed_noise, self.fixed_labels if self.conditional else None)
        x = (images + 1) / 2 if self.pixel_range == "tanh" else images
        import torchvision.utils as vutils  # here: importing torchvision takes about a second, which checking a
        # spec's config (this package's import) should not pay

        vutils.save_image(x.clamp(0, 1).cpu(), path, nrow=self.config.train.grid_columns, padding=2)
        return path

    # -- the loop --------------------------------------------------------------------------

    def run(self, report: Callable[[Report], None] | None = None) -> TrainResult:
        """Train until total_steps (resuming from self.step), reporting every eval_every iterations.

        A caller that must stop a run early (a scheduler) does so from inside `report`: Ray Tune ends a
        function trainable at its `tune.report`.
        """
        return run_loop([self], lambda: [self.train_step()], [report])[0]

    # -- checkpoints -----------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "wall_time": self.wall_time,
            "config": self.config.to_dict(),
            "precision": self.precision,  # as it resolved here (train.precision: auto)
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scale_g": self.scale_g.state_dict(),  # {} unless fp16
            "scale_d": self.scale_d.state_dict(),
            "batches": self.batches.state_dict(),
            "gen": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
        }

    def load_state_dict(self, state: dict) -> None:
        _check_same_config(state["config"], self.config)
        # a run goes on at the precision it started at: `auto` may resolve otherwise on this machine
        self.precision = state.get("precision", self.precision)
        self.step = int(state["step"])
        self.wall_time = float(state["wall_time"])
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        for key, scaler in (("scale_g", self.scale_g), ("scale_d", self.scale_d)):
            if state.get(key):  # checkpoints of fp32 and bf16 runs, and of earlier releases, hold none
                scaler.load_state_dict(state[key])
        self.batches.load_state_dict(state["batches"])
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)

    def save(self, path: str | os.PathLike) -> Path:
        """Write a checkpoint atomically (temporary file, then rename)."""
        return self.save_state(self.state_dict(), path)

    @staticmethod
    def save_state(state: dict, path: str | os.PathLike) -> Path:
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        return path

    def load(self, path: str | os.PathLike) -> None:
        # onto the CPU first: RNG states must stay CPU byte tensors (a cuda map_location breaks
        # `set_state`), while weights and optimizer states are copied to the models' device by
        # their own load_state_dict
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def run_loop(
    trainers: list[Trainer],
    train_step: Callable[[], list[dict[str, torch.Tensor]]],
    reports: list[Callable[[Report], None] | None],
    after_reports: Callable[[], None] | None = None,
) -> list[TrainResult]:
    """The training loop of one run, or of the runs a packed trainer steps together (gan.packed): each call of
    `train_step()` advances every trainer by one generator iteration and returns their statistics in order.
    Each run reports every eval_every iterations to its own `reports[i]`, and ends at its total_steps, at its
    time budget or when its losses stop being finite; the loop ends when every run has. `after_reports()` runs
    after the reports of a step, before their runs' clocks restart: like a report, outside any run's time."""
    first = trainers[0]
    eval_every = first.config.train.eval_every
    budget = first.config.train.max_seconds
    check_every = min(eval_every, 25)  # how often a NaN is looked for (a host sync)
    results: list[TrainResult | None] = [
        None if t.step < t.total_steps else TrainResult(Status.COMPLETED, t.step) for t in trainers
    ]
    for t in trainers:
        t.G.train()
        t.D.train()
    # each run's window: its statistics' sums, steps and start since its last report
    windows: list[dict[str, torch.Tensor]] = [{} for _ in trainers]
    window_steps = [0] * len(trainers)
    window_start = [time.perf_counter()] * len(trainers)
    while any(r is None for r in results):
        started = time.perf_counter()
        stats = train_step()
        stepped = time.perf_counter()  # a pack's runs are timed against one clock, not after each other's reports
        if first.config.train.compile and first.compile_time_s is None:  # this step compiled G and D
            first.compile_time_s = stepped - started
            window_start[0] += first.compile_time_s  # neither in iters_per_sec nor in wall_time_s
        now, reported = None, []  # the step's end, taken once: a pack's runs are not charged each other's reports
        for i, t in enumerate(trainers):
            if results[i] is not None:  # ended (diverged) while the rest of its pack trains on
                continue
            t.step += 1
            window_steps[i] += 1
            window = windows[i]
            for k, v in stats[i].items():
                window[k] = window[k] + v if k in window else v
            out_of_time = budget is not None and t.wall_time + stepped - window_start[i] >= budget
            final = t.step == t.total_steps or out_of_time
            at_eval = t.step % eval_every == 0 or final
            diverged = False
            if at_eval or t.step % check_every == 0:
                diverged = not bool(torch.isfinite(window["loss_d"] + window["loss_g"]))
            if not (at_eval or diverged):
                continue
            now = now or time.perf_counter()  # after the finite check, which waits for the device
            t.wall_time += now - window_start[i]
            last = {k: float(v) / window_steps[i] for k, v in window.items()}
            last["iters_per_sec"] = window_steps[i] / max(now - window_start[i], 1e-9)
            last[Result.WALL_TIME] = t.wall_time
            if t.compile_time_s is not None:
                last[Result.COMPILE_TIME] = t.compile_time_s
            if t.config.train.precision == "auto":
                last[Result.TRAINED_BF16] = float(t.precision == "bf16")
            grid = None
            if t.out_dir is not None and not diverged:
                grid = t.save_grid(t.out_dir / "samples" / f"step_{t.step:07d}.png")
            if reports[i] is not None:
                reports[i](Report(t.step, t.total_steps, t.epoch, t.config.train.evaluation_at(t.step), last,
                                  grid, diverged, final or diverged))
            if diverged:
                results[i] = TrainResult(Status.DIVERGED, t.step, last)
            elif final:
                results[i] = TrainResult(Status.COMPLETED, t.step, last)
            windows[i], window_steps[i] = {}, 0
            reported.append(i)
        if reported and after_reports is not None:
            after_reports()
        for i in reported:
            window_start[i] = time.perf_counter()
    return results


def train(
    config: Config,
    *,
    report: Callable[[Report], None] | None = None,
    out_dir: str | os.PathLike | None = None,
) -> TrainResult:
    """Train a GAN as configured; see `Trainer` for checkpoints and sampling."""
    return Trainer(config, out_dir=out_dir).run(report)
