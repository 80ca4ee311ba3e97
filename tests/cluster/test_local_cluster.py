"""A real 3-node Ray cluster on this machine: a head on a bridge address and two workers, each in its
own network namespace, plus an MLflow server; a sweep through the head, a worker killed mid-sweep, and
the head killed with its driver and MLflow server, then started again for `--resume`.
Traffic goes only to the bridge and namespaces these tests create."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import MNIST_TEST_DIR, REPO

SCRIPT = REPO / "cluster" / "local_cluster.sh"
PLUGIN = REPO / "tests" / "sweeps" / "plugin_lab"
SUBNET = "10.231.78"


def _can_make_namespaces() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    # a name of this process's own: each pytest-xdist worker imports this module and probes at once, and with
    # one shared name the second `add` failed ("File exists"), so the worker that runs these tests skipped them
    name = f"gswprobe{os.getpid()}"
    probe = subprocess.run(["ip", "netns", "add", name], capture_output=True)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _can_make_namespaces(), reason="needs root and `ip netns` (network namespaces)")


def _nobody_can_run_the_venv() -> bool:
    """Whether `nobody` can run this venv's Python: not where its interpreter lives under a folder of root's
    alone (a pyenv Python in /root), which leaves the MLflow server only root to run as."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    probe = [shutil.which("setpriv"), "--reuid=65534", "--regid=65534", "--init-groups", sys.executable, "-c",
             "import subprocess, sys; subprocess.run([sys.executable, '-c', ''], check=True)"]
    return subprocess.run(probe, cwd="/", capture_output=True).returncode == 0


NOBODY = _nobody_can_run_the_venv()


