"""Read a sweep back from MLflow into pandas.

`load_sweep(target)` accepts a sweep output folder (with sweep.json), a spec file (its default output
folder), or an experiment name with a tracking URI. It returns the latest sweep of that experiment
(or the one whose parent run id is given) as:
- `trials`: one row per trial: run ids, status, every param (typed), the last value of every metric and
  (`best_<metric>`) the best over its evaluations for every metric with a direction, the last evaluation
  and step reached, wall time;
- `histories`: long form (run_id, trial_id, metric, step, value) for the metrics asked for.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import SweepNotFound
from analysis.stores import mlflow_client
from record.design import BUDGET, SweepDesign, level_label, variant_settings
from record.folder import (ADAPTIVE_ARTIFACT, DESIGN_ARTIFACT, STATE_FILE, StateDamaged, latest_sweep_dir, read_state,
                           spec_label, spec_plugins)
from record.metrics import OUTPUTS, TRAINING, metric_direction
from record.status import Status
from record import params as typed
from record.uris import shown
from record.names import (
    TRAINING_CURVES,
    SEED,
    SWEPT_PARAM,
    Result,
    EVALUATION,
    ERROR,
    LAST_EVALUATION,
    NODE,
    PARENT,
    ROLE_SWEEP,
    SPEC_PARAM,
    SPEC_PARAMETERS,
    STATUS,
    TRIAL_ID,
    by_role,
)

__all__ = ["BUDGET", "PRECISION", "Sweep", "SweepNotFound", "budget_plan", "download_artifact", "load_sweep",
           "resolve_target"]

# every evaluation output of the metric registry, the `evaluation` counter and the training curves
HISTORY_METRICS = (*(name for name, out in OUTPUTS.items() if out.producer != TRAINING), EVALUATION, *TRAINING_CURVES)


@dataclass
class Sweep:
    experiment: str
    tracking_uri: str
    parent_run_id: str
    metric: str  # the sweep's ranking metric
    mode: str  # min or max
    trials: pd.DataFrame
    histories: pd.DataFrame
    swept: list[str]  # the factors: params (or variant labels) that vary across trials, train.seed excluded
    params: dict = field(default_factory=dict)  # the parent run's params
    out_dir: Path | None = None  # sweep output folder, when known
    design: SweepDesign | None = None  # what the sweep set out to measure (None for sweeps that did not log it)
    baselines: dict = field(default_factory=dict)  # factor -> its baseline level, as it appears in `trials`
    adaptive: dict | None = None  # an adaptive sweep's record of its rounds (stats.adaptive.record)
    notes: list[str] = field(default_factory=list)  # what the reader left out and why (runs gansweep did not launch)


def resolve_target(target: str, tracking_uri: str | None = None, scale: str | None = None,
                   root: str | Path = "runs") -> tuple[str, str, str | None, Path | None]:
    """(tracking_uri, experiment, parent_run_id or None, sweep folder or None) for a target that is a sweep
    folder (with sweep.json), an output root (its newest sweep), a spec file (its newest sweep under
    `root`, at `scale`), or an experiment name (its newest sweep at the tracking URI)."""
    path = Path(target)
    folder = None
    experiment = None
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        experiment, label = spec_label(path, scale)
        folder = latest_sweep_dir(Path(root), label)
        if folder is None and tracking_uri is None:
            raise SweepNotFound(f"No sweep of {path} (scale {scale or 'full'}) under {Path(root) / 'sweeps'}; "
                                "run it first, or pass --tracking-uri to read it from an MLflow server.")
    elif path.is_dir():
        folder = path if (path / STATE_FILE).is_file() else latest_sweep_dir(path)
        if folder is None:
            raise SweepNotFound(f"{path} is neither a sweep folder (no {STATE_FILE}) nor an output root with sweeps/.")
    else:
        experiment = target
    if folder is not None:
        try:
            state = read_state(folder)
        except StateDamaged as e:
            raise SweepNotFound(str(e)) from None
        return tracking_uri or state.tracking_uri, state.experiment, state.parent_run_id, folder
    if tracking_uri is None:
        import mlflow

        tracking_uri = mlflow.get_tracking_uri()
    return tracking_uri, experiment, None, None


def download_artifact(client, run_id: str, path: str, dst: Path) -> Path | None:
    """A run's artifact (file or folder) downloaded under `dst`, or None when the run does not have it."""
    from mlflow.exceptions import MlflowException

    if client is None:  # runs with no tracking store (an Optuna study)
        return None
    try:
        return Path(client.download_artifacts(run_id, path, str(dst)))
    except (OSError, MlflowException):  # the store has no such artifact (a file store says so as an OSError)
        return None


