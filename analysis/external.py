"""Runs gansweep did not launch, read as a sweep, so that the report's verdicts reach them.

- `load_experiment`: any MLflow experiment whose runs logged the factors as params and the metric (plain
  `mlflow.log_param` / `mlflow.log_metric` calls are enough). Runs that share every factor's value are one
  configuration's seeds; `seed_param` names the param that tells them apart, where there is one.
- `load_optuna`: an Optuna study. Each completed trial is a run, its params are the factors (all of them
  unless some are named), its value is the metric; a `seed` user attribute or param marks replicates.

Runs that did not finish (an MLflow run not FINISHED, an Optuna trial not COMPLETE), or that lack the metric or
a factor, are left out, and the returned `Sweep.notes` say how many and why. Whatever cannot be analysed (no
such experiment or study, a factor never logged or at one level, a metric no run has) raises SweepNotFound with
what is there instead.
"""

from __future__ import annotations

import math
from collections import Counter

import pandas as pd

from analysis.load import Sweep, SweepNotFound
from analysis.stores import OPTUNA_TABLES, check_sqlite_store, mlflow_client
from record import params as typed
from record.metrics import metric_direction
from record.names import LAST_EVALUATION, ROLE, SEED, TRIAL_ID, Result
from record.status import Status
from record.uris import masked_text, shown

__all__ = ["REPORT_ROLE", "load_experiment", "load_optuna"]

REPORT_ROLE = "report"  # the role tag of the run a report of runs gansweep did not launch is logged to


def _mode(metric: str, mode: str | None) -> str:
    mode = mode or metric_direction(metric)
    if mode not in ("min", "max"):
        raise SweepNotFound(f"{metric!r} is not a metric gansweep knows the direction of: say whether lower or higher "
                            "is better with --mode min or --mode max.")
    return mode


def _frame(rows: list[dict], factors: list[str], metric: str, source: str, left_out: Counter) -> pd.DataFrame:
    """The finished runs with the metric and every factor; why the others were left out goes to `left_out`."""
    table = pd.DataFrame(rows)
    if table.empty:
        raise SweepNotFound(f"{source} has no runs.")
    for f in factors:
        if f not in table or table[f].isna().all():
            logged = sorted({k for r in rows for k in r.get("_params", ())})
            raise SweepNotFound(f"factor {f!r} is never logged in {source}; its runs log the params "
                                f"{', '.join(logged) or 'none'}.")
    if metric not in table or table[metric].isna().all():
        logged = sorted({k for r in rows for k in r.get("_metrics", ())})
        raise SweepNotFound(f"no run of {source} has the metric {metric!r}; its runs log "
                            f"{', '.join(logged) or 'none'}.")
    table = table.drop(columns=[c for c in ("_params", "_metrics") if c in table])
    ended = table["status"] == Status.COMPLETED
    left_out.update({"did not finish": int((~ended).sum())})
    has_metric = table[metric].map(lambda v: isinstance(v, (int, float)) and math.isfinite(v))
    left_out.update({f"no finite {metric}": int((ended & ~has_metric).sum())})
    complete = table[factors].notna().all(axis=1)
    left_out.update({"a factor not logged": int((ended & has_metric & ~complete).sum())})
    table.loc[ended & ~(has_metric & complete), "status"] = Status.ERROR
    finished = table[table["status"] == Status.COMPLETED]
    if finished.empty:
        raise SweepNotFound(f"{source}: no run finished with {metric} and every factor ({dict(left_out)}).")
    for f in factors:
        levels = finished[f].astype(str).unique()
        if len(levels) < 2:
            raise SweepNotFound(f"factor {f!r} has one level ({levels[0]}) among the finished runs of {source}: "
                                "nothing to compare.")
    return table


def _notes(left_out: Counter, total: int) -> list[str]:
    said = [f"{n} {why}" for why, n in left_out.items() if n]
    return [f"{sum(left_out.values())} of {total} runs left out: {', '.join(said)}."] if said else []


