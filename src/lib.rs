//! Tessera: an OpenID Connect Provider that runs as a Raft-replicated cluster.
//!
//! Every piece of state lives in a Raft log (openraft) stored in sled on each
//! node; there is no external database. The architecture — layers, the
//! numbered invariants the code cites, the path of every request from handler
//! to `apply`, and how to add an endpoint or a command — is described in
//! `docs/ARCHITECTURE.md` at the root of the repository. In short, the crate
//! is layered, each layer only calling the one below it:
//!
//! * [`http`] — actix-web handlers: parse, send one actor message, render.
//!   Owns every status code, header and page; imports neither `state` nor
//!   `cluster`.
//! * [`actors`] — one actix actor per domain; the only code that builds and
//!   proposes Raft commands (ids, hashes and time are chosen here). Concurrent
//!   proposals are batched into one log entry; hot records are read through
//!   caches that `apply` keeps exact.
//! * [`cluster`] — openraft plumbing: type config, sled log store, state-machine
//!   adapter, snapshots, network, RPC handlers, forwarding and read-index.
//! * [`state`] — the replicated data model: the versioned [`state::Command`]
//!   enum and a deterministic [`state::apply`].
//! * [`oidc`] — protocol rules (validation, claims, discovery, errors); no
//!   framework, no other layer.
//! * [`crypto`] — password hashing (argon2id) and other primitives.
//!
//! [`config`] turns `cluster.toml` into a validated [`config::Config`];
//! [`node`] assembles one node; [`metrics`] owns the Prometheus registry;
//! [`backup`] is the backup file and the offline restore;
//! [`cli`] is the command line; [`admin_client`] the HTTP client it uses;
//! [`clock`] holds the node's clock and the read timeout; [`memory`] the
//! allocators (mimalloc for Rust, glibc bounded for C libraries).
//! [`outbound`] fetches client-supplied URLs (`jwks_uri`) safe against SSRF;
//! [`throttle`] limits password and client-secret guesses and argon2 admission.
//! [`audit`] writes the audit trail (one JSON line per security event).

pub mod actors;
pub mod admin_client;
pub mod audit;
pub mod backup;
pub mod cli;
pub mod clock;
// openraft dictates `StorageError` (224 bytes) as the error of its storage traits.
#[allow(clippy::result_large_err)]
pub mod cluster;
pub mod config;
pub mod crypto;
// Handlers return a ready `HttpResponse` (128 bytes) as their early-exit error.
#[allow(clippy::result_large_err)]
pub mod http;
pub mod memory;
pub mod metrics;
pub mod node;
pub mod oidc;
pub mod outbound;
pub mod state;
pub mod throttle;

/// The version this binary reports to its peers and operators.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
