//! Actix actors, one per domain; the only code that builds and proposes Raft
//! commands. Handlers send them messages phrased in the request's terms (the
//! code or token the client sent); the actor hashes secrets, reads the clock,
//! generates ids and builds the [`crate::state::Command`], and answers in the
//! request's terms too (e.g. [`exchange::Exchange`]).
//!
//! * [`directory::DirectoryActor`] — users and clients: writes, reads, password checks.
//! * [`session::SessionActor`] — login sessions and consents.
//! * [`code::CodeActor`] — authorization codes (issue, single-use exchange).
//!   [`par`] adds pushed authorization requests to it (single use as well).
//! * [`token::TokenActor`] — refresh rotation, assertion replay, revocation.
//! * [`token_reads::TokenReads`] — token liveness after read-index, read by
//!   the handlers directly (no message: these reads write nothing).
//! * [`exchange`] — what a code or refresh-token exchange answers.
//! * [`keys::KeyActor`] — signing keys, published to workers as [`keys::Keys`].
//! * [`password::PasswordActor`] — argon2 on a `SyncArbiter` thread pool.
//! * [`logout_delivery::LogoutDelivery`] — on the leader, sends queued
//!   back-channel logout tokens and records the outcomes.
//! * [`membership::Membership`] — cluster status, readiness, node changes.
//! * [`batcher`] — group commit shared by the domain actors: commands that
//!   arrive while a proposal is in flight are sent together as one log entry.
//!
//! [`ClusterError`] is the actors' error for "the cluster cannot decide now"
//! (no leader, no quorum, timeout): handlers map it to 503.

pub mod batcher;
pub mod code;
pub mod directory;
pub mod exchange;
pub mod keys;
pub mod logout_delivery;
pub mod membership;
pub mod par;
pub mod password;
pub mod sealed_code;
pub mod session;
pub mod token;
pub mod token_reads;

#[cfg(test)]
mod one_node_tests;

use tokio::sync::oneshot;

use crate::state::CommandResult;

pub use crate::clock::now;
pub use crate::cluster::ClusterError;

/// Await a proposed command's result.
pub(crate) async fn result_of(
    rx: oneshot::Receiver<Result<CommandResult, ClusterError>>,
) -> Result<CommandResult, ClusterError> {
    rx.await
        .map_err(|_| ClusterError::Unknown("the proposing actor stopped".into()))?
}
