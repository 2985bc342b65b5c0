#!/usr/bin/env bash
# A three-node Tessera cluster on 127.0.0.1, with an nginx load balancer.
#
#   scripts/local-cluster.sh up        build (release), start nodes + nginx (node 1
#                                      with --bootstrap if no node has data yet),
#                                      wait until every /readyz is 200 (member,
#                                      caught up, signing keys), seed demo data
#   scripts/local-cluster.sh status    process state, /readyz, `tessera cluster status`
#   scripts/local-cluster.sh stop N    SIGTERM node N and wait until it has exited
#   scripts/local-cluster.sh start N   start node N again
#   scripts/local-cluster.sh kill N    SIGKILL node N (crash it)
#   scripts/local-cluster.sh down      stop every node and nginx; keep the data
#   scripts/local-cluster.sh clean     `down`, then delete .local-cluster/
#
# Node N (1..3) serves HTTP on 127.0.0.1:808N and cluster RPC / admin API on
# 127.0.0.1:908N. nginx listens on 127.0.0.1:8080 (the issuer) and passes each
# request to a node, retrying the next one when a node is down or answers
# 502/503. Everything lives under .local-cluster/ at the repository root:
#
#   bin/tessera            the binary the nodes run: `up` installs the build
#                          (or TESSERA_BIN) here, `start N` runs whatever is
#                          here, scripts/rolling-upgrade.sh replaces it
#   secrets.env            cluster secret, admin token, master key (made once)
#   nodeN/cluster.toml     node N's configuration (written on every `up`)
#   nodeN/data/            node N's data directory
#   nodeN.pid, nodeN.log   node N's process id and output
#   nginx/                 nginx.conf, nginx.pid, error.log, access.log, temp
#
# Environment:
#   TESSERA_BIN            the binary `up` installs as bin/tessera (default
#                          target/release/tessera); when set, `up` does not build
#   TESSERA_CLUSTER_DIR    instead of <repo>/.local-cluster
#   TESSERA_HTTP_WORKERS   [http] workers of each node (default 2)
#   TESSERA_READY_TIMEOUT  seconds to wait for /readyz (default 60)
#   TESSERA_STOP_TIMEOUT   seconds to wait after SIGTERM before SIGKILL (default 45)
#   TESSERA_NGINX          the nginx binary (default: nginx on PATH or /usr/sbin/nginx)
#   TESSERA_LOG            log filter passed to the nodes (e.g. debug,openraft=info)
#   TESSERA_EXTRA_TOML     TOML appended to every node's cluster.toml on `up`, e.g.
#                          $'[tokens]\nsession_lifetime_secs = 300' (scripts/soak.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LC="${TESSERA_CLUSTER_DIR:-$ROOT/.local-cluster}"
if [[ -n "${TESSERA_BIN:-}" ]]; then
    BIN="$TESSERA_BIN"
    BUILD=0
else
    BIN="$ROOT/target/release/tessera"
    BUILD=1
fi
HTTP_WORKERS="${TESSERA_HTTP_WORKERS:-2}"
READY_TIMEOUT="${TESSERA_READY_TIMEOUT:-60}"
STOP_TIMEOUT="${TESSERA_STOP_TIMEOUT:-45}"
NODES=(1 2 3)
LB_ADDR="127.0.0.1:8080"
ISSUER="http://$LB_ADDR"
NGINX_DIR="$LC/nginx"
# What the nodes run (and the CLI this script calls): a copy of $BIN, so a
# rolling upgrade can replace it while the other nodes keep running.
RUN_BIN="$LC/bin/tessera"

DEMO_USER="alice"
DEMO_PASSWORD="wonderland-42"
DEMO_EMAIL="alice@example.com"
DEMO_NAME="Alice Liddell"
DEMO_CLIENT="demo"
DEMO_SECRET="demo-secret"
DEMO_REDIRECT="http://127.0.0.1:8765/cb"
DEMO_LOGOUT="http://127.0.0.1:8765/logged-out"
DEMO_GRANTS="authorization_code,refresh_token,client_credentials"

say() { printf '%s\n' "$*"; }
warn() { printf 'local-cluster: %s\n' "$*" >&2; }
die() {
    warn "$*"
    exit 1
}

