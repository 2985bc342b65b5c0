//! Users: the replicated user record and its commands.
//!
//! A user is keyed by username. The password is stored only as an argon2id
//! PHC string (m=19456 KiB, t=2, p=1), hashed by the proposer before the
//! command enters the log, so no plaintext ever reaches the log or a peer.
//! Standard claims (OIDC Core §5.1: name, email, address, ...) are a JSON map.
//! A disabled user (format 2) keeps its record but cannot sign in, and its
//! codes and refresh tokens are refused by `apply`.

use std::collections::BTreeMap;

use super::result::CommandResult;
use super::trees::{read, Record, StateTxn, TreeId, TxResult};
use super::version::{Versioned, FIRST_FORMAT};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// Set by the operator: the user cannot sign in (format 2; absent when
    /// false, so an enabled user's record is format 1's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

impl Record for UserRecord {}

impl Versioned for UserRecord {
    fn format(&self) -> u32 {
        if self.disabled {
            2
        } else {
            FIRST_FORMAT
        }
    }
}

impl UserRecord {
    pub fn new(sub: String, username: String, password_hash: String, created_at: u64) -> Self {
        UserRecord {
            v: FIRST_FORMAT,
            sub,
            username,
            password_hash,
            claims: BTreeMap::new(),
            created_at,
            disabled: false,
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

/// The longest username `apply` stores, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Whether `username` can be a key of the users tree: 1 to 64 characters,
/// no control characters and no `/` (keys with a `/` are indexes, such as
/// `sub/<subject>`). `apply` refuses other names; the edge (admin API, CLI)
/// calls this first, and may be stricter.
pub fn validate_username(username: &str) -> Result<(), &'static str> {
    if username.is_empty() {
        return Err("a username cannot be empty");
    }
    if username.chars().count() > MAX_USERNAME_CHARS {
        return Err("a username has at most 64 characters");
    }
    if username.contains('/') {
        return Err("a username cannot contain '/'");
    }
    if username.chars().any(char::is_control) {
        return Err("a username cannot contain control characters");
    }
    Ok(())
}

fn sub_key(sub: &str) -> String {
    format!("sub/{sub}")
}

pub(super) fn create(txn: &StateTxn<'_>, user: &UserRecord) -> TxResult<CommandResult> {
    if let Err(why) = validate_username(&user.username) {
        return Ok(CommandResult::invalid(why));
    }
    if user.sub.is_empty() {
        return Ok(CommandResult::invalid("a subject cannot be empty"));
    }
    if txn.exists(TreeId::Users, &user.username)?
        || txn.exists(TreeId::Users, &sub_key(&user.sub))?
    {
        return Ok(CommandResult::UserExists);
    }
    txn.put(TreeId::Users, &user.username, user)?;
    // Index by subject; usernames cannot contain '/', so no clash.
    txn.put(TreeId::Users, &sub_key(&user.sub), &user.username)?;
    Ok(CommandResult::Done)
}

/// Set (or, for a `null` value, remove) standard claims of a user. A name
/// that is not a valid username names no user: `NotFound`.
pub(super) fn set_claims(
    txn: &StateTxn<'_>,
    username: &str,
    claims: &BTreeMap<String, Value>,
) -> TxResult<CommandResult> {
    if validate_username(username).is_err() {
        return Ok(CommandResult::NotFound);
    }
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

/// Disable or enable a user; its record then carries the format its fields
/// need. A name that is not a valid username names no user: `NotFound`.
pub(super) fn set_disabled(
    txn: &StateTxn<'_>,
    username: &str,
    disabled: bool,
) -> TxResult<CommandResult> {
    if validate_username(username).is_err() {
        return Ok(CommandResult::NotFound);
    }
    let Some(mut user) = txn.get::<UserRecord>(TreeId::Users, username)? else {
        return Ok(CommandResult::NotFound);
    };
    user.disabled = disabled;
    user.v = user.format();
    txn.put(TreeId::Users, username, &user)?;
    Ok(CommandResult::Done)
}

/// Whether the user with subject `sub` exists and is disabled (in `apply`:
/// codes and refresh tokens of a disabled user are refused).
pub(super) fn disabled_sub(txn: &StateTxn<'_>, sub: &str) -> TxResult<bool> {
    let Some(username) = txn.get::<String>(TreeId::Users, &sub_key(sub))? else {
        return Ok(false);
    };
    Ok(txn
        .get::<UserRecord>(TreeId::Users, &username)?
        .is_some_and(|u| u.disabled))
}

/// Read view: a user by username.
pub fn get(users: &sled::Tree, username: &str) -> Option<UserRecord> {
    read(users, username)
}

/// Read view: a user by subject.
pub fn by_sub(users: &sled::Tree, sub: &str) -> Option<UserRecord> {
    let username: String = read(users, &sub_key(sub))?;
    get(users, &username)
}
