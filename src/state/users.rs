//! Users: the replicated user record and its commands.
//!
//! A user is keyed by username. The password is stored only as an argon2id
//! PHC string (m=19456 KiB, t=2, p=1), hashed by the proposer before the
//! command enters the log, so no plaintext ever reaches the log or a peer.
//! Standard claims (OIDC Core §5.1: name, email, address, ...) are a JSON map.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
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
    /// Standard claims other than `sub`.
    #[serde(default)]
    pub claims: BTreeMap<String, Value>,
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
            claims: BTreeMap::new(),
            created_at,
        }
    }

    /// Claims as released to relying parties (adds `preferred_username`).
    pub fn released_claims(&self) -> BTreeMap<String, Value> {
        let mut c = self.claims.clone();
        c.entry("preferred_username".into())
            .or_insert_with(|| Value::String(self.username.clone()));
        c
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
    // Index by subject; usernames cannot contain '/', so no clash.
    txn.put(TreeId::Users, &format!("sub/{}", user.sub), &user.username)?;
    Ok(CommandResult::Done)
}

pub(super) fn set_claims(
    txn: &StateTxn<'_>,
    username: &str,
    claims: &BTreeMap<String, Value>,
) -> ConflictableTransactionResult<CommandResult, ()> {
    let Some(mut user) = txn.get::<UserRecord>(TreeId::Users, username)? else {
        return Ok(CommandResult::NotFound);
    };
    for (k, v) in claims {
        if v.is_null() {
            user.claims.remove(k);
        } else {
            user.claims.insert(k.clone(), v.clone());
        }
    }
    txn.put(TreeId::Users, username, &user)?;
    Ok(CommandResult::Done)
}

/// Read view: a user by username.
pub fn get(users: &sled::Tree, username: &str) -> Option<UserRecord> {
    read(users, username)
}

/// Read view: a user by subject.
pub fn by_sub(users: &sled::Tree, sub: &str) -> Option<UserRecord> {
    let username: String = read(users, &format!("sub/{sub}"))?;
    get(users, &username)
}
