"""Training throughput: gansweep's loop against a plain loop written the way the studies wrote theirs.

Both train the same DCGAN with the same BCE update on Fashion-MNIST at the same batch size, on the
CPU. The plain loop reads the data through torchvision's dataset class and a DataLoader, with
ToTensor/Normalize applied per image, as the studies did; gansweep decodes once into a uint8 tensor
on the device and slices batches from it. Prints iterations per second for both and their ratio.

`--levers` prints instead the training step under each precision and layout lever (`train.precision`,
`train.channels_last`, `train.compile`) at the main job's width and the studies' (G/D width, batch: 32/32, 64/64,
100/64), on one thread, every variant timed side by side in rounds so that machine noise hits all alike,
as a ratio to fp32 in the default layout, and then the training time of one smoke-scale main job (its
first round: every configuration at its initial seeds, from each configuration's step rate) at fp32 and
under channels-last + bf16. It runs on CUDA unchanged when a GPU is present (`--device`).

    python benchmarks/train_throughput.py [--iterations 200] [--batch-size 64] [--width 32]
    python benchmarks/train_throughput.py --levers [--steps 60] [--rounds 3] [--device auto]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T

from machine import cpu_model  # benchmarks/, the script's own folder
from gan import Config, Trainer
from gan.data import DATASETS, locate_dataset

MAIN_JOB = Path(__file__).resolve().parents[1] / "search_spaces" / "hidden_dims.yaml"


def plain_loop(trainer: Trainer, folder: Path, iterations: int, batch_size: int, workers: int) -> float:
    """The studies' pattern: torchvision dataset + DataLoader + per-image transforms, models from the same trainer."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for f in folder.glob("*-ubyte*"):  # torchvision wants the decompressed IDX files
            data = f.read_bytes()
            (raw / f.name.removesuffix(".gz")).write_bytes(gzip.decompress(data) if f.suffix == ".gz" else data)
        ds = torchvision.datasets.FashionMNIST(
            tmp, train=True, download=False, transform=T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
        )
        loader = torch.utils.data.DataLoader(
            ds, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers
        )
        G, D, opt_g, opt_d = trainer.G, trainer.D, trainer.opt_g, trainer.opt_d
        latent = trainer.config.model.latent_dim
        D.requires_grad_(True)  # the studies' loops left D's gradients on during the generator step
        done = 0
        start = time.perf_counter()
        while done < iterations:
            for x, y in loader:
                z = torch.randn(x.shape[0], latent)
                fake = G(z, y)
                d_real, d_fake = D(x, y), D(fake.detach(), y)
                loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
                    F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
                opt_d.zero_grad()
                loss_d.backward()
                opt_d.step()
                out = D(fake, y)
                loss_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
                opt_g.zero_grad()
                loss_g.backward()
                opt_g.step()
                done += 1
                if done == iterations:
                    break
        return iterations / (time.perf_counter() - start)


