"""Seed packing: the seeds of one configuration trained in one process as one packed model.

`PackedTrainer(configs)` takes configs that differ in `train.seed` alone. It builds one `Trainer` per seed,
exactly as a separate run would (its data subset and batch order, its weights, its noise generator), then
stacks the seeds' weights, batch-norm statistics and optimizer states along a new first dimension
(`torch.func.stack_module_state`) and trains them with `torch.func.vmap` over `functional_call`: each
generator and discriminator update is one call for all seeds, whose convolutions and matrix products run
as one larger (grouped or batched) operation instead of one small one per seed.

The seeds stay independent: each draws its own batches and noise, each seed's loss is differentiated for
its own weights alone (the pack minimises their sum), and Adam and RMSprop act elementwise, so one
optimizer over the stacked weights is each seed's own. A seed's weights, gradients and statistics
therefore equal a separate run's up to the order of floating-point arithmetic (tests/gan/test_packed.py
measures how far apart they drift). Each seed's `Trainer` keeps working on views into the stacked
tensors: sampling, grids, evaluation and `gan.sampling.save_generator` read a seed as they would read a
separate run, and a pack's checkpoint is one ordinary checkpoint per seed.

What packing cannot run as a separate run would is refused (`pack_refusal`): draws from a seed's
generator inside a loss (random label smoothing, the gradient penalty's mixing), dropout (its masks come
from the global RNG), fp16's loss scaling (one overflow would skip every seed's step), bf16 (its rounding of
the pack's larger operations moves each seed's gradients by several percent), `train.compile`,
classifier guidance, channels-last, and architectures other than the built-in `dcgan` and `mlp`. A pack runs
the contiguous layout (`train.channels_last: auto` included), and its seeds share one clock: under
`train.max_seconds` every seed is charged the pack's time and all end at the same step.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from gan.config import Config, ConfigError, flatten
from gan.data import ImageData
from gan.packable import pack_refusal
from gan.train import Report, Trainer, TrainResult, run_loop

__all__ = ["PackedTrainer", "pack_refusal"]

class _Stacked:
    """One network of every seed: its stacked parameters and buffers, and a weightless copy to call them with."""

    def __init__(self, nets: list[nn.Module]):
        self.params, self.buffers = stack_module_state(nets)
        self.shell = copy.deepcopy(nets[0]).to("meta")
        # each seed's own module now reads and writes its slice of the stacked tensors
        for s, net in enumerate(nets):
            for name, p in net.named_parameters():
                p.data = self.params[name].data[s]
            for name, _ in net.named_buffers():
                module_name, _, leaf = name.rpartition(".")
                net.get_submodule(module_name)._buffers[leaf] = self.buffers[name][s]

    def parameters(self):
        """The stacked parameters, for the optimizer and for a loss's `after_discriminator_step` (clipping)."""
        return list(self.params.values())

    def requires_grad_(self, flag: bool) -> None:
        for p in self.params.values():
            p.requires_grad_(flag)


def _seed_state(stacked_state: dict, s: int) -> dict:
    """Seed s's optimizer state dict from the stacked optimizer's: per-parameter tensors sliced, the step kept."""
    state = {
        idx: {k: (v[s].clone() if torch.is_tensor(v) and v.dim() > 0 else copy.deepcopy(v)) for k, v in st.items()}
        for idx, st in stacked_state["state"].items()
    }
    return {"state": state, "param_groups": copy.deepcopy(stacked_state["param_groups"])}


def _stacked_state(seed_states: list[dict]) -> dict:
    """The stacked optimizer's state dict from the seeds' (inverse of `_seed_state`)."""
    first = seed_states[0]
    state = {}
    for idx, st in first["state"].items():
        state[idx] = {}
        for k, v in st.items():
            values = [ss["state"][idx][k] for ss in seed_states]
            if torch.is_tensor(v) and v.dim() > 0:
                state[idx][k] = torch.stack(values)
            elif any(not torch.equal(torch.as_tensor(x), torch.as_tensor(v)) for x in values):
                raise ValueError(f"The seeds' optimizer states disagree on {k!r}; they cannot be packed.")
            else:
                state[idx][k] = v
    return {"state": state, "param_groups": copy.deepcopy(first["param_groups"])}


