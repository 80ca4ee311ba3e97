"""The names the layers share in MLflow and in Tune results: tags, roles, run statuses and param prefixes.

The sweep service writes runs with these names; the report and the studies find and read runs by them.
A name here is the literal MLflow stores, so changing one is a change of format.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = [
    "BASE_PARAM",
    "ERROR",
    "EVALUATION",
    "GIT_COMMIT",
    "LAST_EVALUATION",
    "NODE",
    "NOTE",
    "PARENT",
    "ROLE",
    "ROLE_SWEEP",
    "ROLE_TRIAL",
    "Result",
    "RunStatus",
    "SPEC_FILE",
    "SPEC_PARAM",
    "SPEC_PARAMETERS",
    "STATUS",
    "SWEEP_ID",
    "SWEPT",
    "SWEPT_PARAM",
    "TRAINING_CURVES",
    "TRIAL_ID",
    "BASE_CONFIG",
    "SEED",
    "by_role",
    "configuration_label",
    "run_name",
    "short_names",
]

# -- tags ----------------------------------------------------------------------------------------
ROLE = "role"  # what a run is: ROLE_SWEEP (a sweep's parent run), ROLE_TRIAL, or a study's own role
SWEEP_ID = "sweep_id"  # the sweep a run belongs to (record.folder.SweepState.sweep_id)
TRIAL_ID = "trial_id"  # Tune's trial id of a trial run
STATUS = "status"  # a trial's record.status.Status value (MLflow's own run status says less: it has no "pruned")
SWEPT = "swept"  # a trial's swept values as text, for MLflow's search box
LAST_EVALUATION = "last_evaluation"  # the last evaluation a trial reached
ERROR = "error"  # why an errored trial failed, in one line (its exception)
NODE = "node_hostname"  # the machine a trial trained on
GIT_COMMIT = "git_commit"
SPEC_FILE = "spec_file"
PARENT = "mlflow.parentRunId"  # MLflow's own: nests a trial's run under its sweep's
NOTE = "mlflow.note.content"  # MLflow's own: the description its UI shows on an experiment's or a run's page

ROLE_SWEEP = "sweep"
ROLE_TRIAL = "trial"

# -- params --------------------------------------------------------------------------------------
# a trial's params are its resolved config's flattened keys (`model.g_width`, ...), typed (record.params);
# the parent run's are the spec's settings under SPEC_PARAM and the base config under BASE_PARAM
SPEC_PARAM = "spec."
BASE_PARAM = "base."
SPEC_PARAMETERS = SPEC_PARAM + "parameters"  # the swept keys in the spec's order, comma-separated
SWEPT_PARAM = "swept."  # a trial's level of each factor (`swept.model.g_width`, `swept.ablation`), typed

# -- results -------------------------------------------------------------------------------------
EVALUATION = "evaluation"  # the counter of evaluations in a trial's results and metrics


class Result:
    """Keys of a trial's result (and its MLflow metrics) besides its training curves and metric outputs."""

    STEP = "step"  # generator iterations done
    EPOCH = "epoch"
    EVALUATION = EVALUATION  # 1, 2, ...: the scheduler's time attribute
    TOTAL_STEPS = "total_steps"
    WALL_TIME = "wall_time_s"  # seconds of training so far, compiling left out
    COMPILE_TIME = "compile_time_s"  # seconds torch.compile took, for a compiled trainer
    # `train.precision: auto` as it resolved on the trial's machine: 1.0 bf16, 0.0 fp32 (only for auto)
    TRAINED_BF16 = "trained_bf16"
    IS_FINAL = "is_final"  # 1.0 on the run's last evaluation (its whole budget trained)
    DIVERGED = "diverged"  # 1.0 when a loss became NaN or inf; the metric is then the worst value
    FLAGS = (IS_FINAL, DIVERGED)  # bookkeeping, not metrics

# the training loop's curves, logged at every evaluation beside the metrics (a loss a run does not have is absent)
TRAINING_CURVES = ("loss_d", "loss_g", "d_real", "d_fake", "wasserstein", "gradient_penalty", "loss_cls")


class RunStatus:
    """MLflow's run statuses (mlflow.entities.RunStatus names), as the client takes and returns them."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


def by_role(role: str, **tags: str) -> str:
    """An MLflow search filter for the runs of one role with the given tags, e.g.
    `by_role(ROLE_TRIAL, sweep_id=...)`. Values are quoted; none may hold a quote (ids and roles do not)."""
    parts = {ROLE: role, **tags}
    for k, v in parts.items():
        assert "'" not in str(v), (k, v)
    return " and ".join(f"tags.{k} = '{v}'" for k, v in parts.items())


SEED = "train.seed"  # the swept key that makes a trial a replicate of its configuration, not another one
BASE_CONFIG = "base config"  # the name of the one configuration of a sweep that sweeps nothing


def short_names(keys) -> list[str]:
    """Each dotted key by its last part (`model.g_width` -> `g_width`), or whole where two share a last part."""
    keys = list(keys)
    short = [k.rsplit(".", 1)[-1] for k in keys]
    return [s if short.count(s) == 1 else k for s, k in zip(short, keys)]


def configuration_label(levels: Mapping[str, Any]) -> str:
    """A configuration by its swept levels, seed left out: `g_width=32, d_width=8`. The one label the race, the
    adaptive seeds' record, the report and the console's summary key configurations by."""
    from record.design import level_label  # the design owns how a level is written

    kept = {k: v for k, v in levels.items() if k != SEED}
    return ", ".join(f"{n}={level_label(v)}" for n, v in zip(short_names(kept), kept.values())) or BASE_CONFIG


def run_name(swept: dict) -> str:
    """A trial's name from its swept values, seed included, by `short_names` (`g_width=32 seed=0`): its MLflow
    run's name, and how the console names it."""
    return " ".join(f"{n}={_short_value(v)}" for n, v in zip(short_names(swept), swept.values()))[:250] or BASE_CONFIG


def _short_value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
