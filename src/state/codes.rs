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
use sled::transaction::ConflictableTransactionResult;

use super::tokens::{self, FamilyRecord, RefreshRecord};
use super::trees::{StateTxn, TreeId};
use super::{CommandResult, FORMAT_VERSION};

/// What an authorization grants; carried from code to tokens to refreshes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub client_id: String,
    pub sub: String,
    #[serde(default)]
    pub sid: Option<String>,
    pub scopes: Vec<String>,
    pub auth_time: u64,
    #[serde(default)]
    pub nonce: Option<String>,
    /// The OIDC `claims` request parameter, as JSON.
    #[serde(default)]
    pub claims: Option<serde_json::Value>,
    #[serde(default)]
    pub acr: Option<String>,
    /// The refresh-token family issued with this grant, if any.
    #[serde(default)]
    pub family: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub v: u32,
    pub grant: Grant,
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
}

pub(super) fn create(
    txn: &StateTxn<'_>,
    hash: &str,
    code: &CodeRecord,
) -> ConflictableTransactionResult<CommandResult, ()> {
    txn.put(TreeId::Codes, hash, code)?;
    Ok(CommandResult::Done)
}

pub(super) fn redeem(
    txn: &StateTxn<'_>,
    r: &Redeem,
) -> ConflictableTransactionResult<CommandResult, ()> {
    let reject = |m: &str| Ok(CommandResult::Rejected(m.into()));
    let Some(mut code) = txn.get::<CodeRecord>(TreeId::Codes, &r.hash)? else {
        return reject("unknown authorization code");
    };
    if code.grant.client_id != r.client_id {
        return reject("the code was issued to another client");
    }
    if let Some(first) = &code.redeemed {
        tokens::revoke_jti(txn, &first.access_jti, first.access_exp)?;
        if let Some(f) = &first.family {
            tokens::revoke_family(txn, f)?;
        }
        return Ok(CommandResult::CodeReplayed);
    }
    if code.expires_at <= r.now {
        return reject("the authorization code has expired");
    }
    if r.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
        return reject("redirect_uri does not match the authorization request");
    }
    match (&code.code_challenge, &r.code_verifier) {
        (Some(challenge), Some(verifier)) => {
            if !crate::oidc::pkce::verify_s256(verifier, challenge) {
                return reject("PKCE verification failed");
            }
        }
        (Some(_), None) => return reject("code_verifier is required"),
        (None, Some(_)) => {
            return reject(
                "code_verifier given but the authorization request had no code_challenge",
            )
        }
        (None, None) => {}
    }
    let mut grant = code.grant.clone();
    let refresh = r
        .refresh
        .as_ref()
        .filter(|_| grant.scopes.iter().any(|s| s == "offline_access"));
    if let Some(n) = refresh {
        grant.family = Some(n.family.clone());
        let family = FamilyRecord {
            v: FORMAT_VERSION,
            revoked: false,
            access: vec![(r.access_jti.clone(), r.access_exp)],
            expires_at: n.expires_at,
        };
        txn.put(TreeId::Families, &n.family, &family)?;
        let rec = RefreshRecord {
            v: FORMAT_VERSION,
            grant: grant.clone(),
            expires_at: n.expires_at,
            used: false,
        };
        txn.put(TreeId::Refresh, &n.hash, &rec)?;
    }
    code.redeemed = Some(Redemption {
        access_jti: r.access_jti.clone(),
        access_exp: r.access_exp,
        family: grant.family.clone(),
    });
    txn.put(TreeId::Codes, &r.hash, &code)?;
    Ok(CommandResult::Granted(Box::new(grant)))
}
