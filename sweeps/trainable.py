"""One Tune trial: a `gan.Trainer` run whose reports become Tune results with checkpoints.

A result is reported only at an evaluation, and always carries the sweep metric, so ASHA and the
searcher never see a result without it. `evaluation` (1, 2, ...) is the scheduler's time attribute.
Each result carries a checkpoint (trainer state + that evaluation's sample grid), so a trial that
fails or is restored resumes from its last evaluation.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import torch
from ray import tune

from gan.config import Config
from gan.metrics import EvalConfig, Evaluator
from gan.train import Report, Trainer

__all__ = ["run_trial", "trial_values"]

SEEDS = "seeds"  # trial-config key: the spec's seeds, when Optuna repeats each configuration once per seed
REPEAT_INDEX = "__trial_index__"  # ray.tune.search.repeater.TRIAL_INDEX: which repeat of its configuration a trial is


def trial_values(config: dict) -> dict:
    """The trial's dotted overrides of the base config, its seed included: a repeat of an Optuna
    configuration takes the seed of its repeat index."""
    swept = dict(config.get("swept", {}))
    if REPEAT_INDEX in config and config.get(SEEDS):
        swept["train.seed"] = config[SEEDS][int(config[REPEAT_INDEX])]
    return swept


def run_trial(config: dict) -> None:
    """Tune function trainable. config: base (training config), swept (dotted overrides), eval, metric, mode,
    final_num_samples, threads[, seeds and the repeat index]."""
    from sweeps.spec import merge_dotted

    torch.set_num_threads(max(1, int(config.get("threads", 1))))
    cfg = Config.from_dict(merge_dotted(config["base"], trial_values(config)))
    eval_cfg = EvalConfig.from_dict(config["eval"])
    metric, mode = config["metric"], config["mode"]
    final_n = config.get("final_num_samples") or eval_cfg.num_samples

    workdir = Path(tempfile.mkdtemp(prefix="gansweep-trial-"))
    try:
        trainer = Trainer(cfg, out_dir=workdir)
        evaluator = Evaluator(eval_cfg, cfg.data, conditional=cfg.model.conditional)
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as d:
                trainer.load(Path(d) / "trainer.pt")
        eval_every = cfg.train.eval_every

        def report(r: Report) -> None:
            evaluation = math.ceil(r.step / eval_every)
            result = {**r.metrics, "step": r.step, "epoch": r.epoch, "evaluation": evaluation,
                      "total_steps": r.total_steps, "is_final": 0.0, "diverged": 0.0}
            if r.diverged:
                result.update({metric: math.inf if mode == "min" else -math.inf, "diverged": 1.0})
                tune.report(result)
                return
            final = r.final
            result.update(evaluator.evaluate(trainer.generate, num_samples=final_n if final else None))
            result["is_final"] = float(final)
            with tempfile.TemporaryDirectory() as d:
                trainer.save(Path(d) / "trainer.pt")
                if r.grid_path is not None:
                    shutil.copy2(r.grid_path, Path(d) / f"samples_{r.grid_path.name}")
                tune.report(result, checkpoint=tune.Checkpoint.from_directory(d))

        trainer.run(report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
