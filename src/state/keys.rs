//! Signing keys: public JWK in clear, private JWK sealed with the master key.
//!
//! Records live under `key/<kid>`; `current/<alg>` names the signing key of
//! each algorithm (sled transactions cannot scan, so the index is explicit).
//! `AddKeys` only installs a *current* key for an algorithm without one, so
//! two leaders racing to create the first keys cannot leave two current keys.
//!
//! Lifecycle (docs/ARCHITECTURE.md invariant 3): a key is added as `next` (published in
//! the JWKS, not signing), `PromoteKey` makes it `current` once it has been
//! published long enough for relying parties' JWKS caches, the previous key
//! becomes `retired` (still published), and `RemoveKey` drops a retired key
//! once every token it signed has expired.

use super::result::CommandResult;
use super::trees::{read, Record, StateTxn, TreeId, TxResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published in the JWKS, not yet signing.
    Next,
    /// Signing.
    Current,
    /// Published until the tokens it signed expire.
    Retired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub v: u32,
    pub kid: String,
    pub alg: String,
    pub public_jwk: Value,
    /// The private JWK, sealed (compact JWE) with a key derived from the master key.
    pub sealed_private: String,
    pub state: KeyState,
    pub created_at: u64,
    /// When it started signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<u64>,
    /// When it stopped signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<u64>,
}

impl Record for KeyRecord {}

fn record_key(kid: &str) -> String {
    format!("key/{kid}")
}

fn current_key(alg: &str) -> String {
    format!("current/{alg}")
}

/// Add keys. A key whose `kid` exists already is skipped (never
/// overwritten), and so is a `current` key for an algorithm that has one, so
/// there is at most one current key per algorithm.
pub(super) fn add(txn: &StateTxn<'_>, keys: &[KeyRecord]) -> TxResult<CommandResult> {
    if keys.iter().any(|k| k.kid.is_empty() || k.alg.is_empty()) {
        return Ok(CommandResult::invalid("a key needs a kid and an alg"));
    }
    let mut added = false;
    for k in keys {
        let index = current_key(&k.alg);
        let current = k.state == KeyState::Current;
        if txn.exists(TreeId::Keys, &record_key(&k.kid))?
            || (current && txn.exists(TreeId::Keys, &index)?)
        {
            continue;
        }
        if current {
            txn.put(TreeId::Keys, &index, &k.kid)?;
        }
        txn.put(TreeId::Keys, &record_key(&k.kid), k)?;
        added = true;
    }
    Ok(if added {
        CommandResult::Done
    } else {
        CommandResult::KeysExist
    })
}

/// Make a published `next` key the signing key of its algorithm; the
/// previous signing key becomes `retired` (still published).
pub(super) fn promote(txn: &StateTxn<'_>, kid: &str, now: u64) -> TxResult<CommandResult> {
    let Some(mut k) = txn.get::<KeyRecord>(TreeId::Keys, &record_key(kid))? else {
        return Ok(CommandResult::NotFound);
    };
    if k.state != KeyState::Next {
        return Ok(CommandResult::Rejected(format!(
            "key {kid} is not a next key"
        )));
    }
    let index = current_key(&k.alg);
    if let Some(old) = txn.get::<String>(TreeId::Keys, &index)? {
        if let Some(mut o) = txn.get::<KeyRecord>(TreeId::Keys, &record_key(&old))? {
            o.state = KeyState::Retired;
            o.retired_at = Some(now);
            txn.put(TreeId::Keys, &record_key(&old), &o)?;
        }
    }
    k.state = KeyState::Current;
    k.activated_at = Some(now);
    txn.put(TreeId::Keys, &record_key(kid), &k)?;
    txn.put(TreeId::Keys, &index, &k.kid)?;
    Ok(CommandResult::Done)
}

/// Remove a retired key from the published set.
pub(super) fn remove(txn: &StateTxn<'_>, kid: &str) -> TxResult<CommandResult> {
    let key = record_key(kid);
    match txn.get::<KeyRecord>(TreeId::Keys, &key)? {
        Some(k) if k.state == KeyState::Retired => {
            txn.remove(TreeId::Keys, &key)?;
            Ok(CommandResult::Done)
        }
        Some(_) => Ok(CommandResult::Rejected(format!("key {kid} is not retired"))),
        None => Ok(CommandResult::NotFound),
    }
}

/// Read view: every key record.
pub fn all(keys: &sled::Tree) -> Vec<KeyRecord> {
    keys.scan_prefix(b"key/")
        .values()
        .filter_map(|v| v.ok())
        .filter_map(|v| serde_json::from_slice(&v).ok())
        .collect()
}

/// Read view: the current key id of an algorithm.
pub fn current(keys: &sled::Tree, alg: &str) -> Option<String> {
    read(keys, &current_key(alg))
}
