"""scripts/uv_install.py hands uv the package sources pip is configured with: read by the real pip from a real
configuration file and PIP_* variables, and obeyed by the real uv."""

import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import zipfile

import pytest

from tests.helpers import REPO

pytest.importorskip("uv", reason="uv is not installed here (scripts/install.sh installs it)")

spec = importlib.util.spec_from_file_location("uv_install", REPO / "scripts" / "uv_install.py")
uv_install = importlib.util.module_from_spec(spec)
spec.loader.exec_module(uv_install)

PIP_CONF = """\
[global]
index-url = https://mirror.example/simple
extra-index-url =
    https://one.example/simple
    https://two.example/simple
find-links = /srv/wheels
cert = /srv/ca.pem
trusted-host = mirror.example

[install]
constraint = /srv/constraints.txt
"""


@pytest.fixture
def pip_env(tmp_path, monkeypatch):
    """pip configured by one file of the test's (loaded after the machine's, so its values win) and nothing
    from the environment but what a test sets."""
    for name in [n for n in list(os.environ) if n.startswith("PIP_") or n == "SSL_CERT_FILE"]:
        monkeypatch.delenv(name)
    conf = tmp_path / "pip.conf"
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    return conf


def test_pips_file_settings_and_variables_become_uvs_options(pip_env, monkeypatch):
    pip_env.write_text(PIP_CONF)
    monkeypatch.setenv("PIP_FIND_LINKS", "/env/wheels /env/more")  # a variable wins over every file, as in pip
    args, env = uv_install.uv_arguments(uv_install.pip_settings())
    pairs = list(zip(args[::2], args[1::2]))
    assert pairs == [("--index-strategy", "unsafe-best-match"), ("--index-url", "https://mirror.example/simple"),
                     ("--extra-index-url", "https://one.example/simple"),
                     ("--extra-index-url", "https://two.example/simple"),
                     ("--find-links", "/env/wheels"), ("--find-links", "/env/more"),
                     ("--constraint", "/srv/constraints.txt"), ("--allow-insecure-host", "mirror.example")]
    assert env == {"SSL_CERT_FILE": "/srv/ca.pem"}


def test_uv_installs_only_from_the_sources_pip_is_given(pip_env, tmp_path):
    # no index and an empty folder of wheels: uv must find nothing to install, where PyPI has the package
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    pip_env.write_text(f"[global]\nno-index = true\nfind-links = {wheels}\n")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True,
                   timeout=120)
    python = str(venv / "bin" / "python")
    script = str(REPO / "scripts" / "uv_install.py")
    # the script installs into the environment of the Python that runs it, unless given another
    refused = subprocess.run([sys.executable, script, "--python", python, "--dry-run", "six"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "six" in refused.stderr, refused.stderr
    assert "package locations" in refused.stderr or "no-index" in refused.stderr, refused.stderr


def wheel(folder, name: str, source: str) -> None:
    """A pure-Python wheel of one module, `name`, built by hand (no build backend, no index)."""
    info = f"{name}-1.0.dist-info"
    files = {f"{name}.py": source, f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()}"
              f",{len(text.encode())}" for path, text in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as z:
        for path, text in files.items():
            z.writestr(path, text)


def test_what_uv_installs_is_compiled_to_bytecode_as_pip_does(pip_env, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel(wheels, "gswtiny", "ANSWER = 42\n")
    pip_env.write_text(f"[global]\nno-index = true\nfind-links = {wheels}\n")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True,
                   timeout=120)
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "uv_install.py"), "--python",
                           str(venv / "bin" / "python"), "gswtiny"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (module,) = venv.glob("lib/python*/site-packages/gswtiny.py")
    assert list((module.parent / "__pycache__").glob("gswtiny.*.pyc")), "installed without its bytecode"
