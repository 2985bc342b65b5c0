//! Tessera: an OpenID Connect Provider that runs as a Raft-replicated cluster.
//!
//! Every piece of state lives in a Raft log (openraft) stored in sled on each
//! node; there is no external database. The crate is layered, each layer only
//! calling the one below it:
//!
//! * [`http`] — actix-web handlers: parse, authenticate, render. Owns every
//!   status code, header and page.
//! * [`actors`] — one actix actor per domain; the only code that proposes Raft
//!   commands. Concurrent proposals are batched into one log entry.
//! * [`cluster`] — openraft plumbing: type config, sled log store, state-machine
//!   adapter, snapshots, network, RPC handlers, forwarding and read-index.
//! * [`state`] — the replicated data model: the versioned [`state::Command`]
//!   enum and a deterministic [`state::apply`].
//! * [`crypto`] — password hashing (argon2id) and other primitives.
//!
//! [`config`] turns `cluster.toml` into a validated [`config::Config`];
//! [`node`] assembles one node; [`metrics`] owns the Prometheus registry;
//! [`cli`] is the command line; [`admin_client`] the HTTP client it uses.
//! [`outbound`] fetches client-supplied URLs (`jwks_uri`) safe against SSRF;
//! [`throttle`] limits password and client-secret guesses and argon2 admission.

pub mod actors;
pub mod admin_client;
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
pub mod metrics;
pub mod node;
pub mod oidc;
pub mod outbound;
pub mod state;
pub mod throttle;

/// The version this binary reports to its peers and operators.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
