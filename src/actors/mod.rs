//! Actix actors, one per domain; the only code that proposes Raft commands.
//!
//! * [`directory::DirectoryActor`] — users and clients: writes and reads.
//! * [`password::PasswordActor`] — argon2 on a `SyncArbiter` thread pool.
//! * [`batcher`] — group commit shared by the domain actors: commands that
//!   arrive while a proposal is in flight are sent together as one log entry.
//!
//! Later domains (sessions, codes, tokens, keys) add their actor here.

pub mod batcher;
pub mod directory;
pub mod password;
