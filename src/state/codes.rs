//! Authorization codes: created at `/authorize`, redeemed once at `/token`.
//!
//! A code is stored under the SHA-256 of its value. Redemption is a Raft
//! command, so the log orders every attempt cluster-wide: the first valid one
//! wins, and any later one for the same code — from any node — finds it
//! redeemed, revokes the access token and refresh family the first one
//! issued (RFC 6749 §4.1.2, §10.5) and answers `CodeReplayed`. All checks
//! (client, redirect URI, PKCE, expiry) run inside `apply`, on values the
//! command carries, so every node reaches the same verdict.

use serde::{Deserialize, Serialize};

use super::authorization::Authorization;
use super::dpop::{self, DpopUse};
use super::refresh::{self, FamilyRecord, RefreshRecord};
use super::result::CommandResult;
use super::trees::{Record, StateTxn, TreeId, TxResult};
use super::users;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub v: u32,
    pub grant: Authorization,
    pub redirect_uri: String,
    #[serde(default)]
    pub code_challenge: Option<String>,
    pub expires_at: u64,
    /// Set by the first redemption.
    #[serde(default)]
    pub redeemed: Option<Redemption>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Redemption {
    pub access_jti: String,
    pub access_exp: u64,
    pub family: Option<String>,
}

/// A refresh token to create with a grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRefresh {
    pub hash: String,
    pub family: String,
    pub expires_at: u64,
    /// Bind the family to this DPoP key (format 2; see `FamilyRecord::jkt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

/// The `RedeemCode` command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Redeem {
    pub hash: String,
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub now: u64,
    pub access_jti: String,
    pub access_exp: u64,
    /// Created only if the grant allows it (`offline_access` and the client
    /// may refresh); the proposer decides that from the client record, apply
    /// checks the scope.
    pub refresh: Option<NewRefresh>,
    /// The DPoP proof of the request (format 2), spent before anything else
    /// is checked: a replayed proof answers `Replayed` and leaves the code as
    /// it was; a fresh one stays spent whatever the redemption answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop: Option<DpopUse>,
    /// Record when the refresh token this creates was issued (format 2:
    /// the proposer sets it once every member knows format 2, so format-1
    /// data stays byte for byte what 0.1.0 writes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stamp_issued: bool,
    /// The access token's `jti` carries the tag of the family `refresh`
    /// creates (format 3, see `state::refresh`); only with `refresh`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tagged: bool,
    /// The record a sealed code carries (format 3, see
    /// `actors::sealed_code`), opened by the proposer: used when no record
    /// is stored under `hash`, which then gets the redeemed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Box<CodeRecord>>,
}

/// How much longer than its expiry a redeemed sealed code's record stays:
/// once swept, only the expiry refuses the code again, and that is judged
/// by the redeeming node's clock, so the record outlives any clock skew
/// between nodes a deployment should have (docs/ARCHITECTURE.md). Kept
/// short: at 500 sign-ins per second every second of it is 500 records.
pub const SEALED_REPLAY_GRACE: u64 = 60;

impl Record for CodeRecord {}

/// Store a new code. A code is never overwritten (that could clear its
/// `redeemed` mark and allow a second redemption: docs/ARCHITECTURE.md
/// invariant 1); applying the same command twice is harmless.
pub(super) fn create(txn: &StateTxn<'_>, hash: &str, code: &CodeRecord) -> TxResult<CommandResult> {
    txn.put_new(
        TreeId::Codes,
        hash,
        code,
        "an authorization code with this hash exists",
    )
}

