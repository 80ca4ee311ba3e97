"""One Tune trial: a `gan.Trainer` run whose reports become Tune results with checkpoints.

A result is reported only at an evaluation, and always carries the sweep metric, so ASHA and the
searcher never see a result without it. `evaluation` (1, 2, ...) is the scheduler's time attribute.
Each result carries a checkpoint (trainer state + that evaluation's sample grid), so a trial that
fails or is restored resumes from its last evaluation. The trial's config is a `TrialRequest`.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import torch
from ray import tune

from gan.metrics import Evaluator
from gan.train import Report, Trainer
from record.names import Result
from sweeps.contract import CHECKPOINT_FILE, GRID_PREFIX, STORAGE_FAULT, StorageFault, TrialRequest, storage_fault_cause

__all__ = ["report_with_checkpoint", "run_trial"]


def report_with_checkpoint(result: dict, evaluation: int, fill) -> None:
    """One Tune result with a checkpoint: `fill(folder)` writes the checkpoint's files into a temporary folder that
    Tune copies to the sweep's storage. A full or read-only storage stops the sweep (StorageFault) rather than the
    trial being retried into the same wall."""
    try:
        with tempfile.TemporaryDirectory() as d:
            fill(Path(d))
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(d))
    except OSError as e:
        cause = storage_fault_cause(e)
        if cause is None:
            raise
        raise StorageFault(f"{STORAGE_FAULT}: the checkpoint of evaluation {evaluation} could not be written to the "
                           f"sweep's storage (or the local temporary folder {tempfile.gettempdir()}): {cause} "
                           f"({e})") from e


def run_trial(config: dict) -> None:
    """Tune function trainable; `config` is a `TrialRequest` as Tune passes it."""
    req = TrialRequest.from_trial_config(config)
    torch.set_num_threads(max(1, int(req.threads)))
    cfg = req.training_config()
    eval_cfg = req.eval_config()
    final_n = req.final_num_samples or eval_cfg.num_samples

    workdir = Path(tempfile.mkdtemp(prefix="gansweep-trial-"))
    try:
        trainer = Trainer(cfg, out_dir=workdir)
        evaluator = Evaluator(eval_cfg, cfg.data, conditional=cfg.model.conditional)
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as d:
                trainer.load(Path(d) / CHECKPOINT_FILE)

        def report(r: Report) -> None:
            result = {**r.metrics, Result.STEP: r.step, Result.EPOCH: r.epoch, Result.EVALUATION: r.evaluation,
                      Result.TOTAL_STEPS: r.total_steps, Result.IS_FINAL: 0.0, Result.DIVERGED: 0.0}
            if r.diverged:
                result.update({req.metric: math.inf if req.mode == "min" else -math.inf, Result.DIVERGED: 1.0})
                tune.report(result)
                return
            result.update(evaluator.evaluate(trainer.generate, num_samples=final_n if r.final else None))
            result[Result.IS_FINAL] = float(r.final)
            def fill(d: Path) -> None:
                trainer.save(d / CHECKPOINT_FILE)
                if r.grid_path is not None:
                    shutil.copy2(r.grid_path, d / f"{GRID_PREFIX}{r.grid_path.name}")

            report_with_checkpoint(result, r.evaluation, fill)

        trainer.run(report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
