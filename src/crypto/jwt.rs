//! JWT signing and verification: the only module that imports josekit's JWS.
//!
//! [`KeySet`] is an immutable set of signing keys built by the `KeyActor`
//! from the replicated key records; HTTP workers sign with it directly (no
//! actor hop on the hot path). Keys are chosen by `kid` when verifying, so a
//! token stays valid while its key is published.
//!
//! A set remembers the tokens it has verified (at most
//! [`VERIFIED_CAPACITY`], forgotten all at once when full): resource
//! servers introspect, and RPs call `/userinfo` with, the same access token
//! many times, and an ES256 check costs ~70 µs where the lookup costs ~1.
//! The answer for a given token string cannot change while the set's keys
//! do not, and a new set (keys added, promoted or removed) starts empty.
//! Only the signature is remembered: expiry, revocation and session checks
//! are the caller's, on every request.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsHeader, JwsSigner, JwsVerifier, ES256, RS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};

/// Signature algorithms Tessera signs with.
pub const ALGS: &[&str] = &["RS256", "ES256", "EdDSA"];

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("unsupported algorithm {0}")]
    UnsupportedAlg(String),
    #[error("key error: {0}")]
    Key(String),
}

/// A new key pair as JWK JSON: (kid, private JWK, public JWK).
pub fn generate(alg: &str, kid: &str) -> Result<(Value, Value), JwtError> {
    let mut jwk = match alg {
        "RS256" => Jwk::generate_rsa_key(2048),
        "ES256" => Jwk::generate_ec_key(EcCurve::P256),
        "EdDSA" => Jwk::generate_ed_key(EdCurve::Ed25519),
        other => return Err(JwtError::UnsupportedAlg(other.into())),
    }
    .map_err(|e| JwtError::Key(e.to_string()))?;
    jwk.set_key_id(kid);
    jwk.set_algorithm(alg);
    jwk.set_key_use("sig");
    let mut public = jwk
        .to_public_key()
        .map_err(|e| JwtError::Key(e.to_string()))?;
    public.set_key_id(kid);
    public.set_algorithm(alg);
    public.set_key_use("sig");
    Ok((
        Value::Object(jwk.as_ref().clone()),
        Value::Object(public.as_ref().clone()),
    ))
}

fn jwk_from(v: &Value) -> Result<Jwk, JwtError> {
    match v {
        Value::Object(m) => Jwk::from_map(m.clone()).map_err(|e| JwtError::Key(e.to_string())),
        _ => Err(JwtError::Key("a JWK is a JSON object".into())),
    }
}

fn signer(alg: &str, jwk: &Jwk) -> Result<Box<dyn JwsSigner>, JwtError> {
    let e = |e: josekit::JoseError| JwtError::Key(e.to_string());
    Ok(match alg {
        "RS256" => Box::new(RS256.signer_from_jwk(jwk).map_err(e)?),
        "ES256" => Box::new(ES256.signer_from_jwk(jwk).map_err(e)?),
        "EdDSA" => Box::new(EdDSA.signer_from_jwk(jwk).map_err(e)?),
        other => return Err(JwtError::UnsupportedAlg(other.into())),
    })
}

fn verifier(alg: &str, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, JwtError> {
    let e = |e: josekit::JoseError| JwtError::Key(e.to_string());
    Ok(match alg {
        "RS256" => Box::new(RS256.verifier_from_jwk(jwk).map_err(e)?),
        "ES256" => Box::new(ES256.verifier_from_jwk(jwk).map_err(e)?),
        "EdDSA" => Box::new(EdDSA.verifier_from_jwk(jwk).map_err(e)?),
        other => return Err(JwtError::UnsupportedAlg(other.into())),
    })
}

struct LoadedKey {
    alg: String,
    public: Value,
    signer: Option<Box<dyn JwsSigner>>,
    verifier: Box<dyn JwsVerifier>,
}

/// Verified tokens a [`KeySet`] remembers at most.
pub const VERIFIED_CAPACITY: usize = 2048;

/// What [`KeySet::verify`] answers for a good token: (claims, typ).
pub type Verified = (Map<String, Value>, Option<String>);

/// The keys of the cluster as one immutable value.
#[derive(Default)]
pub struct KeySet {
    keys: BTreeMap<String, LoadedKey>,
    /// The signing key per algorithm.
    current: BTreeMap<String, String>,
    /// Tokens whose signature verified with these keys (see the module doc).
    verified: Mutex<HashMap<String, Verified>>,
    /// The public JWK Set, serialized once per set (served at `jwks_uri`).
    jwks_json: String,
}

/// One key handed to [`KeySet::build`].
pub struct KeyInput<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    pub public: &'a Value,
    /// The private JWK, present for keys this set may sign with.
    pub private: Option<Value>,
    pub current: bool,
}