def add_target_arguments(parser, optional: bool = False) -> None:
    """The arguments that name a sweep, shared by the analysis commands; `load_target` reads them. `optional`: the
    command names its runs another way too (the report's --experiment and --optuna-storage)."""
    parser.add_argument("target", nargs="?" if optional else None,
                        help="sweep folder, output root (its newest sweep), spec file (its newest sweep "
                             "under --root), or the MLflow experiment name of a gansweep sweep")
    parser.add_argument("--root", default="runs", help="output root the sweeps were run with (default: runs)")
    parser.add_argument("--scale", help="with a spec file: the scale it was run at (e.g. smoke)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: the sweep's, or $MLFLOW_TRACKING_URI)")
    parser.add_argument("--parent-run", help="this sweep (parent run id) instead of the newest")
    parser.add_argument("--plugins", help="comma-separated modules that register the sweep's own architectures or "
                                          "datasets, to draw its generator's figures (a spec file target imports "
                                          "its `plugins` itself)")


def load_target(args) -> "Sweep":
    """The sweep named by the arguments of `add_target_arguments`, after importing the plugins they name
    (SweepNotFound says why one cannot be imported)."""
    from gan.registration import PluginError, check_plugin_names, import_plugins

    names = [n.strip() for n in (args.plugins or "").split(",") if n.strip()]
    spec = Path(args.target)
    from_spec = spec.is_file() and spec.suffix in (".yaml", ".yml")
    try:
        names += spec_plugins(spec) if from_spec else []
        import_plugins(check_plugin_names(names), spec.parent if from_spec else None)
    except PluginError as e:
        raise SweepNotFound(f"plugins: {e}") from None
    return load_sweep(args.target, tracking_uri=args.tracking_uri, parent_run_id=args.parent_run, scale=args.scale,
                      root=args.root)


def load_sweep(target: str, *, tracking_uri: str | None = None, parent_run_id: str | None = None,
               scale: str | None = None, root: str | Path = "runs", history_metrics=HISTORY_METRICS) -> Sweep:
    tracking_uri, experiment, parent, folder = resolve_target(target, tracking_uri, scale, root)
    client = mlflow_client(tracking_uri, "the sweep's tracking store")
    exp_id, parent = _find_sweep(client, tracking_uri, experiment, parent_run_id or parent)
    parent_run = client.get_run(parent)
    design = _read_design(client, parent, folder)
    params = parent_run.data.params
    # the design is the record of what the sweep ranks by; sweeps logged before it kept them as params
    metric = design.metric if design else params.get(SPEC_PARAM + "metric", "fid")
    mode = design.mode if design else params.get(SPEC_PARAM + "mode", metric_direction(metric) or "min")
    runs = client.search_runs([exp_id], filter_string=f"tags.{PARENT} = '{parent}'", max_results=10000)
    trials, histories = _trial_rows(client, runs, metric, mode, history_metrics)
    if trials.empty or not trials["status"].isin(Status.ended()).any():
        raise SweepNotFound(f"Sweep {parent} of experiment {experiment!r} has no finished trials "
                            f"({len(trials)} trial runs found).")
    order = [k.strip() for k in params.get(SPEC_PARAMETERS, "").split(",") if k.strip()]
    swept, baselines = _swept_columns(trials, design, order)
    return Sweep(experiment, tracking_uri, parent, metric, mode, trials, histories, swept, dict(params), folder,
                 design, baselines, _read_json(client, parent, folder, ADAPTIVE_ARTIFACT))


