"""One Tune trial: a `gan.Trainer` run whose reports become Tune results with checkpoints.

A result is reported only at an evaluation, and always carries the sweep metric, so ASHA and the
searcher never see a result without it. `evaluation` (1, 2, ...) is the scheduler's time attribute.
Each result carries a checkpoint (trainer state + that evaluation's sample grid), so a trial that
fails or is restored resumes from its last evaluation. The trial's config is a `TrialRequest`.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
from pathlib import Path

import torch
from ray import tune

from gan.metrics import Evaluator
from gan.train import Report, Trainer, run_loop
from record.names import SEED, Result
from sweeps.packs import PACK_FILE, PACK_FRESH, PACK_SEEDS, is_pack, pack_size, seed_config, seed_folder
from sweeps.contract import CHECKPOINT_FILE, GRID_PREFIX, STORAGE_FAULT, StorageFault, TrialRequest, storage_fault_cause

__all__ = ["report_with_checkpoint", "run_packed_trial", "run_trial"]


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


def _result(r: Report, req: TrialRequest, evaluator: Evaluator, generate, final_n: int) -> dict:
    """The Tune result of one report of a run: its training statistics, and its evaluation's metrics, or the sweep
    metric at its worst where the run diverged."""
    result = {**r.metrics, Result.STEP: r.step, Result.EPOCH: r.epoch, Result.EVALUATION: r.evaluation,
              Result.TOTAL_STEPS: r.total_steps, Result.IS_FINAL: 0.0, Result.DIVERGED: 0.0}
    if r.diverged:
        result.update({req.metric: math.inf if req.mode == "min" else -math.inf, Result.DIVERGED: 1.0})
        return result
    result.update(evaluator.evaluate(generate, num_samples=final_n if r.final else None))
    result[Result.IS_FINAL] = float(r.final)
    return result


def _fill(d: Path, trainer: Trainer, grid: Path | None) -> None:
    """A run's part of a checkpoint: its trainer's state, and its report's sample grid beside it."""
    d.mkdir(parents=True, exist_ok=True)
    trainer.save(d / CHECKPOINT_FILE)
    if grid is not None:
        shutil.copy2(grid, d / f"{GRID_PREFIX}{grid.name}")


def run_trial(config: dict) -> None:
    """Tune function trainable; `config` is a `TrialRequest` as Tune passes it, or a packed trial's (sweeps.packs)."""
    if is_pack(config):
        run_packed_trial(config)
        return
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
            result = _result(r, req, evaluator, trainer.generate, final_n)
            if r.diverged:
                tune.report(result)
                return
            report_with_checkpoint(result, r.evaluation, lambda d: _fill(d, trainer, r.grid_path))

        trainer.run(report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_packed_trial(config: dict) -> None:
    """A packed trial: every seed of one configuration trained as one packed model (gan.packed). Each report of
    a seed is evaluated as an unpacked trial's, and the seeds' reports at an evaluation go to Tune as one result
    (sweeps.packs) with one checkpoint, which holds each live seed's trainer checkpoint in its own folder. A seed
    that diverges between evaluations is reported with the next evaluation of the others (or at the end), so a
    pack, like a trial, is checkpointed at evaluations alone."""
    from gan.packed import PackedTrainer

    requests = [TrialRequest.from_trial_config(seed_config(config, i)) for i in range(pack_size(config))]
    first = requests[0]
    torch.set_num_threads(max(1, int(first.threads)))
    eval_cfg = first.eval_config()
    final_n = first.final_num_samples or eval_cfg.num_samples
    seed_of = [str(r.swept[SEED]) for r in requests]
    ended: dict[str, dict] = {}  # seed -> its last result (it diverged, or trained its whole budget)
    latest: dict[str, dict] = {}  # seed -> its latest result, which every report of the pack carries

    workdir = Path(tempfile.mkdtemp(prefix="gansweep-pack-"))
    try:
        checkpoint = tune.get_checkpoint()
        with checkpoint.as_directory() if checkpoint is not None else contextlib.nullcontext() as restored:
            if restored is not None:
                saved = json.loads((Path(restored) / PACK_FILE).read_text(encoding="utf-8"))
                ended, latest = saved["ended"], saved["latest"]
            live = [i for i, s in enumerate(seed_of) if s not in ended]
            if not live:
                return
            configs = [requests[i].training_config() for i in live]
            pack = PackedTrainer(configs, out_dirs=[workdir / seed_folder(seed_of[i]) for i in live])
            if restored is not None:
                pack.load([Path(restored) / seed_folder(seed_of[i]) / CHECKPOINT_FILE for i in live])
        evaluator = Evaluator(eval_cfg, configs[0].data, conditional=configs[0].model.conditional)
        pending: list[tuple[int, Report]] = []  # (index in the pack, report) not yet sent to Tune

        def flush(last: bool = False) -> None:
            """The pending reports as one Tune result of the pack, with one checkpoint: at an evaluation, or at
            the end (divergences alone wait for one)."""
            if not pending or not (last or any(not r.diverged for _, r in pending)):
                return
            fresh = {}
            for j, r in pending:
                seed = seed_of[live[j]]
                fresh[seed] = _result(r, requests[live[j]], evaluator, pack.trainers[j].generate, final_n)
                if r.final:  # its last report: it trained its budget, or diverged
                    ended[seed] = fresh[seed]
            latest.update(fresh)
            grids = {j: r.grid_path for j, r in pending}
            pending.clear()
            values = [res[first.metric] for res in fresh.values() if math.isfinite(res[first.metric])]
            worst = math.inf if first.mode == "min" else -math.inf
            result = {first.metric: sum(values) / len(values) if values else worst,  # what Tune itself reads
                      Result.EVALUATION: max(res[Result.EVALUATION] for res in fresh.values()),
                      Result.STEP: max(res[Result.STEP] for res in fresh.values()),
                      PACK_SEEDS: {s: dict(res) for s, res in latest.items()},
                      PACK_FRESH: {s: 1.0 for s in sorted(fresh)}}

            def fill(d: Path) -> None:
                # each seed that trains on, and each that ended at this report without diverging: its state
                for j, t in enumerate(pack.trainers):
                    seed = seed_of[live[j]]
                    if seed not in ended or (seed in fresh and not fresh[seed][Result.DIVERGED]):
                        _fill(d / seed_folder(seed), t, grids.get(j))
                (d / PACK_FILE).write_text(json.dumps({"ended": ended, "latest": latest}), encoding="utf-8")

            report_with_checkpoint(result, result[Result.EVALUATION], fill)

        def reporter(j: int):
            return lambda r: pending.append((j, r))

        run_loop(pack.trainers, pack.train_step, [reporter(j) for j in range(len(pack.trainers))], flush)
        flush(last=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