usage() {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

# shellcheck source=lib/cluster-layout.sh
. "$ROOT/scripts/lib/cluster-layout.sh"

check_node_arg() {
    [[ $# -ge 1 && "$1" =~ ^[123]$ ]] || die "give a node number: 1, 2 or 3"
}

need_curl() {
    command -v curl >/dev/null 2>&1 || die "curl is required (apt-get install curl)"
}

need_bin() {
    [[ -x "$BIN" ]] || die "$BIN is missing or not executable (run \`cargo build --release\`, or set TESSERA_BIN)"
}

# Copy $BIN to $RUN_BIN. The rename is atomic and leaves running nodes on the
# file they started from (copying over a running executable would fail).
install_bin() {
    need_bin
    mkdir -p "$LC/bin"
    cmp -s "$BIN" "$RUN_BIN" 2>/dev/null && return 0
    install -m 0755 "$BIN" "$RUN_BIN.tmp.$$"
    mv -f "$RUN_BIN.tmp.$$" "$RUN_BIN"
    say "installed $BIN as $RUN_BIN"
}

# $RUN_BIN as it is; installed from $BIN only if absent.
need_run_bin() {
    [[ -x "$RUN_BIN" ]] || install_bin
}

# --- secrets and configuration ----------------------------------------------

random_hex() { # 32 random bytes as 64 hex characters
    if command -v openssl >/dev/null 2>&1; then
        openssl rand -hex 32
    else
        head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n'
        echo
    fi
}

random_base64() { # 32 random bytes, standard base64 (the master key)
    if command -v openssl >/dev/null 2>&1; then
        openssl rand -base64 32
    else
        head -c 32 /dev/urandom | base64 | tr -d '\n'
        echo
    fi
}

# shellcheck disable=SC1090 # sources the generated secrets.env
ensure_secrets() {
    mkdir -p "$LC"
    local f="$LC/secrets.env"
    if [[ ! -f "$f" ]]; then
        (
            umask 077
            {
                echo "# Secrets of the local Tessera cluster (made by scripts/local-cluster.sh)."
                echo "# \`. $f\` exports TESSERA_ADMIN_TOKEN for \`tessera ... --url\`."
                echo "export TESSERA_CLUSTER_SECRET='$(random_hex)'"
                echo "export TESSERA_ADMIN_TOKEN='$(random_hex)'"
                echo "export TESSERA_MASTER_KEY='$(random_base64)'"
            } >"$f.tmp"
            mv "$f.tmp" "$f"
        )
        say "generated secrets in $f"
    fi
    # Read the values without exporting them into the nodes' environment.
    CLUSTER_SECRET="$(. "$f" && printf '%s' "${TESSERA_CLUSTER_SECRET:-}")"
    ADMIN_TOKEN="$(. "$f" && printf '%s' "${TESSERA_ADMIN_TOKEN:-}")"
    MASTER_KEY="$(. "$f" && printf '%s' "${TESSERA_MASTER_KEY:-}")"
    [[ -n "$CLUSTER_SECRET" && -n "$ADMIN_TOKEN" && -n "$MASTER_KEY" ]] ||
        die "$f lacks TESSERA_CLUSTER_SECRET, TESSERA_ADMIN_TOKEN or TESSERA_MASTER_KEY (delete it to make new ones)"
}

write_config() {
    local n="$1" dir cfg
    dir="$(node_dir "$n")"
    cfg="$(node_config "$n")"
    mkdir -p "$dir/data"
    (
        umask 077
        cat >"$cfg.tmp" <<EOF
# Node $n of the local Tessera cluster (written by scripts/local-cluster.sh).
outbound = { allow_private_targets = true } # RPs on this machine (jwks_uri)
[node]
id = $n
http_addr = "$(http_addr "$n")"
rpc_addr = "$(rpc_addr "$n")"
data_dir = "$dir/data"

[cluster]
issuer = "$ISSUER"
bootstrap_node = 1
cluster_secret = "$CLUSTER_SECRET"
admin_token = "$ADMIN_TOKEN"
master_key = "$MASTER_KEY"
members = [
    { id = 1, http_addr = "$(http_addr 1)", rpc_addr = "$(rpc_addr 1)" },
    { id = 2, http_addr = "$(http_addr 2)", rpc_addr = "$(rpc_addr 2)" },
    { id = 3, http_addr = "$(http_addr 3)", rpc_addr = "$(rpc_addr 3)" },
]

[http]
workers = $HTTP_WORKERS

# Mutual TLS on the cluster port (certificates from tessera certs).
[cluster.tls]
ca_cert = "$LC/certs/ca.pem"
cert = "$LC/certs/node$n.pem"
key = "$LC/certs/node$n.key"
EOF
        if [[ -n "${TESSERA_EXTRA_TOML:-}" ]]; then
            printf '\n# From TESSERA_EXTRA_TOML:\n%s\n' "$TESSERA_EXTRA_TOML" >>"$cfg.tmp"
        fi
        mv "$cfg.tmp" "$cfg"
    )
}

# A dev CA and one certificate per node, made once: the cluster port speaks
# mutual TLS (nginx fronts only the public port and is unaffected).
ensure_certs() {
    [[ -f "$LC/certs/ca.pem" ]] && return 0
    need_run_bin
    "$RUN_BIN" certs --out "$LC/certs" --nodes 3 --hosts 127.0.0.1,localhost >/dev/null ||
        die "tessera certs failed"
    say "made a dev CA and node certificates in $LC/certs"
}

ensure_configs() {
    ensure_secrets
    ensure_certs
    local n
    for n in "${NODES[@]}"; do write_config "$n"; done
}

# --- node processes ----------------------------------------------------------

running_count() {
    local n c=0
    for n in "${NODES[@]}"; do [[ -n "$(node_pid "$n")" ]] && c=$((c + 1)); done
    printf '%s' "$c"
}

# A cluster that has never started: no node has a database yet.
fresh_cluster() {
    local n
    for n in "${NODES[@]}"; do
        [[ -e "$(node_dir "$n")/data/sled" ]] && return 1
    done
    return 0
}

# start_node N [--bootstrap]: `--bootstrap` only for node 1 of a fresh
# cluster (`up`); a node started later, even with wiped data, waits to be
# joined by the running cluster instead of starting a second one.
start_node() {
    local n="$1" pid cfg log extra=("${@:2}")
    pid="$(node_pid "$n")"
    if [[ -n "$pid" ]]; then
        say "node $n is already running (pid $pid)"
        return 0
    fi
    cfg="$(node_config "$n")"
    [[ -f "$cfg" ]] || {
        ensure_secrets
        write_config "$n"
    }
    log="$(node_log "$n")"
    need_run_bin
    printf '\n=== %s: starting node %s (%s) ===\n' "$(date '+%F %T')" "$n" "$RUN_BIN" >>"$log"
    nohup "$RUN_BIN" serve --config "$cfg" "${extra[@]+"${extra[@]}"}" </dev/null >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$(node_pidfile "$n")"
    # Until nohup has exec'd the binary, the child still looks like this script.
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -n "$(node_pid "$n")" ]] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log_tail "$n"
            die "node $n exited right after start"
        fi
        sleep 0.1
    done
    say "started node $n (pid $pid): http://$(http_addr "$n"), cluster https://$(rpc_addr "$n") (mTLS), log $log"
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

stop_node() { # SIGTERM, wait, SIGKILL after STOP_TIMEOUT
    local n="$1" pid
    pid="$(node_pid "$n")"
    if [[ -z "$pid" ]]; then
        say "node $n is not running"
        rm -f "$(node_pidfile "$n")"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if wait_gone "$pid" "$STOP_TIMEOUT"; then
        say "node $n stopped (pid $pid)"
    else
        warn "node $n (pid $pid) still runs ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 10 || die "node $n (pid $pid) does not exit"
    fi
    rm -f "$(node_pidfile "$n")"
}

kill_node() { # SIGKILL: a crash
    local n="$1" pid
    pid="$(node_pid "$n")"
    if [[ -z "$pid" ]]; then
        say "node $n is not running"
        rm -f "$(node_pidfile "$n")"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "node $n (pid $pid) survived SIGKILL"
    rm -f "$(node_pidfile "$n")"
    say "node $n killed (SIGKILL, pid $pid)"
}

# HTTP status of a URL ("000" when nothing answers).
http_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true
}

# One /readyz request to node N: sets RZ_CODE ("000" if nothing answers) and RZ_BODY.
readyz_probe() {
    local out
    out="$(curl -s -w '\n%{http_code}' --max-time 3 "http://$(http_addr "$1")/readyz" 2>/dev/null || true)"
    RZ_CODE="${out##*$'\n'}"
    RZ_BODY="${out%$'\n'*}"
    [[ "$out" == *$'\n'* ]] || RZ_BODY=""
    [[ -n "$RZ_CODE" ]] || RZ_CODE="000"
}

show_log_tail() {
    local n="$1"
    warn "last lines of $(node_log "$n"):"
    tail -n 20 "$(node_log "$n")" >&2 || true
}

# Wait until every listed node answers /readyz with 200.
wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT)) n pending
    while :; do
        pending=()
        for n in "$@"; do
            if [[ -z "$(node_pid "$n")" ]]; then
                warn "node $n exited while starting"
                show_log_tail "$n"
                return 1
            fi
            [[ "$(http_code "http://$(http_addr "$n")/readyz")" == 200 ]] || pending+=("$n")
        done
        ((${#pending[@]} == 0)) && return 0
        if ((SECONDS >= deadline)); then
            for n in "${pending[@]}"; do
                readyz_probe "$n"
                warn "node $n is not ready after ${READY_TIMEOUT}s: /readyz answers $RZ_CODE $RZ_BODY"
                show_log_tail "$n"
            done
            return 1
        fi
        sleep 0.5
    done
}

# --- nginx ---------------------------------------------------------------------

find_nginx() {
    if [[ -n "${TESSERA_NGINX:-}" ]]; then
        [[ -x "$TESSERA_NGINX" ]] && echo "$TESSERA_NGINX"
        return 0
    fi
    if command -v nginx >/dev/null 2>&1; then
        command -v nginx
    elif [[ -x /usr/sbin/nginx ]]; then
        echo /usr/sbin/nginx
    fi
}

nginx_pid() {
    local pf="$NGINX_DIR/nginx.pid" pid
    [[ -f "$pf" ]] || return 0
    pid="$(cat "$pf" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
    [[ "$(ps -p "$pid" -o args= 2>/dev/null || true)" == *nginx* ]] || return 0
    printf '%s' "$pid"
}

write_nginx_config() {
    local user_line="" n
    mkdir -p "$NGINX_DIR/tmp" "$NGINX_DIR/logs"
    if [[ "$(id -u)" == 0 ]]; then
        # As root the workers drop privileges. They need no file of ours: the
        # logs are opened by the master, and bodies never go to temp files.
        user_line="user nobody $(id -gn nobody 2>/dev/null || echo nogroup);"
    fi
    {
        cat <<EOF
# nginx in front of the local Tessera cluster (written by scripts/local-cluster.sh).
$user_line
# One worker per core; keep-alive connections (clients and upstreams) live
# for 100 000 requests instead of nginx's 1000, so a busy client does not
# reconnect every few hundred milliseconds; the access log is buffered.
worker_processes auto;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;

events {
    worker_connections 1024;
}

http {
    access_log $NGINX_DIR/access.log combined buffer=256k flush=2s;
    keepalive_requests 100000;
    client_body_temp_path $NGINX_DIR/tmp/client_body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    client_max_body_size 1m;
    client_body_buffer_size 1m;
    proxy_max_temp_file_size 0;

    upstream tessera {
EOF
        for n in "${NODES[@]}"; do
            echo "        server $(http_addr "$n") max_fails=2 fail_timeout=2s;"
        done
        cat <<EOF
        keepalive 64;
        keepalive_requests 100000;
        # Shorter than a node's 5 s idle timeout: nginx must drop an idle
        # connection before the node closes it, or a POST sent on it as it
        # closes gets a 502 (nginx does not resend a POST).
        keepalive_timeout 4s;
    }

    server {
        listen $LB_ADDR;
        server_name _;

        location / {
            proxy_pass http://tessera;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            # A node that is down, or answers 502/503 (e.g. it has no quorum),
            # is skipped and the request goes to the next one. POSTs are only
            # retried when they never reached a node (nginx's default).
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
            proxy_connect_timeout 1s;
            proxy_read_timeout 60s;
        }
    }
}
EOF
    } >"$NGINX_DIR/nginx.conf"
}

start_nginx() {
    local nginx pid
    nginx="$(find_nginx)"
    if [[ -z "$nginx" ]]; then
        warn "nginx is not installed, so there is no load balancer on $LB_ADDR."
        local sudo=""
        [[ "$(id -u)" == 0 ]] || sudo="sudo "
        warn "  Install it with: ${sudo}apt-get install nginx   (then run \`$0 up\` again)"
        warn "  Continuing without it: use a node directly, e.g. http://$(http_addr 1)"
        warn "  (the issuer stays $ISSUER, so OIDC flows need the load balancer)."
        return 0
    fi
    pid="$(nginx_pid)"
    if [[ -n "$pid" ]]; then
        say "nginx is already running (pid $pid) on $LB_ADDR"
        return 0
    fi
    write_nginx_config
    # -p: its own prefix; -c: absolute config; it daemonizes and writes nginx.pid.
    if ! "$nginx" -q -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" -t >/dev/null 2>&1; then
        # nginx before 1.19.5 has no -e; test again without it to show the reason.
        if ! "$nginx" -q -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -t; then
            warn "nginx rejects $NGINX_DIR/nginx.conf; continuing without the load balancer"
            return 0
        fi
        NGINX_E=()
    else
        NGINX_E=(-e "$NGINX_DIR/error.log")
    fi
    if ! "$nginx" -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" "${NGINX_E[@]}"; then
        warn "nginx did not start (is $LB_ADDR in use?); see $NGINX_DIR/error.log"
        warn "continuing without the load balancer"
        return 0
    fi
    local i
    for ((i = 0; i < 50; i++)); do
        pid="$(nginx_pid)"
        [[ -n "$pid" ]] && break
        sleep 0.1
    done
    say "started nginx (pid ${pid:-?}) on $LB_ADDR, config $NGINX_DIR/nginx.conf"
}

stop_nginx() {
    local pid
    pid="$(nginx_pid)"
    if [[ -z "$pid" ]]; then
        rm -f "$NGINX_DIR/nginx.pid"
        return 0
    fi
    kill -QUIT "$pid" 2>/dev/null || true # graceful shutdown
    if ! wait_gone "$pid" 10; then
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$NGINX_DIR/nginx.pid"
    say "nginx stopped (pid $pid)"
}

# --- seeding -------------------------------------------------------------------

# Run an admin command against the first node that takes it (a few tries: a
# leader election may be under way right after start).
admin_cmd() {
    local stdin_text="$1" try n out="no node is running"
    shift
    for try in 1 2 3 4 5; do
        for n in "${NODES[@]}"; do
            [[ -n "$(node_pid "$n")" ]] || continue
            if out="$(printf '%s' "$stdin_text" | "$RUN_BIN" "$@" --config "$(node_config "$n")" 2>&1)"; then
                printf '%s\n' "$out"
                return 0
            fi
        done
        warn "attempt $try: $out"
        sleep 1
    done
    return 1
}

# "created" when the CLI printed the new record (JSON), else its message.
seed_result() {
    if [[ "$1" == "{"* ]]; then echo "created"; else printf '%s' "$1" | head -n 1; fi
}

seed() {
    local out
    say "seeding the demo user and client (idempotent)"
    out="$(admin_cmd "$DEMO_PASSWORD" user add --username "$DEMO_USER" --password-stdin \
        --email "$DEMO_EMAIL" --name "$DEMO_NAME" --exists-ok)" ||
        die "could not create the demo user"
    say "  user   $DEMO_USER / $DEMO_PASSWORD: $(seed_result "$out")"
    out="$(admin_cmd "" client add --id "$DEMO_CLIENT" --secret "$DEMO_SECRET" \
        --redirect-uri "$DEMO_REDIRECT" --post-logout-redirect-uri "$DEMO_LOGOUT" \
        --grant-types "$DEMO_GRANTS" --first-party --exists-ok)" ||
        die "could not create the demo client"
    say "  client $DEMO_CLIENT / $DEMO_SECRET: $(seed_result "$out")"
}

# --- commands ------------------------------------------------------------------

cmd_up() {
    need_curl
    if ((BUILD)); then
        say "building (cargo build --release)"
        (cd "$ROOT" && cargo build --release) ||
            die "\`cargo build --release\` failed (set TESSERA_BIN to run an already built binary)"
    fi
    install_bin
    ensure_configs
    local n bootstrap=()
    if fresh_cluster; then
        say "new cluster: node 1 starts with --bootstrap"
        bootstrap=(--bootstrap)
    fi
    start_node 1 "${bootstrap[@]+"${bootstrap[@]}"}"
    for n in "${NODES[@]:1}"; do start_node "$n"; done
    start_nginx
    say "waiting up to ${READY_TIMEOUT}s for every node's /readyz"
    wait_ready "${NODES[@]}" || die "the cluster did not become ready (logs in $LC); \`$0 down\` stops it"
    say "all three nodes are ready"
    seed
    local lb_note=""
    [[ -n "$(nginx_pid)" ]] || lb_note="   (nginx NOT running)"
    cat <<EOF

Tessera local cluster is up.
  issuer (nginx)   $ISSUER$lb_note
EOF
    for n in "${NODES[@]}"; do
        printf '  node %s           http://%s   admin/cluster https://%s  log %s\n' \
            "$n" "$(http_addr "$n")" "$(rpc_addr "$n")" "$(node_log "$n")"
    done
    cat <<EOF
  demo user        $DEMO_USER / $DEMO_PASSWORD
  demo client      $DEMO_CLIENT / $DEMO_SECRET, redirect URI $DEMO_REDIRECT

Admin CLI:
  $RUN_BIN cluster status --config $(node_config 1)
  (the cluster port speaks mutual TLS: with --config the CLI presents the
  node's certificate; certificates in $LC/certs)
Then: $0 status | stop N | start N | kill N | down | clean
EOF
}

cmd_status() {
    need_curl
    local n pid any=""
    for n in "${NODES[@]}"; do
        pid="$(node_pid "$n")"
        if [[ -n "$pid" ]]; then
            readyz_probe "$n"
            if [[ "$RZ_CODE" == 200 ]]; then
                printf 'node %s: running (pid %s), ready\n' "$n" "$pid"
            else
                printf 'node %s: running (pid %s), NOT ready (/readyz %s) %s\n' "$n" "$pid" "$RZ_CODE" "$RZ_BODY"
            fi
            [[ -n "$any" ]] || any="$n"
        elif [[ -f "$(node_pidfile "$n")" ]]; then
            printf 'node %s: DEAD (pid file %s names no running node)\n' "$n" "$(node_pidfile "$n")"
        else
            printf 'node %s: stopped\n' "$n"
        fi
    done
    pid="$(nginx_pid)"
    if [[ -n "$pid" ]]; then
        printf 'nginx:  running (pid %s) on %s, /readyz via nginx: %s\n' "$pid" "$LB_ADDR" "$(http_code "$ISSUER/readyz")"
    elif [[ -z "$(find_nginx)" ]]; then
        printf 'nginx:  not installed (apt-get install nginx)\n'
    else
        printf 'nginx:  stopped\n'
    fi
    if [[ -z "$any" ]]; then
        say "no node is running"
        return 0
    fi
    need_run_bin
    echo
    for n in "${NODES[@]}"; do
        [[ -n "$(node_pid "$n")" ]] || continue
        say "\$ tessera cluster status --config $(node_config "$n")"
        "$RUN_BIN" cluster status --config "$(node_config "$n")" && return 0
    done
    warn "no running node answered \`tessera cluster status\`"
    return 1
}

cmd_start() {
    check_node_arg "$@"
    need_curl
    need_run_bin
    local n="$1"
    start_node "$n"
    if (($(running_count) < 2)); then
        say "node $n started; it becomes ready once a majority (2 of 3) of the nodes run"
        return 0
    fi
    say "waiting up to ${READY_TIMEOUT}s for node $n's /readyz"
    wait_ready "$n" || die "node $n did not become ready"
    say "node $n is ready"
}

cmd_down() {
    local n pids=() pid
    # SIGTERM all nodes at once, then wait for each.
    for n in "${NODES[@]}"; do
        pid="$(node_pid "$n")"
        if [[ -n "$pid" ]]; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$n:$pid")
        else
            rm -f "$(node_pidfile "$n")"
        fi
    done
    for entry in "${pids[@]+"${pids[@]}"}"; do
        n="${entry%%:*}"
        pid="${entry#*:}"
        if wait_gone "$pid" "$STOP_TIMEOUT"; then
            say "node $n stopped (pid $pid)"
        else
            warn "node $n (pid $pid) still runs ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 10 || warn "node $n (pid $pid) does not exit"
        fi
        rm -f "$(node_pidfile "$n")"
    done
    stop_nginx
    [[ "${1:-}" == quiet ]] ||
        say "the local cluster is down (data kept in $LC; \`$0 clean\` deletes it)"
}

cmd_clean() {
    cmd_down quiet
    rm -rf "$LC"
    say "removed $LC"
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd="$1"
    shift
    case "$cmd" in
    up) cmd_up ;;
    down) cmd_down ;;
    clean) cmd_clean ;;
    status) cmd_status ;;
    start) cmd_start "$@" ;;
    stop)
        check_node_arg "$@"
        stop_node "$1"
        ;;
    kill)
        check_node_arg "$@"
        kill_node "$1"
        ;;
    -h | --help | help) usage 0 ;;
    *)
        warn "unknown command: $cmd"
        usage
        ;;
    esac
}

main "$@"
