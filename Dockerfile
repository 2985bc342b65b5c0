# syntax=docker/dockerfile:1
#
# Tessera node image.
#
#   docker build -t tessera .
#   docker run -d --name tessera-1 --stop-timeout 40 \
#       -p 8080:8080 -p 9080:9080 \
#       -v /etc/tessera:/etc/tessera:ro \
#       -v tessera-data:/var/lib/tessera \
#       tessera
#
# The container runs `tessera serve --config /etc/tessera/cluster.toml` (see
# cluster.toml.example). Inside the container set node.http_addr =
# "0.0.0.0:8080", node.rpc_addr = "0.0.0.0:9080" and node.data_dir =
# "/var/lib/tessera"; the [[cluster.members]] entries carry the addresses by
# which the other nodes reach this one (the host's IP and published ports).
# Secrets can come from mounted files (`*_file`) or the environment (`*_env`).
#
# The admin CLI is the same binary:
#   docker exec tessera-1 tessera cluster status --config /etc/tessera/cluster.toml
#
# SIGTERM stops a node gracefully (in-flight requests finish first), which can
# take longer than docker's default 10 s: hence --stop-timeout above.
# Probe /healthz (liveness) and /readyz (readiness) on port 8080.

# --- build ------------------------------------------------------------------
FROM rust:1-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build needs: no target/, no .local-cluster/ (it holds secrets).
# templates/ and static/ are compiled in (include_str!); a new top-level
# directory the code includes must be added here too.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY templates ./templates
COPY static ./static
COPY benches ./benches
COPY tests ./tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tessera \
 && install -m 0755 target/release/tessera /usr/local/bin/tessera

# --- run --------------------------------------------------------------------
# libssl3: the binary links OpenSSL dynamically (josekit -> openssl-sys).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system tessera \
 && useradd --system --gid tessera --home-dir /var/lib/tessera \
        --no-create-home --shell /usr/sbin/nologin tessera \
 && install -d -o tessera -g tessera -m 0700 /var/lib/tessera \
 && install -d -m 0755 /etc/tessera
COPY --from=build /usr/local/bin/tessera /usr/local/bin/tessera
USER tessera
WORKDIR /var/lib/tessera
VOLUME /var/lib/tessera
# 8080: public HTTP (OIDC, /healthz, /readyz, /metrics)
# 9080: cluster RPC and admin API (keep it on a private network)
EXPOSE 8080 9080
STOPSIGNAL SIGTERM
ENTRYPOINT ["tessera"]
CMD ["serve", "--config", "/etc/tessera/cluster.toml"]
