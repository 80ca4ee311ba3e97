"""A fuzzer for what users hand each other: a sweep folder's `tune_state.zip`, `mlflow_journal.jsonl` and
`sweep.json`, mutated. A restore, a push or a lookup either works or refuses with a clear error; none
writes outside the sweep folder, and nothing MLflow already holds is lost.

`GANSWEEP_FUZZ_EXAMPLES` sets the number of mutations per input (CI: the default below)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient

from record.folder import STATE_FILE, StateDamaged, SweepState, latest_sweep_dir, read_state
from sweeps.location import write_state
from sweeps.tracking.journal import JOURNAL_FILE
from sweeps.push import main as push
from sweeps.tracking.client import open_parent_run
from sweeps.tunestate import TuneStateDamaged, check_tune_state, restore_tune_state

EXAMPLES = int(os.environ.get("GANSWEEP_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
SESSION = "2026-01-01_00-00-00"
GOOD_MEMBERS = {
    f"experiment_state-{SESSION}.json": b'{"trial_data": []}',
    "tuner.pkl": b"\x80\x04N.",
    f"basic-variant-state-{SESSION}.json": b"\x80\x04}\x94.",
    f"searcher-state-{SESSION}.pkl": b"\x80\x04}\x94.",
    f"search_gen_state-{SESSION}.json": b"\x80\x04}\x94.",
}
names = st.one_of(st.sampled_from([*GOOD_MEMBERS, "../x.json", "/etc/x", "*", "a/../../b", "..", "", ".", "\x00",
                                   f"experiment_state-{SESSION}.json/../../x"]), st.text(max_size=30))
blobs = st.one_of(st.binary(max_size=200), st.sampled_from(list(GOOD_MEMBERS.values())))


def _files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@FUZZ
@given(members=st.lists(st.tuples(names, blobs), min_size=1, max_size=6), raw_edit=st.integers(-1, 400),
       deflate=st.booleans())
def test_a_mutated_state_backup_restores_or_is_refused_and_never_writes_outside(tmp_path_factory, members, raw_edit,
                                                                                deflate):
    root = tmp_path_factory.mktemp("zip")
    sweep, outside = root / "sweep", root / "outside"
    experiment = sweep / "ray" / "exp"
    experiment.mkdir(parents=True)
    outside.mkdir()
    (outside / f"experiment_state-{SESSION}.json").write_text("theirs")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
            for name, data in members:
                with contextlib.suppress(ValueError, IndexError):  # names zipfile itself refuses
                    z.writestr(name, data)
    data = bytearray(buf.getvalue())
    if 0 <= raw_edit < len(data):
        data[raw_edit] ^= 0xFF  # one byte of the archive flipped
    backup = sweep / "tune_state.zip"
    backup.write_bytes(bytes(data))
    before = _files_under(outside)
    try:
        restore_tune_state(backup, experiment)
        check_tune_state(experiment)
    except TuneStateDamaged as e:
        assert str(e)
    assert _files_under(outside) == before
    assert all(p.resolve().is_relative_to(sweep.resolve()) for p in root.rglob("*") if p.is_file()
               and not p.is_relative_to(outside))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real MLflow store holding one finished trial run of a sweep."""
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    exp_id, parent = open_parent_run(uri, "fuzz", "sweep1", (root / "art").as_uri(), {}, {})
    client = MlflowClient(uri)
    run = client.create_run(
        exp_id,
        run_name="kept",
        tags={
            "mlflow.parentRunId": parent,
            "trial_id": "kept",
            "sweep_id": "sweep1",
            "role": "trial",
            "status": "completed",
        },
    )
    client.log_metric(run.info.run_id, "fid", 42.0, step=10)
    return uri, exp_id, parent, run.info.run_id


