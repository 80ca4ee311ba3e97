"""Every reach into MLflow beyond plain client calls (sweeps/tracking/client.py), pinned on the installed
MLflow: each test fails loudly, naming the reach, when MLflow changes shape."""

from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from record.names import NOTE
from sweeps.tracking import client


def test_the_experiment_kind_the_ui_opens_on_its_runs_table_is_still_in_mlflows_ui():
    # the kind tag is read by MLflow's web UI alone (no Python constant): its bundle must still know both
    build = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    bundle = "\n".join(p.read_text(errors="replace") for p in build.glob("main.*.js"))
    assert bundle, f"no MLflow UI bundle under {build}"
    assert client.EXPERIMENT_KIND_TAG in bundle and client.EXPERIMENT_KIND in bundle


def test_the_shared_view_the_printed_page_opens_is_still_read_by_mlflows_ui():
    """The runs page loads a view from the experiment tag `mlflow.sharedViewState.<key>` named by the URL's
    `viewStateShareKey`, and the view's keys are the UI's search facets and table state: its bundle must
    still know them all (tests/sweeps/test_browse.py opens the page in Chromium)."""
    build = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    bundle = "\n".join(p.read_text(errors="replace") for p in build.glob("*.js"))
    assert f'"{client.SHARED_VIEW_TAG}"' in bundle and f'"{client.SHARED_VIEW_PARAM}"' in bundle
    for key in client.runs_view("sweep", "fid", "min", ["model.g_width"]):
        assert f'"{key}"' in bundle, key


def test_the_note_tag_is_mlflows_own():
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

    assert NOTE == MLFLOW_RUN_NOTE


def test_every_transient_error_code_is_one_mlflow_defines_and_is_told_from_a_refusal():
    codes = set(databricks_pb2.ErrorCode.keys())
    assert client._TRANSIENT_CODES <= codes, client._TRANSIENT_CODES - codes
    assert client.transient(MlflowException("busy", error_code=databricks_pb2.TEMPORARILY_UNAVAILABLE))
    assert not client.transient(MlflowException("bad", error_code=databricks_pb2.INVALID_PARAMETER_VALUE))


@pytest.mark.parametrize("name", ["MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
                                  "MLFLOW_HTTP_REQUEST_TIMEOUT"])
def test_the_http_retry_settings_are_still_mlflows(name, monkeypatch):
    import mlflow.environment_variables as env

    monkeypatch.delenv(name, raising=False)
    client.quick_http_failures()
    assert getattr(env, name).name == name and getattr(env, name).get() is not None