@pytest.fixture(scope="module")
def cluster():
    # a short path: Ray's dashboard keeps unix sockets (at most 107 bytes a path) deep under it
    state = Path(tempfile.mkdtemp(prefix="gswt", dir="/tmp"))
    env = {**os.environ, "GSW_SUBNET": SUBNET, "GSW_BRIDGE": "gswtest0", "GSW_PREFIX": "gswt",
           "GSW_STATE": str(state), "GSW_RAY_PORT": "6391", "GSW_MLFLOW_PORT": "5051", "GSW_DASHBOARD_PORT": "8266",
           "GSW_MLFLOW_USER": "nobody" if NOBODY else "root", "SUDO_USER": "nobody"}  # as `sudo` run by nobody
    subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True)
    up = subprocess.run(["bash", str(SCRIPT), "start", "2"], env=env, capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    exported = dict(line.removeprefix("export ").split("=", 1) for line in (state / "env").read_text().splitlines())
    with pytest.MonkeyPatch.context() as mp:  # this process's MLflow clients sign in as the env file says
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            mp.setenv(key, exported[key])
        yield {"env": {**env, **exported}, "state": state, "tracking_uri": exported["MLFLOW_TRACKING_URI"]}
    down = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert "gswtest0" not in subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
    assert not (Path(f"{state}.user") / "env").exists()  # the sudo user's env file goes with the cluster
    # no process of the cluster outlives it, Ray's client server included
    assert not subprocess.run(["pgrep", "-f", f"--address={SUBNET}.1:6391"], capture_output=True).stdout
    shutil.rmtree(state, ignore_errors=True)
    shutil.rmtree(f"{state}.mlflow", ignore_errors=True)
    shutil.rmtree(f"{state}.user", ignore_errors=True)


def spec(tmp: Path, name: str, iterations: int, values: list[int], plugin: bool = False) -> Path:
    """A grid over latent_dim; with `plugin`, of the lab plugin's GAN and dataset (tests/sweeps/plugin_lab),
    copied beside the spec: a folder on no node's import path, so only Ray's py_modules brings it to them."""
    path = tmp / f"{name}.yaml"
    if plugin:
        shutil.copytree(PLUGIN, tmp / "plugin_lab", ignore=shutil.ignore_patterns("__pycache__"))
    data, arch = ("mnist_low_digits", "tiny_conv") if plugin else ("mnist", "dcgan")
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        plugins: {["plugin_lab.gans"] if plugin else []}
        base:
          data: {{name: {data}, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
          model: {{arch: {arch}, latent_dim: 8, g_width: 8, d_width: 8}}
          train: {{iterations: {iterations}, eval_every: 10, batch_size: 32}}
        evaluation: {{metrics: [fid], num_samples: 200, real_samples: 500}}
        parameters:
          model.latent_dim: {{values: {values}}}
        method: grid
        max_failures: 3
        resources: {{cpus: 1}}
        """))
    return path


def sweep_cmd(cluster, spec_file: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "sweeps.run", str(spec_file), "--out", str(out),
            "--storage", str(cluster["state"] / "storage")]


def trial_runs(uri: str, experiment: str):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return client, []
    return client, client.search_runs([exp.experiment_id], filter_string="tags.role = 'trial'", max_results=100)


def test_sweep_through_the_head_runs_trials_on_several_nodes(cluster, tmp_path):
    # trials long enough (12 evaluations) that the second worker's actor starts while the first one trains:
    # with trials of 3 evaluations, a loaded machine saw Tune hand all four, one after another, to the first
    # worker's reused actor
    # the trials train a plugin's GAN on a plugin's dataset
    spec_file = spec(tmp_path, "spread", 120, [4, 8, 12, 16], plugin=True)
    proc = subprocess.run(sweep_cmd(cluster, spec_file, tmp_path / "out"), env=cluster["env"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"shipped to the workers: {tmp_path / 'plugin_lab'}" in proc.stdout
    client, runs = trial_runs(cluster["tracking_uri"], "spread")
    assert len(runs) == 4 and all(r.data.tags["status"] == "completed" for r in runs)
    assert {(r.data.params["model.arch"], r.data.params["data.name"]) for r in runs} == {
        ("tiny_conv", "mnist_low_digits")
    }
    nodes = {r.data.tags["node_ip"] for r in runs}
    assert len(nodes) >= 2 and nodes <= {f"{SUBNET}.11", f"{SUBNET}.12"}
    assert not (tmp_path / "out" / "mlflow.db").exists()  # everything went to the cluster's MLflow server


def test_a_sweep_submitted_as_a_ray_job_from_the_users_lab_folder_runs_its_plugin_on_the_workers(cluster, tmp_path):
    # the user's lab: a spec and its plugin package, in a folder no node imports from; `ray job submit
    # --working-dir .` uploads it, and the driver runs on the head in Ray's temporary copy of it
    lab = tmp_path / "lab"
    lab.mkdir()
    spec_file = spec(lab, "jobbed", 30, [4, 8], plugin=True)
    ray_cli = str(Path(sys.executable).with_name("ray"))  # the venv's: the head's packages are the head's alone
    env = cluster["env"]
    if "RAY_API_SERVER_ADDRESS" not in env:
        pytest.skip(
            "the head has no job API: Ray's dashboard needs ray[default] (cluster/local_cluster.sh install-head)"
        )
    port = env["RAY_API_SERVER_ADDRESS"].rsplit(":", 1)[1]
    assert env["RAY_API_SERVER_ADDRESS"] == f"http://127.0.0.1:{port}"
    # the job API runs code: it refuses a request without the cluster's token, and listens on loopback only
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{env['RAY_API_SERVER_ADDRESS']}/api/jobs/", timeout=30)
    assert refused.value.code == 401
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://{SUBNET}.1:{port}/api/jobs/", timeout=30)

    submit = [ray_cli, "job", "submit", "--working-dir", ".", "--", "python", "-m", "sweeps.run", spec_file.name]
    # without --out, the sweep folder would be in the temporary copy Ray deletes: refused before any work
    lost = subprocess.run(submit, env=env, cwd=lab, capture_output=True, text=True, timeout=300)
    assert lost.returncode != 0
    assert "error: --out runs (the default): this sweep runs as Ray job raysubmit_" in lost.stdout + lost.stderr
    assert "trials:" not in lost.stdout

    out = tmp_path / "out"
    # the job's own runtime env names a variable the sweep also hands its workers: Ray would refuse the two
    # if the sweep named it again
    job_env = json.dumps({"env_vars": {"GANSWEEP_CACHE_DIR": env["GANSWEEP_CACHE_DIR"]}})
    submit[3:3] = ["--runtime-env-json", job_env]
    proc = subprocess.run(submit + ["--out", str(out), "--storage", str(cluster["state"] / "storage"),
                                    "--tracking-uri", cluster["tracking_uri"]],
                          env=env, cwd=lab, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "succeeded" in proc.stdout + proc.stderr
    # the plugin shipped is the job's copy of the lab's package, not the lab folder itself
    shipped = re.search(r"\(shipped to the workers: (\S+)\)", proc.stdout)
    assert shipped and shipped[1].endswith("/plugin_lab") and not shipped[1].startswith(str(lab)), proc.stdout[:2000]
    client, runs = trial_runs(cluster["tracking_uri"], "jobbed")
    assert len(runs) == 2 and all(r.data.tags["status"] == "completed" for r in runs)
    assert {(r.data.params["model.arch"], r.data.params["data.name"]) for r in runs} == {
        ("tiny_conv", "mnist_low_digits")
    }
    assert {r.data.tags["node_ip"] for r in runs} <= {f"{SUBNET}.11", f"{SUBNET}.12"}  # trials on the workers
    journals = list(out.glob("sweeps/jobbed-*/mlflow_journal.jsonl"))
    assert len(journals) == 1 and journals[0].stat().st_size > 0  # the sweep folder outlives the job

    # the head's packages are the head's alone: its dashboard agent runs in full, the workers' minimal
    agents = {
        where: _dashboard_agents(pids)
        for where, pids in [
            (
                "head",
                subprocess.run(
                    ["pgrep", "-f", str(cluster["state"] / "head")], capture_output=True, text=True
                ).stdout.split(),
            ),
            *(
                (
                    f"worker {i}",
                    subprocess.run(
                        ["ip", "netns", "pids", f"gswt-w{i}"], capture_output=True, text=True
                    ).stdout.split(),
                )
                for i in (1, 2)
            ),
        ]
    }
    assert all(len(found) == 1 for found in agents.values()), agents
    assert [where for where, found in agents.items() if "--minimal" in found[0]] == ["worker 1", "worker 2"], agents


def _dashboard_agents(pids: list[str]) -> list[str]:
    """The command lines of Ray's dashboard agents among `pids`."""
    found = []
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "dashboard/agent.py" in cmd:
            found.append(cmd)
    return found


def test_the_mlflow_server_serves_the_head_alone_with_a_password_and_no_privilege(cluster):
    state, uri = cluster["state"], cluster["tracking_uri"]
    port = uri.rsplit(":", 1)[1]
    assert uri == f"http://127.0.0.1:{port}"
    with pytest.raises(urllib.error.URLError):  # not on the bridge the workers reach: only the driver logs
        urllib.request.urlopen(f"http://{SUBNET}.1:{port}/health", timeout=30)
    api = f"{uri}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(api, timeout=30)
    assert refused.value.code == 401
    signed = base64.b64encode(f"{os.environ['MLFLOW_TRACKING_USERNAME']}:{os.environ['MLFLOW_TRACKING_PASSWORD']}"
                              .encode()).decode()
    with urllib.request.urlopen(urllib.request.Request(api, headers={"Authorization": f"Basic {signed}"}),
                                timeout=30) as ok:
        assert ok.status == 200
    # the server and the process it serves from run as the user the script was given (nobody where nobody can
    # run this venv, else root, said explicitly), which owns the store
    uid = 65534 if NOBODY else 0
    server = (state / "mlflow.pid").read_text().strip()
    children = subprocess.run(["pgrep", "-P", server], capture_output=True, text=True).stdout.split()
    assert children and {Path(f"/proc/{pid}").stat().st_uid for pid in [server, *children]} == {uid}
    assert Path(f"{state}.mlflow").stat().st_uid == uid and (Path(f"{state}.mlflow") / "mlflow.db").is_file()
    # the env file holds the password: root's alone; it puts no package folder before the venv's
    env_file = (state / "env")
    assert env_file.stat().st_mode & 0o077 == 0 and "PYTHONPATH" not in env_file.read_text()
    # the user who ran sudo gets the same, theirs alone, beside the state folder, with the token copied
    mine = Path(f"{state}.user")
    assert {(p.name, p.stat().st_uid, p.stat().st_mode & 0o077) for p in [mine, *mine.rglob("*")]} == {
        (name, 65534, 0) for name in (mine.name, "env", "auth_token")}
    theirs = env_file.read_text().replace(str(state / "auth_token"), str(mine / "auth_token"))
    assert (mine / "env").read_text() == theirs and theirs != env_file.read_text()
    assert (mine / "auth_token").read_text() == (state / "auth_token").read_text()


def test_killing_a_worker_node_mid_sweep_costs_a_retry_not_the_sweep(cluster, tmp_path):
    spec_file = spec(tmp_path, "survive", 150, [4, 8, 12, 16])
    proc = subprocess.Popen(sweep_cmd(cluster, spec_file, tmp_path / "out"), env=cluster["env"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim_ip, victim_run = f"{SUBNET}.12", None
    deadline = time.time() + 300
    while time.time() < deadline and victim_run is None and proc.poll() is None:
        time.sleep(1)
        client, runs = trial_runs(cluster["tracking_uri"], "survive")
        for r in runs:
            if r.data.tags.get("node_ip") == victim_ip and r.data.tags.get("status") == "running" \
                    and r.data.metrics.get("evaluation", 0) >= 2:
                victim_run = r.info.run_id
    assert victim_run, "no trial reached its second evaluation on the second worker"
    client = MlflowClient(cluster["tracking_uri"])
    before = [(m.step, m.value) for m in client.get_metric_history(victim_run, "fid")]
    subprocess.run(["bash", str(SCRIPT), "kill-worker", "2"], env=cluster["env"], check=True, capture_output=True)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]

    client, runs = trial_runs(cluster["tracking_uri"], "survive")
    trial_ids = [r.data.tags["trial_id"] for r in runs]
    assert len(trial_ids) == len(set(trial_ids)) == 4  # every trial exactly once
    assert all(r.data.tags["status"] == "completed" for r in runs)
    victim = client.get_run(victim_run)
    assert f"{SUBNET}.11" in victim.data.tags.get("node_ips", "")  # it finished on the survivor
    after = [(m.step, m.value) for m in client.get_metric_history(victim_run, "fid")]
    assert after[: len(before)] == before  # what was logged before the failure is still there
    steps = [s for s, _ in after]
    assert steps == sorted(set(steps)) and steps[-1] == 150  # resumed from its checkpoint, nothing twice


def _completed(uri: str, experiment: str) -> int:
    try:
        _, runs = trial_runs(uri, experiment)
    except Exception:  # noqa: BLE001 - the server may be busy or starting
        return 0
    return sum(r.data.tags.get("status") == "completed" for r in runs)


def test_the_head_node_dying_with_its_driver_and_mlflow_server_loses_nothing_on_resume(cluster, tmp_path):
    spec_file = spec(tmp_path, "headless", 150, [4, 8, 12, 16])
    out = tmp_path / "out"
    log = tmp_path / "driver.log"
    with log.open("w") as f:
        proc = subprocess.Popen(sweep_cmd(cluster, spec_file, out), env=cluster["env"], cwd=REPO, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and _completed(cluster["tracking_uri"], "headless") < 1:
        time.sleep(1)
    assert proc.poll() is None, "the sweep ended before the head could be killed:\n" + log.read_text()[-3000:]
    client, runs = trial_runs(cluster["tracking_uri"], "headless")
    logged = {r.data.tags["trial_id"]: [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, "fid")]
              for r in runs}
    # the head fails: its Ray and the MLflow server on it, and the driver with them
    subprocess.run(["bash", str(SCRIPT), "kill-head"], env=cluster["env"], check=True, capture_output=True)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    # a new head (and workers) over the same disk: the same storage and MLflow store
    for step in ("stop", "start"):
        done = subprocess.run(["bash", str(SCRIPT), step, *(["2"] if step == "start" else [])], env=cluster["env"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    resumed = subprocess.run(sweep_cmd(cluster, spec_file, out) + ["--resume"], env=cluster["env"], cwd=REPO,
                             capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout
    client, runs = trial_runs(cluster["tracking_uri"], "headless")
    trial_ids = [r.data.tags["trial_id"] for r in runs]
    assert len(trial_ids) == len(set(trial_ids)) == 4  # every trial exactly once
    for r in runs:
        assert (r.info.status, r.data.tags["status"]) == ("FINISHED", "completed"), r.data.tags
        history = [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, "fid")]
        steps = [s for s, _ in history]
        assert sorted(steps) == list(range(10, 151, 10)), steps  # every evaluation once, none lost
        assert set(logged.get(r.data.tags["trial_id"], [])) <= set(history)  # what was logged is still there


def _script(state: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GSW_MLFLOW_USER": "nobody" if NOBODY else "root", "SUDO_USER": "", **extra_env,
           "GSW_SUBNET": "10.231.79", "GSW_BRIDGE": "gswsafe0", "GSW_PREFIX": "gsws",
           "GSW_STATE": str(state), "GSW_RAY_PORT": "6392", "GSW_MLFLOW_PORT": "5052", "GSW_DASHBOARD_PORT": "8268"}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_state_folder_is_private_and_only_processes_the_script_started_are_killed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "state-link"
    link.symlink_to(elsewhere)
    refused = _script(link, "stop")
    assert refused.returncode != 0 and "is a symlink" in refused.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    os.chown(foreign, 65534, 65534)
    refused = _script(foreign, "stop")
    assert refused.returncode != 0 and "belongs to another user" in refused.stderr
    # a pid file naming a process this script never started, and a process whose command line holds the
    # state path: neither is killed
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    bystanders = [subprocess.Popen(["sleep", "300"]),
                  subprocess.Popen(["bash", "-c", f"sleep 300 # {state}/head --port 5052"]),
                  # the MLflow server's user's own MLflow on the same address, not in the store's folder
                  subprocess.Popen(["bash", "-c", "sleep 300 # mlflow --host 127.0.0.1 --port 5052 "])]
    try:
        (state / "mlflow.pid").write_text(f"{bystanders[0].pid}\n")
        (state / "head").mkdir()
        done = _script(state, "stop")
        assert done.returncode == 0, done.stderr
        assert all(p.poll() is None for p in bystanders)  # both still running
        assert oct(state.stat().st_mode & 0o777) == "0o700"
    finally:
        for p in bystanders:
            p.kill()


def test_the_mlflow_server_is_never_root_unless_said(tmp_path):
    state = Path(tempfile.mkdtemp(prefix="gswm", dir="/tmp"))
    try:
        for user, refusal in [("gsw-no-such-user", "no user gsw-no-such-user"),
                              *([] if NOBODY else [("nobody", "who cannot run")])]:
            refused = _script(state, "start", "1", GSW_MLFLOW_USER=user)
            assert refused.returncode != 0 and refusal in refused.stderr, refused.stderr
            assert not (state / "env").exists() and "gswsafe0" not in subprocess.run(
                ["ip", "-o", "link"], capture_output=True, text=True).stdout  # refused before anything started
        (tmp_path / "elsewhere").mkdir()
        Path(f"{state}.mlflow").symlink_to(tmp_path / "elsewhere")
        refused = _script(state, "start", "1", GSW_MLFLOW_USER="root")
        assert refused.returncode != 0 and "is a symlink" in refused.stderr, refused.stderr
    finally:
        shutil.rmtree(state, ignore_errors=True)
        Path(f"{state}.mlflow").unlink(missing_ok=True)


@pytest.mark.ray
def test_a_start_that_fails_half_way_takes_down_what_it_started(tmp_path):
    long_state = tmp_path / ("x" * 40)
    refused = _script(long_state, "start", "1")
    assert refused.returncode != 0 and "34 or fewer" in refused.stderr and not long_state.exists()
    # a worker that cannot start (a CPU count Ray refuses): the bridge, the namespace and the head are up by then
    state = Path(tempfile.mkdtemp(prefix="gswq", dir="/tmp"))
    try:
        failed = _script(state, "start", "1", GSW_CPUS_PER_WORKER="x")
        assert failed.returncode != 0 and "taking down what it started" in failed.stderr, failed.stderr
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert "gswsafe0" not in links and "gsws-v1" not in links
        assert "gsws-w1" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert not subprocess.run(["pgrep", "-f", str(state)], capture_output=True).stdout  # no process of it left
        assert not (state / "env").exists()
    finally:
        _script(state, "stop")
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(f"{state}.mlflow", ignore_errors=True)


def test_install_head_replaces_only_a_folder_it_made(tmp_path):
    """GSW_HEAD_PACKAGES names a folder install-head deletes and rebuilds: one it did not make (no stamp of its
    own) is refused and left as it was."""
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "thesis.tex").write_text("\\documentclass{article}")
    (folder / "data").mkdir()
    refused = _script(tmp_path / "state", "install-head", GSW_HEAD_PACKAGES=str(folder))
    assert refused.returncode != 0 and "was not made by install-head" in refused.stderr
    assert (folder / "thesis.tex").is_file() and (folder / "data").is_dir()
    link = tmp_path / "link"
    link.symlink_to(folder)
    refused = _script(tmp_path / "state", "install-head", GSW_HEAD_PACKAGES=str(link))
    assert refused.returncode != 0 and "is a symlink" in refused.stderr and (folder / "thesis.tex").is_file()
