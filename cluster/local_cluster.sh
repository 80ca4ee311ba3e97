#!/usr/bin/env bash
# A real multi-node Ray cluster on one Linux machine, for trying gansweep on a cluster without one.
#
#   sudo cluster/local_cluster.sh start [N_WORKERS]   # head + N workers (default 2) + MLflow server
#   sudo cluster/local_cluster.sh kill-worker I       # kill every process of worker I (a node failure)
#   sudo cluster/local_cluster.sh kill-head           # kill the head node: its Ray and the MLflow server on it
#   sudo cluster/local_cluster.sh stop                # tear everything down
#   cluster/local_cluster.sh install-head             # the head's own packages, for the job API (below)
#
# The head runs in the root network namespace on a bridge address, with 0 CPUs (it schedules; trials
# run on workers). Each worker is its own network namespace with its own address on that bridge,
# joined with `ray start --address=HEAD:PORT --node-ip-address=ITS_IP` and its own --temp-dir. An
# MLflow tracking server serves the head alone (only the driver, which runs there, writes to it): on
# 127.0.0.1, with MLflow's basic authentication, as an unprivileged user ($MLFLOW_USER) that owns its
# store ($MLFLOW_STATE) and nothing else. All traffic stays on this machine: the bridge and namespaces
# are created here and have no route outside.
# Needs root, iproute2, this project's .venv and the head's packages (install-head, below). After `start`,
# source $STATE/env for RAY_ADDRESS, MLFLOW_TRACKING_URI, the MLflow credentials and GANSWEEP_NODE_IP.
# $STATE is a folder of root's alone (created mode 700; one that is a symlink or another user's is
# refused), and only processes this script started are killed: each pid is checked by its owner and
# command line first.
#
# The head serves Ray's dashboard and its job API (`ray job submit`) when the cluster extra (ray[default])
# is on its import path. On real machines the head installs the extra and the workers need not; here every
# node runs from one venv, and the extra in it would also run Ray's full dashboard agent beside every
# worker and every local Ray on the machine. So `install-head` puts what the extra adds to the venv in a
# folder of its own ($HEAD_PACKAGES), which only the head's processes (and the MLflow server) put on their path.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${GANSWEEP_VENV:-$REPO/.venv}
SUBNET=${GSW_SUBNET:-10.231.77}       # /24 used only on the bridge created here
BRIDGE=${GSW_BRIDGE:-gswbr0}
PREFIX=${GSW_PREFIX:-gsw}
STATE=${GSW_STATE:-/run/gansweep-cluster}   # private to root (mode 700): pids, logs, the env file
STATE=${STATE%/}   # its siblings ($STATE.user, $STATE.mlflow) must not land inside it
HEAD_IP=$SUBNET.1
RAY_PORT=${GSW_RAY_PORT:-6390}
MLFLOW_PORT=${GSW_MLFLOW_PORT:-5050}
DASHBOARD_PORT=${GSW_DASHBOARD_PORT:-8265}   # Ray's dashboard and job API (`ray job submit`), on loopback only
CPUS_PER_WORKER=${GSW_CPUS_PER_WORKER:-1}
HEAD_PACKAGES=${GSW_HEAD_PACKAGES:-$VENV/head-packages}   # the cluster extra, for the head alone (install-head)
# the user who ran sudo (none when root ran it): gets the env file and the cluster's token in $USER_STATE
INVOKER=
[ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && id -u "$SUDO_USER" >/dev/null 2>&1 && INVOKER=$SUDO_USER
USER_STATE=$(realpath -ms "${GSW_USER_STATE:-$STATE.user}")
# the MLflow server runs as this user: the one who ran sudo, else nobody; root only when GSW_MLFLOW_USER says so
MLFLOW_USER=${GSW_MLFLOW_USER:-${INVOKER:-nobody}}
MLFLOW_STATE=$(realpath -ms "${GSW_MLFLOW_STATE:-$STATE.mlflow}")   # its store, its user's alone (mode 700); kept by stop
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-token}   # Ray 2.60: every `ray start` and client of a token cluster
export PATH=$VENV/bin:$PATH

die() { echo "local_cluster: $*" >&2; exit 1; }
[ -x "$VENV/bin/ray" ] || die "no ray in $VENV; run scripts/install.sh first"

