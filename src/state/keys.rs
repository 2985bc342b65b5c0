//! Signing keys: public JWK in clear, private JWK sealed with the master key.
//!
//! Records live under `key/<kid>`; `current/<alg>` names the signing key of
//! each algorithm (sled transactions cannot scan, so the index is explicit).
//! `AddKeys` only installs a key for an algorithm without a current key, so
//! two leaders racing to create the first keys cannot leave two current keys.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sled::transaction::ConflictableTransactionResult;

use super::trees::{read, StateTxn, TreeId};
use super::CommandResult;

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
}

pub(super) fn add(
    txn: &StateTxn<'_>,
    keys: &[KeyRecord],
) -> ConflictableTransactionResult<CommandResult, ()> {
    let mut added = false;
    for k in keys {
        let index = format!("current/{}", k.alg);
        if k.state == KeyState::Current && txn.get::<String>(TreeId::Keys, &index)?.is_some() {
            continue;
        }
        if k.state == KeyState::Current {
            txn.put(TreeId::Keys, &index, &k.kid)?;
        }
        txn.put(TreeId::Keys, &format!("key/{}", k.kid), k)?;
        added = true;
    }
    Ok(if added {
        CommandResult::Done
    } else {
        CommandResult::KeysExist
    })
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
    read(keys, &format!("current/{alg}"))
}
