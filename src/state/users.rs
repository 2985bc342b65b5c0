//! Users: the replicated user record and its commands.
//!
//! A user is keyed by username. The password is stored only as an argon2id
//! PHC string (m=19456 KiB, t=2, p=1), hashed by the proposer before the
//! command enters the log, so no plaintext ever reaches the log or a peer.

use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionResult;

use super::trees::{read, StateTxn, TreeId};
use super::{CommandResult, FORMAT_VERSION};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub v: u32,
    /// Stable subject identifier, chosen by the proposer.
    pub sub: String,
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Unix seconds, from the proposer's clock.
    pub created_at: u64,
}

impl UserRecord {
    pub fn new(sub: String, username: String, password_hash: String, created_at: u64) -> Self {
        UserRecord {
            v: FORMAT_VERSION,
            sub,
            username,
            password_hash,
            email: None,
            name: None,
            created_at,
        }
    }
}

pub(super) fn create(
    txn: &StateTxn<'_>,
    user: &UserRecord,
) -> ConflictableTransactionResult<CommandResult, ()> {
    if txn
        .get::<UserRecord>(TreeId::Users, &user.username)?
        .is_some()
    {
        return Ok(CommandResult::UserExists);
    }
    txn.put(TreeId::Users, &user.username, user)?;
    Ok(CommandResult::Done)
}

/// Read view: a user by username.
pub fn get(users: &sled::Tree, username: &str) -> Option<UserRecord> {
    read(users, username)
}
