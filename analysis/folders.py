"""The sweep folder, `<root>/sweeps/<name>[-<scale>]-<sweep id>/`, and its `sweep.json`: the one owner of
their format. The sweep service writes the state through `write_state`; `--resume` and the report find
sweeps through `latest_sweep_dir` and read them with `read_state`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from gan._io import atomic_path

__all__ = ["STATE_FILE", "SweepState", "latest_sweep_dir", "read_state", "spec_label", "sweep_label", "write_state"]

STATE_FILE = "sweep.json"


@dataclass
class SweepState:
    sweep_id: str  # time stamp and a random suffix; the folder name ends with it
    tracking_uri: str  # where the MLflow runs are
    storage: str  # Tune's storage (a path or URI)
    experiment: str  # MLflow experiment name (the spec's name)
    experiment_id: str
    parent_run_id: str  # the sweep's parent MLflow run
    spec: str  # the spec file it was started from
    scale: str | None
    label: str  # name[-scale]
    run_name: str  # label-sweep_id: the folder name and Tune's experiment name
    finished: bool = False  # set when Tune's fit returned; an unfinished sweep can be resumed


def sweep_label(name: str, scale: str | None) -> str:
    return name + (f"-{scale}" if scale else "")


def spec_label(spec_path: str | Path, scale: str | None) -> tuple[str, str]:
    """(experiment name, label) of a spec file, read from its `name` alone (the report does not validate specs)."""
    raw = yaml.safe_load(Path(spec_path).read_text())
    name = raw.get("name") if isinstance(raw, dict) else None
    if not isinstance(name, str):
        raise ValueError(f"{spec_path}: a spec needs a `name`.")
    return name, sweep_label(name, scale)


def write_state(folder: Path, state: SweepState) -> None:
    with atomic_path(folder / STATE_FILE) as tmp:
        tmp.write_text(json.dumps(dataclasses.asdict(state), indent=1))


def read_state(folder: Path) -> SweepState:
    raw = json.loads((Path(folder) / STATE_FILE).read_text())
    known = {f.name for f in dataclasses.fields(SweepState)}
    return SweepState(**{k: v for k, v in raw.items() if k in known})


def latest_sweep_dir(root: Path, label: str | None = None, unfinished: bool = False) -> Path | None:
    """The newest sweep folder under ROOT/sweeps (of one label, and optionally only an unfinished one)."""
    found = []
    for f in (Path(root) / "sweeps").glob(f"{label + '-' if label else ''}*/{STATE_FILE}"):
        state = read_state(f.parent)
        if (label is None or state.label == label) and not (unfinished and state.finished):
            found.append((state.sweep_id, f.parent))
    return max(found)[1] if found else None