impl KeySet {
    pub fn build(inputs: Vec<KeyInput<'_>>) -> Result<KeySet, JwtError> {
        let mut set = KeySet::default();
        for k in inputs {
            let public_jwk = jwk_from(k.public)?;
            let signer = match &k.private {
                Some(p) => Some(signer(k.alg, &jwk_from(p)?)?),
                None => None,
            };
            if k.current && signer.is_some() {
                set.current.insert(k.alg.to_string(), k.kid.to_string());
            }
            set.keys.insert(
                k.kid.to_string(),
                LoadedKey {
                    alg: k.alg.to_string(),
                    public: k.public.clone(),
                    verifier: verifier(k.alg, &public_jwk)?,
                    signer,
                },
            );
        }
        set.jwks_json = set.jwks().to_string();
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key of `alg` can sign now.
    pub fn can_sign(&self, alg: &str) -> bool {
        self.current.contains_key(alg)
    }

    /// Sign `claims` with the current key of `alg`; `typ` goes in the header.
    pub fn sign(
        &self,
        alg: &str,
        typ: &str,
        claims: Map<String, Value>,
    ) -> Result<String, JwtError> {
        let kid = self.current.get(alg).ok_or(JwtError::UnknownKey)?;
        let key = &self.keys[kid];
        let signer = key.signer.as_ref().ok_or(JwtError::UnknownKey)?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(kid.clone());
        let payload =
            JwtPayload::from_map(claims).map_err(|e| JwtError::Malformed(e.to_string()))?;
        jwt::encode_with_signer(&payload, &header, signer.as_ref())
            .map_err(|e| JwtError::Key(e.to_string()))
    }

    /// Verify a token signed by one of these keys; returns (claims, typ).
    /// Expiry is the caller's business (it knows the clock).
    pub fn verify(&self, token: &str) -> Result<Verified, JwtError> {
        if let Some(hit) = self.verified.lock().expect("verified").get(token) {
            return Ok(hit.clone());
        }
        let answer = self.verify_signature(token)?;
        let mut seen = self.verified.lock().expect("verified");
        if seen.len() >= VERIFIED_CAPACITY {
            seen.clear();
        }
        seen.insert(token.to_string(), answer.clone());
        Ok(answer)
    }

    fn verify_signature(&self, token: &str) -> Result<Verified, JwtError> {
        let header = jwt::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        let kid = header
            .claim("kid")
            .and_then(Value::as_str)
            .ok_or(JwtError::UnknownKey)?;
        let key = self.keys.get(kid).ok_or(JwtError::UnknownKey)?;
        if header.claim("alg").and_then(Value::as_str) != Some(key.alg.as_str()) {
            return Err(JwtError::BadSignature);
        }
        let (payload, header) = jwt::decode_with_verifier(token, key.verifier.as_ref())
            .map_err(|_| JwtError::BadSignature)?;
        Ok((
            payload.claims_set().clone(),
            header.token_type().map(String::from),
        ))
    }

    /// The public JWK Set; served as [`KeySet::jwks_json`], built once.
    fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.keys.values().map(|k| k.public.clone()).collect();
        serde_json::json!({ "keys": keys })
    }

    /// [`KeySet::jwks`], serialized when the set was built.
    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }
}

/// Verify a token against a client's registered JWK Set (private_key_jwt).
pub fn verify_with_jwks(token: &str, jwks: &Value) -> Result<Map<String, Value>, JwtError> {
    let header = jwt::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| JwtError::Malformed("no alg".into()))?
        .to_string();
    if !matches!(alg.as_str(), "RS256" | "ES256" | "EdDSA" | "PS256") {
        return Err(JwtError::UnsupportedAlg(alg));
    }
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .map(String::from);
    let keys = jwks["keys"].as_array().ok_or(JwtError::UnknownKey)?;
    for k in keys {
        if kid.is_some() && k["kid"].as_str() != kid.as_deref() {
            continue;
        }
        if k["alg"].as_str().is_some_and(|a| a != alg) {
            continue;
        }
        let Ok(jwk) = jwk_from(k) else { continue };
        let Ok(v) = verifier(&alg, &jwk) else {
            continue;
        };
        if let Ok((payload, _)) = jwt::decode_with_verifier(token, v.as_ref()) {
            return Ok(payload.claims_set().clone());
        }
    }
    Err(JwtError::BadSignature)
}

/// JWK members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A verified JWS's header and claims.
pub type HeaderAndClaims = (Map<String, Value>, Map<String, Value>);

