"""The contract between a sweep's driver, its trials, its searcher and its tracker.

Each trial's training config is resolved once, on the driver (`SweepSpec.trial_config`): a grid's in
the param space (sweeps.space), a searcher's suggestion as it is made (sweeps.resolve.ResolvedTrials).
Tune carries it, with the rest of a `TrialRequest`, as the trial's config; the trainable reads it back
with `TrialRequest.from_trial_config`, and on the driver `sweeps.ledger.Ledger.request` does so once per trial
for the tracker, the console and the summary. A packed trial's grid value holds its seeds' values, each of
which is one seed's request (sweeps.packs). A trial reports `Result` keys at
every evaluation; `status_of` reads how a trial ended from its last result, once for every consumer.
How evaluations are counted lives with the training config (`TrainConfig.evaluation_at`)."""

from __future__ import annotations

import dataclasses
import errno
import os
import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

from ray.tune.search.repeater import TRIAL_INDEX

from gan.config import Config, merge_dotted
from gan.metrics import EvalConfig
from gan.registration import import_plugins
from record.names import SEED, Result
from record.status import Status

__all__ = [
    "CHECKPOINT_FILE",
    "GRID_PREFIX",
    "STORAGE_FAULT",
    "TRIAL",
    "TRIAL_INDEX",
    "StorageFault",
    "TrialRequest",
    "last_result",
    "trial_error",
    "status_of",
    "storage_fault_cause",
    "trial_storage_fault",
]

CHECKPOINT_FILE = "trainer.pt"  # the trainer's state inside each Tune checkpoint
GRID_PREFIX = "samples_"  # the evaluation's sample grid beside it, e.g. samples_step_0000300.png


STORAGE_FAULT = "storage fault"  # how a trial's error names a full or read-only storage, for the driver to find
_STORAGE_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                   errno.EROFS: "the file system is read-only"}
_STORAGE_PHRASES = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
                    "Read-only file system": errno.EROFS}


class StorageFault(OSError):
    """A checkpoint could not be written because its storage is full or read-only: the sweep stops,
    resumably, instead of retrying every trial into the same wall."""


