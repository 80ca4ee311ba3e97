"""The MLflow tracker on its own: a real MLflow store and the sweep's journal, driven through the hooks
Tune calls, without a Tune run."""

from dataclasses import asdict
from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient
from ray.tune.callback import CallbackList

from gan.config import Config, flatten, merge_dotted
from record.status import Status
from record.names import run_name
from record.names import Result
from sweeps.contract import TrialRequest
from sweeps.ledger import Ledger, ledger_callback
from sweeps.tracking.client import open_parent_run
from sweeps.tracking.journal import Journal
from sweeps.tracking.tracker import MLflowTracker


class AsTuneCalls:
    """The tracker as a sweep's driver has Tune call it: through Tune's CallbackList, after the ledger's
    callback (sweeps.ledger), which it reads each trial's last result and ending from."""

    def __init__(self, journal: Journal):
        self.ledger = Ledger(0)
        self.tracker = MLflowTracker(journal, self.ledger, "fid", "abc")
        self.calls = CallbackList([ledger_callback(self.ledger), self.tracker])

    def __getattr__(self, hook: str):
        def call(iteration, trials, trial, *result):
            getattr(self.calls, hook)(iteration=iteration, trials=trials, trial=trial,
                                      **({"result": result[0]} if result else {}))
        return call

    def interrupted(self) -> None:
        self.tracker.interrupted()


def _request(swept: dict) -> TrialRequest:
    base = {"data": {"name": "mnist"}, "model": {"arch": "dcgan"}, "train": {"iterations": 20}}
    config = Config.from_dict(merge_dotted(base, swept)).resolve().to_dict()
    return TrialRequest(config=config, swept=swept, eval={"metrics": ["fid"]}, metric="fid", mode="min",
                        final_num_samples=None, threads=1)


