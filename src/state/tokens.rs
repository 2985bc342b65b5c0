//! Refresh-token rotation, revocation, and used client-assertion ids.
//!
//! A rotation marks the presented token used and stores its successor in the
//! same family (`refresh`); using a used token again is theft or a
//! bug, so the whole family is revoked along with the access tokens it
//! issued (OAuth 2.0 Security BCP §4.14). Revoked access-token ids are kept
//! until the token's own expiry; used assertion ids until the assertion's.

use serde::{Deserialize, Serialize};

use super::dpop::{self, DpopUse};
use super::refresh::{self, FamilyRecord, RefreshRecord};
use super::result::CommandResult;
use super::trees::{read, StateTxn, TreeId, TxResult};
use super::users;

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
    /// The DPoP proof of the request (format 2): spent first, as in
    /// `Redeem::dpop`; a family bound to a key rotates only with a proof
    /// by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop: Option<DpopUse>,
    /// Record when the refresh token this creates was issued (format 2:
    /// the proposer sets it once every member knows format 2, so format-1
    /// data stays byte for byte what 0.1.0 writes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stamp_issued: bool,
    /// The family the presented token names (format 2: such tokens are
    /// `<family>.<secret>`, see [`family_of`]). A rotation of such a token
    /// deletes its record instead of keeping it marked used, and a token of
    /// the family that is no longer stored counts as reuse: the family
    /// record alone detects theft, so rotations leave nothing behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// The new access token's `jti` carries the family's tag (format 3,
    /// see `state::refresh`): the family records its expiry instead of
    /// listing it. `apply` checks the tag against the family of the stored
    /// token and refuses the command if it is not that family's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tagged: bool,
}

/// The family a format-2 refresh token (`<family>.<secret>`) names: a
/// random id (22 URL-safe characters) before the dot. `None` for tokens
/// without one (format 1: a bare secret) and for anything malformed.
pub fn family_of(token: &str) -> Option<&str> {
    let (family, secret) = token.split_once('.')?;
    let url_safe = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (family.len() == 22 && !secret.is_empty() && url_safe(family) && url_safe(secret))
        .then_some(family)
}

/// Rotate a refresh token. Every check runs before anything is written, so
/// a `Rejected` or `Invalid` answer changes nothing (but for spending the
/// request's DPoP proof); `RefreshReused` revokes the family. A token of a
/// family bound to a DPoP key is refused without a proof by that key before
/// reuse is looked at, so whoever holds a stolen bound token cannot even
/// revoke its family.
pub(super) fn rotate(txn: &StateTxn<'_>, r: &Rotate) -> TxResult<CommandResult> {
    let reject = |m: &str| Ok(CommandResult::rejected(m));
    if let Some(d) = &r.dpop {
        if !dpop::spend(txn, d)? {
            return Ok(CommandResult::Replayed);
        }
    }
    let Some(mut rec) = txn.get::<RefreshRecord>(TreeId::Refresh, &r.hash)? else {
        return reused_by_family(txn, r);
    };
    if rec.grant.client_id != r.client_id {
        return reject("the refresh token was issued to another client");
    }
    let Some(family_id) = rec.grant.family.clone() else {
        return reject("refresh token without a family");
    };
    if r.family.as_ref().is_some_and(|f| *f != family_id) {
        return reject("the refresh token names another family");
    }
    let Some(mut family) = txn.get::<FamilyRecord>(TreeId::Families, &family_id)? else {
        return reject("refresh token family is gone");
    };
    if family.revoked {
        return reject("the refresh token has been revoked");
    }
    if wrong_key(&family, r) {
        return Ok(CommandResult::KeyMismatch);
    }
    if rec.used {
        refresh::revoke_family(txn, &family_id)?;
        return Ok(CommandResult::RefreshReused);
    }
    if rec.expires_at <= r.now {
        return reject("the refresh token has expired");
    }
    if users::disabled_sub(txn, &rec.grant.sub)? {
        return reject("the user is disabled");
    }
    if txn.exists(TreeId::Refresh, &r.new_hash)? {
        return Ok(CommandResult::invalid("the new refresh token exists"));
    }
    if r.tagged {
        if !refresh::is_tagged_by(&r.access_jti, &family_id) {
            return Ok(CommandResult::invalid(
                "the access token is not tagged by its family",
            ));
        }
        family.forget_expired(r.now);
        family.add_tagged(r.access_exp);
    } else if let Some((oldest, exp)) = family.add_access(&r.access_jti, r.access_exp, r.now) {
        refresh::revoke_jti(txn, &oldest, exp)?;
    }
    family.expires_at = family.expires_at.max(r.new_expires_at);
    if r.family.is_some() {
        // Its family remembers it: any token of the family that is not
        // stored is a spent one (see `reused_by_family`).
        family.client_id = Some(r.client_id.clone());
        family.v = family.v.max(2);
        txn.remove(TreeId::Refresh, &r.hash)?;
    } else {
        rec.used = true;
        txn.put(TreeId::Refresh, &r.hash, &rec)?;
    }
    let next = RefreshRecord::new(
        rec.grant.clone(),
        r.new_expires_at,
        r.stamp_issued.then_some(r.now),
    );
    txn.put(TreeId::Refresh, &r.new_hash, &next)?;
    txn.put(TreeId::Families, &family_id, &family)?;
    Ok(CommandResult::Granted(Box::new(rec.grant)))
}