/// Verify a JWS with the public JWK its own header carries (a DPoP proof,
/// RFC 9449 §4.3): an algorithm of `algs` only, a `jwk` without private
/// members, one signature check. Returns (header, claims).
pub fn verify_with_embedded_jwk(token: &str, algs: &[&str]) -> Result<HeaderAndClaims, JwtError> {
    let header = jwt::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| JwtError::Malformed("no alg".into()))?;
    if !algs.contains(&alg) {
        return Err(JwtError::UnsupportedAlg(alg.into()));
    }
    let jwk = match header.claim("jwk") {
        Some(Value::Object(m)) => m,
        _ => return Err(JwtError::Key("no jwk in the header".into())),
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(JwtError::Key("the jwk is not a public key".into()));
    }
    let v = verifier(alg, &jwk_from(&Value::Object(jwk.clone()))?)?;
    let (payload, header) =
        jwt::decode_with_verifier(token, v.as_ref()).map_err(|_| JwtError::BadSignature)?;
    Ok((header.claims_set().clone(), payload.claims_set().clone()))
}

/// The claims of a JWT, decoded WITHOUT checking the signature: only for
/// finding which key to check it with.
pub fn peek_claims(token: &str) -> Option<Map<String, Value>> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Sign with a bare private JWK (tests and tools acting as a client).
pub fn sign_with_jwk(
    alg: &str,
    private: &Value,
    claims: Map<String, Value>,
) -> Result<String, JwtError> {
    let jwk = jwk_from(private)?;
    let s = signer(alg, &jwk)?;
    let mut header = JwsHeader::new();
    if let Some(kid) = jwk.key_id() {
        header.set_key_id(kid);
    }
    let payload = JwtPayload::from_map(claims).map_err(|e| JwtError::Malformed(e.to_string()))?;
    jwt::encode_with_signer(&payload, &header, s.as_ref()).map_err(|e| JwtError::Key(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_tokens_are_remembered_boundedly_and_only_when_good() {
        let (private, public) = generate("ES256", "k").unwrap();
        let input = || KeyInput {
            kid: "k",
            alg: "ES256",
            public: &public,
            private: Some(private.clone()),
            current: true,
        };
        let set = KeySet::build(vec![input()]).unwrap();
        let token = |n: usize| {
            let mut claims = Map::new();
            claims.insert("n".into(), n.into());
            set.sign("ES256", "at+jwt", claims).unwrap()
        };
        let t = token(0);
        let first = set.verify(&t).unwrap();
        assert_eq!(set.verify(&t).unwrap(), first);
        // A tampered copy is checked, refused and not remembered.
        let mut bytes = t.clone().into_bytes();
        let i = bytes.len() - 10;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bytes).unwrap();
        assert!(set.verify(&bad).is_err());
        assert!(!set.verified.lock().unwrap().contains_key(&bad));
        for n in 1..=VERIFIED_CAPACITY + 10 {
            set.verify(&token(n)).unwrap();
        }
        assert!(set.verified.lock().unwrap().len() <= VERIFIED_CAPACITY);
        // Another set with another key under the same kid refuses the token
        // this one remembers.
        let (p2, pub2) = generate("ES256", "k").unwrap();
        let other = KeySet::build(vec![KeyInput {
            kid: "k",
            alg: "ES256",
            public: &pub2,
            private: Some(p2),
            current: true,
        }])
        .unwrap();
        assert!(other.verify(&t).is_err());
    }

    #[test]
    fn sign_verify_and_reject_foreign_keys() {
        for alg in ALGS {
            let (private, public) = generate(alg, &format!("k-{alg}")).unwrap();
            assert!(public.get("d").is_none(), "public JWK has no private part");
            let kid = format!("k-{alg}");
            let set = KeySet::build(vec![KeyInput {
                kid: &kid,
                alg,
                public: &public,
                private: Some(private.clone()),
                current: true,
            }])
            .unwrap();
            let mut claims = Map::new();
            claims.insert("sub".into(), "alice".into());
            let token = set.sign(alg, "JWT", claims).unwrap();
            let (back, typ) = set.verify(&token).unwrap();
            assert_eq!(back["sub"], "alice");
            assert_eq!(typ.as_deref(), Some("JWT"));
            let jwks = set.jwks();
            assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
            // The served body is this set, public parts only.
            let served: Value = serde_json::from_str(set.jwks_json()).unwrap();
            assert_eq!(served, jwks);
            assert!(served["keys"][0].get("d").is_none());
            assert_eq!(verify_with_jwks(&token, &jwks).unwrap()["sub"], "alice");

            let (p2, pub2) = generate(alg, &kid).unwrap();
            let other = KeySet::build(vec![KeyInput {
                kid: &kid,
                alg,
                public: &pub2,
                private: Some(p2),
                current: true,
            }])
            .unwrap();
            assert!(
                other.verify(&token).is_err(),
                "{alg}: a different key with the same kid must not verify"
            );
        }
        assert!(KeySet::default().verify("not.a.jwt").is_err());
    }
}
