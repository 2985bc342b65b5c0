#!/usr/bin/env bash
# HTTP benchmark of the local three-node cluster behind nginx
# (`scripts/local-cluster.sh up` first: release build, 127.0.0.1:8080, demo
# client demo/demo-secret, user alice/wonderland-42). Drives each workload
# with wrk and prints requests/s (flows/s for the stateful ones), p50/p99,
# server CPU per request (all three nodes), sockets in TIME_WAIT on the
# cluster ports right after the run, and RSS and data size per node before
# and after.
#
#   scripts/bench-http.sh [workload ...]
#
# Workloads: client_credentials introspection discovery jwks refresh sso
# login (default: all, in that order). Environment: BENCH_SECONDS (10),
# BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_URL
# (http://127.0.0.1:8080), TESSERA_CLUSTER_DIR (.local-cluster).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LC="${TESSERA_CLUSTER_DIR:-$ROOT/.local-cluster}"
# shellcheck source=lib/cluster-layout.sh
. "$ROOT/scripts/lib/cluster-layout.sh"
URL="${BENCH_URL:-http://127.0.0.1:8080}"
SECS="${BENCH_SECONDS:-10}"
CONNS="${BENCH_CONNECTIONS:-32}"
THREADS="${BENCH_THREADS:-2}"
export BENCH_DIR="$ROOT/scripts/bench"
export BENCH_BASIC="ZGVtbzpkZW1vLXNlY3JldA==" # demo:demo-secret
REDIRECT="http%3A%2F%2F127.0.0.1%3A8765%2Fcb"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
NODES=(1 2 3)

die() { printf 'bench-http: %s\n' "$*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk is required (apt-get install -y wrk)"
command -v jq >/dev/null || die "jq is required (apt-get install -y jq)"
for n in "${NODES[@]}"; do
    [[ -n "$(node_pid "$n")" ]] || die "node $n is not running (scripts/local-cluster.sh up)"
done

# --- measurements -------------------------------------------------------------
cpu_ticks() { # utime + stime of every node, in clock ticks
    local n t=0 f
    for n in "${NODES[@]}"; do
        read -ra f <"/proc/$(node_pid "$n")/stat"
        # Fields 14 and 15 (1-based), after a comm without spaces.
        t=$((t + f[13] + f[14]))
    done
    echo "$t"
}
time_wait() { # sockets in TIME_WAIT from or to a cluster port
    ss -Htan state time-wait '( sport = :9081 or sport = :9082 or sport = :9083 or dport = :9081 or dport = :9082 or dport = :9083 )' | wc -l
}
node_sizes() { # "node N: RSS x MB, data y MB" per node
    local n rss data
    for n in "${NODES[@]}"; do
        rss="$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$(node_pid "$n")/status")"
        data="$(du -sk "$(node_dir "$n")/data" | awk '{printf "%.1f", $1 / 1024}')"
        printf '  node %s: RSS %6s MB, data %6s MB\n' "$n" "$rss" "$data"
    done
}

# --- state the stateful workloads need --------------------------------------------
token_post() { curl -sf -u demo:demo-secret -d "$1" "$URL/token"; }
access_token() { token_post grant_type=client_credentials | jq -r .access_token; }

# Sign alice in once (login page, then the form) and print the session cookie.
sign_in() {
    local jar="$TMP/jar" page req csrf
    page="$(curl -sf -c "$jar" "$URL/authorize?response_type=code&client_id=demo&redirect_uri=$REDIRECT&scope=openid&state=s")"
    req="$(grep -o 'name="req" value="[^"]*"' <<<"$page" | head -n1 | sed 's/.*value="//; s/"$//; s/&#x2[fF];/\//g; s/&quot;/"/g; s/&amp;/\&/g')"
    csrf="$(grep -o 'name="csrf" value="[^"]*"' <<<"$page" | head -n1 | sed 's/.*value="//; s/"$//')"
    curl -sf -b "$jar" -c "$jar" -o /dev/null --data-urlencode "req=$req" --data-urlencode "csrf=$csrf" \
        -d username=alice -d password=wonderland-42 "$URL/login" || die "sign-in failed"
    awk '$6 == "tessera_session" {print $7}' "$jar"
}

# One SSO flow with the session: print the refresh token.
refresh_token() {
    local loc code
    loc="$(curl -s -o /dev/null -w '%{redirect_url}' -b "tessera_session=$1" \
        "$URL/authorize?response_type=code&client_id=demo&redirect_uri=$REDIRECT&scope=openid%20offline_access&state=s&nonce=n")"
    code="$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc")"
    token_post "grant_type=authorization_code&redirect_uri=$REDIRECT&code=$code" | jq -r .refresh_token
}

# --- one workload ---------------------------------------------------------------------
run() { # name, then wrk arguments after the connection options
    local name="$1" out cpu0 cpu1 reqs flows rate unit per hz
    shift
    hz="$(getconf CLK_TCK)"
    cpu0="$(cpu_ticks)"
    out="$(wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency "$@")"
    cpu1="$(cpu_ticks)"
    reqs="$(awk '/requests in/ {print $1}' <<<"$out")"
    flows="$(awk '/^flows:/ {print $2}' <<<"$out")"
    unit="req"
    if [[ -n "$flows" ]]; then reqs="$flows"; unit="flow"; fi
    rate="$(awk -v r="$reqs" -v s="$SECS" 'BEGIN {printf "%.0f", r / s}')"
    per="$(awk -v c=$((cpu1 - cpu0)) -v r="$reqs" -v hz="$hz" 'BEGIN {if (r > 0) printf "%.3f", c * 1000 / hz / r; else print "-"}')"
    printf '%-20s %8s %-4s/s  p50 %8s  p99 %8s  cpu %7s ms/%s  time-wait %6s  %s\n' \
        "$name" "$rate" "$unit" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
        "$per" "$unit" "$(time_wait)" \
        "$(grep -E 'Non-2xx|errors|^flows' <<<"$out" | tr -s ' ' | paste -sd';' - || true)"
}

WORKLOADS=("$@")
((${#WORKLOADS[@]})) || WORKLOADS=(client_credentials introspection discovery jwks refresh sso login)

echo "before ($(date -u +%H:%M:%S), ${CONNS} connections, ${SECS} s each):"
node_sizes
for w in "${WORKLOADS[@]}"; do
    case "$w" in
    client_credentials) run "$w" -s "$BENCH_DIR/client_credentials.lua" "$URL/token" ;;
    introspection)
        BENCH_TOKEN="$(access_token)" run "$w" -s "$BENCH_DIR/introspection.lua" "$URL/introspect" ;;
    discovery) run "$w" "$URL/.well-known/openid-configuration" ;;
    jwks) run "$w" "$URL/.well-known/jwks.json" ;;
    refresh)
        session="$(sign_in)"
        export BENCH_TOKENS_DIR="$TMP/refresh"
        mkdir -p "$BENCH_TOKENS_DIR"
        # One chain per connection, spread over the wrk threads.
        for i in $(seq 1 "$CONNS"); do
            refresh_token "$session" >>"$BENCH_TOKENS_DIR/$(((i - 1) % THREADS + 1))"
        done
        run "$w" -s "$BENCH_DIR/refresh.lua" "$URL" ;;
    sso) BENCH_SESSION="$(sign_in)" run "$w" -s "$BENCH_DIR/sso.lua" "$URL" ;;
    login) run "$w" -s "$BENCH_DIR/login.lua" "$URL" ;;
    *) die "unknown workload $w" ;;
    esac
done
echo "after ($(date -u +%H:%M:%S)):"
node_sizes
