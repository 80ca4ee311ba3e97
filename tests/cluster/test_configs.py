"""The cluster launcher configs pass Ray's own schema and checks; the KubeRay manifest has the fields
KubeRay's RayJob documents."""

import copy
from pathlib import Path

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
    doc = next(yaml.safe_load_all((REPO / "cluster" / "kuberay.yaml").read_text()))
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
    # its sweep folder is on a volume the head mounts (the head pod, and Ray's copy of working_dir, go away)
    words = spec["entrypoint"].split()
    out = Path(words[words.index("--out") + 1])
    mounts = [Path(m["mountPath"]) for m in head["volumeMounts"]]
    assert out.is_absolute() and any(out.is_relative_to(m) for m in mounts), (out, mounts)


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_launcher_configs_start_ray_with_token_auth_and_mlflow_on_loopback(name):
    raw = yaml.safe_load((REPO / "cluster" / name).read_text())
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in raw[key] if "ray start" in c]
        assert starts and all("RAY_AUTH_MODE=token" in c for c in starts), (key, starts)
    assert any(dst.endswith("/.ray/auth_token") for dst in raw["file_mounts"])  # every node gets the one token
    assert any("RAY_AUTH_MODE=token" in c for c in raw["setup_commands"])  # and the driver uses it
    (mlflow,) = [c for c in raw["head_setup_commands"] if "mlflow server" in c]
    assert "--host 127.0.0.1" in mlflow and "0.0.0.0" not in mlflow
    assert all("--dashboard-host=127.0.0.1" in c for c in raw["head_start_ray_commands"] if "ray start" in c)


def test_kuberay_pods_take_the_token_from_a_secret_behind_a_network_policy():
    job, policy = yaml.safe_load_all((REPO / "cluster" / "kuberay.yaml").read_text())
    cluster = job["spec"]["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"], *(g["template"] for g in cluster["workerGroupSpecs"]),
                 job["spec"]["submitterPodTemplate"]]
    for template in templates:
        assert template["metadata"]["labels"] == policy["spec"]["podSelector"]["matchLabels"]
        for container in template["spec"]["containers"]:
            env = {e["name"]: e for e in container["env"]}
            assert env["RAY_AUTH_MODE"]["value"] == "token"
            assert "secretKeyRef" in env["RAY_AUTH_TOKEN"]["valueFrom"] and "value" not in env["RAY_AUTH_TOKEN"]
    assert policy["kind"] == "NetworkPolicy" and policy["spec"]["policyTypes"] == ["Ingress"]
    sources = policy["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app": "gansweep-ray"}}} in sources and len(sources) == 2


def test_workers_get_the_bucket_and_nothing_else_and_only_tracked_files_are_uploaded():
    """Trials and plugins run on the workers: their cloud identity reaches the results bucket only (the head keeps
    the autoscaler's, which launches nodes). `file_mounts: .` uploads what git tracks, not .venv/ or runs/."""
    aws = yaml.safe_load((REPO / "cluster" / "aws.yaml").read_text())
    worker = aws["available_node_types"]["gpu_worker"]["node_config"]
    assert worker["IamInstanceProfile"]["Arn"].endswith(":instance-profile/gansweep-bucket-only")
    gcp = yaml.safe_load((REPO / "cluster" / "gcp.yaml").read_text())
    (account,) = gcp["available_node_types"]["gpu_worker"]["node_config"]["serviceAccounts"]
    assert account["scopes"] == ["https://www.googleapis.com/auth/devstorage.read_write"]
    assert "ray-autoscaler" not in account["email"]
    for raw in (aws, gcp):
        assert ".gitignore" in raw["rsync_filter"]
        assert {".venv", "runs", "outputs"} <= set(raw["rsync_exclude"])
    ignored = (REPO / ".gitignore").read_text().split()
    assert any(line.strip("/") == ".venv" for line in ignored) and any(line.strip("/") == "runs" for line in ignored)