def load_experiment(experiment: str, factors: list[str], metric: str, *, tracking_uri: str | None = None,
                    seed_param: str | None = None, mode: str | None = None) -> Sweep:
    """An MLflow experiment's runs as a sweep of `factors` ranked by `metric`."""
    import mlflow

    tracking_uri = tracking_uri or mlflow.get_tracking_uri()
    client = mlflow_client(tracking_uri, "the tracking store (--tracking-uri)")
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments())
        raise SweepNotFound(f"No experiment {experiment!r} at {shown(tracking_uri)}; experiments there: "
                            f"{', '.join(names) or 'none'}.")
    mode = _mode(metric, mode)
    runs = [r for r in client.search_runs([exp.experiment_id], max_results=50000)
            if r.data.tags.get(ROLE) != REPORT_ROLE]
    rows, histories = [], []
    for r in runs:
        params = {k: typed.decode(v) for k, v in r.data.params.items()}
        history = client.get_metric_history(r.info.run_id, metric) if metric in r.data.metrics else []
        histories += [{"run_id": r.info.run_id, TRIAL_ID: r.info.run_id[:8], "metric": metric, "step": m.step,
                       "value": m.value, "timestamp": m.timestamp} for m in history]
        end = r.info.end_time or r.info.start_time
        row = {"run_id": r.info.run_id, TRIAL_ID: r.info.run_id[:8], "run_name": r.info.run_name,
               "status": Status.COMPLETED if r.info.status == "FINISHED" else Status.ERROR,
               LAST_EVALUATION: len(history), "last_step": max((m.step for m in history), default=0),
               Result.WALL_TIME: (end - r.info.start_time) / 1000 if end and r.info.start_time else None,
               SEED: params.get(seed_param) if seed_param else None,
               "_params": list(params), "_metrics": list(r.data.metrics)}
        row.update({f: params.get(f) for f in factors})
        row.update(r.data.metrics)
        rows.append(row)
    left_out: Counter = Counter()
    trials = _frame(rows, factors, metric, f"experiment {experiment!r}", left_out)
    if seed_param and trials[SEED].isna().all():
        raise SweepNotFound(f"seed param {seed_param!r} is never logged in experiment {experiment!r}.")
    sweep = Sweep(experiment, tracking_uri, None, metric, mode, trials,
                  pd.DataFrame(histories, columns=["run_id", TRIAL_ID, "metric", "step", "value", "timestamp"]),
                  list(factors))
    sweep.notes = _notes(left_out, len(trials))
    return sweep


def load_optuna(storage: str, study: str, *, factors: list[str] | None = None, metric: str = "value",
                seed_param: str = "seed") -> Sweep:
    """An Optuna study's trials as a sweep; `metric` names the study's value (e.g. fid, to fit it on the log
    scale); the direction is the study's."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    storage = _optuna_storage(storage)
    try:
        loaded = optuna.load_study(study_name=study, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise SweepNotFound(f"No study {study!r} in the Optuna storage; studies there: "
                            f"{', '.join(names) or 'none'}.") from None
    # RuntimeError: a storage of an Optuna release this one cannot read
    except (ValueError, OSError, ImportError, RuntimeError, optuna.exceptions.OptunaError, SQLAlchemyError) as e:
        raise SweepNotFound(f"The Optuna storage could not be read: {masked_text(e)}") from None
    if len(loaded.directions) != 1:
        raise SweepNotFound(f"study {study!r} optimises {len(loaded.directions)} objectives; the report needs one.")
    mode = "min" if loaded.direction == optuna.study.StudyDirection.MINIMIZE else "max"
    trials = loaded.get_trials(deepcopy=False)
    names = factors or sorted({k for t in trials for k in t.params if k != seed_param})
    rows = []
    for t in trials:
        seed = t.user_attrs.get(seed_param, t.params.get(seed_param))
        finished = t.state == optuna.trial.TrialState.COMPLETE
        row = {"run_id": f"optuna-{t.number}", TRIAL_ID: str(t.number), "run_name": f"trial {t.number}",
               "status": Status.COMPLETED if finished else Status.ERROR, LAST_EVALUATION: 1, "last_step": 0,
               Result.WALL_TIME: t.duration.total_seconds() if t.duration else None, SEED: seed,
               metric: t.value if finished else None, "_params": list(t.params), "_metrics": [metric]}
        row.update({f: t.params.get(f) for f in names})
        rows.append(row)
    left_out: Counter = Counter()
    table = _frame(rows, names, metric, f"study {study!r}", left_out)
    histories = pd.DataFrame(columns=["run_id", TRIAL_ID, "metric", "step", "value", "timestamp"])
    sweep = Sweep(study, "", None, metric, mode, table, histories, names)
    sweep.notes = _notes(left_out, len(table))
    return sweep


def _optuna_storage(url: str):
    """An Optuna storage: a database URL as Optuna takes it, or the path of a journal file (JournalFileBackend)."""
    from pathlib import Path

    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if url.startswith("sqlite:"):  # Optuna would make its tables in any file, and a database where a typo points
        check_sqlite_store(url, OPTUNA_TABLES, "--optuna-storage")
        return url
    if "://" in url:
        return url
    path = Path(url)
    if not path.is_file():
        raise SweepNotFound(f"--optuna-storage {url}: neither a database URL (e.g. sqlite:///optuna.db) nor a journal "
                            "file that exists.")
    try:
        return JournalStorage(JournalFileBackend(str(path)))
    except (OSError, ValueError, optuna.exceptions.OptunaError) as e:
        raise SweepNotFound(f"--optuna-storage {url}: not an Optuna journal file ({e}).") from None