ENTRY = [{"op": "open", "trial": "a", "name": "run a", "params": {"optim.g_lr": 0.001},
          "tags": {"trial_id": "a", "sweep_id": "sweep1", "role": "trial", "status": "running"}},
         {"op": "result", "trial": "a", "step": 10, "time": 1000, "metrics": {"fid": 90.0}},
         {"op": "tags", "trial": "a", "tags": {"status": "completed"}},
         {"op": "artifact", "trial": None, "file": "summary.json", "path": None},
         {"op": "status", "trial": "a", "status": "FINISHED"}]
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(),
                                     st.text(max_size=12)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=6)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, len(ENTRY) - 1), st.sampled_from(["op", "trial", "step", "metrics",
                                                                                 "file", "tags", "status", "name",
                                                                                 "params", "time", "x"]),
                                json_values), max_size=4),
       raw=st.sampled_from(["", "{", "[]", "null", "\xff", '{"op": "settle"}', '{"op": 3}', "1e999", '"x"']),
       applied=st.sampled_from([None, "", "x", "-3", "2", "999"]))
def test_a_mutated_journal_is_pushed_or_refused_and_loses_nothing_already_in_mlflow(tmp_path_factory, store, edits,
                                                                                    raw, applied):
    uri, exp_id, parent, kept = store
    box = tmp_path_factory.mktemp("box")
    folder, other = box / "sweep", box / "other"
    folder.mkdir()
    other.mkdir()
    (other / "credentials").write_text("secret")
    write_state(folder, SweepState(sweep_id="sweep1", tracking_uri=uri, storage=str(folder / "ray"), experiment="fuzz",
                                   experiment_id=exp_id, parent_run_id=parent, spec="f.yaml", scale=None,
                                   label="fuzz", run_name=folder.name))
    (folder / "summary.json").write_text("{}")
    entries = [dict(e) for e in ENTRY]
    for i, key, value in edits:
        entries[i][key] = value
    lines = [json.dumps(e, default=str) for e in entries] + ([raw] if raw else [])
    (folder / JOURNAL_FILE).write_text("\n".join(lines) + "\n")
    if applied is not None:
        (folder / "mlflow_journal.applied").write_text(applied)
    rc = push([str(folder), "--wait", "20"])
    assert rc in (0, 2, 75)
    client = MlflowClient(uri)
    assert client.get_run(kept).data.metrics["fid"] == 42.0  # nothing already in MLflow is lost
    assert client.get_run(kept).info.lifecycle_stage == "active"
    assert sorted(p.name for p in box.iterdir()) == ["other", "sweep"]  # nothing written beside the folder
    assert [p.name for p in other.iterdir()] == ["credentials"] and (other / "credentials").read_text() == "secret"


@FUZZ
@given(value=json_values, key=st.sampled_from(["sweep_id", "label", "finished", "tracking_uri", "scale", "run_name",
                                              "extra"]), raw=st.sampled_from([None, "", "{", "\xff\xfe", "[]", "1"]))
def test_a_mutated_sweep_json_is_read_or_refused_and_never_hides_its_neighbour(tmp_path_factory, value, key, raw):
    root = tmp_path_factory.mktemp("root")
    good, odd = root / "sweeps" / "exp-1-a", root / "sweeps" / "exp-2-b"
    good.mkdir(parents=True)
    odd.mkdir()
    write_state(good, SweepState(sweep_id="1-a", tracking_uri="u", storage="s", experiment="exp", experiment_id="1",
                                 parent_run_id="p", spec="s", scale=None, label="exp", run_name="exp-1-a"))
    state = json.loads((good / STATE_FILE).read_text())
    state.update({"sweep_id": "2-b", "run_name": "exp-2-b", key: value})
    (odd / STATE_FILE).write_text(raw if raw is not None else json.dumps(state, default=str))
    try:
        read_state(odd)
    except StateDamaged as e:
        assert STATE_FILE in str(e)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = latest_sweep_dir(root, "exp", unfinished=True)
    assert found in (good, odd)
