# Layout of the local three-node cluster, shared by scripts/local-cluster.sh,
# rolling-upgrade.sh, upgrade-test.sh and bench-failover.sh (sourced; each
# sets LC first): node N's addresses and files under $LC, and how to find
# its running process.
# shellcheck shell=bash

http_addr() { printf '127.0.0.1:808%s' "$1"; }
rpc_addr() { printf '127.0.0.1:908%s' "$1"; }
node_dir() { printf '%s/node%s' "$LC" "$1"; }
node_config() { printf '%s/node%s/cluster.toml' "$LC" "$1"; }
node_pidfile() { printf '%s/node%s.pid' "$LC" "$1"; }
node_log() { printf '%s/node%s.log' "$LC" "$1"; }

# The pid of node N if it is running (and really is that node), else nothing.
node_pid() {
    local n="$1" pf pid args
    pf="$(node_pidfile "$n")"
    [[ -f "$pf" ]] || return 0
    pid="$(cat "$pf" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    # Guard against a recycled pid: the process must be serving this config.
    args="$(ps -p "$pid" -o args= 2>/dev/null || true)"
    [[ "$args" == *"$(node_config "$n")"* ]] || return 0
    printf '%s' "$pid"
}
