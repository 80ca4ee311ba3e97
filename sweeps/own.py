"""One Tune trial of the user's own training function (a spec's `trainable:`; docs/your_code.md).

The function is called as `run(config, reporter)`: `config` is the trial's config (the spec's `config` with the
trial's swept values set, and its seed as `config["seed"]`), and every `reporter.report(step=..., **metrics,
checkpoint=folder)` becomes a Tune result, as the built-in trainer's evaluations do: it carries the sweep's metric,
counts the evaluation (1, 2, ... up to `evaluations`, the last one final) and, with a folder, a checkpoint of it.
`reporter.restore_from` is the folder of the checkpoint the trial resumes from (after a crash, or a `--resume`),
or None for a fresh start. A report whose metric is NaN or infinite marks the trial diverged and ends it.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from ray import tune

from record.names import Result
from sweeps.contract import TrialRequest
from sweeps.specfile._own import load_function
from sweeps.trainable import report_with_checkpoint

__all__ = ["OwnTrialError", "Reporter", "run_own_trial"]

STATE_FILE = "gansweep_reporter.json"  # inside each checkpoint: the evaluations counted so far


class OwnTrialError(RuntimeError):
    """The user's function broke the reporting contract; the message says how."""


class Diverged(BaseException):
    """Raised out of `report` to end the user's function when its metric is not finite (a BaseException, so that
    the function's own `except Exception:` does not catch it and train on)."""


class Reporter:
    """What the user's function reports through; `restore_from`: the checkpoint folder to resume from, or None."""

    def __init__(self, req: TrialRequest, restore_from: Path | None, done: int):
        self._req = req
        self.restore_from = restore_from
        self.evaluation = done  # evaluations reported so far (a restored trial goes on from its checkpoint's)

    def report(self, step: int, checkpoint: str | Path | None = None, **metrics: float) -> None:
        """One evaluation: the metrics at training step `step`, and optionally a folder holding everything the
        function needs to continue from here (copied, so the function may reuse the folder)."""
        req = self._req
        if self.evaluation >= req.evaluations:
            raise OwnTrialError(f"the function reported more than the {req.evaluations} evaluations the spec's "
                                "`trainable.evaluations` says it makes.")
        if req.metric not in metrics:
            raise OwnTrialError(f"a report has no `{req.metric}`, the sweep's metric (it has: "
                                f"{', '.join(sorted(metrics)) or 'nothing'}).")
        values = {}
        for k, v in metrics.items():
            try:
                values[k] = float(v)
            except (TypeError, ValueError):
                raise OwnTrialError(f"reported `{k}` is {v!r}, not a number.") from None
        self.evaluation += 1
        diverged = not math.isfinite(values[req.metric])
        result = {**values, Result.STEP: int(step), Result.EVALUATION: self.evaluation,
                  Result.IS_FINAL: float(self.evaluation == req.evaluations and not diverged),
                  Result.DIVERGED: float(diverged)}
        if diverged:
            result[req.metric] = math.inf if req.mode == "min" else -math.inf
            tune.report(result)
            raise Diverged
        if checkpoint is None:
            tune.report(result)
            return
        def fill(d: Path) -> None:
            shutil.copytree(checkpoint, d, dirs_exist_ok=True)
            (d / STATE_FILE).write_text(json.dumps({"evaluation": self.evaluation, "step": int(step)}))

        report_with_checkpoint(result, self.evaluation, fill)


def run_own_trial(config: dict) -> None:
    """Tune function trainable for a spec with `trainable:`; `config` is a `TrialRequest` as Tune passes it."""
    req = TrialRequest.from_trial_config(config)  # imports the function's module, as a plugin
    fn = load_function(req.trainable)
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        _call(fn, req, None, 0)
        return
    with checkpoint.as_directory() as d:
        state = Path(d) / STATE_FILE
        done = json.loads(state.read_text())["evaluation"] if state.is_file() else 0
        if done >= req.evaluations:  # restored from its final checkpoint: it has finished, as Tune knows
            return
        _call(fn, req, Path(d), done)


def _call(fn, req: TrialRequest, restore_from: Path | None, done: int) -> None:
    reporter = Reporter(req, restore_from, done)
    try:
        fn(dict(req.config), reporter)
    except Diverged:
        return
    if reporter.evaluation < req.evaluations:
        raise OwnTrialError(f"the function returned after {reporter.evaluation} of the {req.evaluations} evaluations "
                            "the spec's `trainable.evaluations` says it makes.")
