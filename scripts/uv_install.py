"""`uv pip install` into this Python's environment, from the package sources pip is configured with here.

uv resolves and installs the project's packages several times faster than pip (docs/benchmarks.md), but it
does not read pip's configuration (pip.conf, PIP_* variables). On a machine whose pip goes through a mirror, a
folder of wheels or a constraints file, uv alone would resolve against PyPI, and could install other releases
than pip would, or none. So pip's effective settings are handed to uv: index-url, extra-index-url, find-links,
constraint, trusted-host and no-index as uv's options, cert as SSL_CERT_FILE. uv is also told to look at every
index for the best release, as pip does (`--index-strategy unsafe-best-match`); its own default takes a package
from the first index that has it.

    python scripts/uv_install.py [uv pip install arguments...]

Run with the environment's own Python, into which uv is installed (`pip install uv`). Exits with uv's code;
scripts/install.sh installs with pip when it is not 0.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

# pip option -> uv option; each takes a whitespace-separated list in pip's configuration
LISTS = {"extra-index-url": "--extra-index-url", "find-links": "--find-links", "constraint": "--constraint",
         "trusted-host": "--allow-insecure-host"}
TRUE = {"1", "true", "yes", "on"}


def pip_settings(python: str = sys.executable) -> dict[str, str]:
    """pip's effective value of each option for `pip install`: a PIP_* variable over the [install] section
    over [global], each section already merged over pip's configuration files by `pip config list`."""
    listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True)
    by_section: dict[str, dict[str, str]] = {}
    for line in listed.stdout.splitlines():
        key, sep, value = line.partition("=")
        section, dot, option = key.rpartition(".")
        if not (sep and dot):
            continue
        try:
            text = ast.literal_eval(value)  # pip prints each value as a Python string literal
        except (ValueError, SyntaxError):
            continue
        by_section.setdefault(section, {})[option] = str(text)
    settings: dict[str, str] = {}
    for section in ("global", "install", ":env:"):  # later wins, as in pip
        settings.update(by_section.get(section, {}))
    return settings


def uv_arguments(settings: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """uv's options and environment variables for pip's settings."""
    args = ["--index-strategy", "unsafe-best-match"]
    if settings.get("index-url"):
        args += ["--index-url", settings["index-url"]]
    for option, flag in LISTS.items():
        for item in settings.get(option, "").split():
            args += [flag, item]
    if settings.get("no-index", "").lower() in TRUE:
        args.append("--no-index")
    env = {"SSL_CERT_FILE": settings["cert"]} if settings.get("cert") else {}
    return args, env


def main(argv: list[str]) -> int:
    try:
        settings = pip_settings()
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"cannot read pip's configuration ({e}); not installing with uv", file=sys.stderr)
        return 1
    args, env = uv_arguments(settings)
    env = {**env, **os.environ}  # a variable already set is the user's choice
    into = [] if "--python" in argv else ["--python", sys.executable]  # this Python's environment, unless told
    # pip compiles what it installs to bytecode; uv only when told. Without it, where Python may not write
    # bytecode as it imports (PYTHONDONTWRITEBYTECODE, a read-only environment), every process would compile
    # torch's, Ray's and MLflow's sources again at each start: about 12 CPU seconds for a sweep's driver and
    # 10 for each trial's worker on a 2-core Xeon, which is most of a small sweep's time
    command = [sys.executable, "-m", "uv", "pip", "install", "--compile-bytecode", *into, *args, *argv]
    return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
