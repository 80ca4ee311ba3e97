"""The trial contract: what the driver hands a trial, how a trial's end is read, and the resolved spec."""

from pathlib import Path

import pytest

from gan.status import Status
from sweeps.contract import TRIAL_INDEX, Result, TrialRequest, status_of
from sweeps.plan import resolved_spec
from sweeps.spec import load_spec, parse_spec
from tests.helpers import REPO


def test_a_trial_config_reads_back_as_its_request_and_a_repeat_takes_its_seed():
    req = TrialRequest(base={"train": {"iterations": 5}}, swept={"optim.g_lr": 0.001, "train.seed": 0},
                       eval={"metrics": ["fid"]}, metric="fid", mode="min", final_num_samples=None, threads=2,
                       seeds=[4, 5, 6])
    config = req.param_space()
    assert "final_num_samples" not in config  # None is left out of Tune's space
    assert TrialRequest.from_trial_config(config) == req
    repeat = TrialRequest.from_trial_config({**config, TRIAL_INDEX: 2})
    assert repeat.swept == {"optim.g_lr": 0.001, "train.seed": 6}
    assert repeat.training_config().train.seed == 6 and repeat.training_config().train.iterations == 5
    with pytest.raises(KeyError, match="not a gansweep trial config"):
        TrialRequest.from_trial_config({"lr": 1})


def test_status_of_a_last_result():
    assert status_of(None) == Status.NOT_STARTED
    assert status_of({Result.IS_FINAL: 1.0, Result.DIVERGED: 0.0}) == Status.COMPLETED
    assert status_of({Result.IS_FINAL: 0.0, Result.DIVERGED: 0.0}) == Status.EARLY_STOPPED
    assert status_of({Result.IS_FINAL: 1.0, Result.DIVERGED: 1.0}) == Status.DIVERGED
    assert Status.ended() == {"completed", "early_stopped", "diverged"}


