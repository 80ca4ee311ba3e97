"""The augmentation study's results, read back from MLflow: the table of cells, the accuracy grid of one
plan, and the study's published figures beside ours. The study itself, which trains a classifier per
cell and logs the runs, is `python -m studies.augment`.
"""

from __future__ import annotations

import json

import pandas as pd

from analysis.load import Sweep
from stats.contrasts import format_interval, interval
from record.figures import figure_verdict
from record.names import PARENT, ROLE as ROLE_TAG, RunStatus

__all__ = ["ACCURACY", "CELL_KEY", "CELL_ROLE", "PLANS", "PUBLISHED", "PUBLISHED_DATASET", "ROLE", "accuracy_grid",
           "augmentation_results", "finished_cells", "published_beside"]

PLANS = ("mixed", "filtered", "pretrained")
ROLE = "augmentation"  # the role tag of the run that holds one augmentation study (record.names.ROLE)
CELL_ROLE = "augmentation_cell"  # the role tag of one cell and seed
CELL_KEY = ("plan", "real", "generated", "seed")  # the params that name a cell's run
ACCURACY = "test_accuracy"  # a cell's metric: the classifier's accuracy on the real test split

# the study's figures (MNIST, LeNet, best CGAN with one-sided label smoothing), by plan and cell
PUBLISHED_DATASET = "mnist"
PUBLISHED = [
    {
        "plan": "mixed",
        "real": 60000,
        "generated": 0,
        "value": 0.947,
        "source": "001, section 3 (line 75) and 4 (line 115): real only, 94.7%",
    },
    {
        "plan": "mixed",
        "real": 60000,
        "generated": 60000,
        "value": 0.9625,
        "source": "001, section 4 (line 115): 96.25%, the best cell",
    },
    {
        "plan": "mixed",
        "real": 0,
        "generated": 60000,
        "value": 0.4793,
        "source": "001, section 4 (line 116): generated only, 47.93%",
    },
    {
        "plan": "mixed",
        "real": 600,
        "generated": 60000,
        "value": 0.8900,
        "source": "001, section 4 (line 116): 600 real added, 89.00%",
    },
    {
        "plan": "filtered",
        "real": 60000,
        "generated": 60000,
        "value": 0.9576,
        "source": "001, section 4 (line 126): quality check, 95.76% at 60000/60000",
    },
    {
        "plan": "pretrained",
        "real": None,
        "generated": None,
        "value": 0.9555,
        "source": "001, section 4 (line 128): 15 epochs generated then 15 real, best 95.55%",
    },
]


def finished_cells(client, experiment_id: str, parent: str) -> dict:
    runs = client.search_runs([experiment_id], filter_string=f"tags.{PARENT} = '{parent}'",
                              max_results=10000)
    done = {}
    for r in runs:
        if r.info.status == RunStatus.FINISHED and ACCURACY in r.data.metrics:
            p = r.data.params
            done[(p["plan"], int(p["real"]), int(p["generated"]), int(p["seed"]))] = r.data.metrics[ACCURACY]
    return done


def augmentation_results(sweep: Sweep) -> pd.DataFrame | None:
    """Every finished cell of the sweep's newest augmentation study, or None when it has none."""
    from mlflow.tracking import MlflowClient

    if not sweep.tracking_uri or sweep.parent_run_id is None:  # runs gansweep did not launch: no study of its own
        return None
    client = MlflowClient(sweep.tracking_uri)
    exp = client.get_experiment_by_name(sweep.experiment)
    found = client.search_runs([exp.experiment_id], filter_string=(
        f"tags.{ROLE_TAG} = '{ROLE}' and tags.sweep_parent = '{sweep.parent_run_id}'"),
        order_by=["attributes.start_time DESC"], max_results=1)
    if not found:
        return None
    parent = found[0]
    done = finished_cells(client, exp.experiment_id, parent.info.run_id)
    rows = [{"plan": p, "real": r, "generated": g, "seed": s, ACCURACY: a} for (p, r, g, s), a in done.items()]
    table = pd.DataFrame(rows, columns=["plan", "real", "generated", "seed", ACCURACY])
    table.attrs.update(run_id=parent.info.run_id, generator_run=parent.data.tags.get("generator_run"),
                       plan=json.loads(parent.data.tags.get("plan", "{}")), dataset=parent.data.tags.get("dataset"))
    return table


def accuracy_grid(cells: pd.DataFrame, plan: str) -> pd.DataFrame:
    """Rows real sizes, columns generated sizes: mean test accuracy (%) ± 95% CI over seeds (n)."""
    part = cells[cells["plan"] == plan]
    grid = {}
    for (r, g), group in part.groupby(["real", "generated"]):
        iv = interval(group[ACCURACY] * 100)
        grid.setdefault(r, {})[g] = format_interval(iv)
    table = pd.DataFrame(grid).T.sort_index()
    table = table[sorted(table.columns)]
    table.index.name = "real \\ generated"
    return table.reset_index()


def published_beside(cells: pd.DataFrame) -> pd.DataFrame:
    """The study's figures beside our mean and 95% interval over seeds at the same cell (the pretrained
    figure is the study's best cell, set beside our best mean). They were measured on MNIST with its
    LeNet; on another dataset or with another classifier they are shown, not compared."""
    reasons = []
    dataset, classifier = cells.attrs.get("dataset"), cells.attrs.get("plan", {}).get("classifier")
    if dataset != PUBLISHED_DATASET:
        reasons.append(f"published on {PUBLISHED_DATASET}, ours on {dataset or 'an unrecorded dataset'}")
    if classifier != "lenet":
        reasons.append(f"published with the study's LeNet, ours with the {classifier} classifier")
    rows = []
    for f in PUBLISHED:
        part = cells[cells["plan"] == f["plan"]]
        if f["real"] is None:
            means = part.groupby(["real", "generated"])[ACCURACY].mean()
            if means.empty:
                continue
            r, g = means.idxmax()
        else:
            r, g = f["real"], f["generated"]
        acc = part[(part["real"] == r) & (part["generated"] == g)][ACCURACY]
        iv = interval(acc)
        _, verdict = figure_verdict(f["value"], iv.n, iv.mean, iv.low, iv.high, reasons=reasons,
                                    missing="not run in this plan")
        rows.append({"plan": f["plan"], "real / generated": f"{r} / {g}", "published": f"{f['value']:.4f}",
                     "ours (mean ± 95% CI (n))": format_interval(iv) if iv.n else "-", "verdict": verdict,
                     "source": f["source"]})
    return pd.DataFrame(rows)
