#!/usr/bin/env bash
# Mixed-load soak of the local three-node cluster (`scripts/local-cluster.sh
# up` first, release build). For SOAK_MINUTES (default 20) it cycles the
# HTTP workloads of scripts/bench-http.sh (client_credentials,
# introspection, refresh, sso, login, discovery, jwks; SOAK_STEP seconds
# each, default 20) while a sampler records every node's RSS and data size
# every 10 s. At the end it prints the samples, then per node the RSS at
# half time, the highest RSS of the second half and the least-squares slope
# of the second half in MB per minute: memory is flat when that slope is
# close to 0 and the second half's peak stays near its start.
#
#   scripts/soak.sh            # SOAK_MINUTES=20 SOAK_STEP=20
#
# Memory follows live data: with the default lifetimes (sessions 24 h,
# refresh tokens 30 days) every login and sign-in of the run is still live
# at its end, so the state grows for the whole 20 minutes by design. To see
# whether anything grows *beyond* live data, start the cluster with lifetimes
# shorter than half the run, so live data reaches its steady state in the
# first half:
#
#   TESSERA_EXTRA_TOML=$'[tokens]\nsession_lifetime_secs = 300\nrefresh_token_lifetime_secs = 300' \
#       scripts/local-cluster.sh up
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LC="${TESSERA_CLUSTER_DIR:-$ROOT/.local-cluster}"
# shellcheck source=lib/cluster-layout.sh
. "$ROOT/scripts/lib/cluster-layout.sh"
MINUTES="${SOAK_MINUTES:-20}"
STEP="${SOAK_STEP:-20}"
SAMPLES="$(mktemp)"
trap 'kill "${SAMPLER:-}" 2>/dev/null || true; rm -f "$SAMPLES"' EXIT
NODES=(1 2 3)

sample() { # one line: seconds since start, RSS MB and data MB per node
    local n line
    line="$1"
    for n in "${NODES[@]}"; do
        line+=" $(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$(node_pid "$n")/status")"
        line+=" $(du -sk "$(node_dir "$n")/data" | awk '{printf "%.1f", $1 / 1024}')"
    done
    echo "$line"
}

start=$(date +%s)
end=$((start + MINUTES * 60))
(
    while :; do
        sample $(($(date +%s) - start)) >>"$SAMPLES"
        sleep 10
    done
) &
SAMPLER=$!

echo "soak: ${MINUTES} min of mixed load, ${STEP} s per workload, started $(date -u +%H:%M:%S)"
workloads=(client_credentials introspection refresh sso login discovery jwks)
i=0
while (($(date +%s) < end)); do
    w="${workloads[$((i % ${#workloads[@]}))]}"
    BENCH_SECONDS="$STEP" "$ROOT/scripts/bench-http.sh" "$w" | grep -v '^  node\|^before\|^after' || true
    i=$((i + 1))
done
kill "$SAMPLER" 2>/dev/null || true
sample $(($(date +%s) - start)) >>"$SAMPLES"

echo
echo "samples (s, then RSS MB / data MB of node 1, 2, 3):"
awk '{printf "%6d  %7.1f / %6.1f  %7.1f / %6.1f  %7.1f / %6.1f\n", $1, $2, $3, $4, $5, $6, $7}' "$SAMPLES"
echo
awk -v half=$((MINUTES * 30)) '
    { t[NR] = $1; for (n = 0; n < 3; n++) rss[n, NR] = $(2 + 2 * n) }
    END {
        for (n = 0; n < 3; n++) {
            m = 0; sx = sy = sxx = sxy = 0; peak = 0; at_half = ""
            for (i = 1; i <= NR; i++) {
                if (t[i] < half) continue
                if (at_half == "") at_half = rss[n, i]
                x = t[i] / 60; y = rss[n, i]
                m++; sx += x; sy += y; sxx += x * x; sxy += x * y
                if (y > peak) peak = y
            }
            slope = (m > 1 && m * sxx - sx * sx != 0) ? (m * sxy - sx * sy) / (m * sxx - sx * sx) : 0
            printf "node %d: RSS at half time %.1f MB, second-half peak %.1f MB, second-half slope %+.2f MB/min (%d samples)\n", n + 1, at_half, peak, slope, m
        }
    }' "$SAMPLES"
