"""Real data locations and small builders shared by the tests."""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MNIST_TEST_DIR = REPO.parent / "shared" / "data" / "mnist"  # the real MNIST test split (10k digits)
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
# the domain classifier's seed in the metric tests; run them with another to check their margins do not
# depend on one trained network (its accuracy and features differ a little from seed to seed and machine
# to machine)
CLASSIFIER_SEED = int(os.environ.get("GANSWEEP_TEST_CLASSIFIER_SEED", "0"))


def mnist_test_data(**overrides) -> dict:
    return {"name": "mnist", "root": str(MNIST_TEST_DIR), "split": "test", **overrides}


class MlflowServer:
    """A real `mlflow server` on 127.0.0.1 over a SQLite store in `folder`, that a test can kill (the
    whole process group, as a crash would) and start again on the same port and store."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = Path(folder)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> MlflowServer:
        log = (self.folder / "server.log").open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--backend-store-uri", f"sqlite:///{self.folder / 'server.db'}", "--default-artifact-root",
             str(self.folder / "artifacts"), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.folder / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.kill()
        raise RuntimeError("mlflow server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=60)


def kill_session(sid: int, timeout: float = 60) -> None:
    """SIGKILL every process of session `sid` (a driver started with `start_new_session=True`, so `sid` is its
    pid, and the local Ray it started) and wait until none is left. Unlike `ray stop --force`, no other Ray on
    the machine is touched: a sweep the user runs beside the tests, or another test's."""
    deadline = time.time() + timeout
    while members := _session_members(sid):
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.time() > deadline:
            raise AssertionError(f"processes {members} of session {sid} outlived SIGKILL for {timeout:.0f} s")
        time.sleep(0.2)


def _session_members(sid: int) -> list[int]:
    """The live processes of session `sid` (a zombie is dead: it waits only for its parent to read it)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # it ended while the list was read
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses, so split after the last ')'
        state, _ppid, _pgrp, session = stat[stat.rindex(")") + 2:].split()[:4]
        if int(session) == sid and state != "Z":
            members.append(int(entry))
    return members


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# a 2 x 2 grid of tiny conditional DCGANs on the real MNIST test digits, 2 seeds, no early stopping: the sweep
# the report, the loader and the studies are tested on (the `sweep` fixture in tests/conftest.py runs it once)
TINY_SWEEP_SPEC = f"""\
name: tiny_report
base:
  data: {{name: mnist, root: {MNIST_TEST_DIR}, split: test, num_images: 1000}}
  model: {{arch: dcgan, conditional: true, latent_dim: 8, g_width: 8, d_width: 8}}
  train: {{iterations: 30, eval_every: 10, batch_size: 32}}
evaluation: {{metrics: [fid, class_histogram], num_samples: 200, real_samples: 500}}
parameters:
  model.latent_dim: {{values: [4, 12]}}
  model.g_width: {{values: [4, 8], baseline: 8}}
method: grid
seeds: [0, 1]
resources: {{cpus: 1}}
published:
  source: a test of the scorecard
  extractor: inception
  dataset: mnist
  results:
    - {{params: {{model.latent_dim: 4, model.g_width: 8}}, metric: fid, value: 100.0}}
    - {{params: {{model.latent_dim: 99, model.g_width: 8}}, metric: fid, value: 50.0}}
"""
TINY_SWEEP_PARAMS = ["model.latent_dim", "model.g_width"]


# headless Chromium, for the tests that read a page as a browser renders it
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--virtual-time-budget=15000", "--window-size=1500,900"]  # wide enough that no column is virtualized away


def page_text(dom: str) -> str:
    dom = re.sub(r"<script.*?</script>|<style.*?</style>", "", dom, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)))


needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                    reason="needs Debian's chromium (scripts/install.sh --test)")


def serve(argv: list[str], probe: str) -> subprocess.Popen:
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(probe, timeout=2):
                return server
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                os.killpg(server.pid, signal.SIGKILL)
                raise AssertionError(f"{argv[0]} did not start") from None
            time.sleep(0.5)