/// RFC 7636 §4.1 `code-verifier` syntax. The edge refuses other verifiers
/// first (`oidc::pkce`); `apply` checks it too because format 1 always did,
/// and a verdict must not change within a format.
fn is_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The request's PKCE verdict against the code's challenge (RFC 7636 §4.6).
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), &'static str> {
    match (challenge, verifier) {
        (Some(c), Some(v)) if is_verifier(v) && crate::crypto::s256_matches(v, c) => Ok(()),
        (Some(_), Some(_)) => Err("PKCE verification failed"),
        (Some(_), None) => Err("code_verifier is required"),
        (None, Some(_)) => {
            Err("code_verifier given but the authorization request had no code_challenge")
        }
        (None, None) => Ok(()),
    }
}

/// Redeem a code: every check runs before anything is written, so a
/// `Rejected` or `Invalid` answer changes nothing (but for spending the
/// request's DPoP proof, see [`Redeem::dpop`]).
pub(super) fn redeem(txn: &StateTxn<'_>, r: &Redeem) -> TxResult<CommandResult> {
    let reject = |m: &str| Ok(CommandResult::rejected(m));
    if let Some(d) = &r.dpop {
        if !dpop::spend(txn, d)? {
            return Ok(CommandResult::Replayed);
        }
    }
    let stored = txn.get::<CodeRecord>(TreeId::Codes, &r.hash)?;
    let sealed = stored.is_none() && r.code.is_some();
    let Some(mut code) = stored.or_else(|| r.code.as_deref().cloned()) else {
        return reject("unknown authorization code");
    };
    if code.grant.client_id != r.client_id {
        return reject("the code was issued to another client");
    }
    if let Some(first) = &code.redeemed {
        refresh::revoke_jti(txn, &first.access_jti, first.access_exp)?;
        if let Some(f) = &first.family {
            refresh::revoke_family(txn, f)?;
        }
        return Ok(CommandResult::CodeReplayed);
    }
    if code.expires_at <= r.now {
        return reject("the authorization code has expired");
    }
    if users::disabled_sub(txn, &code.grant.sub)? {
        return reject("the user is disabled");
    }
    if r.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
        return reject("redirect_uri does not match the authorization request");
    }
    if let Err(m) = check_pkce(code.code_challenge.as_deref(), r.code_verifier.as_deref()) {
        return reject(m);
    }
    let mut grant = code.grant.clone();
    let refresh = r
        .refresh
        .as_ref()
        .filter(|_| grant.has_scope("offline_access"));
    if let Some(n) = refresh {
        if txn.exists(TreeId::Refresh, &n.hash)? || txn.exists(TreeId::Families, &n.family)? {
            return Ok(CommandResult::invalid("the refresh token or family exists"));
        }
        grant.family = Some(n.family.clone());
        let mut family = if r.tagged {
            if !refresh::is_tagged_by(&r.access_jti, &n.family) {
                return Ok(CommandResult::invalid(
                    "the access token is not tagged by its family",
                ));
            }
            FamilyRecord::tagged(r.access_exp, n.expires_at)
        } else {
            FamilyRecord::new(&r.access_jti, r.access_exp, n.expires_at)
        };
        family.jkt = n.jkt.clone();
        txn.put(TreeId::Families, &n.family, &family)?;
        let rec = RefreshRecord::new(grant.clone(), n.expires_at, r.stamp_issued.then_some(r.now));
        txn.put(TreeId::Refresh, &n.hash, &rec)?;
    }
    code.redeemed = Some(Redemption {
        access_jti: r.access_jti.clone(),
        access_exp: r.access_exp,
        family: grant.family.clone(),
    });
    if sealed {
        // What a replay needs (the client, and what to revoke) and no more.
        code.expires_at = code.expires_at.saturating_add(SEALED_REPLAY_GRACE);
        code.grant = Authorization {
            client_id: code.grant.client_id,
            sub: code.grant.sub,
            sid: None,
            scopes: Vec::new(),
            auth_time: code.grant.auth_time,
            nonce: None,
            claims: None,
            acr: None,
            family: grant.family.clone(),
        };
        code.code_challenge = None;
    }
    txn.put(TreeId::Codes, &r.hash, &code)?;
    Ok(CommandResult::Granted(Box::new(grant)))
}
