//! Refresh tokens, their rotation families, revoked access-token ids and
//! used client-assertion ids.
//!
//! Every refresh token belongs to a family (one per original grant). A
//! rotation marks the presented token used and stores its successor; using a
//! used token again is theft or a bug, so the whole family is revoked along
//! with the access tokens it issued (OAuth 2.0 Security BCP §4.14). Revoked
//! access-token ids are kept until the token's own expiry.

use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionResult;

use super::codes::Grant;
use super::trees::{read, StateTxn, TreeId};
use super::{CommandResult, FORMAT_VERSION};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub v: u32,
    pub grant: Grant,
    pub expires_at: u64,
    /// Set once the token has been rotated.
    pub used: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyRecord {
    pub v: u32,
    pub revoked: bool,
    /// Access tokens issued from this family: (jti, exp).
    pub access: Vec<(String, u64)>,
    pub expires_at: u64,
}

/// The `RotateRefresh` command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rotate {
    pub hash: String,
    pub client_id: String,
    pub now: u64,
    pub new_hash: String,
    pub new_expires_at: u64,
    pub access_jti: String,
    pub access_exp: u64,
}

pub(super) fn revoke_jti(
    txn: &StateTxn<'_>,
    jti: &str,
    exp: u64,
) -> ConflictableTransactionResult<(), ()> {
    txn.put(TreeId::RevokedJti, jti, &exp)
}

pub(super) fn revoke_family(
    txn: &StateTxn<'_>,
    family: &str,
) -> ConflictableTransactionResult<(), ()> {
    let Some(mut f) = txn.get::<FamilyRecord>(TreeId::Families, family)? else {
        return Ok(());
    };
    f.revoked = true;
    for (jti, exp) in &f.access {
        revoke_jti(txn, jti, *exp)?;
    }
    txn.put(TreeId::Families, family, &f)
}

pub(super) fn rotate(
    txn: &StateTxn<'_>,
    r: &Rotate,
) -> ConflictableTransactionResult<CommandResult, ()> {
    let reject = |m: &str| Ok(CommandResult::Rejected(m.into()));
    let Some(mut rec) = txn.get::<RefreshRecord>(TreeId::Refresh, &r.hash)? else {
        return reject("unknown refresh token");
    };
    if rec.grant.client_id != r.client_id {
        return reject("the refresh token was issued to another client");
    }
    let Some(family_id) = rec.grant.family.clone() else {
        return reject("refresh token without a family");
    };
    let Some(mut family) = txn.get::<FamilyRecord>(TreeId::Families, &family_id)? else {
        return reject("refresh token family is gone");
    };
    if family.revoked {
        return reject("the refresh token has been revoked");
    }
    if rec.used {
        revoke_family(txn, &family_id)?;
        return Ok(CommandResult::RefreshReused);
    }
    if rec.expires_at <= r.now {
        return reject("the refresh token has expired");
    }
    rec.used = true;
    txn.put(TreeId::Refresh, &r.hash, &rec)?;
    let next = RefreshRecord {
        v: FORMAT_VERSION,
        grant: rec.grant.clone(),
        expires_at: r.new_expires_at,
        used: false,
    };
    txn.put(TreeId::Refresh, &r.new_hash, &next)?;
    family.access.push((r.access_jti.clone(), r.access_exp));
    family.expires_at = family.expires_at.max(r.new_expires_at);
    txn.put(TreeId::Families, &family_id, &family)?;
    Ok(CommandResult::Granted(Box::new(rec.grant)))
}

pub(super) fn use_assertion(
    txn: &StateTxn<'_>,
    client_id: &str,
    jti: &str,
    exp: u64,
    now: u64,
) -> ConflictableTransactionResult<CommandResult, ()> {
    let key = format!("{client_id} {jti}");
    if let Some(prev) = txn.get::<u64>(TreeId::Assertions, &key)? {
        if prev > now {
            return Ok(CommandResult::Replayed);
        }
    }
    txn.put(TreeId::Assertions, &key, &exp)?;
    Ok(CommandResult::Done)
}

/// Revoke a refresh token's whole family, if the token is the client's.
pub(super) fn revoke_refresh(
    txn: &StateTxn<'_>,
    hash: &str,
    client_id: &str,
) -> ConflictableTransactionResult<CommandResult, ()> {
    let Some(rec) = txn.get::<RefreshRecord>(TreeId::Refresh, hash)? else {
        return Ok(CommandResult::NotFound);
    };
    if rec.grant.client_id != client_id {
        return Ok(CommandResult::NotFound);
    }
    if let Some(f) = &rec.grant.family {
        revoke_family(txn, f)?;
    }
    Ok(CommandResult::Done)
}

/// Read view: a refresh token that can still be used, with its family.
pub fn live_refresh(
    refresh: &sled::Tree,
    families: &sled::Tree,
    hash: &str,
    now: u64,
) -> Option<RefreshRecord> {
    let rec: RefreshRecord = read(refresh, hash)?;
    if rec.used || rec.expires_at <= now {
        return None;
    }
    let family: FamilyRecord = read(families, rec.grant.family.as_deref()?)?;
    (!family.revoked).then_some(rec)
}

/// Read view: whether an access token id has been revoked.
pub fn is_revoked(revoked: &sled::Tree, jti: &str) -> bool {
    read::<u64>(revoked, jti).is_some()
}
