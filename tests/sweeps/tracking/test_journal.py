"""The sweep's MLflow journal on its own, against a real MLflow store: what a killed driver left is
applied later exactly once, a dead server never blocks the writer, a refused entry does not hold up the
rest. The sweeps against a real `mlflow server` that dies are in test_sweep.py."""

from __future__ import annotations

import json
import re
import time

import pytest
from mlflow.tracking import MlflowClient

from record.folder import SweepState
from sweeps.location import write_state
from sweeps.tracking.client import open_parent_run, quick_http_failures
from sweeps.tracking.journal import APPLIED_FILE, JOURNAL_FILE, REJECTED_FILE, Journal, JournalBusy
from sweeps.push import main as push
from tests.helpers import free_port


@pytest.fixture
def store(tmp_path):
    """An embedded MLflow store with a sweep's parent run, and the sweep's folder (sweep.json in it)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id, parent = open_parent_run(uri, "unit", "sweep1", (tmp_path / "art").as_uri(), {}, {})
    folder = tmp_path / "sweep"
    folder.mkdir()
    write_state(folder, SweepState(sweep_id="sweep1", tracking_uri=uri, storage=str(tmp_path / "ray"),
                                   experiment="unit", experiment_id=exp_id, parent_run_id=parent, spec="unit.yaml",
                                   scale=None, label="unit", run_name="sweep"))
    return uri, exp_id, parent, folder


def trial_entries(trial: str, steps: list[int]) -> list[dict]:
    return [{"op": "open", "trial": trial, "name": f"run {trial}", "params": {"optim.g_lr": 0.001},
             "tags": {"trial_id": trial, "sweep_id": "sweep1", "role": "trial", "status": "running"}},
            *({"op": "result", "trial": trial, "step": s, "time": 1000 + s, "metrics": {"fid": 100.0 - s, "step": s}}
              for s in steps),
            {"op": "tags", "trial": trial, "tags": {"status": "completed"}},
            {"op": "status", "trial": trial, "status": "FINISHED"}]


def test_what_a_killed_driver_left_is_pushed_once_even_when_applied_twice(store):
    uri, exp_id, parent, folder = store
    left = Journal(folder, uri, exp_id, parent, "sweep1")  # a driver that wrote and died before applying
    for entry in trial_entries("a", [10, 20]) + trial_entries("b", [10]):
        left.append(entry)
    with open(folder / JOURNAL_FILE, "a") as f:  # killed in the middle of writing one more entry
        f.write('{"op":"result","trial":"b","ste')
    assert push([str(folder)]) == 0
    client = MlflowClient(uri)
    runs = {r.info.run_name: r for r in client.search_runs([exp_id], "tags.role = 'trial'")}
    assert sorted(runs) == ["run a", "run b"]
    assert [(m.step, m.value) for m in client.get_metric_history(runs["run a"].info.run_id, "fid")] == [(10, 90.0),
                                                                                                       (20, 80.0)]
    assert all(r.info.status == "FINISHED" and r.data.tags["status"] == "completed" for r in runs.values())
    assert (folder / JOURNAL_FILE).read_text().endswith("}\n")  # the cut entry is gone, the file appendable
    # a driver killed after applying but before counting: everything is applied again, and changes nothing
    (folder / APPLIED_FILE).unlink()
    again = Journal(folder, uri, exp_id, parent, "sweep1")
    assert len(again.pending()) == 2 * 4 + 1
    again.start()
    again.append({"op": "result", "trial": "a", "step": 20, "time": 5, "metrics": {"fid": 1.0}})  # a repeat
    assert again.close(60) and again.rejected == 0
    assert len(client.search_runs([exp_id], "tags.role = 'trial'")) == 2
    assert len(client.get_metric_history(runs["run a"].info.run_id, "fid")) == 2
    assert client.get_run(runs["run a"].info.run_id).data.metrics["fid"] == 80.0
    assert push([str(folder)]) == 0  # nothing left


def test_a_settle_of_named_trials_ends_only_those_still_open(store):
    """How a packed seed that ended before its driver was killed is ended on --resume (sweeps.packs): its run alone,
    and only while it is open (a run already ended keeps its end)."""
    uri, exp_id, parent, folder = store
    journal = Journal(folder, uri, exp_id, parent, "sweep1")
    for trial in ("a", "b", "c"):
        journal.append(trial_entries(trial, [10])[0])
    journal.append({"op": "tags", "trial": "c", "tags": {"status": "completed"}})
    journal.append({"op": "status", "trial": "c", "status": "FINISHED"})
    journal.start()
    settle = {"op": "settle", "tag": "status", "statuses": ["running", "interrupted"], "exclude": [],
              "set_tags": {"status": "diverged"}, "status": "FINISHED", "delete_empty": False}
    journal.append({**settle, "only": ["a", "c"]})
    assert journal.close(60) and journal.rejected == 0
    client = MlflowClient(uri)
    runs = {r.data.tags["trial_id"]: r for r in client.search_runs([exp_id], "tags.role = 'trial'")}
    assert (runs["a"].info.status, runs["a"].data.tags["status"]) == ("FINISHED", "diverged")
    assert (runs["b"].info.status, runs["b"].data.tags["status"]) == ("RUNNING", "running")
    assert (runs["c"].info.status, runs["c"].data.tags["status"]) == ("FINISHED", "completed")


def test_a_dead_server_never_blocks_the_driver_and_what_waits_is_named(store, monkeypatch):
    uri, exp_id, parent, folder = store
    for var in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    quick_http_failures()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    journal = Journal(folder, dead, exp_id, parent, "sweep1").start()
    start = time.perf_counter()
    for entry in trial_entries("a", list(range(1, 51))):
        journal.append(entry)
    appending = time.perf_counter() - start
    assert appending < 5.0  # 53 fsynced lines; MLflow's own retries alone would take minutes
    start = time.perf_counter()
    assert not journal.close(3.0)
    assert time.perf_counter() - start < 30  # the thread stops between tries, not after MLflow's retries
    assert journal.unreachable_since is not None and journal.last_error == "connection refused"
    assert journal.applied == 0 and len(journal.pending()) == 53
    assert journal.pending_by_run() == {"run a": {"open": 1, "result": 50, "tags": 1, "status": 1}}
    # the push command gives up after its wait, says so, and keeps everything
    assert push([str(folder), "--tracking-uri", dead, "--wait", "1"]) == 75
    # and once MLflow answers (the sweep's own store here), everything lands
    assert push([str(folder)]) == 0
    (run,) = MlflowClient(uri).search_runs([exp_id], "tags.role = 'trial'")
    assert len(MlflowClient(uri).get_metric_history(run.info.run_id, "fid")) == 50


def test_a_refused_entry_is_kept_aside_and_the_rest_applied(store):
    uri, exp_id, parent, folder = store
    journal = Journal(folder, uri, exp_id, parent, "sweep1").start()
    with pytest.raises(JournalBusy, match="another process"):
        Journal(folder, uri, exp_id, parent, "sweep1").start()
    journal.append({"op": "result", "trial": "never-opened", "step": 1, "time": 1, "metrics": {"fid": 1.0}})
    for entry in trial_entries("a", [10]):
        journal.append(entry)
    assert journal.close(60)
    assert journal.rejected == 1 and journal.applied == 5
    (refused,) = [json.loads(line) for line in (folder / REJECTED_FILE).read_text().splitlines()]
    assert refused["trial"] == "never-opened" and "no MLflow run of trial never-opened" in refused["error"]
    (run,) = MlflowClient(uri).search_runs([exp_id], "tags.role = 'trial'")
    assert run.data.metrics["fid"] == 90.0


@pytest.mark.parametrize("line, said", [
    ('{"op":"result","trial":"a","step":9223372036854775808,"time":1,"metrics":{"fid":1.0}}',
     "its `step` 9223372036854775808 is outside a 64-bit integer"),
    ('{"op":"result","trial":"a","step":"10","time":1,"metrics":{"fid":1.0}}', "its `step` is str, not the int"),
    ('{"op":"result","trial":"a","step":10,"time":1,"metrics":{"fid":"low"}}', "its metric 'fid' is not a finite"),
    ('{"op":"open","trial":"a","name":"run a","tags":[],"params":{}}', "its `tags` is list, not the dict"),
    ('{"op":"settle","tag":"status","statuses":["running"],"exclude":[],"set_tags":{},"status":"KILLED"}',
     "its `delete_empty` is NoneType"),
])
def test_a_changed_entry_is_refused_when_the_journal_is_read_not_retried_for_ever(store, line, said):
    """An entry MLflow would refuse for good (a step no database integer holds) used to be taken for an outage and
    retried, holding back every entry after it: what each kind of entry holds is checked when the journal is read."""
    from sweeps.tracking.journal import JournalDamaged

    uri, exp_id, parent, folder = store
    entries = trial_entries("a", [10])
    lines = [json.dumps(e) for e in entries[:1]] + [line] + [json.dumps(e) for e in entries[1:]]
    (folder / JOURNAL_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(JournalDamaged, match=f"{JOURNAL_FILE}, line 2: {re.escape(said)}"):
        Journal(folder, uri, exp_id, parent, "sweep1")
    assert push([str(folder)]) == 2  # the push command says so in one line, and applies nothing


def test_a_journal_can_upload_only_files_of_its_own_folder_and_never_through_a_symlink(store, tmp_path):
    uri, exp_id, parent, folder = store
    secret = tmp_path / "credentials"
    secret.write_text("key=hunter2")
    (folder / "journal_files").mkdir()
    (folder / "journal_files" / "link").symlink_to(secret)
    (folder / "lnk").symlink_to(tmp_path)
    (folder / "journal_files" / "kept.txt").write_text("a file of the sweep")
    left = Journal(folder, uri, exp_id, parent, "sweep1")
    hostile = [
        str(secret),
        "journal_files/../../credentials",
        "journal_files/link",
        "lnk/credentials",
        "../credentials",
    ]
    for name in hostile:
        left.append({"op": "artifact", "trial": None, "file": name, "path": None})
    left.append({"op": "artifact", "trial": None, "file": "journal_files/kept.txt", "path": None})
    assert push([str(folder)]) == 0
    client = MlflowClient(uri)
    uploaded = {a.path for a in client.list_artifacts(parent)}
    assert uploaded == {"kept.txt"}  # the sweep's own file, and nothing else
    refused = [json.loads(line) for line in (folder / REJECTED_FILE).read_text().splitlines()]
    assert [r["file"] for r in refused] == hostile and all("refused" in r["error"] or "sweep folder" in r["error"]
                                                           for r in refused)
    assert secret.read_text() == "key=hunter2"  # never deleted after an upload


def test_two_sweeps_of_one_spec_started_together_share_the_experiment_the_first_created(tmp_path, monkeypatch):
    """The race, made certain: the experiment appears between this driver's lookup and its create."""
    from mlflow.tracking import MlflowClient as Client

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_a, run_a = open_parent_run(uri, "same", "sweep-a", None, {}, {})
    real = Client.get_experiment_by_name
    calls = []

    def lookup(self, name):
        calls.append(name)
        return None if len(calls) == 1 else real(self, name)  # the first lookup ran before the other's create

    monkeypatch.setattr(Client, "get_experiment_by_name", lookup)
    exp_b, run_b = open_parent_run(uri, "same", "sweep-b", None, {}, {})
    assert exp_b == exp_a and run_b != run_a and len(calls) == 2
