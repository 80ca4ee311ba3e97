"""The driver's last word on a sweep: every trial ranked (`summary`, summary.json), the configurations
with their intervals from the report's model (`format_summary`), how its MLflow writes fared, and the
commands that resume it or browse it."""

from __future__ import annotations

import math
import shlex
import sys
import time
from pathlib import Path

from record.names import SEED, Result, configuration_label
from record.status import Status
from record.uris import shown
from sweeps.location import Where
from sweeps.ledger import Ledger
from sweeps.schedulers import levels
from sweeps.tracking.client import SHARED_VIEW_PARAM
from sweeps.specfile import SweepSpec
from sweeps.tracking.journal import REJECTED_FILE, push_command

__all__ = ["format_summary", "format_tracking", "resume_command", "seconds_per_configuration", "summary",
           "tracking_report", "ui_command"]


def summary(spec: SweepSpec, ledger: Ledger, interrupted: bool) -> dict:
    """Every trial Tune knows, ranked: finite metrics of completed trials first."""
    rows = []
    for trial_id, t in ledger.trials.items():
        last = t.get("last") or {}
        rows.append({"trial_id": trial_id, "status": ledger.status(trial_id, interrupted),
                     spec.metric: last.get(spec.metric), "evaluation": last.get(Result.EVALUATION),
                     "step": last.get(Result.STEP), "swept": ledger.request(trial_id).swept,
                     **({"error": ledger.errors[trial_id]} if trial_id in ledger.errors else {})})

    def key(row):
        v = row[spec.metric]
        ok = v is not None and math.isfinite(v) and row["status"] not in (Status.DIVERGED, Status.ERROR)
        return (not ok, row["status"] != Status.COMPLETED, (v if spec.mode == "min" else -v) if ok else 0)

    if interrupted and spec.method != "optuna" and not spec.adaptive:  # the planned trials Tune had not created yet
        def trial(swept: dict) -> tuple:  # a planned trial: its configuration and its seed
            return configuration_label(swept), swept.get(SEED)

        unseen = spec.trial_configs()  # a grid may plan the same trial more than once (num_samples)
        keys = [trial(c) for c in unseen]
        for row in rows:
            if trial(row["swept"]) in keys:
                i = keys.index(trial(row["swept"]))
                del keys[i], unseen[i]
        rows += [{"trial_id": None, "status": Status.NOT_STARTED, spec.metric: None, "evaluation": None,
                  "step": None, "swept": c} for c in unseen]
    rows.sort(key=key)
    ended = sum(1 for r in rows if r["status"] in Status.ended() | {Status.ERROR})
    return {"metric": spec.metric, "mode": spec.mode, "interrupted": interrupted, "ended": ended, "trials": rows}


def format_summary(summary: dict, spec: SweepSpec) -> str:
    """The trials ranked one by one, then the configurations with their intervals over seeds and the set
    that cannot be told apart from the best (stats.contrasts), so no single-seed winner is named."""
    import pandas as pd

    from stats.layout import LOG
    from stats.fit import fit_design

    metric = summary["metric"]
    lines = [f"runs ranked by {metric} ({summary['mode']}):"]
    for i, row in enumerate(summary["trials"], 1):
        v = row[metric]
        shown = f"{v:.4g}" if isinstance(v, (int, float)) and math.isfinite(v) else "-"
        where = f"eval {row['evaluation']}" if row.get("evaluation") else ""
        swept = ", ".join(f"{k}={v}" for k, v in row["swept"].items())
        lines.append(f"{i:3d}. {metric} {shown:>8}  {row['status']:<13} {where:<8} {swept}")
        if row.get("error"):
            lines.append(f"       why: {row['error']}")
    factors = [p.key for p in spec.parameters]
    rows = [{**levels(spec, row["swept"]), "status": row["status"], metric: row[metric]} for row in summary["trials"]]
    if not rows:
        return "\n".join(lines)
    fit = fit_design(pd.DataFrame(rows), metric, summary["mode"], factors)
    best = fit.cells
    if best.empty:
        return "\n".join(lines + [f"no trial finished with a finite {metric}."])
    centre = "geometric mean" if fit.scale == LOG else "mean"
    lines.append(f"configurations ({metric}: {centre} [95% CI] (runs) over seeds, from the report's model; "
                 "* = cannot be told apart from the best):")
    for _, row in best.iterrows():
        mark = "*" if row["in_best_set"] is True else " "
        config = ", ".join(f"{k.split('.')[-1]}={row[k]}" for k in factors) or "base config"
        lines.append(f"  {mark} {row['cell']:<26} {config}")
    if len(best) == 1:
        lines.append("  only one configuration has finished runs: nothing to rank it against.")
    elif best["in_best_set"].isna().any():
        lines.append("  one run per configuration: the best cannot be told from noise; run at least 2 seeds.")
    else:
        kept = int((best["in_best_set"] == True).sum())  # noqa: E712
        lines.append(f"  {kept} of {len(best)} configurations are indistinguishable from the best at 95% "
                     "(the report says which factors matter).")
    return "\n".join(lines)


