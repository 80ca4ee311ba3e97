#!/usr/bin/env bash
# Installs gansweep into ./.venv (idempotent) and makes sure real training data is on the machine.
#   - Python packages, with uv (pip where uv cannot be had): torch 2.14.1 + torchvision 0.29.1 and this project
#     with its test and dashboard extras
#     (ray[tune], optuna, torch-fidelity, mlflow, pandas, matplotlib, pyyaml, scipy, statsmodels, scikit-learn, pytest,
#     hypothesis, import-linter, ruff,
#     optuna-dashboard).
#   - Fashion-MNIST: Debian's `dataset-fashion-mnist` (into /usr/share/datasets/fashion-mnist) when
#     it is missing and apt-get is usable; elsewhere the data is downloaded by torchvision on first use.
#   - with --test: Chromium (Debian's `chromium`), which the report tests use to render the HTML report, and
#     the packages the local cluster's head serves Ray's job API with (cluster/local_cluster.sh install-head).
set -euo pipefail
with_test_tools=0
[ "${1:-}" = "--test" ] && with_test_tools=1
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
new_venv=0
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
    new_venv=1
fi
stamp=.venv/.gansweep-installed
# again when the packages or the way they are installed changed since
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/uv_install.py -nt "$stamp" ]; then
    packages=("torch==2.14.1" "torchvision==0.29.1" -e ".[test,dashboard]")
    # uv installs the same packages as pip, several times faster, from pip's own package sources
    # (scripts/uv_install.py); pip itself where uv cannot be had or fails, or with GANSWEEP_INSTALLER=pip
    if [ "${GANSWEEP_INSTALLER:-uv}" = uv ] && .venv/bin/python -m pip install -q --upgrade pip "uv>=0.5,<1" \
        && .venv/bin/python scripts/uv_install.py -q "${packages[@]}"; then
        # uv compiles only what it installed; an environment it installed into without compiling (before
        # scripts/uv_install.py asked it to) starts every process slowly where Python may not write bytecode
        if [ "$new_venv" = 0 ]; then
            site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
            # a package's file that is not Python (a template) fails to compile, as it does under pip
            .venv/bin/python -m compileall -q -j 0 "$site" >/dev/null 2>&1 || true
        fi
    else
        [ "${GANSWEEP_INSTALLER:-uv}" != uv ] || echo "uv did not install the packages; installing them with pip"
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q "${packages[@]}"
    fi
    touch "$stamp"
fi

can_apt() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }
apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && can_apt; then
    echo "installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
    apt_install dataset-fashion-mnist
fi
if [ "$with_test_tools" = 1 ] && ! command -v chromium >/dev/null 2>&1 && can_apt; then
    echo "installing Chromium (Debian package chromium) for the report rendering test"
    apt_install chromium
fi
if [ "$with_test_tools" = 1 ]; then
    bash cluster/local_cluster.sh install-head
fi
