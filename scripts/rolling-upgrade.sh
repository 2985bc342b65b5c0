#!/usr/bin/env bash
# Rolling upgrade of the local three-node cluster (scripts/local-cluster.sh).
#
#   scripts/rolling-upgrade.sh NEW_BINARY
#
# One node at a time, followers first and the leader last (who leads is asked
# again before every step, since leadership moves): stop the node gracefully
# (SIGTERM, wait for the process to exit), install NEW_BINARY as
# .local-cluster/bin/tessera (what `local-cluster.sh start N` runs), start the
# node, and wait until its /readyz answers 200 and every node's `tessera
# cluster status` shows three voters and one leader; then the next node.
# When local-cluster.sh's nginx runs, the node is first taken out of its
# upstream (marked `down`, nginx reloaded) and put back once it is ready, so
# the load balancer sends it nothing while it stops and starts.
# Before the first step the whole cluster must be up and healthy: the script
# never takes down a node while another one is missing. The binary it replaces
# is kept as .local-cluster/bin/tessera.previous; running this script with
# that file rolls back the same way.
#
# Any failure stops the upgrade at once with a message and exit status 1 (2
# for bad usage); the nodes already done run NEW_BINARY, the others the old
# binary, and the cluster keeps serving with a majority.
#
# Environment (as for local-cluster.sh):
#   TESSERA_CLUSTER_DIR    instead of <repo>/.local-cluster
#   TESSERA_READY_TIMEOUT  seconds to wait for a started node to be ready and
#                          the cluster healthy again (default 60)
#   TESSERA_STOP_TIMEOUT   seconds to wait for a node to exit after SIGTERM
#                          (default 45; there is no SIGKILL: a node that does
#                          not stop fails the upgrade)
#   TESSERA_AFTER_STEP     a command run after each node is upgraded and the
#                          cluster is healthy again, with the step number and
#                          the node as arguments; if it fails, so does the
#                          upgrade (scripts/upgrade-test.sh checks the format
#                          gate there)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LC="${TESSERA_CLUSTER_DIR:-$ROOT/.local-cluster}"
LOCAL_CLUSTER="$ROOT/scripts/local-cluster.sh"
RUN_BIN="$LC/bin/tessera"
READY_TIMEOUT="${TESSERA_READY_TIMEOUT:-60}"
STOP_TIMEOUT="${TESSERA_STOP_TIMEOUT:-45}"
NODES=(1 2 3)

ts() { date '+%F %T.%3N'; }
say() { printf '%s  %s\n' "$(ts)" "$*"; }
warn() { printf '%s  rolling-upgrade: %s\n' "$(ts)" "$*" >&2; }
die() {
    warn "FAILED: $*"
    exit 1
}
trap 'die "unexpected error (line $LINENO, exit status $?)"' ERR

