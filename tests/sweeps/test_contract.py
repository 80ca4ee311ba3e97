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
