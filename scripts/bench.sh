#!/usr/bin/env bash
# Replicated write benchmark on a local three-node cluster (release build).
# Prints commits/s, p50/p99 commit latency, commands per log entry, RSS and
# disk use at 1, 16 and 128 concurrent writers. BENCH_SECONDS=N per step.
# The HTTP workloads (client_credentials, introspection, discovery, jwks,
# refresh, sso, login) are measured by scripts/bench-http.sh against
# `scripts/local-cluster.sh up`; the login workload's ceiling (argon2 checks
# per second on this machine's password pool) by `cargo bench --bench
# password_pool`; memory over time under mixed load by scripts/soak.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench cluster_write "$@"
