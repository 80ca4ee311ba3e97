"""Seed packing: the training steps of S seeds as one packed model (gan.packed) against S separate trainers.

Both sides train the same configuration (DCGAN, BCE, latent 100, Fashion-MNIST, fp32 in the contiguous layout)
from the same seeds, on the same thread count, timed side by side in interleaved rounds so that the machine's
slow spells hit both; the figure is seed-steps per second (each seed's generator updates, summed), so a ratio
above 1 means the pack trains a configuration's seeds faster on this device than running them one after
another. One thread is one trial's share of a CPU sweep (each trial is given one CPU).

    python benchmarks/packing.py [--seeds 4] [--widths 8 16 32 64] [--batch-size 32] [--steps 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from machine import cpu_model  # benchmarks/, the script's own folder
from gan import Config, Trainer
from gan.packed import PackedTrainer


def config(width: int, batch: int, seed: int, device: str) -> Config:
    return Config.from_dict({
        "data": {"name": "fashion_mnist"},
        "model": {"arch": "dcgan", "latent_dim": 100, "g_width": width, "d_width": width},
        "train": {"iterations": 10**6, "batch_size": batch, "seed": seed, "precision": "fp32",
                  "channels_last": False, "device": device},
    })


def seed_steps_per_second(step, seeds: int, steps: int, device: torch.device) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return seeds * steps / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = range(args.seeds)
    print(f"CPU: {cpu_model()}")
    print(f"device {args.device}, {torch.get_num_threads()} thread(s); {args.seeds} seeds, batch {args.batch_size}; "
          f"best of {args.rounds} interleaved rounds of {args.steps} steps after 3 warm-up steps")
    print("| G/D width | separate (seed-steps/s) | packed (seed-steps/s) | packed / separate |")
    print("|---|---|---|---|")
    for w in args.widths:
        separate = [Trainer(config(w, args.batch_size, s, args.device)) for s in seeds]
        pack = PackedTrainer([config(w, args.batch_size, s, args.device) for s in seeds])
        device = pack.trainers[0].device
        sides = {
            "separate": lambda: [t.train_step() for t in separate],
            "packed": pack.train_step,
        }
        for step in sides.values():
            seed_steps_per_second(step, args.seeds, 3, device)
        best = dict.fromkeys(sides, 0.0)
        for _ in range(args.rounds):
            for name, step in sides.items():
                best[name] = max(best[name], seed_steps_per_second(step, args.seeds, args.steps, device))
        print(f"| {w} | {best['separate']:.1f} | {best['packed']:.1f} | {best['packed'] / best['separate']:.2f}x |",
              flush=True)


if __name__ == "__main__":
    main()