def test_tracker_names_runs_marks_interrupted_ones_and_reopens_them(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id, parent = open_parent_run(uri, "unit", "sweep1", (tmp_path / "art").as_uri(), {}, {},
                                     note="**fid** ranks", experiment_note="a study")
    client = MlflowClient(uri)
    exp = client.get_experiment(exp_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens on the runs table
    assert exp.tags["mlflow.note.content"] == "a study"
    assert client.get_run(parent).data.tags["mlflow.note.content"] == "**fid** ranks"
    swept = {"model.g_width": 32, "optim.g_lr": 0.0005, "train.seed": 1}
    req = _request(swept)
    trial = SimpleNamespace(trial_id="t1", config=asdict(req), last_result={})
    journal = Journal(tmp_path / "sweep", uri, exp_id, parent, "sweep1").start()
    tracker = AsTuneCalls(journal)
    tracker.on_trial_start(0, [], trial)
    tracker.on_trial_result(0, [], trial, {"fid": 120.0, Result.STEP: 10, Result.EVALUATION: 1, "node_ip": "x",
                                           Result.IS_FINAL: 0.0, Result.DIVERGED: 0.0})
    assert journal.drain(60)
    (run,) = client.search_runs([exp_id], "tags.role = 'trial'")
    assert run.info.run_name == "g_width=32 g_lr=0.0005 seed=1" == run_name(req.swept)
    assert run.data.params["model.g_width"] == "32" and run.data.tags["status"] == Status.RUNNING
    # the params are the config the trial was handed, resolved on the driver (the loss's default d_lr filled in)
    assert run.data.params["optim.d_lr"] == "0.0005" and len(run.data.params) == len(flatten(req.config)) + 1
    assert "is_final" not in run.data.metrics and run.data.metrics["fid"] == 120.0
    # a run that an earlier, SIGKILLed driver left RUNNING for a trial this driver never restarted, and
    # another sweep's running run in the same experiment
    left = client.create_run(exp_id, tags={"mlflow.parentRunId": parent, "trial_id": "t0", "sweep_id": "sweep1",
                                           "role": "trial", "status": "running"}).info.run_id
    other = client.create_run(exp_id, tags={"trial_id": "t0", "sweep_id": "sweep2", "role": "trial",
                                            "status": "running"}).info.run_id
    tracker.interrupted()
    assert journal.close(60)
    for run_id in (run.info.run_id, left):
        r = client.get_run(run_id)
        assert (r.info.status, r.data.tags["status"]) == ("KILLED", "interrupted")
    assert (client.get_run(other).info.status, client.get_run(other).data.tags["status"]) == ("RUNNING", "running")
    client.delete_run(left)
    # a resumed sweep's tracker finds the run again and does not log the evaluation twice
    journal = Journal(tmp_path / "sweep", uri, exp_id, parent, "sweep1").start()
    resumed = AsTuneCalls(journal)
    resumed.on_trial_restore(0, [], trial)
    assert journal.drain(60)
    assert client.get_run(run.info.run_id).info.status == "RUNNING"
    resumed.on_trial_result(0, [], trial, {"fid": 120.0, Result.STEP: 10, Result.EVALUATION: 1})
    resumed.on_trial_result(0, [], trial, {"fid": 90.0, Result.STEP: 20, Result.EVALUATION: 2,
                                           Result.IS_FINAL: 1.0, Result.DIVERGED: 0.0})
    resumed.on_trial_complete(0, [], trial)
    resumed.interrupted()  # nothing of this sweep is running any more: it changes nothing
    assert journal.close(60) and journal.rejected == 0
    run = client.get_run(run.info.run_id)
    assert (run.info.status, run.data.tags["status"]) == ("FINISHED", "completed")
    assert [m.step for m in client.get_metric_history(run.info.run_id, "fid")] == [10, 20]
    assert len(client.search_runs([exp_id], "tags.role = 'trial'")) == 2  # the run of t1, and `other`


def test_a_trial_restored_from_its_final_checkpoint_ends_with_the_status_of_that_result(tmp_path):
    # A driver killed after a trial's final result, but before Tune saved the trial as ended: the resumed
    # sweep restores it from its final checkpoint, it ends at once, and this driver sees no result of it.
    # Tune then holds the checkpoint's result as the trial's last result; a trial it never ran holds none.
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id, parent = open_parent_run(uri, "unit", "sweep1", (tmp_path / "art").as_uri(), {}, {})
    req = _request({"optim.g_lr": 0.0005})
    final = {"fid": 90.0, Result.STEP: 20, Result.EVALUATION: 2, Result.IS_FINAL: 1.0, Result.DIVERGED: 0.0}
    stopped = {**final, Result.EVALUATION: 1, Result.STEP: 10, Result.IS_FINAL: 0.0}
    trials = {"done": SimpleNamespace(trial_id="done", config=asdict(req), last_result=final),
              "stopped": SimpleNamespace(trial_id="stopped", config=asdict(req), last_result=stopped),
              "never": SimpleNamespace(trial_id="never", config=asdict(req), last_result={"trial_id": "never"})}
    journal = Journal(tmp_path / "sweep", uri, exp_id, parent, "sweep1").start()
    tracker = AsTuneCalls(journal)
    for trial in trials.values():
        tracker.on_trial_restore(0, [], trial)
        tracker.on_trial_complete(0, [], trial)
    assert journal.close(60) and journal.rejected == 0
    runs = {r.data.tags["trial_id"]: r for r in MlflowClient(uri).search_runs([exp_id], "tags.role = 'trial'")}
    assert {t: (r.data.tags["status"], r.data.tags["last_evaluation"]) for t, r in runs.items()} == {
        "done": (Status.COMPLETED, "2"), "stopped": (Status.EARLY_STOPPED, "1"), "never": (Status.NOT_STARTED, "0")}


@pytest.mark.parametrize("swept, name", [
    ({}, "base config"),
    ({"model.g_width": 8, "model.d_width": 8, "train.seed": 0}, "g_width=8 d_width=8 seed=0"),
    ({"loss.name": "bce", "model.name": "x"}, "loss.name=bce model.name=x"),  # two keys end alike
])
def test_run_names(swept, name):
    assert run_name(swept) == name