usage() {
    sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# shellcheck source=lib/cluster-layout.sh
. "$ROOT/scripts/lib/cluster-layout.sh"

show_log_tail() {
    warn "last lines of $(node_log "$1"):"
    tail -n 20 "$(node_log "$1")" >&2 || true
}

# HTTP status of node N's /readyz ("000" when nothing answers).
readyz_code() {
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$(http_addr "$1")/readyz" 2>/dev/null || true)"
    printf '%s' "${code:-000}"
}

# `tessera cluster status --json` of node N on stdout; non-zero if it fails.
# Through node N's configuration: the CLI reaches the cluster port the way
# the node serves it (https with the node's certificate under
# `[cluster.tls]`, else http) with the admin token from the same file.
cluster_status() {
    "$CLI" cluster status --json --config "$(node_config "$1")" 2>/dev/null
}

# Node N's view of the cluster, one line: "<leader|none> <voters> <version>".
status_summary() {
    local json
    json="$(cluster_status "$1")" || return 1
    jq -r '"\(.leader_id // "none") \([.members[] | select(.role == "voter")] | length) \(.version)"' \
        <<<"$json" 2>/dev/null
}

# Why the cluster is not healthy (nothing when it is): every node runs,
# answers /readyz 200, sees 3 voters and the same leader. Sets LEADER.
HEALTH_PROBLEM=""
check_health() {
    local n summary leader voters version
    local -A leaders=()
    HEALTH_PROBLEM=""
    LEADER=""
    for n in "${NODES[@]}"; do
        if [[ -z "$(node_pid "$n")" ]]; then
            HEALTH_PROBLEM="node $n is not running"
            return 0
        fi
        local code
        code="$(readyz_code "$n")"
        if [[ "$code" != 200 ]]; then
            HEALTH_PROBLEM="node $n: /readyz answers $code"
            return 0
        fi
        if ! summary="$(status_summary "$n")" || [[ -z "$summary" ]]; then
            HEALTH_PROBLEM="node $n: \`tessera cluster status\` fails"
            return 0
        fi
        read -r leader voters version <<<"$summary"
        if [[ "$leader" == none ]]; then
            HEALTH_PROBLEM="node $n knows no leader"
            return 0
        fi
        if [[ "$voters" != 3 ]]; then
            HEALTH_PROBLEM="node $n sees $voters voters, not 3"
            return 0
        fi
        VERSION[$n]="$version"
        leaders[$leader]=1
    done
    if ((${#leaders[@]} == 1)); then
        LEADER="${!leaders[*]}"
    else
        HEALTH_PROBLEM="the nodes disagree about the leader (nodes ${!leaders[*]})"
    fi
}

# Wait until the cluster is healthy (see check_health); fails after $1 s.
wait_healthy() {
    local secs="$1" deadline=$((SECONDS + $1)) last=""
    while :; do
        check_health
        [[ -z "$HEALTH_PROBLEM" ]] && return 0
        if [[ "$HEALTH_PROBLEM" != "$last" ]]; then
            say "  waiting: $HEALTH_PROBLEM"
            last="$HEALTH_PROBLEM"
        fi
        ((SECONDS < deadline)) || {
            warn "the cluster is not healthy after ${secs}s: $HEALTH_PROBLEM"
            return 1
        }
        sleep 0.5
    done
}

# Wait until a pid has gone; 0 if it did within $2 seconds.
wait_gone() {
    local pid="$1" secs="$2" i
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    ! kill -0 "$pid" 2>/dev/null
}

# SIGTERM node N through its pid file and wait for the process to exit.
stop_node() {
    local n="$1" pid started
    pid="$(node_pid "$n")"
    [[ -n "$pid" ]] || die "node $n is not running (pid file $(node_pidfile "$n"))"
    say "node $n: SIGTERM to pid $pid; waiting up to ${STOP_TIMEOUT}s for it to exit"
    started=$SECONDS
    kill -TERM "$pid" 2>/dev/null || die "cannot signal node $n (pid $pid)"
    if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
        show_log_tail "$n"
        die "node $n (pid $pid) still runs ${STOP_TIMEOUT}s after SIGTERM; it was left running (stop it with \`$LOCAL_CLUSTER stop $n\`, which sends SIGKILL after the timeout, then run this script again)"
    fi
    rm -f "$(node_pidfile "$n")"
    say "node $n: exited after $((SECONDS - started))s"
    # A stopping leader logs the handover (src/node.rs, graceful_stop).
    local handed
    handed="$(tail -n 50 "$(node_log "$n")" 2>/dev/null | grep -E 'handed leadership over' | tail -n 1 || true)"
    if [[ "$2" == leader ]]; then
        if [[ -n "$handed" ]]; then
            say "node $n: its log says: ${handed##*INFO }"
        else
            warn "node $n led but its log shows no handover (the others elect a leader after a timeout)"
        fi
    fi
}

# --- nginx (local-cluster.sh's load balancer), if it runs ----------------------

NGINX_DIR="$LC/nginx"
DRAINED="" # the node taken out of nginx's upstream, if any

# On any exit, put a node taken out of nginx's upstream back in.
restore_upstream() {
    [[ -z "$DRAINED" ]] || nginx_upstream "$DRAINED" up || true
}

nginx_master() {
    local pid
    pid="$(cat "$NGINX_DIR/nginx.pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
    [[ "$(ps -p "$pid" -o args= 2>/dev/null || true)" == *nginx* ]] || return 0
    printf '%s' "$pid"
}

# Reload nginx's config and wait (up to 5 s) until the old workers are gone,
# so no worker still sends requests by the old config.
nginx_reload() {
    local master="$1" i
    kill -HUP "$master" 2>/dev/null || return 1
    sleep 0.2
    for ((i = 0; i < 50; i++)); do
        (($(pgrep -c -P "$master" || true) <= 1)) && return 0
        sleep 0.1
    done
    warn "old nginx workers still run 5s after the reload; going on"
}

# nginx_upstream N down|up: take node N out of (or back into) the upstream.
nginx_upstream() {
    local n="$1" how="$2" master conf="$NGINX_DIR/nginx.conf" addr
    master="$(nginx_master)"
    [[ -n "$master" && -f "$conf" ]] || return 0
    addr="$(http_addr "$n")"
    addr="${addr//./\\.}"
    if [[ "$how" == down ]]; then
        sed -i -E "s/^(\s*server $addr [^;]*[^n;]);/\1 down;/" "$conf"
    else
        sed -i -E "s/^(\s*server $addr [^;]*) down;/\1;/" "$conf"
    fi
    if [[ "$how" == down ]]; then DRAINED="$n"; else DRAINED=""; fi
    if nginx_reload "$master"; then
        say "nginx: node $n $([[ $how == down ]] && echo 'taken out of' || echo 'back in') the upstream"
    else
        warn "could not reload nginx (pid $master); it still sends requests to node $n"
    fi
}

# Install $NEW as $RUN_BIN (atomic rename: running nodes keep their file).
swap_binary() {
    if cmp -s "$NEW" "$RUN_BIN"; then
        say "binary: $RUN_BIN is already $NEW"
        return 0
    fi
    if [[ -f "$RUN_BIN" ]]; then
        cp -p "$RUN_BIN" "$RUN_BIN.previous.tmp.$$"
        mv -f "$RUN_BIN.previous.tmp.$$" "$RUN_BIN.previous"
    fi
    install -m 0755 "$NEW" "$RUN_BIN.tmp.$$"
    mv -f "$RUN_BIN.tmp.$$" "$RUN_BIN"
    say "binary: installed $NEW as $RUN_BIN (the old one is $RUN_BIN.previous)"
}

main() {
    [[ $# -eq 1 && "$1" != -* ]] || usage
    command -v curl >/dev/null 2>&1 || die "curl is required (apt-get install curl)"
    command -v jq >/dev/null 2>&1 || die "jq is required (apt-get install jq)"
    [[ -f "$1" && -x "$1" ]] || die "$1 is not an executable file"
    NEW="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    local new_version
    new_version="$("$NEW" --version 2>&1)" || die "$NEW does not run here: $new_version"
    new_version="${new_version#tessera }"
    [[ -f "$LC/secrets.env" ]] || die "no local cluster in $LC (start one with \`$LOCAL_CLUSTER up\`)"
    [[ -x "$RUN_BIN" ]] || die "$RUN_BIN is missing: this cluster was started by an older local-cluster.sh; restart it with \`$LOCAL_CLUSTER down && $LOCAL_CLUSTER up\`"
    TESSERA_ADMIN_TOKEN="$(
        # shellcheck disable=SC1091 # generated by local-cluster.sh
        . "$LC/secrets.env" && printf '%s' "${TESSERA_ADMIN_TOKEN:-}"
    )"
    [[ -n "$TESSERA_ADMIN_TOKEN" ]] || die "$LC/secrets.env has no TESSERA_ADMIN_TOKEN"
    export TESSERA_ADMIN_TOKEN TESSERA_CLUSTER_DIR="$LC"
    # The CLI of the new release (it just proved it runs).
    CLI="$NEW"

    mkdir -p "$LC/bin"
    exec 9>"$LC/bin/.rolling-upgrade.lock"
    flock -n 9 || die "another rolling upgrade of $LC is running"
    trap restore_upstream EXIT

    declare -gA VERSION=()
    local begin=$SECONDS
    say "rolling upgrade of the cluster in $LC to $NEW (version $new_version)"
    if ! wait_healthy 10; then
        die "the cluster must be healthy before the upgrade starts (see \`$LOCAL_CLUSTER status\`)"
    fi
    local n
    for n in "${NODES[@]}"; do
        say "node $n: pid $(node_pid "$n"), version ${VERSION[$n]}$([[ $n == "$LEADER" ]] && echo ', leader')"
    done

    local -a todo=("${NODES[@]}")
    local step=0 target node_began
    while ((${#todo[@]} > 0)); do
        step=$((step + 1))
        # Who leads now? The leader goes last.
        check_health
        [[ -z "$HEALTH_PROBLEM" ]] || die "the cluster is unhealthy before step $step: $HEALTH_PROBLEM"
        target=""
        for n in "${todo[@]}"; do
            if [[ "$n" != "$LEADER" ]]; then
                target="$n"
                break
            fi
        done
        [[ -n "$target" ]] || target="$LEADER"
        local role=follower
        [[ "$target" == "$LEADER" ]] && role=leader
        say "step $step/${#NODES[@]}: node $target ($role; leader is node $LEADER)"
        node_began=$SECONDS

        nginx_upstream "$target" down
        stop_node "$target" "$role"
        swap_binary
        say "node $target: starting it (\`local-cluster.sh start $target\`)"
        # (9>&-: the node must not inherit the lock.)
        if ! TESSERA_READY_TIMEOUT="$READY_TIMEOUT" "$LOCAL_CLUSTER" start "$target" 9>&- 2>&1 |
            while IFS= read -r line; do say "  | $line"; done; then
            die "node $target did not start on the new binary; to put the old one back: \`cp $RUN_BIN.previous $RUN_BIN && $LOCAL_CLUSTER start $target\`"
        fi
        local pid
        pid="$(node_pid "$target")"
        [[ -n "$pid" ]] || die "node $target is not running after start"
        say "node $target: running as pid $pid; waiting for /readyz 200, 3 voters and a leader"
        if ! wait_healthy "$READY_TIMEOUT"; then
            show_log_tail "$target"
            die "after restarting node $target on the new binary the cluster did not become healthy"
        fi
        nginx_upstream "$target" up
        if [[ "${VERSION[$target]}" != "$new_version" ]]; then
            die "node $target reports version ${VERSION[$target]}, expected $new_version"
        fi
        say "node $target: upgraded in $((SECONDS - node_began))s (version ${VERSION[$target]}); leader is node $LEADER"
        if [[ -n "${TESSERA_AFTER_STEP:-}" ]]; then
            # shellcheck disable=SC2086 # a command with its arguments
            $TESSERA_AFTER_STEP "$step" "$target" 9>&- || die "the after-step command failed after step $step"
        fi

        local rest=()
        for n in "${todo[@]}"; do [[ "$n" == "$target" ]] || rest+=("$n"); done
        todo=("${rest[@]+"${rest[@]}"}")
    done
    say "done in $((SECONDS - begin))s: all three nodes run $NEW (version $new_version); leader is node $LEADER"
}

main "$@"
