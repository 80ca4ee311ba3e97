"""Shared fixtures: real data locations and an isolated cache per test session; which tests start Ray.

The suite runs on two pytest-xdist workers (`-n 2` in pyproject.toml). The tests that start Ray, a sweep, a
server or a cluster run one at a time, in order, on one worker: two local Rays would compete for two cores,
and a test that kills a driver must find only its own processes. The other worker runs the rest (training,
metrics, the statistics' simulations, the spec checks), a module at a time, while they wait on Ray, on servers
and on each other. `-n 0` runs everything in one process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep caches (decoded datasets, real-data statistics, classifiers) out of the user's home."""
    cache = os.environ.get("GANSWEEP_TEST_CACHE")
    if not cache and os.environ.get("PYTEST_XDIST_WORKER"):
        # one cache for the session's workers: its files are written atomically, so a classifier or statistics
        # file one worker made is read by the other (the workers' temporary folders share this parent)
        cache = tmp_path_factory.getbasetemp().parent / "gansweep-cache"
        cache.mkdir(exist_ok=True)
    cache = str(cache or tmp_path_factory.mktemp("gansweep-cache"))
    old = os.environ.get("GANSWEEP_CACHE_DIR")
    os.environ["GANSWEEP_CACHE_DIR"] = cache
    yield Path(cache)
    if old is None:
        os.environ.pop("GANSWEEP_CACHE_DIR", None)
    else:
        os.environ["GANSWEEP_CACHE_DIR"] = old


def pytest_configure(config):
    # GANSWEEP_TEST_THREADS=1 runs the suite on one torch thread (results must not depend on the count); each
    # of several workers takes one thread by default, so that two never hold more threads than there are cores
    threads = os.environ.get("GANSWEEP_TEST_THREADS") or ("1" if os.environ.get("PYTEST_XDIST_WORKER") else "")
    if threads:
        torch.set_num_threads(int(threads))


# fixtures that start Ray, run a sweep, serve MLflow or start a cluster: a test that uses one is `ray`
RAY_FIXTURES = frozenset({"local_ray", "grid_sweep", "race_sweep", "optuna_sweep", "adaptive_sweep", "mlflow_server",
                          "cluster", "sweep", "started", "failing_sweep"})


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    ray_modules = set()
    for item in items:
        if RAY_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("ray"):
            item.add_marker(pytest.mark.slow)
            ray_modules.add(item.module)
    for item in items:
        # a module with a `ray` test is one unit of work with every other such module, for one worker, in order
        # (its other tests may look for what its `ray` ones start: a bridge, a port, a process); the rest go a
        # module at a time, so that a module's fixtures are made once
        item.add_marker(pytest.mark.xdist_group("ray" if item.module in ray_modules else item.module.__name__))
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sweep(tmp_path_factory):
    """TINY_SWEEP_SPEC run for real once per session: 8 finished runs in a real MLflow store, loaded."""
    import ray

    from analysis import load_sweep
    from sweeps.driver import run_sweep
    from sweeps.specfile import parse_spec
    from tests.helpers import TINY_SWEEP_SPEC

    out = tmp_path_factory.mktemp("sweep")
    run_sweep(parse_spec(TINY_SWEEP_SPEC, source="tiny_report.yaml"), out=out)
    ray.shutdown()
    return load_sweep(str(out)), out


UNGROUPED = pytest.StashKey[str]()


@pytest.hookimpl(trylast=True)  # after pytest-xdist has marked each group in its tests' ids
def pytest_collection_finish(session):
    """pytest-xdist 3.8 marks a group in a test's id, which pytest 9.2 ignores (pytest-dev/pytest-xdist#1386): it
    then hands `ray` tests to both workers at once, and they fail in ways that hide why. Every test fails instead,
    saying so (an error raised here would reach the terminal as xdist's traceback, without this message)."""
    if not getattr(session.config.option, "loadgroup", False):  # set on a worker of `--dist loadgroup` alone
        return
    # every test has a group (pytest_collection_modifyitems), which xdist appends to its id after an "@"
    ungrouped = [item.nodeid for item in session.items if "@" not in item.nodeid.rpartition("]")[2]]
    if ungrouped:
        session.config.stash[UNGROUPED] = (
            f"pytest-xdist did not group {len(ungrouped)} tests ({ungrouped[0]}, ...): the pytest and pytest-xdist "
            "releases installed do not work together; install the ones pyproject.toml's test extra names, or run "
            "with -n 0")


@pytest.fixture(autouse=True)
def _grouped(request):
    if UNGROUPED in request.config.stash:
        pytest.fail(request.config.stash[UNGROUPED], pytrace=False)
