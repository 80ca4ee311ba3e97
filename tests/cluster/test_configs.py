"""The cluster launcher configs pass Ray's own schema and checks; the KubeRay manifest has the fields
KubeRay's RayJob documents."""

import copy

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from tests.helpers import REPO


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_launcher_configs_validate_against_ray_schema(name):
    raw = yaml.safe_load((REPO / "cluster" / name).read_text())
    validate_config(prepare_config(copy.deepcopy(raw)))  # raises on any schema or consistency error
    types = raw["available_node_types"]
    assert raw["head_node_type"] in types
    assert any(t != raw["head_node_type"] for t in types)
    assert types[raw["head_node_type"]]["resources"] == {"CPU": 0}  # trials run on workers only
    commands = " ".join(raw["setup_commands"])
    assert "scripts/install.sh" in commands
    assert any("mlflow server" in c for c in raw["head_setup_commands"])


def test_launcher_config_typo_is_caught_by_the_same_check():
    raw = yaml.safe_load((REPO / "cluster" / "aws.yaml").read_text())
    raw["available_node_types"]["gpu_worker"]["min_worker"] = 1  # typo: min_workers
    with pytest.raises(Exception, match="min_worker"):
        validate_config(prepare_config(copy.deepcopy(raw)))


def test_kuberay_rayjob_manifest():
    doc = yaml.safe_load((REPO / "cluster" / "kuberay.yaml").read_text())
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayJob"
    spec = doc["spec"]
    assert spec["entrypoint"].startswith("python -m sweeps.run search_spaces/")
    assert "--storage" in spec["entrypoint"] and "--tracking-uri" in spec["entrypoint"]
    cluster = spec["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {p["containerPort"] for p in head["ports"]} >= {6379, 8265}
    for group in cluster["workerGroupSpecs"]:
        assert {"groupName", "replicas", "rayStartParams", "template"} <= set(group)
        container = group["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # the entrypoint's spec exists in this repository
    assert (REPO / spec["entrypoint"].split()[3]).is_file()
