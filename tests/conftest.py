"""Shared fixtures: real data locations and an isolated cache per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep caches (decoded datasets, real-data statistics, classifiers) out of the user's home."""
    cache = os.environ.get("GANSWEEP_TEST_CACHE") or str(tmp_path_factory.mktemp("gansweep-cache"))
    old = os.environ.get("GANSWEEP_CACHE_DIR")
    os.environ["GANSWEEP_CACHE_DIR"] = cache
    yield Path(cache)
    if old is None:
        os.environ.pop("GANSWEEP_CACHE_DIR", None)
    else:
        os.environ["GANSWEEP_CACHE_DIR"] = old


def pytest_configure(config):
    # GANSWEEP_TEST_THREADS=1 runs the suite on one torch thread (results must not depend on the count)
    if os.environ.get("GANSWEEP_TEST_THREADS"):
        torch.set_num_threads(int(os.environ["GANSWEEP_TEST_THREADS"]))


# fixtures that start Ray, run a sweep, serve MLflow or start a cluster: a test that uses one is `slow`
SLOW_FIXTURES = frozenset({"local_ray", "grid_sweep", "race_sweep", "optuna_sweep", "adaptive_sweep", "mlflow_server",
                           "cluster", "sweep", "started", "failing_sweep"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
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