class PackedTrainer:
    """The seeds of one configuration (`configs` differ in train.seed alone) trained as one packed model."""

    def __init__(
        self,
        configs: list[Config],
        *,
        data: list[ImageData] | None = None,
        out_dirs: list[str | os.PathLike | None] | None = None,
    ):
        if not configs:
            raise ConfigError("A pack needs at least one config.")
        resolved = [c.resolve() for c in configs]
        shared = [{k: v for k, v in flatten(c.to_dict()).items() if k != "train.seed"} for c in resolved]
        for c, keys in zip(resolved[1:], shared[1:]):
            differ = sorted(k for k in keys.keys() | shared[0].keys() if keys.get(k) != shared[0].get(k))
            if differ:
                raise ConfigError(f"The configs of a pack may differ in train.seed alone; seed {c.train.seed} "
                                  f"differs in {', '.join(differ[:5])}.")
        seeds = [c.train.seed for c in resolved]
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"The seeds of a pack must differ; got {seeds}.")
        why = pack_refusal(resolved[0])
        if why:
            raise ConfigError(f"These seeds cannot be packed: {why}. Train them as separate runs.")
        data = data or [None] * len(resolved)
        out_dirs = out_dirs or [None] * len(resolved)
        self.trainers = [Trainer(c, data=d, out_dir=o) for c, d, o in zip(resolved, data, out_dirs)]
        first = self.trainers[0]
        if first.precision != "fp32":  # train.precision: auto, resolved for this device
            raise ConfigError("These seeds cannot be packed: train.precision auto resolves to bf16 here, which a "
                              "pack does not run; set train.precision: fp32.")
        if len({t.total_steps for t in self.trainers}) > 1:
            raise ConfigError("The seeds' subsets give different numbers of iterations; they cannot be packed.")
        for t in self.trainers:  # the layout the pack computes in, which each seed's sampling then uses too
            t.channels_last = False
            t.G.to(memory_format=torch.contiguous_format)
            t.D.to(memory_format=torch.contiguous_format)
        self.config = first.config
        self.loss = first.loss
        self.G = _Stacked([t.G for t in self.trainers])
        self.D = _Stacked([t.D for t in self.trainers])
        o = self.config.optim
        self.opt_g = first.optimizer(self.G.parameters(), o.g_lr, o.g_betas)
        self.opt_d = first.optimizer(self.D.parameters(), o.d_lr, o.d_betas)
        for s, t in enumerate(self.trainers):  # a seed's own save() writes its part of the pack, optimizer included
            t.state_dict = functools.partial(self._seed_state_dict, s)

    @property
    def seeds(self) -> list[int]:
        return [t.config.train.seed for t in self.trainers]

    # -- compute ---------------------------------------------------------------------------

    def _batches(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each seed's next real batch, its labels and its noise, drawn as its own run draws them, stacked."""
        reals, labels, noise = [], [], []
        for t in self.trainers:
            real, y = t.batches.next()
            reals.append(real)
            labels.append(y)
            noise.append(t.sampler.noise(real.shape[0], t.gen))
        return torch.stack(reals), torch.stack(labels), torch.stack(noise)

    def train_step(self) -> list[dict[str, torch.Tensor]]:
        """One generator update after n_critic discriminator updates, for every seed at once (`Trainer.train_step`)."""
        loss, G, D = self.loss, self.G, self.D
        conditional = self.config.model.conditional
        n_critic = self.config.train.n_critic
        autocast = self.trainers[0].autocast

        def fake_images(pg, bg, z, y):
            return functional_call(G.shell, (pg, bg), (z, y if conditional else None))

        def critic(pd, bd):  # one seed's D, as the losses call it
            return lambda x, yy: functional_call(D.shell, (pd, bd), (x, yy))

        def d_loss(pd, bd, real, fake, y):
            return loss.discriminator_loss(critic(pd, bd), real, fake, y if conditional else None, None)

        def g_loss(pg, bg, pd, bd, z, y):
            return loss.generator_loss(critic(pd, bd), fake_images(pg, bg, z, y), y if conditional else None)

        sums: dict[str, torch.Tensor] = {}
        D.requires_grad_(True)
        for _ in range(n_critic):
            real, y, z = self._batches()
            with torch.no_grad(), autocast():
                fake = vmap(fake_images)(G.params, G.buffers, z, y)
            with autocast():
                losses, stats = vmap(d_loss)(D.params, D.buffers, real, fake, y)
            self.opt_d.zero_grad(set_to_none=True)
            losses.sum().backward()  # each seed's loss reaches its own weights alone
            self.opt_d.step()
            loss.after_discriminator_step(D)
            stats["loss_d"] = losses.detach()
            for k, v in stats.items():
                sums[k] = sums[k] + v if k in sums else v
        D.requires_grad_(False)
        z = torch.stack([t.sampler.noise(real.shape[1], t.gen) for t in self.trainers])
        with autocast():
            g_losses, g_stats = vmap(g_loss)(G.params, G.buffers, D.params, D.buffers, z, y)
        self.opt_g.zero_grad(set_to_none=True)
        g_losses.sum().backward()
        self.opt_g.step()
        out = {k: v / n_critic for k, v in sums.items()}
        out.update(g_stats)
        out["loss_g"] = g_losses.detach()
        return [{k: v[s].float() for k, v in out.items()} for s in range(len(self.trainers))]

    def run(self, reports: list[Callable[[Report], None] | None] | None = None) -> list[TrainResult]:
        """Train every seed until total_steps; each seed reports to its own `reports[i]` as a separate run does."""
        return run_loop(self.trainers, self.train_step, reports or [None] * len(self.trainers))

    # -- checkpoints -----------------------------------------------------------------------

    def _seed_state_dict(self, s: int) -> dict:
        """Seed s's checkpoint, an ordinary `Trainer` one: its weights copied out of the stacked tensors (a view
        would carry every seed's storage into the file) and its optimizer states cut from the stacked ones."""
        state = Trainer.state_dict(self.trainers[s])
        for net in ("G", "D"):
            state[net] = {k: v.clone() for k, v in state[net].items()}
        state["opt_g"] = _seed_state(self.opt_g.state_dict(), s)
        state["opt_d"] = _seed_state(self.opt_d.state_dict(), s)
        return state

    def state_dicts(self) -> list[dict]:
        """One ordinary `Trainer` checkpoint per seed (`Trainer.state_dict` of each seed's trainer is the same)."""
        return [self._seed_state_dict(s) for s in range(len(self.trainers))]

    def load_state_dicts(self, states: list[dict]) -> None:
        """Resume from one checkpoint per seed, written by a pack or by separate runs at the same step."""
        if len({int(s["step"]) for s in states}) > 1:  # e.g. a seed that diverged, and ended, before the others
            raise ValueError("The seeds' checkpoints are at different steps; they cannot resume as one pack "
                             "(resume each as a separate run).")
        for t, state in zip(self.trainers, states, strict=True):
            t.load_state_dict(state)  # the weights and statistics land in the stacked tensors (views)
            if t.precision != "fp32":
                raise ConfigError(f"The checkpoint of seed {t.config.train.seed} was trained in {t.precision}, "
                                  "which a pack does not run; resume it as a separate run.")
            t.opt_g.state.clear()  # the seed's own optimizers are not stepped: the pack's hold its state
            t.opt_d.state.clear()
        self.opt_g.load_state_dict(_stacked_state([s["opt_g"] for s in states]))
        self.opt_d.load_state_dict(_stacked_state([s["opt_d"] for s in states]))

    def save(self, paths: list[str | os.PathLike]) -> list[Path]:
        return [Trainer.save_state(state, path) for state, path in zip(self.state_dicts(), paths, strict=True)]

    def load(self, paths: list[str | os.PathLike]) -> None:
        self.load_state_dicts([torch.load(p, map_location="cpu", weights_only=True) for p in paths])
