//! Refresh tokens, their rotation families and revoked access-token ids: the
//! records that code redemption (`state::codes`) creates and refresh
//! rotation (`state::tokens`) advances.
//!
//! Every refresh token belongs to a family (one per original authorization).
//! The family lists the access tokens issued from it, so revoking the family
//! revokes them too (docs/ARCHITECTURE.md invariant 2). The list is bounded:
//! an access token that has expired needs no revocation and is pruned at the
//! next rotation, and a family holds at most [`MAX_LIVE_ACCESS`] unexpired
//! access tokens: a rotation beyond that revokes the oldest one at once (a
//! client that rotated 64 times since has no use for it), so no issued token
//! escapes revocation and rotation is never refused for speed. Revoked
//! access-token ids are kept until the token's own expiry.
//!
//! From format 3 a family keeps no list. Its access tokens carry the
//! family's *tag* in their `jti` (`<tag>.<random>`, see [`access_tag`]), and
//! the family remembers only when the last of them expires
//! (`access_until`). Revoking it writes one marker under the tag in the
//! revoked-ids tree until then; a token is revoked if its own `jti` or its
//! tag is there ([`super::tokens::is_revoked`]). A rotation then rewrites a
//! record of constant size instead of one of up to 64 ids, and revoking a
//! family is one write. The tag is a hash of the family id, so an access
//! token, which resource servers see, does not reveal the id that refresh
//! tokens carry.

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::authorization::Authorization;
use super::trees::{Record, StateTxn, TreeId, TxResult};
use super::version::FIRST_FORMAT;

/// At most this many unexpired access tokens per refresh family.
pub const MAX_LIVE_ACCESS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub v: u32,
    pub grant: Authorization,
    pub expires_at: u64,
    /// Set once the token has been rotated.
    pub used: bool,
    /// When the token was issued (the issuing command's `now`); absent in
    /// records written before format 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyRecord {
    pub v: u32,
    pub revoked: bool,
    /// Access tokens issued from this family and not known to be expired:
    /// (jti, exp).
    pub access: Vec<(String, u64)>,
    pub expires_at: u64,
    /// The DPoP key (RFC 7638 thumbprint) the family's refresh tokens are
    /// bound to: a public client's, when its code was redeemed with a proof
    /// (RFC 9449 §5). Absent in format 1 records and for unbound families.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    /// The client the family belongs to (format 2): recorded once the
    /// family's tokens name it, so that a spent token can be matched to
    /// its client after its own record is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The latest expiry of the family's tagged access tokens (format 3):
    /// how long a revocation marker under its tag must stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_until: Option<u64>,
}

impl Record for RefreshRecord {}
impl Record for FamilyRecord {}

impl FamilyRecord {
    /// A new family whose first access token is `(jti, exp)`.
    pub fn new(jti: &str, exp: u64, expires_at: u64) -> FamilyRecord {
        FamilyRecord {
            v: FIRST_FORMAT,
            revoked: false,
            access: vec![(jti.to_string(), exp)],
            expires_at,
            jkt: None,
            client_id: None,
            access_until: None,
        }
    }

    /// A new family whose first access token carries its tag (format 3).
    pub fn tagged(exp: u64, expires_at: u64) -> FamilyRecord {
        let mut family = FamilyRecord::new("", 0, expires_at);
        family.access.clear();
        family.add_tagged(exp);
        family
    }

    /// Forget the listed access tokens that have expired at `now`.
    pub fn forget_expired(&mut self, now: u64) {
        self.access.retain(|(_, e)| *e > now);
    }

    /// One more access token that carries the family's tag, valid until `exp`.
    pub fn add_tagged(&mut self, exp: u64) {
        self.access_until = Some(self.access_until.map_or(exp, |u| u.max(exp)));
        self.v = self.v.max(3);
    }

    /// Record one more access token, after forgetting those expired at
    /// `now`. If the family already holds [`MAX_LIVE_ACCESS`] unexpired ones,
    /// the oldest leaves the list and is returned: the caller revokes it.
    pub fn add_access(&mut self, jti: &str, exp: u64, now: u64) -> Option<(String, u64)> {
        self.forget_expired(now);
        let evicted = if self.access.len() >= MAX_LIVE_ACCESS {
            Some(self.access.remove(0))
        } else {
            None
        };
        self.access.push((jti.to_string(), exp));
        evicted
    }
}

impl RefreshRecord {
    /// A fresh, unused refresh token for `grant`, issued at `issued_at`
    /// when the command records it (format 2).
    pub fn new(grant: Authorization, expires_at: u64, issued_at: Option<u64>) -> RefreshRecord {
        RefreshRecord {
            v: FIRST_FORMAT,
            grant,
            expires_at,
            used: false,
            issued_at,
        }
    }
}

/// Revoke an access token id until `exp` (or a later expiry already recorded).
pub(super) fn revoke_jti(txn: &StateTxn<'_>, jti: &str, exp: u64) -> TxResult<()> {
    let until = txn
        .get::<u64>(TreeId::RevokedJti, jti)?
        .map_or(exp, |e| e.max(exp));
    txn.put(TreeId::RevokedJti, jti, &until)
}

/// Mark a family revoked and revoke every access token it issued: those it
/// lists one by one, and its tagged ones by one marker. A family that is
/// missing (or unreadable) has nothing left to revoke.
pub(super) fn revoke_family(txn: &StateTxn<'_>, family: &str) -> TxResult<()> {
    let Some(mut f) = txn.get::<FamilyRecord>(TreeId::Families, family)? else {
        return Ok(());
    };
    f.revoked = true;
    for (jti, exp) in &f.access {
        revoke_jti(txn, jti, *exp)?;
    }
    if let Some(until) = f.access_until {
        revoke_jti(txn, &tag_marker(&access_tag(family)), until)?;
    }
    txn.put(TreeId::Families, family, &f)
}

/// The tag a family's access tokens carry in their `jti` (format 3): the
/// first 16 bytes of SHA-256 of the family id, base64url (22 characters).
pub fn access_tag(family: &str) -> String {
    let digest = Sha256::digest(format!("tessera access tag {family}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The key of the revocation marker of a tag in the revoked-ids tree. No
/// `jti` this build mints contains a `:`, so it names no single token.
pub fn tag_marker(tag: &str) -> String {
    format!("family:{tag}")
}

/// Whether `jti` carries the tag of `family`.
pub fn is_tagged_by(jti: &str, family: &str) -> bool {
    tag_of(jti) == Some(access_tag(family).as_str())
}

/// The family tag a tagged `jti` (`<tag>.<random>`) carries; `None` for an
/// untagged one.
pub fn tag_of(jti: &str) -> Option<&str> {
    jti.split_once('.').map(|(tag, _)| tag)
}
