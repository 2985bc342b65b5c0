//! Actix actors, one per domain; the only code that proposes Raft commands.
//!
//! * [`directory::DirectoryActor`] — users and clients: writes, reads, password checks.
//! * [`session::SessionActor`] — login sessions and consents.
//! * [`code::CodeActor`] — authorization codes (issue, single-use redemption).
//! * [`token::TokenActor`] — refresh rotation, assertion replay, revocation checks.
//! * [`keys::KeyActor`] — signing keys, published to workers as [`keys::Keys`].
//! * [`password::PasswordActor`] — argon2 on a `SyncArbiter` thread pool.
//! * [`membership::Membership`] — cluster status, readiness, node changes.
//! * [`batcher`] — group commit shared by the domain actors: commands that
//!   arrive while a proposal is in flight are sent together as one log entry.

pub mod batcher;
pub mod code;
pub mod directory;
pub mod keys;
pub mod membership;
pub mod password;
pub mod session;
pub mod token;

use tokio::sync::oneshot;

pub use crate::cluster::ClusterError;
use crate::state::CommandResult;

pub use crate::clock::now;

/// Await a proposed command's result.
pub(crate) async fn result_of(
    rx: oneshot::Receiver<Result<CommandResult, ClusterError>>,
) -> Result<CommandResult, ClusterError> {
    rx.await
        .map_err(|_| ClusterError::Unknown("the proposing actor stopped".into()))?
}
