"""Train one GAN from a YAML config: `python -m gan [CONFIG.yaml] [--out DIR] [--set KEY=VALUE ...] [--dry-run]`.

Without a config file it trains the built-in quick-start model (a small conditional DCGAN on
Fashion-MNIST). The resolved config is written to OUT/config.yaml before training starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from gan.config import Config, ConfigError
from gan.data import DataNotFoundError
from record.status import Status
from gan.train import Report, Trainer

QUICKSTART = {
    "data": {"name": "fashion_mnist", "download": True},
    "model": {"arch": "dcgan", "conditional": True, "latent_dim": 32, "g_width": 32, "d_width": 32},
    "loss": {"name": "bce", "label_smoothing": 0.1},
    "train": {"iterations": 600, "eval_every": 200, "batch_size": 64},
}


def _set(raw: dict, assignment: str) -> None:
    key, sep, value = assignment.partition("=")
    if not sep:
        raise ConfigError(f"--set expects KEY=VALUE (e.g. model.latent_dim=16), got {assignment!r}.")
    *parents, leaf = key.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = yaml.safe_load(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan", description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", help="YAML training config (default: the built-in quick-start)")
    parser.add_argument("--out", default="runs/train", help="output folder for samples, checkpoint and config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    args = parser.parse_args(argv)
    try:
        if args.config:
            with open(args.config) as f:
                raw = yaml.safe_load(f) or {}
        else:
            raw = json.loads(json.dumps(QUICKSTART))
        for assignment in args.set:
            _set(raw, assignment)
        cfg = Config.from_dict(raw).resolve()
    except (ConfigError, OSError, yaml.YAMLError) as e:
        print(f"error: {args.config or 'built-in config'}: {e}", file=sys.stderr)
        return 2
    resolved = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    if args.dry_run:
        print(resolved, end="")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(resolved)
    try:
        trainer = Trainer(cfg, out_dir=out)
    except DataNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"training {cfg.model.arch} ({cfg.loss.name}) on {trainer.data.info.title}: "
          f"{len(trainer.data)} images, {trainer.total_steps} iterations, device {trainer.device}")

    def report(r: Report) -> None:
        m = r.metrics
        extra = f" W={m['wasserstein']:.3f}" if "wasserstein" in m else ""
        print(
            f"step {r.step:>6}/{r.total_steps} epoch {r.epoch:5.2f}  loss_d {m['loss_d']:.3f} loss_g {m['loss_g']:.3f} "
            f"D(x) {m['d_real']:.3f} D(G(z)) {m['d_fake']:.3f}{extra}  {m['iters_per_sec']:.1f} it/s"
            + (f"  -> {r.grid_path}" if r.grid_path else ""),
            flush=True,
        )

    result = trainer.run(report)
    trainer.save(out / "checkpoint.pt")
    print(f"{result.status} at step {result.step}; checkpoint {out / 'checkpoint.pt'}")
    return 0 if result.status == Status.COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main())
