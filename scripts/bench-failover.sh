#!/usr/bin/env bash
# Leader failover on the local cluster (`scripts/local-cluster.sh up` first):
# SIGKILL the leader, then write through a follower (the admin API's
# "create client") in a loop, and print the time from the kill to the first
# committed write. The killed node is started again afterwards.
#
#   scripts/bench-failover.sh [rounds]   (default 3)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LC="${TESSERA_CLUSTER_DIR:-$ROOT/.local-cluster}"
# shellcheck source=lib/cluster-layout.sh
. "$ROOT/scripts/lib/cluster-layout.sh"
# shellcheck disable=SC1091
. "$LC/secrets.env"
ROUNDS="${1:-3}"
# The cluster port speaks mutual TLS: present node 1's certificate.
CURL_TLS=(--cacert "$LC/certs/ca.pem" --cert "$LC/certs/node1.pem" --key "$LC/certs/node1.key")

leader() { # the leader id as node 1..3 reports it
    local n id
    for n in 1 2 3; do
        id="$(curl -s --max-time 1 "${CURL_TLS[@]}" "https://$(rpc_addr "$n")/metrics" |
            awk '$1 == "tessera_raft_leader_id" {print $2}')" || true
        if [[ "$id" =~ ^[1-3]$ ]]; then echo "$id"; return; fi
    done
}

write_through() { # node, client id: 0 when the write committed
    curl -sf --max-time 5 -o /dev/null "${CURL_TLS[@]}" -H "Authorization: Bearer $TESSERA_ADMIN_TOKEN" \
        -H 'Content-Type: application/json' \
        -d "{\"client_id\":\"$2\",\"redirect_uris\":[\"https://rp.example/cb\"],\"grant_types\":[\"authorization_code\"]}" \
        "https://$(rpc_addr "$1")/admin/clients"
}

for r in $(seq 1 "$ROUNDS"); do
    l="$(leader)"
    [[ -n "$l" ]] || { echo "no leader"; exit 1; }
    f=$((l % 3 + 1))
    write_through "$f" "failover-warm-$r-$RANDOM" || true
    t0="$(date +%s%N)"
    kill -KILL "$(node_pid "$l")"
    i=0
    until write_through "$f" "failover-$r-$RANDOM-$i"; do i=$((i + 1)); done
    t1="$(date +%s%N)"
    printf 'round %s: killed leader %s, first write through node %s committed after %d ms (%d failed tries)\n' \
        "$r" "$l" "$f" $(((t1 - t0) / 1000000)) "$i"
    "$ROOT/scripts/local-cluster.sh" start "$l" >/dev/null
    sleep 3
done
