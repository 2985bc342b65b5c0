//! `Sweep { before, keys }`: removing expired records, the same on every node.
//!
//! sled transactions cannot scan, and `apply` must not look at the clock, so
//! the leader lists candidate keys from its own state ([`candidates`]) and
//! proposes them with the cut-off time. `apply` re-reads each record and
//! deletes it only if it really expired before `before`, so a stale or
//! forged list can never delete a live record and every node deletes exactly
//! the same set.

use super::codes::CodeRecord;
use super::refresh::{FamilyRecord, RefreshRecord};
use super::result::CommandResult;
use super::sessions::{self, SessionRecord};
use super::trees::{StateTxn, TreeId, TxResult};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Sweep {
    pub before: u64,
    pub codes: Vec<String>,
    pub sessions: Vec<String>,
    pub refresh: Vec<String>,
    pub families: Vec<String>,
    pub revoked_jti: Vec<String>,
    pub assertions: Vec<String>,
}

impl Sweep {
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
            && self.sessions.is_empty()
            && self.refresh.is_empty()
            && self.families.is_empty()
            && self.revoked_jti.is_empty()
            && self.assertions.is_empty()
    }

    pub fn len(&self) -> usize {
        self.codes.len()
            + self.sessions.len()
            + self.refresh.len()
            + self.families.len()
            + self.revoked_jti.len()
            + self.assertions.len()
    }
}

/// Delete the listed records that expired at or before `s.before`; keys
/// that are absent, hold something else (an index entry) or are still live
/// are left alone.
pub(super) fn apply(txn: &StateTxn<'_>, s: &Sweep) -> TxResult<CommandResult> {
    let b = s.before;
    for k in &s.codes {
        if txn
            .get::<CodeRecord>(TreeId::Codes, k)?
            .is_some_and(|c| c.expires_at <= b)
        {
            txn.remove(TreeId::Codes, k)?;
        }
    }
    for k in &s.sessions {
        if let Some(rec) = txn.get::<SessionRecord>(TreeId::Sessions, k)? {
            if rec.expires_at <= b {
                sessions::delete(txn, k, &rec)?;
            }
        }
    }
    for k in &s.refresh {
        if txn
            .get::<RefreshRecord>(TreeId::Refresh, k)?
            .is_some_and(|r| r.expires_at <= b)
        {
            txn.remove(TreeId::Refresh, k)?;
        }
    }
    for k in &s.families {
        if txn
            .get::<FamilyRecord>(TreeId::Families, k)?
            .is_some_and(|f| f.expires_at <= b)
        {
            txn.remove(TreeId::Families, k)?;
        }
    }
    for (id, keys) in [
        (TreeId::RevokedJti, &s.revoked_jti),
        (TreeId::Assertions, &s.assertions),
    ] {
        for k in keys {
            if txn.get::<u64>(id, k)?.is_some_and(|exp| exp <= b) {
                txn.remove(id, k)?;
            }
        }
    }
    Ok(CommandResult::Done)
}

/// The leader's list of expired keys, at most `limit` per tree.
pub fn candidates(
    tree: &sled::Tree,
    before: u64,
    limit: usize,
    expiry: impl Fn(&[u8]) -> Option<u64>,
) -> Vec<String> {
    tree.iter()
        .filter_map(|kv| kv.ok())
        .filter(|(k, _)| !k.starts_with(b"sid/"))
        .filter(|(_, v)| expiry(v).is_some_and(|e| e <= before))
        .filter_map(|(k, _)| String::from_utf8(k.to_vec()).ok())
        .take(limit)
        .collect()
}

/// Expiry field readers for [`candidates`].
pub fn code_expiry(v: &[u8]) -> Option<u64> {
    serde_json::from_slice::<CodeRecord>(v)
        .ok()
        .map(|c| c.expires_at)
}
pub fn session_expiry(v: &[u8]) -> Option<u64> {
    serde_json::from_slice::<SessionRecord>(v)
        .ok()
        .map(|s| s.expires_at)
}
pub fn refresh_expiry(v: &[u8]) -> Option<u64> {
    serde_json::from_slice::<RefreshRecord>(v)
        .ok()
        .map(|r| r.expires_at)
}
pub fn family_expiry(v: &[u8]) -> Option<u64> {
    serde_json::from_slice::<FamilyRecord>(v)
        .ok()
        .map(|f| f.expires_at)
}
pub fn plain_expiry(v: &[u8]) -> Option<u64> {
    serde_json::from_slice::<u64>(v).ok()
}
