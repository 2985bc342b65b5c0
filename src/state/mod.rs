//! The replicated data model: the versioned [`Command`] enum and [`apply`].
//!
//! A Raft log entry carries one [`Proposal`]: a batch of commands proposed
//! together (group commit). [`apply`] runs every command of a proposal against
//! the state trees inside one sled transaction. It is deterministic and total
//! (docs/ARCHITECTURE.md invariant 8): it reads neither the clock nor a random
//! source and does no I/O outside the transaction; whatever a command needs
//! that is not in the state (ids, timestamps, password hashes) the proposer
//! put into the command. A command that cannot take effect returns a
//! [`CommandResult`] saying why; it never fails the entry.
//!
//! Every proposal, record and snapshot carries a format version so a node
//! can tell data written by a newer release; [`version`] says which one, and
//! how a cluster upgrades from one format to the next.
//!
//! Files, leaves first: [`version`], [`trees`] (the trees and the
//! transaction), [`authorization`], [`result`], one file per domain
//! ([`users`], [`clients`], [`cluster_id`], [`keys`], [`sessions`],
//! [`codes`], [`refresh`], [`tokens`], [`dpop`], [`deliveries`], [`pushed`],
//! [`sweep`]), then [`command`], which dispatches to them. This module only
//! declares and re-exports; nothing under `state/` imports the
//! layers above it (oidc, cluster, actors, http, metrics, config).

pub mod authorization;
pub mod cache;
pub mod clients;
pub mod cluster_id;
pub mod codes;
pub mod command;
pub mod deliveries;
pub mod dpop;
pub mod keys;
pub mod pushed;
pub mod refresh;
pub mod result;
pub mod sessions;
pub mod sweep;
pub mod tokens;
pub mod trees;
pub mod users;
pub mod version;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests_apply;
#[cfg(test)]
mod tests_codes;
#[cfg(test)]
mod tests_deliveries;
#[cfg(test)]
mod tests_directory;
#[cfg(test)]
mod tests_dpop;
#[cfg(test)]
mod tests_keys;
#[cfg(test)]
mod tests_pushed;
#[cfg(test)]
mod tests_sessions;
#[cfg(test)]
mod tests_sweep;
#[cfg(test)]
mod tests_tokens;
#[cfg(test)]
mod tests_upgrade;

pub use authorization::Authorization;
pub use cache::{Generations, TreeCache};
pub use clients::ClientRecord;
pub use codes::{CodeRecord, NewRefresh, Redemption};
pub use command::{apply, Command, Proposal};
pub use deliveries::DeliveryRecord;
pub use keys::{KeyRecord, KeyState};
pub use pushed::PushedRequest;
pub use refresh::{FamilyRecord, RefreshRecord};
pub use result::{CommandResult, LogoutOutcome, ProposalResult};
pub use sessions::{ConsentRecord, SessionRecord};
pub use trees::{StateTxn, TreeId, STATE_TREES};
pub use users::UserRecord;
pub use version::{Versioned, FIRST_FORMAT, FIRST_FORMAT_TREES, FORMAT_VERSION, SECOND_FORMAT};