# what `pip install '.[cluster]'` would add to the venv, installed into $HEAD_PACKAGES instead, at the
# versions pip resolves against the venv (so nothing there shadows a different version of a venv package)
# the file that marks a folder as install-head's own: it replaces only such a folder (or none), never
# whatever else GSW_HEAD_PACKAGES names
OWN_MARK=.gansweep-head-packages
ours_to_replace() {  # $1: a folder install-head may delete
    [ ! -e "$1" ] && return 0
    [ -L "$1" ] && die "$1 is a symlink; install-head replaces only a folder it made"
    [ -d "$1" ] && { [ -f "$1/$OWN_MARK" ] || [ -f "$1/.installed" ]; } && return 0  # .installed: its stamp
    die "$1 exists and was not made by install-head (no $OWN_MARK in it); give GSW_HEAD_PACKAGES a new folder, or remove it yourself"
}
install_head() {
    local stamp=$HEAD_PACKAGES/.installed
    ours_to_replace "$HEAD_PACKAGES"
    ours_to_replace "$HEAD_PACKAGES.new"
    if [ -f "$stamp" ] && [ ! "$REPO/pyproject.toml" -nt "$stamp" ]; then
        echo "head packages up to date in $HEAD_PACKAGES"; return
    fi
    local report; report=$(mktemp)
    "$VENV/bin/python" -m pip install -q --dry-run --report "$report" "$REPO[cluster]"
    local pins
    pins=$("$VENV/bin/python" -c '
import json, sys
for item in json.load(open(sys.argv[1]))["install"]:
    if not item.get("is_direct"):  # the project itself is the one direct requirement
        print(item["metadata"]["name"] + "==" + item["metadata"]["version"])' "$report")
    rm -f "$report"
    rm -rf "$HEAD_PACKAGES.new"
    mkdir -p "$HEAD_PACKAGES.new"
    echo "made by cluster/local_cluster.sh install-head; it replaces this folder when the project's extras change" \
        > "$HEAD_PACKAGES.new/$OWN_MARK"
    # shellcheck disable=SC2086
    [ -z "$pins" ] || "$VENV/bin/python" -m pip install -q --no-deps --target "$HEAD_PACKAGES.new" $pins
    rm -rf "$HEAD_PACKAGES"
    mv "$HEAD_PACKAGES.new" "$HEAD_PACKAGES"
    touch "$stamp"
    echo "head packages in $HEAD_PACKAGES: $(echo $pins | wc -w) distributions ($(echo $pins))"
}
if [ "${1:-}" = install-head ]; then install_head; exit; fi

[ "$(id -u)" = 0 ] || die "needs root (ip netns, veth, bridge)"
command -v ip >/dev/null || die "needs iproute2 (ip)"

worker_ns() { echo "$PREFIX-w$1"; }

private_state() {  # $STATE: a real folder of this user's, mode 700, before anything is written in it
    [ -L "$STATE" ] && die "$STATE is a symlink; refusing to keep the cluster's state there"
    if [ -e "$STATE" ]; then
        [ -d "$STATE" ] || die "$STATE exists and is not a folder"
        [ "$(stat -c %u "$STATE")" = "$(id -u)" ] || die "$STATE belongs to another user; refusing it"
    else
        mkdir -m 700 -p "$STATE"
    fi
    chmod 700 "$STATE"
}

# pids among "$@" that this user (or the user id $OWNER) runs and whose command line holds every one of
# the patterns in $MATCH (a `|`-separated list): the processes this script started, not whatever a pid file
# or pgrep names
ours() {
    local pid cmd owner=${OWNER:-$(id -u)}
    for pid in "$@"; do
        [ -r "/proc/$pid/cmdline" ] || continue
        [ "$(stat -c %u "/proc/$pid")" = "$owner" ] || continue
        cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline")
        local ok=1 pat
        IFS='|' read -ra pats <<< "$MATCH"
        for pat in "${pats[@]}"; do [[ "$cmd" == *"$pat"* ]] || ok=0; done
        [ "$ok" = 1 ] && echo "$pid"
    done
}

as_user() {  # $1: a user (name or id); the rest: a command run as that user, with that user's groups
    local user=$1; shift
    setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups "$@"
}

mlflow_state() {  # $MLFLOW_STATE: a real folder of $MLFLOW_USER's, mode 700 (created so by root)
    id -u "$MLFLOW_USER" >/dev/null 2>&1 || die "no user $MLFLOW_USER to run the MLflow server as (GSW_MLFLOW_USER)"
    if [ "$(id -u "$MLFLOW_USER")" = 0 ]; then
        echo "local_cluster: the MLflow server runs as root, as GSW_MLFLOW_USER=$MLFLOW_USER says" >&2
    # run as the server does: the venv's Python, which starts another (its web server) by its path
    elif ! (cd / && as_user "$MLFLOW_USER" "$VENV/bin/python" -c 'import subprocess, sys; subprocess.run([sys.executable, "-c", ""], check=True)') >/dev/null 2>&1; then
        die "the MLflow server runs as $MLFLOW_USER, who cannot run $VENV/bin/python ($(readlink -f "$VENV/bin/python")); give GSW_MLFLOW_USER a user who can, or build the venv from a Python that user can run (GSW_MLFLOW_USER=root runs the server as root)"
    fi
    [ -L "$MLFLOW_STATE" ] && die "$MLFLOW_STATE is a symlink; refusing to keep the MLflow store there"
    if [ -e "$MLFLOW_STATE" ]; then
        [ -d "$MLFLOW_STATE" ] || die "$MLFLOW_STATE exists and is not a folder"
        [ "$(stat -c %u "$MLFLOW_STATE")" = "$(id -u "$MLFLOW_USER")" ] \
            || die "$MLFLOW_STATE does not belong to $MLFLOW_USER; refusing it for the MLflow store"
    else
        mkdir -m 700 "$MLFLOW_STATE"
        chown "$MLFLOW_USER:$(id -gn "$MLFLOW_USER")" "$MLFLOW_STATE"
    fi
    chmod 700 "$MLFLOW_STATE"
}

start() {
    local n=${1:-2}
    # Ray's dashboard puts unix sockets at $STATE/head/session_<date>_<time>_<us>_<pid>/sockets/dash_MetricsHead,
    # and a socket's path must fit in 107 bytes
    [ "${#STATE}" -le 34 ] || die "GSW_STATE ($STATE) is ${#STATE} characters; Ray's sockets under it need it to be 34 or fewer (e.g. /run/gansweep-cluster, the default)"
    private_state
    mlflow_state
    [ -e "$STATE/env" ] && die "already running (state in $STATE); run stop first"
    [ -f "$HEAD_PACKAGES/.installed" ] \
        || die "no head packages in $HEAD_PACKAGES (its dashboard, job API and the MLflow server's authentication); run cluster/local_cluster.sh install-head"
    # a start that fails half-way takes down what it started, so that the next start finds nothing in its way
    trap 'echo "local_cluster: start failed; taking down what it started" >&2; stop >/dev/null 2>&1' EXIT
    ip link add "$BRIDGE" type bridge
    ip addr add "$HEAD_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    for i in $(seq 1 "$n"); do
        local ns; ns=$(worker_ns "$i")
        ip netns add "$ns"
        ip link add "$PREFIX-v$i" type veth peer name eth0 netns "$ns"
        ip link set "$PREFIX-v$i" master "$BRIDGE" up
        ip -n "$ns" addr add "$SUBNET.$((10 + i))/24" dev eth0
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
    done
    # the cluster's token: Ray's own if the caller has one (RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH), else a
    # token of this cluster's, generated once into $STATE (root's alone), never into ~/.ray
    if [ -z "${RAY_AUTH_TOKEN:-}" ] && [ -z "${RAY_AUTH_TOKEN_PATH:-}" ]; then
        export RAY_AUTH_TOKEN_PATH=$STATE/auth_token
        [ -s "$RAY_AUTH_TOKEN_PATH" ] || (umask 077 && "$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(32))' > "$RAY_AUTH_TOKEN_PATH")
    fi
    # the MLflow server's admin password, generated once into $STATE (root's alone); the server's own user
    # store keeps its hash, so a new head over the same store accepts the same one; and the key the server
    # signs its CSRF tokens with
    local secret
    for secret in mlflow_password mlflow_secret_key; do
        [ -s "$STATE/$secret" ] || (umask 077 && "$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(24))' > "$STATE/$secret")
    done
    local mlflow_password; mlflow_password=$(cat "$STATE/mlflow_password")
    # the job API (`ray job submit`) needs Ray's dashboard, which needs ray[default]: here the head's packages (install-head)
    local dashboard="--include-dashboard=false" jobs=0 head_path=${PYTHONPATH:-}
    if [ -d "$HEAD_PACKAGES" ] && [ "$REPO/pyproject.toml" -nt "$HEAD_PACKAGES/.installed" ]; then
        die "the head's packages in $HEAD_PACKAGES are older than pyproject.toml; run cluster/local_cluster.sh install-head"
    fi
    [ -d "$HEAD_PACKAGES" ] && head_path=$HEAD_PACKAGES${PYTHONPATH:+:$PYTHONPATH}
    if PYTHONPATH=$head_path "$VENV/bin/python" -c 'import ray._private.utils as u, sys; sys.exit(u.get_dashboard_dependency_error() is not None)'; then
        dashboard="--include-dashboard=true --dashboard-host=127.0.0.1 --dashboard-port=$DASHBOARD_PORT"
        jobs=1
    fi
    # the head's processes hold the MLflow credentials: a job's driver (`ray job submit`) runs there and logs
    # to MLflow; the workers (started below, from this script's environment) never see them
    # shellcheck disable=SC2086
    MLFLOW_TRACKING_USERNAME=gansweep MLFLOW_TRACKING_PASSWORD=$mlflow_password \
    PYTHONPATH=$head_path ray start --head --node-ip-address="$HEAD_IP" --port="$RAY_PORT" --num-cpus=0 \
        --temp-dir="$STATE/head" $dashboard \
        --disable-usage-stats >"$STATE/head.log" 2>&1 \
        || { cat "$STATE/head.log"; die "head did not start"; }
    for i in $(seq 1 "$n"); do
        ip netns exec "$(worker_ns "$i")" env RAY_AUTH_MODE="$RAY_AUTH_MODE" PATH="$PATH" \
            ray start --address="$HEAD_IP:$RAY_PORT" --node-ip-address="$SUBNET.$((10 + i))" \
            --num-cpus="$CPUS_PER_WORKER" --temp-dir="$STATE/w$i" --disable-usage-stats >"$STATE/w$i.log" 2>&1 \
            || { cat "$STATE/w$i.log"; die "worker $i did not start"; }
    done
    # `ray start` returns before the head counts the worker's CPUs: wait until it has them all, so that a
    # sweep started now can place its trials on every worker
    local want=$((n * CPUS_PER_WORKER)) have=0
    for _ in $(seq 1 120); do
        have=$(ray status --address="$HEAD_IP:$RAY_PORT" 2>/dev/null | sed -n 's|^ *[0-9.]*/\([0-9.]*\) CPU.*|\1|p' | head -1)
        [ "${have%.*}" = "$want" ] && break
        sleep 0.5
    done
    [ "${have%.*}" = "$want" ] || die "the head counts ${have:-no} CPUs of the $want its $n workers have"
    (echo > "/dev/tcp/127.0.0.1/$MLFLOW_PORT") 2>/dev/null && die "port $MLFLOW_PORT on 127.0.0.1 is taken (an MLflow server left running?)"
    # MLflow's basic-auth app: the admin (gansweep) is created with this password on the store's first
    # start; no one else has any permission. Artifacts go through the server (--artifacts-destination).
    # The password's hash is checked once per 5 minutes, not at every request (one server process: no
    # other holds a stale check), which kept a sweep's logging as fast as without authentication.
    # written as the server's user, in its folder: root follows no link that user left there
    as_user "$MLFLOW_USER" sh -c 'umask 077 && cat > "$1" && chmod 600 "$1"' sh "$MLFLOW_STATE/auth.ini" <<INI
[mlflow]
default_permission = NO_PERMISSIONS
database_uri = sqlite:///$MLFLOW_STATE/basic_auth.db
admin_username = gansweep
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
auth_cache_ttl_seconds = 300
INI
    id -u "$MLFLOW_USER" > "$STATE/mlflow.uid"  # whom stop and kill-head look for, whoever runs them
    local secret_key; secret_key=$(cat "$STATE/mlflow_secret_key")
    cd "$MLFLOW_STATE"
    # an environment of its own (env -i): none of root's variables, a Ray token among them, reaches the server
    env -i PATH="$VENV/bin:/usr/bin:/bin" HOME="$MLFLOW_STATE" LANG=C.UTF-8 PYTHONPATH="$HEAD_PACKAGES" \
        MLFLOW_AUTH_CONFIG_PATH="$MLFLOW_STATE/auth.ini" MLFLOW_AUTH_ADMIN_PASSWORD="$mlflow_password" \
        MLFLOW_FLASK_SERVER_SECRET_KEY="$secret_key" \
        setsid setpriv --reuid="$MLFLOW_USER" --regid="$(id -g "$MLFLOW_USER")" --init-groups \
        "$VENV/bin/mlflow" server --app-name basic-auth --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
        --backend-store-uri "sqlite:///$MLFLOW_STATE/mlflow.db" --artifacts-destination "$MLFLOW_STATE/mlartifacts" \
        >"$STATE/mlflow.log" 2>&1 < /dev/null &
    echo $! > "$STATE/mlflow.pid"
    cd - >/dev/null
    for _ in $(seq 1 120); do
        (echo > "/dev/tcp/127.0.0.1/$MLFLOW_PORT") 2>/dev/null && break
        sleep 0.5
    done
    (echo > "/dev/tcp/127.0.0.1/$MLFLOW_PORT") 2>/dev/null || { cat "$STATE/mlflow.log"; die "the MLflow server did not start"; }
    # the port is anyone's on 127.0.0.1: the password goes out only once the listener is our server
    local listener; listener=$(ss -ltnpH "sport = :$MLFLOW_PORT" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
    local ours_now; ours_now=" $(mlflow_pids | tr '\n' ' ') "
    [ -n "$listener" ] || die "nothing listens on 127.0.0.1:$MLFLOW_PORT"
    for pid in $listener; do
        [[ "$ours_now" == *" $pid "* ]] || die "another process (pid $pid) listens on 127.0.0.1:$MLFLOW_PORT, not this cluster's MLflow server"
    done
    (umask 077 && env_file "${RAY_AUTH_TOKEN_PATH:-}" > "$STATE/env")
    [ -z "$INVOKER" ] || invoker_files
    trap - EXIT
    echo "cluster up: head $HEAD_IP:$RAY_PORT, $n workers ($SUBNET.11..$SUBNET.$((10 + n))), MLflow http://127.0.0.1:$MLFLOW_PORT (user gansweep, its password in $STATE/env)"
    [ "$jobs" = 1 ] && echo "job API (ray job submit): http://127.0.0.1:$DASHBOARD_PORT" \
        || echo "no job API: ray job submit needs ray[default] on the head (cluster/local_cluster.sh install-head)"
    echo "use it: source $STATE/env && python -m sweeps.run SPEC.yaml --storage $STATE/storage"
}

# the env file: no PYTHONPATH (the head's packages stay the head's; the `ray job` CLI needs none of them)
env_file() {  # $1: the Ray token's path (none: the caller's RAY_AUTH_TOKEN)
    echo "export RAY_ADDRESS=$HEAD_IP:$RAY_PORT"
    echo "export RAY_AUTH_MODE=$RAY_AUTH_MODE"
    [ -n "$1" ] && echo "export RAY_AUTH_TOKEN_PATH=$1"
    [ "$jobs" = 1 ] && echo "export RAY_API_SERVER_ADDRESS=http://127.0.0.1:$DASHBOARD_PORT"
    echo "export GANSWEEP_NODE_IP=$HEAD_IP"
    echo "export MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT"
    echo "export MLFLOW_TRACKING_USERNAME=gansweep"
    echo "export MLFLOW_TRACKING_PASSWORD=$(cat "$STATE/mlflow_password")"
}

# the user who ran sudo gets what root's env file gives, in $USER_STATE: a folder of theirs alone (mode 700),
# beside $STATE, whose Ray sockets stay root's. Root only creates the folder; the files in it are written
# as that user, so a link they left there reaches nothing they could not write themselves. The token copied
# there lets that user's processes submit jobs, which run as root: it is theirs because they hold sudo.
invoker_files() {
    [ -L "$USER_STATE" ] && die "$USER_STATE is a symlink; refusing to write $INVOKER's env file there"
    if [ -e "$USER_STATE" ]; then
        [ -d "$USER_STATE" ] && [ "$(stat -c %u "$USER_STATE")" = "$(id -u "$INVOKER")" ] \
            || die "$USER_STATE is not a folder of $INVOKER's; refusing to write their env file there"
    else
        mkdir -m 700 "$USER_STATE"
        chown "$INVOKER:$(id -gn "$INVOKER")" "$USER_STATE"
    fi
    local token=
    if [ -n "${RAY_AUTH_TOKEN_PATH:-}" ]; then
        token=$USER_STATE/auth_token
        as_user "$INVOKER" sh -c 'umask 077 && cat > "$1" && chmod 600 "$1"' sh "$token" < "$RAY_AUTH_TOKEN_PATH"
    fi
    env_file "$token" | as_user "$INVOKER" sh -c 'umask 077 && cat > "$1" && chmod 600 "$1"' sh "$USER_STATE/env"
    echo "for $INVOKER: source $USER_STATE/env"
}

kill_worker() {
    local ns; ns=$(worker_ns "$1")
    local pids; pids=$(ip netns pids "$ns" || true)
    [ -n "$pids" ] && kill -9 $pids
    echo "killed worker $1 ($(echo $pids | wc -w) processes)"
}

# the MLflow server: the `mlflow server` command and the uvicorn process it starts (which outlives it
# when only the command is killed)
mlflow_pids() {
    local candidates
    candidates="$( [ -f "$STATE/mlflow.pid" ] && cat "$STATE/mlflow.pid"; pgrep -f -- "--port $MLFLOW_PORT" || true)"
    # the user start ran it as (recorded), else the one this run would
    local owner; owner=$(cat "$STATE/mlflow.uid" 2>/dev/null || id -u "$MLFLOW_USER" 2>/dev/null) || return 0
    # shellcheck disable=SC2086
    OWNER=$owner MATCH="--port $MLFLOW_PORT |sqlite:///$MLFLOW_STATE/mlflow.db" ours $candidates
    # the uvicorn process the server starts carries the address, not the store: it is its child, and runs in
    # the store's folder (start's working directory for it)
    local pid
    for pid in $(OWNER=$owner MATCH="mlflow|--host 127.0.0.1 |--port $MLFLOW_PORT " ours $(pgrep -f -- "--port $MLFLOW_PORT" || true)); do
        [ "$(readlink "/proc/$pid/cwd")" = "$MLFLOW_STATE" ] && echo "$pid"
    done
}

head_pids() {  # Ray's processes of the head: started with its temp dir, run from this project's venv or Ray
    # shellcheck disable=SC2046
    MATCH="$STATE/head" ours $(pgrep -f -- "$STATE/head" || true) | while read -r pid; do
        cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline")
        case "$cmd" in *ray*|*raylet*|*gcs_server*|*"$VENV"*) echo "$pid" ;; esac
    done
    # and Ray's client server, which names the head's address but not its temp dir (left running, it outlived
    # every stop)
    # shellcheck disable=SC2046
    MATCH="ray.util.client.server|--address=$HEAD_IP:$RAY_PORT " ours $(pgrep -f -- "--address=$HEAD_IP:$RAY_PORT" || true)
}

kill_head() {
    private_state
    local pids; pids="$(head_pids) $(mlflow_pids)"
    # shellcheck disable=SC2086
    [ -n "${pids// /}" ] && kill -9 $pids 2>/dev/null || true
    echo "killed the head ($(echo $pids | wc -w) processes); its disk ($STATE) is kept: stop, then start again"
}

stop() {
    private_state
    for pid in $(mlflow_pids); do kill -9 "$pid" 2>/dev/null || true; done
    for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX-w" || true); do
        local pids; pids=$(ip netns pids "$ns" || true)
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
        ip netns del "$ns"
    done
    if [ -d "$STATE/head" ]; then
        for pid in $(head_pids); do kill -9 "$pid" 2>/dev/null || true; done
    fi
    # the kernel frees a namespace's links after the namespace: delete the host ends now, and wait until
    # they and the bridge are gone, so that a `start` right after finds none of its names taken
    for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^($PREFIX-v[0-9]+|$BRIDGE)$" || true); do
        ip link del "$link" 2>/dev/null || true
    done
    for _ in $(seq 1 50); do
        ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -qE "^($PREFIX-v[0-9]+|$BRIDGE)$" || break
        sleep 0.2
    done
    rm -f "$STATE/env" "$STATE/mlflow.pid"
    # the env file and token copy of the user who ran sudo, removed as that user (see invoker_files)
    if [ -d "$USER_STATE" ] && [ ! -L "$USER_STATE" ] && [ "$(stat -c %u "$USER_STATE")" != 0 ]; then
        as_user "$(stat -c %u "$USER_STATE")" sh -c 'rm -f "$1/env" "$1/auth_token"' sh "$USER_STATE" || true
    fi
    echo "cluster down"
}

case "${1:-}" in
    start) start "${2:-2}" ;;
    stop) stop ;;
    kill-worker) kill_worker "${2:?worker number}" ;;
    kill-head) kill_head ;;
    *) die "usage: $0 start [N_WORKERS] | kill-worker I | kill-head | stop | install-head" ;;
esac