SPECS = sorted((REPO / "search_spaces").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_the_resolved_spec_loads_to_the_same_trials_at_every_scale(path: Path, tmp_path):
    import yaml

    scales = [None, *(yaml.safe_load(path.read_text()).get("scales") or {})]
    for scale in scales:
        spec = load_spec(path, scale)
        again = parse_spec(resolved_spec(spec), source="spec.resolved.yaml")
        assert again.trial_configs() == spec.trial_configs(), scale
        assert (again.base, again.metric, again.seeds, again.evaluation, again.published) == (
            spec.base, spec.metric, spec.seeds, spec.evaluation, spec.published), scale
        assert again.num_trials() == spec.num_trials()


def test_progress_counts_trials_waiting_to_resume_apart_from_running_ones(capsys):
    """A resumed sweep's trials that have results but wait for a free slot are not running."""
    from types import SimpleNamespace

    from sweeps.progress import Progress as _Progress

    progress = _Progress("fid", "min", 4)
    progress.step([SimpleNamespace(trial_id="a", status="RUNNING", last_result={Result.EVALUATION: 1}, config={}),
                   SimpleNamespace(trial_id="b", status="PENDING", last_result={Result.EVALUATION: 2}, config={}),
                   SimpleNamespace(trial_id="c", status="PENDING", last_result={}, config={})])
    progress.print()
    progress.print(interrupted=True)
    live, stopped = capsys.readouterr().out.splitlines()
    assert "trials: 1 running, 1 waiting to resume, 0 completed" in live
    assert "trials: 0 running, 0 completed" in stopped and "2 interrupted of 4" in stopped


def test_storage_faults_are_told_from_other_errors():
    import errno

    from sweeps.contract import storage_fault_cause

    assert storage_fault_cause(OSError(errno.ENOSPC, "No space left on device")) == "no space left on the device"
    assert storage_fault_cause(OSError(errno.EROFS, "x")) == "the file system is read-only"
    try:  # wrapped, as a storage layer re-raises it
        try:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        except OSError as inner:
            raise RuntimeError("upload failed") from inner
    except RuntimeError as outer:
        assert storage_fault_cause(outer) == "disk quota exceeded"
    # pyarrow keeps the errno only in its message
    assert storage_fault_cause(OSError("[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left "
                                       "on device")) == "no space left on the device"
    assert storage_fault_cause(OSError(errno.ENOENT, "No such file or directory")) is None
    assert storage_fault_cause(ValueError("bad value")) is None


def _summary_spec(name: str, parameters: str, seeds: int):
    """A small grid spec for the sweep summary's tests: `parameters` is the indented body of its `parameters:`."""
    return parse_spec(f"name: {name}\nbase:\n  data: {{name: fashion_mnist}}\n  train: {{iterations: 20, eval_every: 10}}\n"
                      f"parameters:\n{parameters}method: grid\nseeds: {seeds}\n", source=f"{name}.yaml")


def test_the_sweep_summary_does_not_rank_a_lone_configuration_against_nothing():
    from sweeps.summary import format_summary as _format_summary

    spec = _summary_spec("lone", "  optim.g_lr: {values: [0.0002, 0.002]}\n", 3)
    rows = [{"trial_id": f"t{s}", "status": Status.COMPLETED, "fid": 80.0 + s, "evaluation": 2, "step": 20,
             "swept": {"optim.g_lr": 0.0002, "train.seed": s}} for s in range(3)]
    rows.append({"trial_id": "t3", "status": Status.INTERRUPTED, "fid": 300.0, "evaluation": 1, "step": 10,
                 "swept": {"optim.g_lr": 0.002, "train.seed": 0}})
    text = _format_summary({"metric": "fid", "mode": "min", "trials": rows}, spec)
    assert "only one configuration has finished runs: nothing to rank it against." in text
    assert "indistinguishable from the best" not in text
    rows[3]["status"] = Status.COMPLETED  # a second configuration with one run: now there is a comparison
    rows += [{**rows[3], "trial_id": f"t{4 + s}", "fid": 301.0 + s, "swept": {"optim.g_lr": 0.002, "train.seed": s}}
             for s in (1, 2)]
    text = _format_summary({"metric": "fid", "mode": "min", "trials": rows}, spec)
    assert "1 of 2 configurations are indistinguishable from the best at 95%" in text


def test_the_sweep_summary_names_a_parameter_held_at_one_level():
    """hidden_dims at smoke scale sweeps latent_dim over the one value 100: the fitted model has no factor for
    it, and the summary still names it with each configuration."""
    from sweeps.summary import format_summary as _format_summary

    spec = _summary_spec("held", "  model.latent_dim: {values: [100]}\n  model.g_width: {values: [8, 32]}\n", 2)
    rows = [{"trial_id": f"t{g}{s}", "status": Status.COMPLETED, "fid": (150.0 if g == 8 else 90.0) + s,
             "evaluation": 2, "step": 20, "swept": {"model.latent_dim": 100, "model.g_width": g, "train.seed": s}}
            for g in (8, 32) for s in (0, 1)]
    text = _format_summary({"metric": "fid", "mode": "min", "trials": rows}, spec)
    assert "latent_dim=100, g_width=32" in text and "geometric mean [95% CI]" in text


def test_the_sweep_summary_of_a_sweep_where_no_trial_finished_says_so():
    from sweeps.summary import format_summary as _format_summary

    spec = _summary_spec("none", "  model.g_width: {values: [8, 32]}\n", 2)
    rows = [{"trial_id": f"t{g}{s}", "status": Status.DIVERGED, "fid": None, "evaluation": 1, "step": 10,
             "swept": {"model.g_width": g, "train.seed": s}} for g in (8, 32) for s in (0, 1)]
    text = _format_summary({"metric": "fid", "mode": "min", "trials": rows}, spec)
    assert text.endswith("no trial finished with a finite fid.")