def seconds_per_configuration(spec: SweepSpec, ledger: Ledger, rec: dict) -> dict[str, float]:
    """Each configuration's mean training time per finished run (Tune's time_total_s), by its record label."""
    from stats.adaptive import cell_label

    times: dict[str, list[float]] = {}
    for tid, t in ledger.trials.items():
        last = t.get("last") or {}
        if "time_total_s" in last:
            lv = levels(spec, ledger.request(tid).swept)
            times.setdefault(cell_label(rec["params"], [lv[p] for p in rec["params"]]), []).append(
                float(last["time_total_s"]))
    return {k: sum(v) / len(v) for k, v in times.items()}


def tracking_report(journal, end_wait: float) -> dict:
    """How the sweep's MLflow writes fared: how many were written and applied, how long MLflow did not
    answer, how long the driver waited on it (appending to the journal, and at the end), what still waits."""
    return {"written": journal.appended, "applied": journal.applied, "waiting": len(journal.pending()),
            "refused": journal.rejected, "unreachable_s": round(journal.unreachable_seconds + (
                time.time() - journal.unreachable_since if journal.unreachable_since else 0.0), 1),
            "driver_wait_s": round(journal.append_seconds + end_wait, 2), "end_wait_s": round(end_wait, 2),
            "last_error": journal.last_error}


def format_tracking(report: dict, journal, where: Where, interrupted: bool) -> str:
    line = (f"MLflow: {report['applied']} journal entries applied, {report['waiting']} waiting"
            + (f", {report['refused']} refused (see {journal.folder / REJECTED_FILE})" if report["refused"] else "")
            + (f"; unreachable for {report['unreachable_s']:.0f} s" if report["unreachable_s"] else "")
            + f"; the driver waited {report['driver_wait_s']:.1f} s on it")
    if not report["waiting"]:
        return line
    runs = journal.pending_by_run()
    listed = "\n".join(f"  {name}: " + ", ".join(f"{n} {op}" for op, n in sorted(ops.items()))
                        for name, ops in sorted(runs.items()))
    return (f"{line}\nMLflow at {shown(where.tracking_uri)} is not answering ({report['last_error']}).\n"
            f"{report['waiting']} writes of {len(runs)} runs wait in {journal.path}:\n{listed}\n"
            f"Nothing is lost. Push them once MLflow is back: {push_command(where.out)}"
            + (" (or --resume the sweep, which applies them first)" if interrupted else ""))


def resume_command(spec: SweepSpec, where: Where, spec_path: str | None) -> str:
    args = ["python", "-m", "sweeps.run", spec_path or spec.source]
    if spec.scale:
        args += ["--scale", spec.scale]
    if spec.seeds_given:
        args += ["--seeds", ",".join(map(str, spec.seeds_given))]
    return shlex.join(args + ["--out", str(where.root), "--resume"])


def dashboard_command(journal: Path) -> str:
    """How to open an Optuna study's journal in optuna-dashboard (the project's `dashboard` extra, which
    scripts/install.sh installs): its script beside this Python, so the command works without an activated
    environment, on loopback."""
    script = Path(sys.executable).parent / "optuna-dashboard"
    command = shlex.join([str(script) if script.is_file() else "optuna-dashboard", str(journal),
                          "--host", "127.0.0.1", "--port", "8080"])
    return f"{command}, then open http://127.0.0.1:8080/" + ("" if script.is_file() else
                                                             " (install it: pip install optuna-dashboard)")


def ui_command(tracking_uri: str, experiment_id: str, sweep_id: str | None = None) -> str:
    """How to open the sweep in MLflow's UI: a local store through `mlflow ui`, a server at its address. The
    page asks for the classic training view (`workflowType=machine_learning`): MLflow 3.x's UI opens an
    experiment on its GenAI overview otherwise, whatever the experiment's kind tag says. With `sweep_id`,
    on the sweep's shared view (sweeps.tracking.client.runs_view): its trials, best first, with their
    metric and swept values as columns."""
    page = (f"/#/experiments/{experiment_id}/runs?workflowType=machine_learning&{SHARED_VIEW_PARAM}={sweep_id}"
            if sweep_id else f"/#/experiments/{experiment_id}?workflowType=machine_learning")
    if tracking_uri.startswith(("sqlite:", "file:")) or "://" not in tracking_uri:
        command = shlex.join(["mlflow", "ui", "--backend-store-uri", tracking_uri, "--host", "127.0.0.1"])
        return f"{command}, then open http://127.0.0.1:5000{page}"
    return f"open {shown(tracking_uri).rstrip('/')}{page}"