def _find_sweep(client, tracking_uri: str, experiment: str, parent: str | None) -> tuple[str, str]:
    """(experiment id, parent run id): the given sweep, else the experiment's newest."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments())
        raise SweepNotFound(f"No experiment {experiment!r} at {shown(tracking_uri)}; experiments there: "
                            f"{', '.join(names) or 'none'}.")
    if parent is None:
        sweeps = client.search_runs([exp.experiment_id], filter_string=by_role(ROLE_SWEEP),
                                    order_by=["attributes.start_time DESC"], max_results=1)
        if not sweeps:
            raise SweepNotFound(f"Experiment {experiment!r} at {shown(tracking_uri)} holds no sweep (no parent run).")
        parent = sweeps[0].info.run_id
    return exp.experiment_id, parent


_RUN_COLUMNS = ("run_id", TRIAL_ID, "status", "run_name", NODE, LAST_EVALUATION, "last_step", Result.WALL_TIME, ERROR)


PRECISION = "train.precision"


def _trial_rows(client, runs, metric: str, mode: str, history_metrics) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per trial run (its params typed as they were logged, its last and best metrics), and the
    histories of `history_metrics` in long form."""
    rows, history_rows = [], []
    for r in runs:
        tags, data = r.data.tags, r.data
        row = {"run_id": r.info.run_id, TRIAL_ID: tags.get(TRIAL_ID), "status": tags.get(STATUS, Status.RUNNING),
               "run_name": r.info.run_name, NODE: tags.get(NODE),
               LAST_EVALUATION: int(float(tags.get(LAST_EVALUATION, data.metrics.get(EVALUATION, 0)))),
               "last_step": int(data.metrics.get(Result.STEP, 0)),
               Result.WALL_TIME: data.metrics.get(Result.WALL_TIME), ERROR: tags.get(ERROR, "")}
        row.update({k: _cell(typed.decode(v)) for k, v in data.params.items()})
        row.update(data.metrics)
        if row.get(PRECISION) == "auto" and Result.TRAINED_BF16 in row:  # as it resolved on the trial's machine
            row[PRECISION] = "bf16" if row[Result.TRAINED_BF16] else "fp32"
        for name in history_metrics:
            if name not in data.metrics:
                continue
            hist = client.get_metric_history(r.info.run_id, name)
            history_rows += [{"run_id": r.info.run_id, TRIAL_ID: row[TRIAL_ID], "metric": name, "step": m.step,
                              "value": m.value, "timestamp": m.timestamp} for m in hist]
            direction = mode if name == metric else metric_direction(name)
            if hist and direction in ("min", "max"):  # the best value over training, as studies often report
                values = [m.value for m in hist]
                row[f"best_{name}"] = min(values) if direction == "min" else max(values)
        rows.append(row)
    histories = pd.DataFrame(history_rows, columns=["run_id", TRIAL_ID, "metric", "step", "value", "timestamp"])
    return pd.DataFrame(rows), histories


def _cell(value):
    """A param as a table cell: a list (JSON's tuple) as a tuple, so columns can be grouped by it."""
    return tuple(_cell(v) for v in value) if isinstance(value, list) else value


def _swept_columns(trials: pd.DataFrame, design: SweepDesign | None, order: list[str]) -> tuple[list[str], dict]:
    """The factors (in the spec's order; a design's variants and budget plans as columns of their own) and each
    one's baseline. A trial logs its level of each factor as a `swept.` param, read here as it is; a sweep of an
    earlier release logged none, and its factors are worked out from the config params that vary."""
    logged = [col[len(SWEPT_PARAM):] for col in trials.columns if col.startswith(SWEPT_PARAM)]
    if logged and not trials[[SWEPT_PARAM + f for f in logged]].notna().all().all():
        logged = []  # some runs logged no levels (a sweep of the release before, resumed by this one): work all out
    if logged:
        for factor in logged:
            trials[factor] = trials[SWEPT_PARAM + factor]
        swept = [f for f in logged if trials[f].astype(str).nunique() > 1]
    else:
        swept = [col for col in sorted(set(trials.columns) - set(_RUN_COLUMNS))
                 if "." in col and col != SEED and not col.startswith(("eval.", SWEPT_PARAM))
                 and trials[col].astype(str).nunique() > 1]
    swept.sort(key=lambda k: order.index(k) if k in order else len(order))  # the spec's order first
    if design is None:
        return swept, {}
    swept, baselines = _baselines(trials, design, swept) if logged else _factor_columns(trials, design, swept)
    # a parameter the spec holds at one level, whose value a variant sets (architecture's claims scale: `loss.name:
    # [bce]`, and each loss variant sets its own) varies with that variant alone: the variant is the factor
    set_by_variant = {k for f in design.factors if f.variant and f.name in swept for k in f.keys}
    held = {f.name for f in design.factors if not f.variant and f.levels is not None and len(f.levels) == 1}
    swept = [p for p in swept if not (p in held and p in set_by_variant)]
    baselines = {p: b for p, b in baselines.items() if p in swept}
    if design.budget.get("hold"):
        trials[BUDGET] = trials.apply(budget_plan, axis=1)
        swept = [p for p in swept if p not in ("train.epochs", "train.iterations", "train.max_seconds")]
        if trials[BUDGET].nunique() > 1:
            swept.append(BUDGET)
            baselines[BUDGET] = design.budget["hold"][0]
    return swept, baselines


def budget_plan(row) -> str:
    """A trial's budget plan from its config: a time budget, else an epoch count, else an iteration count."""
    if pd.notna(row.get("train.max_seconds")):
        return "seconds"
    if pd.notna(row.get("train.epochs")):
        return "epochs"
    return "iterations"


