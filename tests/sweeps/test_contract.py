"""The trial contract: what the driver hands a trial, how a trial's end is read, and the resolved spec."""

import types
from dataclasses import asdict
from pathlib import Path

import pytest

from record.status import Status
from gan.config import Config
from record.names import Result
from sweeps.contract import TRIAL, TRIAL_INDEX, TrialRequest, status_of, trial_error
from sweeps.plan import resolved_spec
from sweeps.specfile import load_spec, parse_spec
from tests.helpers import REPO


def test_a_trial_config_reads_back_as_its_request_from_a_searcher_a_grid_or_an_earlier_release():
    config = Config.from_dict({"train": {"iterations": 5, "seed": 6}}).resolve().to_dict()
    req = TrialRequest(config=config, swept={"train.seed": 6}, eval={"metrics": ["fid"]}, metric="fid",
                       mode="min", final_num_samples=None, threads=2)
    searched = {k: v for k, v in asdict(req).items() if v is not None}  # Tune leaves None out of the space
    assert TrialRequest.from_trial_config(searched) == req
    grid = {**searched, TRIAL: {"swept": req.swept, "config": req.config}}
    del grid["swept"], grid["config"]
    assert TrialRequest.from_trial_config(grid) == req
    # a sweep an earlier release started, resumed: raw base, seeds, and the repeat index that picks one
    earlier = {**searched, "base": {"train": {"iterations": 5}}, "swept": {"train.seed": 0}, "seeds": [4, 5, 6],
               TRIAL_INDEX: 2}
    del earlier["config"]
    assert TrialRequest.from_trial_config(earlier) == req
    assert req.training_config().train.seed == 6 and req.training_config().optim.g_lr == 0.0002  # BCE's default
    # the release before carried no levels: its trials resume with none, and their runs log no `swept.` params
    previous = {k: v for k, v in searched.items() if k != "levels"}
    assert TrialRequest.from_trial_config(previous) == req and req.levels == {}
    leveled = TrialRequest.from_trial_config({**searched, "levels": {"model.g_width": 32}})
    assert leveled.levels == {"model.g_width": 32}
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


def test_a_trial_is_named_by_its_levels_a_variant_by_its_name():
    """A variant sets several keys; its trials are named by the variant's name, not by one of those keys (the
    console and MLflow called `compact` `depth=3`). Other sweeps keep the names they had."""
    from record.names import run_name
    from sweeps.contract import TrialRequest
    from sweeps.specfile import load_spec

    def name(spec, swept):
        return run_name(TrialRequest(config={}, swept=swept, eval={}, metric="fid", mode="min", final_num_samples=None,
                                     threads=1, levels=spec.factor_levels(swept)).named())

    variants = load_spec(REPO / "search_spaces" / "dcgan_variants.yaml", "claims")
    assert [name(variants, s) for s in variants.trial_configs()[::3]] == [
        "variant=compact seed=0", "variant=without batch norm seed=0", "variant=3 D steps per G step seed=0",
        "variant=learning rate 0.002 seed=0"]
    grid = load_spec(REPO / "search_spaces" / "hidden_dims.yaml", "smoke")
    swept = grid.trial_configs()[0]
    assert name(grid, swept) == run_name(swept) == "latent_dim=100 g_width=8 d_width=8 seed=0"
    budget = load_spec(REPO / "search_spaces" / "dataset_fraction.yaml", "smoke")
    swept = budget.trial_configs()[2]
    assert name(budget, swept) == run_name(swept)  # a budget plan's count stays in the name


RAY_FAILURE = """\
Failure # {n} (occurred at 2026-12-05_20-45-29)
\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=25584, ip=192.0.2.2, repr=run_own_trial)
  File "/lab/train.py", line 5, in run
    reporter.report(step=1, loss=1.0)
{last}
"""


@pytest.mark.parametrize("failures, expected", [
    (["sweeps.own.OwnTrialError: a report has no `fid`"], "OwnTrialError: a report has no `fid`"),
    (["ValueError: first try", "Exception: the second try's reason"], "Exception: the second try's reason"),
    (["KeyError: 'x'\n\nThe above exception was the direct cause of the following exception:\n\nTraceback (most "
      "recent call last):\n  File \"x.py\", line 1, in f\nRuntimeError: wrapped"], "RuntimeError: wrapped"),
    (["AssertionError"], "AssertionError"),
    (["subprocess.TimeoutExpired: Command 'x' timed out after 5 seconds"],
     "TimeoutExpired: Command 'x' timed out after 5 seconds"),
    (["ray.exceptions.RayTaskError(OwnTrialError): \x1b[36mray::ImplicitFunc.train()\x1b[39m"],
     "OwnTrialError: \x1b[36mray::ImplicitFunc.train()\x1b[39m"),
])
def test_an_errored_trials_reason_is_the_last_exception_of_its_last_failure(tmp_path, failures, expected):
    path = tmp_path / "error.txt"
    path.write_text("".join(RAY_FAILURE.format(n=i + 1, last=last) for i, last in enumerate(failures)))
    assert trial_error(types.SimpleNamespace(error_file=str(path))) == expected


def test_an_errored_trial_without_an_error_file_has_no_reason(tmp_path):
    assert trial_error(types.SimpleNamespace(error_file=None)) is None
    assert trial_error(types.SimpleNamespace(error_file=str(tmp_path / "gone.txt"))) is None
    long = tmp_path / "long.txt"
    long.write_text("ValueError: " + "x" * 1000 + "\n")
    assert len(trial_error(types.SimpleNamespace(error_file=str(long)))) == 300