def gansweep_loop(trainer: Trainer, iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        trainer.train_step()
    return iterations / (time.perf_counter() - start)


LEVERS = {"fp32": ("fp32", False, False), "bf16": ("bf16", False, False), "channels_last": ("fp32", True, False),
          "channels_last + bf16": ("bf16", True, False), "compiled": ("fp32", False, True),
          "compiled + channels_last + bf16": ("bf16", True, True),
          "channels_last + fp16": ("fp16", True, False),  # fp16 is made for CUDA's units; on CPU it shows its cost
          "auto": ("auto", "auto", False)}  # what `auto` picks on this machine (gan.numerics)
SHAPES = (
    (32, 32),
    (64, 64),
    (100, 64),
)  # (G/D width, batch): the main job's best, the studies' default, hidden_dims at full scale


def lever_trainer(width: int, batch: int, lever: str, device: str) -> Trainer:
    precision, channels_last, compiled = LEVERS[lever]
    return Trainer(Config.from_dict({
        "data": {"name": "fashion_mnist"},
        "model": {"arch": "dcgan", "latent_dim": 100, "g_width": width, "d_width": width},
        "loss": {"name": "bce"},
        "train": {"iterations": 1000, "batch_size": batch, "device": device, "precision": precision,
                  "channels_last": channels_last, "compile": compiled},
    }))


def steps_per_second(trainer: Trainer, steps: int) -> float:
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    sync()
    return steps / (time.perf_counter() - start)


def best_rates(trainers: dict, steps: int, rounds: int) -> dict:
    """Each trainer's best steps per second over `rounds` rounds of `steps` steps, after 5 warm-up steps."""
    for t in trainers.values():
        steps_per_second(t, 5)  # warm-up: allocator, kernels, oneDNN's primitive cache
    best = {k: 0.0 for k in trainers}
    for _ in range(rounds):  # every variant once per round, so slow spells of the machine hit all of them
        for k, t in trainers.items():
            best[k] = max(best[k], steps_per_second(t, steps))
    return best


def lever_table(steps: int, rounds: int, device: str) -> None:
    torch.set_num_threads(1)
    trainers = {(w, b, lv): lever_trainer(w, b, lv, device) for w, b in SHAPES for lv in LEVERS}
    compile_s = {}
    for k, t in trainers.items():
        start = time.perf_counter()
        steps_per_second(t, 1)  # a compiled trainer compiles G and D here
        compile_s[k] = time.perf_counter() - start
    best = best_rates(trainers, steps, rounds)
    dev = next(iter(trainers.values())).device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    auto = next(t for (_, _, lv), t in trainers.items() if lv == "auto")
    print(f"CPU: {cpu_model()}")
    print(f"device {name}, {torch.get_num_threads()} thread(s); DCGAN, BCE, latent 100, Fashion-MNIST; "
          f"best of {rounds} rounds of {steps} steps after 5 warm-up steps; auto here: precision {auto.precision}, "
          f"channels_last {auto.channels_last}")
    print("| G/D width, batch | " + " | ".join(LEVERS) + " |")
    print("|---|" + "---|" * len(LEVERS))
    for w, b in SHAPES:
        base = best[(w, b, "fp32")]
        cells = [f"{base:.1f} it/s"] + [f"{best[(w, b, lv)] / base:.2f}x" for lv in list(LEVERS)[1:]]
        print(f"| {w}, {b} | " + " | ".join(cells) + " |")
    compiled = [lv for lv in LEVERS if LEVERS[lv][2]]
    print("first step of the compiled variants (compiling G and D): " + "; ".join(
        f"{w}/{b} " + ", ".join(f"{compile_s[(w, b, lv)]:.1f} s" for lv in compiled) for w, b in SHAPES))


def main_job_sum(steps: int, rounds: int, device: str) -> None:
    """The training steps of one smoke-scale main job, summed over its first round's trials, at fp32 and under
    channels-last + bf16: every configuration's step rate (best of `rounds`) times its steps and seeds."""
    from sweeps.specfile import load_spec

    spec = load_spec(MAIN_JOB, scale="smoke")
    seeds = spec.adaptive.initial if spec.adaptive else len(spec.seeds)
    variants = {"fp32": {}, "channels_last + bf16": {"train.precision": "bf16", "train.channels_last": True}}
    trainers = {(i, v): Trainer(spec.config_for({**c, **over, "train.device": device}))
                for i, c in enumerate(spec.configurations()) for v, over in variants.items()}
    best = best_rates(trainers, steps, rounds)
    total = {v: sum(seeds * t.total_steps / best[(i, v)] for (i, v2), t in trainers.items() if v2 == v)
             for v in variants}
    print(f"main job ({MAIN_JOB.name} smoke, first round: {len(spec.configurations())} configurations x {seeds} "
          f"seeds x {next(iter(trainers.values())).total_steps} steps), training steps alone: fp32 "
          f"{total['fp32']:.0f} s, channels_last + bf16 {total['channels_last + bf16']:.0f} s "
          f"({total['fp32'] / total['channels_last + bf16']:.2f}x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--width", type=int, default=32, help="g_width = d_width of the DCGAN")
    p.add_argument(
        "--workers", type=int, default=0, help="DataLoader workers of the plain loop (the studies mostly used 0)"
    )
    p.add_argument("--levers", action="store_true", help="the precision and layout levers' table instead")
    p.add_argument("--steps", type=int, default=60, help="with --levers: steps per timing")
    p.add_argument("--rounds", type=int, default=3, help="with --levers: rounds of every variant")
    p.add_argument("--device", default="auto", help="with --levers: cpu, cuda or auto")
    args = p.parse_args()
    if args.levers:
        lever_table(args.steps, args.rounds, args.device)
        main_job_sum(args.steps, args.rounds, args.device)
        return

    def make() -> Trainer:
        return Trainer(Config.from_dict({
            "data": {"name": "fashion_mnist"},
            "model": {"arch": "dcgan", "conditional": True, "g_width": args.width, "d_width": args.width},
            "train": {"iterations": args.iterations, "batch_size": args.batch_size, "device": "cpu"},
        }))

    folder = locate_dataset(Config.from_dict({"train": {"iterations": 1}}).data, DATASETS.get("fashion_mnist"))
    warm = make()
    gansweep_loop(warm, 5)  # first-call overheads (allocator, kernels) out of the way
    plain_loop(warm, folder, 5, args.batch_size, args.workers)
    # side by side, alternating, so machine noise hits both
    ours, theirs = [], []
    for _ in range(2):
        ours.append(gansweep_loop(make(), args.iterations))
        theirs.append(plain_loop(make(), folder, args.iterations, args.batch_size, args.workers))
    a, b = max(ours), max(theirs)
    print(f"device cpu, {torch.get_num_threads()} threads, DCGAN width {args.width}, batch {args.batch_size}, "
          f"{args.iterations} iterations, best of 2")
    print(f"gansweep loop : {a:8.2f} it/s")
    print(
        f"plain loop    : {b:8.2f} it/s  (torchvision dataset + DataLoader, {args.workers} workers, ToTensor/Normalize)"
    )
    print(f"ratio         : {a / b:8.2f}x")


if __name__ == "__main__":
    main()
