//! `Sweep { before, keys }`: removing expired records, the same on every node.
//!
//! sled transactions cannot scan, and `apply` must not look at the clock, so
//! the leader lists candidate keys from its own state ([`candidates`]) and
//! proposes them with the cut-off time. `apply` re-reads each record and
//! deletes it only if it really expired before `before`, so a stale or
//! forged list can never delete a live record and every node deletes exactly
//! the same set.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::codes::CodeRecord;
use super::deliveries::{self, DeliveryRecord};
use super::pushed::PushedRequest;
use super::refresh::{FamilyRecord, RefreshRecord};
use super::result::{CommandResult, LogoutOutcome};
use super::sessions::{self, SessionRecord};
use super::trees::{StateTxn, TreeId, TxResult};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Sweep {
    pub before: u64,
    pub codes: Vec<String>,
    pub sessions: Vec<String>,
    pub refresh: Vec<String>,
    pub families: Vec<String>,
    pub revoked_jti: Vec<String>,
    pub assertions: Vec<String>,
    /// Used DPoP proof ids (format 2: left out of the JSON when empty, so a
    /// format 1 sweep is written as before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_jti: Vec<String>,
    /// Delivery records (format 2) past their `expires_at`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<String>,
    /// Queue back-channel logouts for sessions that expired without being
    /// ended (format 2: the proposer sets it once every member knows
    /// format 2; left out of the JSON when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notify_expired: bool,
    /// Pushed authorization requests (format 2; absent from format-1 sweeps,
    /// so their wire form is unchanged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pushed: Vec<String>,
}

impl Sweep {
    /// Format 1 unless it carries a format-2 part.
    pub fn min_format(&self) -> u32 {
        if self.dpop_jti.is_empty()
            && self.deliveries.is_empty()
            && self.pushed.is_empty()
            && !self.notify_expired
        {
            1
        } else {
            2
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lists(&self) -> [&Vec<String>; 9] {
        [
            &self.codes,
            &self.sessions,
            &self.refresh,
            &self.families,
            &self.revoked_jti,
            &self.assertions,
            &self.dpop_jti,
            &self.deliveries,
            &self.pushed,
        ]
    }

    pub fn len(&self) -> usize {
        self.lists().iter().map(|l| l.len()).sum()
    }

    /// The most keys this sweep lists for one tree: when it is the
    /// proposer's limit, that tree may hold more expired records.
    pub fn longest(&self) -> usize {
        self.lists().iter().map(|l| l.len()).max().unwrap_or(0)
    }
}

/// A record that expires: what a sweep may delete.
pub trait Expiring: DeserializeOwned {
    fn expires_at(&self) -> u64;
}

impl Expiring for CodeRecord {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}
impl Expiring for SessionRecord {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}
impl Expiring for RefreshRecord {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}
impl Expiring for PushedRequest {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}
impl Expiring for FamilyRecord {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}
impl Expiring for DeliveryRecord {
    fn expires_at(&self) -> u64 {
        self.expires_at
    }
}
/// Revoked access-token ids and used assertion ids store their expiry.
impl Expiring for u64 {
    fn expires_at(&self) -> u64 {
        *self
    }
}

/// The records among `keys` of tree `id` that are `T`s expired at `before`;
/// keys that are absent, hold something else (an index entry) or are still
/// live are left out.
fn expired<T: Expiring>(
    txn: &StateTxn<'_>,
    id: TreeId,
    keys: &[String],
    before: u64,
) -> TxResult<Vec<(String, T)>> {
    let mut out = Vec::new();
    for k in keys {
        if let Some(rec) = txn.get::<T>(id, k)?.filter(|r| r.expires_at() <= before) {
            out.push((k.clone(), rec));
        }
    }
    Ok(out)
}

fn remove_expired<T: Expiring>(
    txn: &StateTxn<'_>,
    id: TreeId,
    keys: &[String],
    before: u64,
) -> TxResult<()> {
    for (k, _) in expired::<T>(txn, id, keys, before)? {
        txn.remove(id, &k)?;
    }
    Ok(())
}

/// Delete the listed records that expired at or before `s.before`. With
/// `s.notify_expired` (format 2), a session that expired without being
/// ended queues its back-channel logouts (at `before`) as it goes, and the
/// answer is `LoggedOut` if that queued or dropped any.
pub(super) fn apply(txn: &StateTxn<'_>, s: &Sweep) -> TxResult<CommandResult> {
    let b = s.before;
    let mut logout = LogoutOutcome::default();
    remove_expired::<CodeRecord>(txn, TreeId::Codes, &s.codes, b)?;
    for (k, rec) in expired::<SessionRecord>(txn, TreeId::Sessions, &s.sessions, b)? {
        if s.notify_expired && !rec.ended {
            logout.add(deliveries::enqueue(txn, &rec, b)?);
            logout.sessions += 1;
        }
        sessions::delete(txn, &k, &rec)?;
    }
    for (k, rec) in expired::<DeliveryRecord>(txn, TreeId::Deliveries, &s.deliveries, b)? {
        deliveries::remove(txn, &k, &rec)?;
    }
    remove_expired::<RefreshRecord>(txn, TreeId::Refresh, &s.refresh, b)?;
    remove_expired::<FamilyRecord>(txn, TreeId::Families, &s.families, b)?;
    remove_expired::<u64>(txn, TreeId::RevokedJti, &s.revoked_jti, b)?;
    remove_expired::<u64>(txn, TreeId::Assertions, &s.assertions, b)?;
    remove_expired::<u64>(txn, TreeId::DpopJti, &s.dpop_jti, b)?;
    remove_expired::<PushedRequest>(txn, TreeId::Pushed, &s.pushed, b)?;
    Ok(if logout.queued > 0 || !logout.dropped.is_empty() {
        CommandResult::LoggedOut(logout)
    } else {
        CommandResult::Done
    })
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

/// The expiry of a stored `T`, if the bytes are one.
pub fn expiry_of<T: Expiring>(v: &[u8]) -> Option<u64> {
    serde_json::from_slice::<T>(v).ok().map(|r| r.expires_at())
}

/// Expiry field readers for [`candidates`].
pub fn code_expiry(v: &[u8]) -> Option<u64> {
    expiry_of::<CodeRecord>(v)
}
pub fn session_expiry(v: &[u8]) -> Option<u64> {
    expiry_of::<SessionRecord>(v)
}
pub fn refresh_expiry(v: &[u8]) -> Option<u64> {
    expiry_of::<RefreshRecord>(v)
}
pub fn family_expiry(v: &[u8]) -> Option<u64> {
    expiry_of::<FamilyRecord>(v)
}
pub fn delivery_expiry(v: &[u8]) -> Option<u64> {
    expiry_of::<DeliveryRecord>(v)
}

/// The expiry of a pushed-request record.
pub fn pushed_expiry(v: &[u8]) -> Option<u64> {
    expiry_of::<PushedRequest>(v)
}
pub fn plain_expiry(v: &[u8]) -> Option<u64> {
    expiry_of::<u64>(v)
}
