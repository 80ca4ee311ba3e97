"""The augmentation study's results, read back from MLflow: the table of cells, the accuracy grid of one
plan, the study's published figures beside ours, and its claim that generated images help, judged. The
study itself, which trains a classifier per cell and logs the runs, is `python -m studies.augment`.
"""

from __future__ import annotations

import json

import pandas as pd

from analysis.load import Sweep
from stats.claims import ClaimVerdict
from stats.contrasts import format_interval, interval
from stats.fit import fit_design
from record.claims import LEVELS, Claim
from record.figures import figure_verdict
from record.names import PARENT, ROLE as ROLE_TAG, RunStatus
from record.status import Status

__all__ = ["ACCURACY", "CELL_KEY", "CELL_ROLE", "CLAIM_ID", "PLANS", "PUBLISHED", "PUBLISHED_DATASET", "ROLE",
           "accuracy_grid", "augmentation_claim", "augmentation_claims", "augmentation_results", "augmentation_studies",
           "finished_cells", "published_beside"]

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


def augmentation_studies(sweep: Sweep, newest_only: bool = False) -> list[pd.DataFrame]:
    """The augmentation studies run over the sweep (one per plan: classifier, epochs, sizes, seeds), newest
    first, each as the table of its finished cells; its run, generator run, plan and dataset in `attrs`."""
    from mlflow.tracking import MlflowClient

    if not sweep.tracking_uri or sweep.parent_run_id is None:  # runs gansweep did not launch: no study of its own
        return []
    client = MlflowClient(sweep.tracking_uri)
    exp = client.get_experiment_by_name(sweep.experiment)
    found = client.search_runs([exp.experiment_id], filter_string=(
        f"tags.{ROLE_TAG} = '{ROLE}' and tags.sweep_parent = '{sweep.parent_run_id}'"),
        order_by=["attributes.start_time DESC"], max_results=1 if newest_only else 100)
    tables = []
    for parent in found:
        done = finished_cells(client, exp.experiment_id, parent.info.run_id)
        rows = [{"plan": p, "real": r, "generated": g, "seed": s, ACCURACY: a} for (p, r, g, s), a in done.items()]
        table = pd.DataFrame(rows, columns=["plan", "real", "generated", "seed", ACCURACY])
        table.attrs.update(run_id=parent.info.run_id, generator_run=parent.data.tags.get("generator_run"),
                           plan=json.loads(parent.data.tags.get("plan", "{}")), dataset=parent.data.tags.get("dataset"))
        tables.append(table)
    return tables


def augmentation_results(sweep: Sweep) -> pd.DataFrame | None:
    """Every finished cell of the sweep's newest augmentation study, or None when it has none."""
    newest = augmentation_studies(sweep, newest_only=True)
    return newest[0] if newest else None


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
    reasons = _not_comparable(cells)
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


def _not_comparable(cells: pd.DataFrame) -> list[str]:
    """Why our cells cannot be set beside the study's figures: another dataset, another classifier."""
    reasons = []
    dataset, classifier = cells.attrs.get("dataset"), cells.attrs.get("plan", {}).get("classifier")
    if dataset != PUBLISHED_DATASET:
        reasons.append(f"published on {PUBLISHED_DATASET}, ours on {dataset or 'an unrecorded dataset'}")
    if classifier != "lenet":
        reasons.append(f"published with the study's LeNet, ours with the {classifier} classifier")
    return reasons


CLAIM_ID = "001-augmentation"


def augmentation_claims(sweep: Sweep) -> list[tuple[ClaimVerdict, pd.DataFrame]]:
    """The augmentation claim judged by each augmentation study over the sweep (newest first), with its cells:
    one per classifier budget (a study's claim id names its epochs; of two studies with the same, the newest)."""
    judged = {}
    for cells in augmentation_studies(sweep):
        v = augmentation_claim(cells)
        if v is not None and v.claim.id not in judged:
            judged[v.claim.id] = (v, cells)
    return list(judged.values())


def augmentation_claim(cells: pd.DataFrame) -> ClaimVerdict | None:
    """The study's headline, that a classifier trained on real plus generated images beats one trained on the
    real ones alone, judged for the classifier budget the study trained (its claim id `001-augmentation-E-epochs`),
    on the `mixed` plan's cells: at the largest real size run both alone and with
    generated images, the largest generated size against none. The same fit as every verdict (stats.fit: the
    cell-means model, its HC2 test; one comparison, so no correction) over the classifier trainings, each of
    which is kept (a classifier's accuracy has no collapse to set aside). Its min_effect is the study's own gain
    (its two figures' difference): `smaller than min_effect` says a gain that large is ruled out where we ran.
    None when no such pair was run."""
    mixed = cells[(cells["plan"] == "mixed") & (cells["real"] > 0)]
    alone = set(mixed.loc[mixed["generated"] == 0, "real"])
    pairs = sorted({(r, g) for r, g in zip(mixed["real"], mixed["generated"]) if g > 0 and r in alone}, reverse=True)
    if not pairs:
        return None
    r, g = pairs[0]
    real_only, best = (next(f for f in PUBLISHED if (f["plan"], f["real"], f["generated"]) == key)
                       for key in [("mixed", 60000, 0), ("mixed", 60000, 60000)])
    reasons = _not_comparable(cells)
    if (r, g) != (best["real"], best["generated"]):
        reasons.append(f"published at {best['real']} real + {best['generated']} generated images, ours at {r} + {g}")
    epochs = cells.attrs.get("plan", {}).get("epochs", "?")
    claim = Claim(
        id=f"{CLAIM_ID}-{epochs}-epochs", source=best["source"].split(":")[0], kind=LEVELS,  # it gives both figures
        parameter="generated", level=str(g), against="0", expect="higher", metric=ACCURACY,
        statement=(f"a classifier trained on real plus generated images beats one trained on the real ones alone "
                   f"({real_only['value']:.2%} -> {best['value']:.2%})"),
        published=round(best["value"] - real_only["value"], 6), published_as="difference",
        not_comparable="; ".join(reasons))
    part = mixed[(mixed["real"] == r) & mixed["generated"].isin([0, g])].assign(status=Status.COMPLETED)
    fit = fit_design(part, ACCURACY, "max", ["generated"], {"generated": 0}, claims=[claim], collapses="keep",
                     min_effect=claim.published)
    return fit.claims[0] if fit.claims else None