def storage_fault_cause(error: BaseException) -> str | None:
    """The cause in words when `error` (or what it wraps) is a full or read-only storage, else None. Some
    storage layers keep only the message, so the message is read too."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS:
            return _STORAGE_ERRNOS[error.errno]
        for phrase, code in _STORAGE_PHRASES.items():
            if phrase in str(error):
                return _STORAGE_ERRNOS[code]
        error = error.__cause__ or error.__context__
    return None


def trial_storage_fault(trial) -> str | None:
    """The storage fault a Tune trial failed with (the line of its error file that names it), if any."""
    path = getattr(trial, "error_file", None)
    try:
        text = open(path, encoding="utf-8", errors="replace").read() if path else ""
    except OSError:
        return None
    lines = [line.strip() for line in text.splitlines() if f"{STORAGE_FAULT}:" in line]
    return lines[-1][lines[-1].index(STORAGE_FAULT):] if lines else None


_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*(?P<name>[A-Za-z_]\w*)(?:\((?P<cause>\w+)\))?: (?P<message>.+)$")
_BARE_EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)*(?P<name>[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Expired))$")
_FAILURE = "Failure # "  # the heading of each failure Tune appends to a trial's error file
MAX_ERROR_CHARS = 300


def trial_error(trial) -> str | None:
    """Why a Tune trial errored, in one line (`OwnTrialError: a report has no fid, ...`): the last exception
    line of the last failure in its error file (Tune's own, which holds the worker's traceback and appends one
    failure per try), or None where there is none."""
    path = getattr(trial, "error_file", None)
    try:
        with open(path, "rb") as f:  # the end of it: the last failure
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - (1 << 20)))
            text = f.read().decode("utf-8", errors="replace")
    except (OSError, TypeError):
        return None
    if _FAILURE in text:
        text = text[text.rindex(_FAILURE):].split("\n", 1)[-1]
    found = last = None
    for line in text.splitlines():
        if not line.strip() or line[:1] in (" ", "\t"):  # traceback frames and their source lines
            continue
        last = line.strip()
        m = _EXCEPTION_LINE.match(last)
        bare = None if m else _BARE_EXCEPTION.match(last)
        if m:
            found = f"{m['cause'] or m['name']}: {m['message'].strip()}"
        elif bare:
            found = bare["name"]
    found = found or last
    return found if found is None or len(found) <= MAX_ERROR_CHARS else found[:MAX_ERROR_CHARS - 3] + "..."


def last_result(trial) -> dict:
    """A Tune trial's last result as Tune knows it, or {} when it has none (Tune's placeholder then holds
    only ids). After a resume that is the result saved with the checkpoint the trial was restored from,
    which a driver sees no `on_trial_result` for: a trial restored from its final checkpoint ends at once."""
    last = trial.last_result or {}
    return last if Result.EVALUATION in last else {}


def status_of(last: Mapping[str, Any] | None) -> Status:
    """How a trial that Tune ended (completed or stopped by the scheduler) ended, from its last result."""
    if not last:
        return Status.NOT_STARTED
    if last.get(Result.DIVERGED):
        return Status.DIVERGED
    return Status.COMPLETED if last.get(Result.IS_FINAL) else Status.EARLY_STOPPED


def finished(last: Mapping[str, Any] | None) -> bool:
    """The trial trained its whole budget without diverging."""
    return status_of(last) == Status.COMPLETED


@dataclass(frozen=True)
class TrialRequest:
    config: dict  # the trial's training config, resolved on the driver (`SweepSpec.trial_config`), as a dict
    swept: dict  # its swept values, dotted (they name its MLflow run and its configuration)
    eval: dict  # the EvalConfig, as a dict
    metric: str
    mode: str  # "min" or "max"
    final_num_samples: int | None  # samples at the last evaluation (None: as the other evaluations)
    threads: int  # torch threads per trial (the trial's CPUs)
    plugins: tuple[str, ...] = ()  # modules the trial imports before it builds its config (sweeps.plugins)
    # its level of each factor, as the report's columns hold it (SweepSpec.factor_levels); {} in a sweep started by
    # an earlier release, whose report works its factors out from the params instead
    levels: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    trainable: str | None = None  # the user's own training function, `module:function` (sweeps.own); None: built-in
    evaluations: int = 0  # with `trainable`: the reports each trial makes

    @classmethod
    def from_trial_config(cls, config: Mapping[str, Any]) -> TrialRequest:
        """The request of one trial, from the config Tune gave it (a grid's trial comes as one value of
        the grid, under `TRIAL`)."""
        config = {**config, **config.get(TRIAL, {})}
        missing = {"swept", "eval", "metric", "mode"} - set(config)
        if missing or ("config" not in config and "base" not in config):
            raise KeyError(f"not a gansweep trial config: {sorted(missing) or ['config']} missing")
        names = {f.name for f in fields(cls)}
        given = {"final_num_samples": None, "threads": 1, **{k: v for k, v in config.items() if k in names}}
        given["plugins"] = tuple(given.get("plugins", ()))
        import_plugins(given["plugins"])  # before any config is built: they register the names it may use
        if "config" not in given:
            given.update(_from_earlier_release(config))
        return cls(**given)

    def named(self) -> dict:
        """What names the trial (its MLflow run, the console's lines): each factor's level, a variant by its name
        rather than the keys it sets, then a budget plan's setting, then the seed; a request without levels (an
        earlier release's) by its swept values."""
        if not self.levels:
            return dict(self.swept)
        out = {k: v for k, v in self.levels.items() if v is not None}
        out.update({k: v for k, v in self.swept.items() if k in BUDGET_KEYS and k not in out})
        if SEED in self.swept:
            out[SEED] = self.swept[SEED]
        return out

    def training_config(self) -> Config:
        return Config.from_dict(self.config)

    def eval_config(self) -> EvalConfig:
        return EvalConfig.from_dict(self.eval)


BUDGET_KEYS = ("train.epochs", "train.iterations", "train.max_seconds")  # what a budget plan sets
TRIAL = "trial"  # the param-space key a grid varies: {"swept": ..., "config": ...} per trial


def _from_earlier_release(config: Mapping[str, Any]) -> dict:
    """Kept so that a sweep started by an earlier release still resumes: its trial configs carry the raw
    base config, the swept values and, for Optuna's seed repeats, the seeds (the repeat index picks one),
    and the trial resolved its config itself."""
    swept = dict(config["swept"])
    if TRIAL_INDEX in config and config.get("seeds"):
        swept[SEED] = config["seeds"][int(config[TRIAL_INDEX])]
    return {"swept": swept, "config": Config.from_dict(merge_dotted(config["base"], swept)).resolve().to_dict()}
