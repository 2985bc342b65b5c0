//! DPoP (RFC 9449): checking a proof, the key thumbprint a token is bound
//! to (RFC 7638), and stateless server nonces.
//!
//! [`check`] does bounded work on an untrusted proof before anything else
//! happens to the request: a size cap ([`MAX_PROOF_LEN`]), then exactly one
//! signature check with the public key the proof's own header carries
//! (`ES256`, `RS256` or `EdDSA` — never `none` nor an HMAC; a `jwk` with
//! private members is refused), then the header and claims: `typ`
//! `dpop+jwt`, `htm`, `htu` (compared with the endpoint URL the issuer
//! publishes, without query and fragment, after URL normalization), `iat`
//! within [`IAT_WINDOW`] of the node's clock, a `jti` of bounded length,
//! `ath` when an access token is presented, and a server `nonce` when the
//! configuration demands one.
//!
//! **Replay.** A valid proof is accepted once cluster-wide, which no check
//! here can decide: the proof's `jti` must be recorded through the Raft log
//! (`actors::exchange::dpop_use` → `state::dpop`; the token actor's doc
//! says which command carries it).
//! Per-node memory would not do: a proof replayed at another node within
//! its window would pass there, and a node cut off from the majority could
//! not learn what the others accepted. With the log, the first committed use
//! records the `jti` and every later one, at any node, finds it; a
//! partitioned node cannot commit, so it answers 503 and accepts nothing.
//! The record is kept until [`Proof::replay_until`]: the end of the
//! acceptance window plus [`CLOCK_GRACE`], so a node whose clock lags the
//! sweeping leader's by less than that still finds it.
//!
//! **Nonces** (RFC 9449 §8) are stateless so that every node accepts every
//! node's: `BASE64URL(HMAC-SHA256(key, slot))[..]` where `slot` is the time
//! divided by [`NONCE_SLOT`] and the key is derived from the cluster master
//! key. A nonce of the current, the previous or the next slot is accepted
//! (one to two minutes, tolerating a slot of clock skew). A nonce is not
//! single use; the proof that carries it is.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::crypto::jwt::verify_with_embedded_jwk;

/// Proof signature algorithms accepted (and advertised in discovery).
pub const ALGS: &[&str] = &["ES256", "RS256", "EdDSA"];
/// A proof longer than this is refused unread (an RSA 4096 proof is ~2.5 kB).
pub const MAX_PROOF_LEN: usize = 8192;
/// Longest accepted `jti`.
pub const MAX_JTI_LEN: usize = 128;
/// How far `iat` may be from the node's clock, either way (seconds).
pub const IAT_WINDOW: u64 = 60;
/// How much longer than its window a used proof id is remembered.
pub const CLOCK_GRACE: u64 = 300;
/// Length of a nonce time slot (seconds).
pub const NONCE_SLOT: u64 = 60;

/// What the endpoint expects of a proof.
pub struct Expected<'a> {
    /// `POST` or `GET`.
    pub htm: &'a str,
    /// The endpoint URL as the issuer publishes it.
    pub htu: &'a str,
    /// The node's clock.
    pub now: u64,
    /// The access token presented with the proof (`ath` is then required).
    pub access_token: Option<&'a str>,
    /// `Some` when a server nonce is required.
    pub nonce: Option<&'a NonceKey>,
}

/// A valid proof: the key it binds to and its one-time id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof's public key (`cnf.jkt`).
    pub jkt: String,
    pub jti: String,
    pub iat: u64,
}

impl Proof {
    /// Until when a node may still accept this proof (by its clock), plus
    /// [`CLOCK_GRACE`]: how long its replay record must live.
    pub fn replay_until(&self) -> u64 {
        self.iat + IAT_WINDOW + CLOCK_GRACE
    }
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// `invalid_dpop_proof`, with the reason.
    Invalid(String),
    /// `use_dpop_nonce`: the proof lacks a current server nonce.
    UseNonce(String),
}

fn invalid<T>(m: impl Into<String>) -> Result<T, ProofError> {
    Err(ProofError::Invalid(m.into()))
}