/// A token that is not stored but names a family of this client: a rotated
/// (spent) format-2 token, used again. As for a used record, the family is
/// revoked, after the same DPoP-binding check. Only a holder of one of the
/// family's tokens knows its random id, so naming it gives no one more than
/// a spent token would.
fn reused_by_family(txn: &StateTxn<'_>, r: &Rotate) -> TxResult<CommandResult> {
    let unknown = || Ok(CommandResult::rejected("unknown refresh token"));
    let Some(family_id) = &r.family else {
        return unknown();
    };
    let Some(family) = txn.get::<FamilyRecord>(TreeId::Families, family_id)? else {
        return unknown();
    };
    if family.client_id.as_deref() != Some(r.client_id.as_str()) {
        return unknown();
    }
    if family.revoked {
        return Ok(CommandResult::rejected(
            "the refresh token has been revoked",
        ));
    }
    if wrong_key(&family, r) {
        return Ok(CommandResult::KeyMismatch);
    }
    refresh::revoke_family(txn, family_id)?;
    Ok(CommandResult::RefreshReused)
}

/// A family bound to a DPoP key rotates (or is revoked for reuse) only with
/// a proof by that key.
fn wrong_key(family: &FamilyRecord, r: &Rotate) -> bool {
    family
        .jkt
        .as_ref()
        .is_some_and(|bound| r.dpop.as_ref().map(|d| &d.jkt) != Some(bound))
}

fn assertion_key(client_id: &str, jti: &str) -> String {
    format!("{client_id} {jti}")
}

pub(super) fn use_assertion(
    txn: &StateTxn<'_>,
    client_id: &str,
    jti: &str,
    exp: u64,
    now: u64,
) -> TxResult<CommandResult> {
    let key = assertion_key(client_id, jti);
    if txn
        .get::<u64>(TreeId::Assertions, &key)?
        .is_some_and(|prev| prev > now)
    {
        return Ok(CommandResult::Replayed);
    }
    txn.put(TreeId::Assertions, &key, &exp)?;
    Ok(CommandResult::Done)
}

/// Revoke an access token by `jti` until its expiry.
pub(super) fn revoke_access(txn: &StateTxn<'_>, jti: &str, exp: u64) -> TxResult<CommandResult> {
    refresh::revoke_jti(txn, jti, exp)?;
    Ok(CommandResult::Done)
}

/// Revoke a refresh token's whole family, if the token is the client's.
pub(super) fn revoke_refresh(
    txn: &StateTxn<'_>,
    hash: &str,
    client_id: &str,
) -> TxResult<CommandResult> {
    let Some(rec) = txn.get::<RefreshRecord>(TreeId::Refresh, hash)? else {
        return Ok(CommandResult::NotFound);
    };
    if rec.grant.client_id != client_id {
        return Ok(CommandResult::NotFound);
    }
    if let Some(f) = &rec.grant.family {
        refresh::revoke_family(txn, f)?;
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

/// Read view: whether an access token id has been revoked, by itself or,
/// for a tagged one, with its family (see `state::refresh`).
pub fn is_revoked(revoked: &sled::Tree, jti: &str) -> bool {
    read::<u64>(revoked, jti).is_some()
        || refresh::tag_of(jti)
            .is_some_and(|tag| read::<u64>(revoked, &refresh::tag_marker(tag)).is_some())
}
