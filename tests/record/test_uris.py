"""Credentials in a tracking URI never reach what gansweep prints or writes for people."""

import pytest

from record.uris import shown
from sweeps.summary import ui_command


@pytest.mark.parametrize("uri, expected", [
    ("http://alice:s3cret@mlflow.lab:5000", "http://alice:***@mlflow.lab:5000"),
    ("postgresql://gansweep:pw@db.lab/mlflow", "postgresql://gansweep:***@db.lab/mlflow"),
    ("http://tok3n@mlflow.lab", "http://***@mlflow.lab"),
    ("https://mlflow.lab/?api_token=abc&team=gan", "https://mlflow.lab/?api_token=***&team=gan"),
    ("sqlite:////home/me/runs/mlflow.db", "sqlite:////home/me/runs/mlflow.db"),  # nothing to hide: untouched
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("runs/mlflow", "runs/mlflow"),
])
def test_passwords_and_secret_query_values_are_masked(uri, expected):
    assert shown(uri) == expected


def test_the_printed_way_to_open_a_server_hides_its_password():
    line = ui_command("http://alice:s3cret@mlflow.lab:5000", "3", "20260101-a")
    assert "s3cret" not in line and line.startswith("open http://alice:***@mlflow.lab:5000/#/experiments/3/runs")