/// Check a proof (see the module doc for the order of the checks).
pub fn check(proof: &str, e: &Expected) -> Result<Proof, ProofError> {
    if proof.len() > MAX_PROOF_LEN {
        return invalid("the DPoP proof is too large");
    }
    let (header, claims) = verify_with_embedded_jwk(proof, ALGS)
        .or_else(|err| invalid(format!("the DPoP proof is not valid: {err}")))?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return invalid("the DPoP proof must have typ dpop+jwt");
    }
    let jkt = match header.get("jwk") {
        Some(Value::Object(jwk)) => thumbprint(jwk).or_else(invalid)?,
        _ => return invalid("the DPoP proof has no jwk"),
    };
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = match text("jti") {
        Some(j) if !j.is_empty() && j.len() <= MAX_JTI_LEN => j.to_string(),
        _ => {
            return invalid(format!(
                "the DPoP proof needs a jti of 1 to {MAX_JTI_LEN} characters"
            ))
        }
    };
    if text("htm") != Some(e.htm) {
        return invalid(format!("the DPoP proof's htm must be {}", e.htm));
    }
    if !text("htu").is_some_and(|u| same_endpoint(u, e.htu)) {
        return invalid(format!("the DPoP proof's htu must be {}", e.htu));
    }
    let Some(iat) = claims.get("iat").and_then(Value::as_u64) else {
        return invalid("the DPoP proof has no iat");
    };
    if iat.abs_diff(e.now) > IAT_WINDOW {
        return invalid("the DPoP proof's iat is too old or in the future");
    }
    if let Some(token) = e.access_token {
        if text("ath") != Some(crate::crypto::s256(token).as_str()) {
            return invalid("the DPoP proof's ath does not match the access token");
        }
    }
    if let Some(key) = e.nonce {
        if !text("nonce").is_some_and(|n| key.accepts(n, e.now)) {
            return Err(ProofError::UseNonce(
                "a DPoP proof with the nonce from the DPoP-Nonce header is required".into(),
            ));
        }
    }
    Ok(Proof { jkt, jti, iat })
}

/// Whether two URLs name the same endpoint: parsed and normalized (scheme
/// and host case, default port, dot segments), query and fragment ignored.
fn same_endpoint(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        url::Url::parse(s).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u
        })
    };
    matches!((norm(a), norm(b)), (Some(x), Some(y)) if x == y)
}

/// The RFC 7638 JWK thumbprint: SHA-256 of the required members in
/// lexicographic order, as JSON without whitespace, base64url.
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, String> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err("the jwk's key type is not EC, RSA or OKP".into()),
    };
    let mut parts = Vec::with_capacity(members.len());
    for m in members {
        let v = jwk
            .get(*m)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the jwk has no {m}"))?;
        parts.push(format!("\"{m}\":{}", Value::String(v.to_string())));
    }
    let canonical = format!("{{{}}}", parts.join(","));
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// The key of the cluster's DPoP nonces, derived from the master key.
#[derive(Clone)]
pub struct NonceKey([u8; 32]);

impl NonceKey {
    pub fn derive(master_key: &[u8; 32]) -> NonceKey {
        let mut h = Sha256::new();
        h.update(b"tessera dpop nonces v1\0");
        h.update(master_key);
        NonceKey(h.finalize().into())
    }

    fn for_slot(&self, slot: u64) -> String {
        URL_SAFE_NO_PAD.encode(&hmac_sha256(&self.0, &slot.to_be_bytes())[..18])
    }

    /// A nonce for now.
    pub fn issue(&self, now: u64) -> String {
        self.for_slot(now / NONCE_SLOT)
    }

    /// Whether `nonce` was issued (by any node) within the previous, the
    /// current or the next slot.
    pub fn accepts(&self, nonce: &str, now: u64) -> bool {
        let slot = now / NONCE_SLOT;
        [slot.saturating_sub(1), slot, slot + 1]
            .iter()
            .any(|s| bool::from(self.for_slot(*s).as_bytes().ct_eq(nonce.as_bytes())))
    }
}

/// HMAC-SHA256 (RFC 2104) for a key of at most one block.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, b) in key.iter().take(64).enumerate() {
        ipad[i] ^= b;
        opad[i] ^= b;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
#[path = "dpop_tests.rs"]
mod tests;