def _read_design(client, parent_run_id: str, folder: Path | None) -> SweepDesign | None:
    text, where = _read_text(client, parent_run_id, folder, DESIGN_ARTIFACT)
    if text is None:  # logged before designs
        return None
    try:
        return SweepDesign.from_json(text)
    except (ValueError, TypeError, KeyError, AttributeError) as e:  # JSONDecodeError is a ValueError
        raise StateDamaged(f"{where}: not a sweep's design ({type(e).__name__}: {e}); a sweep writes it when it "
                           "starts: restore the file from its parent run's artifacts.") from None


def _read_json(client, parent_run_id: str, folder: Path | None, name: str) -> dict | None:
    """A JSON file of the sweep folder, else the parent run's artifact of that name; None when neither has it."""
    text, where = _read_text(client, parent_run_id, folder, name)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as e:
        raise StateDamaged(f"{where}: not valid JSON ({e}).") from None
    if not isinstance(value, dict):
        raise StateDamaged(f"{where}: holds {type(value).__name__}, not the mapping a sweep writes there.")
    return value


def _read_text(client, parent_run_id: str, folder: Path | None, name: str) -> tuple[str | None, str]:
    """A file of the sweep folder, else the parent run's artifact of that name, with where it was read from; None
    when neither has it."""
    if folder is not None and (folder / name).is_file():
        return (folder / name).read_text(encoding="utf-8", errors="replace"), str(folder / name)
    with tempfile.TemporaryDirectory() as tmp:
        path = download_artifact(client, parent_run_id, name, Path(tmp))
        where = f"the artifact {name} of parent run {parent_run_id}"
        return (path.read_text(encoding="utf-8", errors="replace") if path else None), where


def _same_value(logged, value) -> bool:
    """A logged param against a spec value; an unset value (None) and pandas' NaN for it are the same."""
    if value is None or (isinstance(value, float) and value != value):
        return logged is None or (isinstance(logged, float) and logged != logged)
    numbers = (int, float, np.integer, np.floating)
    if isinstance(value, numbers) and isinstance(logged, numbers) and not isinstance(value, bool) \
            and not isinstance(logged, (bool, np.bool_)):
        return float(logged) == float(value)  # 64 read back as 64.0 from a column with NaNs
    # params read back typed (record.params): equal values, a tuple against a design's list alike, and a
    # flag never equal to a number (True == 1 in Python)
    return _cell(logged) == _cell(value) and isinstance(logged, bool) == isinstance(value, bool)


def _baselines(trials: pd.DataFrame, design: SweepDesign, swept: list[str]) -> tuple[list[str], dict]:
    """The logged factors that vary, and each one's baseline as its column holds it."""
    found = {f.name: _baseline_in(trials, f) for f in design.factors if f.name in swept}
    return swept, {name: base for name, base in found.items() if base is not None}


def _baseline_in(trials: pd.DataFrame, f) -> Any:
    """Factor `f`'s baseline (its first level unless the spec names one) as the factor's column holds it; None
    when no run is at it."""
    base = f.baseline if f.baseline is not None else (f.levels[0] if f.levels else None)
    if base is None:
        return None
    return next((v for v in trials[f.name].dropna().unique() if level_label(v) == level_label(base)), None)


def _factor_columns(trials: pd.DataFrame, design: SweepDesign, swept: list[str]) -> tuple[list[str], dict]:
    """One column per factor of the design (a variant's level label in a column of its own name), the
    factors that vary, and each factor's baseline as it appears in that column."""
    factors, baselines = [], {}
    for f in design.factors:
        if f.variant:
            def label(row, levels=f.levels, defaults=f.defaults or {}):
                # a level is the trial's when every key of the variant has the level's value, or the base
                # value where the level leaves it unset (a level setting only model.label_dim: 64 must not
                # claim the trials of a level setting train.epochs: 200 on top of label_dim 64)
                for level in levels:
                    wanted = {**defaults, **variant_settings(level)}
                    if all(_same_value(row.get(k), v) for k, v in wanted.items()):
                        return level_label(level)
                return None
            trials[f.name] = trials.apply(label, axis=1)
        if f.name not in trials or trials[f.name].astype(str).nunique() < 2:
            continue
        factors.append(f.name)
        base = _baseline_in(trials, f)
        if base is not None:
            baselines[f.name] = base
    covered = {k for f in design.factors if f.name in factors for k in f.keys}
    return factors + [p for p in swept if p not in covered and p not in factors], baselines
