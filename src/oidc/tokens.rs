//! Claims of the ID token and of JWT access tokens.
//!
//! Owns the ID token's contents (OIDC Core §2, §3.1.3.6 `at_hash`, §3.3.2.11
//! `c_hash`, §5.5 requested claims passed in as `extra`) and the JWT access
//! token profile's claims (RFC 9068 §2.2). Signing, headers (`kid`, `typ:
//! at+jwt`) and key choice are `crypto/`'s job; time is passed in as `now`.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// `at_hash` / `c_hash` (OIDC Core §3.1.3.6): base64url of the left half of
/// the hash of the ASCII token, the hash being the one of the JWS `alg`:
/// SHA-256 for `*256` (RS256, ES256, PS256; also the default for unknown
/// algs), SHA-384 for `*384`, SHA-512 for `*512` and for `EdDSA` (Ed25519,
/// per the OpenID Foundation's guidance for EdDSA).
pub fn half_hash(alg: &str, token: &str) -> String {
    let digest: Vec<u8> = if alg == "EdDSA" || alg.ends_with("512") {
        Sha512::digest(token.as_bytes()).to_vec()
    } else if alg.ends_with("384") {
        Sha384::digest(token.as_bytes()).to_vec()
    } else {
        Sha256::digest(token.as_bytes()).to_vec()
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Everything an ID token says.
pub struct IdTokenInput<'a> {
    pub issuer: &'a str,
    pub sub: &'a str,
    pub client_id: &'a str,
    pub now: u64,
    pub lifetime: u64,
    pub auth_time: u64,
    pub nonce: Option<&'a str>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// The JWS alg the token will be signed with (selects the `at_hash` hash).
    pub alg: &'a str,
    pub sid: Option<&'a str>,
    pub acr: Option<&'a str>,
    pub amr: &'a [&'a str],
    /// Released user claims ([`super::claims::select`] with `IdToken`).
    pub extra: BTreeMap<String, Value>,
}

/// The ID token claims: `iss`, `sub`, `aud` (a string: one audience),
/// `exp`, `iat`, `auth_time`, `nonce`?, `at_hash`?, `sid`?, `acr`?, `amr`
/// (if non-empty), `azp` = client_id, plus `extra`. `extra` never overrides
/// a claim set here, even one left out (e.g. a `nonce` in `extra` is
/// dropped when the request had none).
pub fn id_token_claims(i: &IdTokenInput) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("iss".into(), i.issuer.into());
    m.insert("sub".into(), i.sub.into());
    m.insert("aud".into(), i.client_id.into());
    m.insert("exp".into(), i.now.saturating_add(i.lifetime).into());
    m.insert("iat".into(), i.now.into());
    m.insert("auth_time".into(), i.auth_time.into());
    if let Some(n) = i.nonce {
        m.insert("nonce".into(), n.into());
    }
    if let Some(at) = i.access_token {
        m.insert("at_hash".into(), half_hash(i.alg, at).into());
    }
    if let Some(s) = i.sid {
        m.insert("sid".into(), s.into());
    }
    if let Some(a) = i.acr {
        m.insert("acr".into(), a.into());
    }
    if !i.amr.is_empty() {
        m.insert(
            "amr".into(),
            i.amr.iter().map(|s| Value::from(*s)).collect(),
        );
    }
    m.insert("azp".into(), i.client_id.into());
    for (k, v) in &i.extra {
        if !ID_TOKEN_REGISTERED.contains(&k.as_str()) {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

/// Claims `extra` may never set in an ID token.
const ID_TOKEN_REGISTERED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "c_hash",
    "sid",
    "acr",
    "amr",
    "azp",
    "nbf",
    "jti",
];

/// Everything a JWT access token says.
pub struct AccessTokenInput<'a> {
    pub issuer: &'a str,
    pub sub: &'a str,
    pub client_id: &'a str,
    pub audience: &'a str,
    pub now: u64,
    pub lifetime: u64,
    pub jti: &'a str,
    pub scopes: &'a [String],
    pub auth_time: Option<u64>,
    pub sid: Option<&'a str>,
}

/// RFC 9068 §2.2: `iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti`,
/// `scope` (space-joined; omitted when there are no scopes), `auth_time`?,
/// `sid`?. The `typ: at+jwt` header is set by the signer.
pub fn access_token_claims(i: &AccessTokenInput) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("iss".into(), i.issuer.into());
    m.insert("exp".into(), i.now.saturating_add(i.lifetime).into());
    m.insert("aud".into(), i.audience.into());
    m.insert("sub".into(), i.sub.into());
    m.insert("client_id".into(), i.client_id.into());
    m.insert("iat".into(), i.now.into());
    m.insert("jti".into(), i.jti.into());
    if !i.scopes.is_empty() {
        m.insert("scope".into(), i.scopes.join(" ").into());
    }
    if let Some(t) = i.auth_time {
        m.insert("auth_time".into(), t.into());
    }
    if let Some(s) = i.sid {
        m.insert("sid".into(), s.into());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn half_hash_known_vectors() {
        // Worked RS256 example (Ping Identity developer guide, steps shown
        // there: SHA-256, left 128 bits, base64url).
        assert_eq!(
            half_hash("RS256", "dNZX1hEZ9wBCzNL40Upu646bdzQA"),
            "wfgvmE9VxjAudsl9lc6TqA"
        );
        // OIDC Core Appendix A.4 (RS256): code "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
        // -> c_hash "LDktKdoQak3Pk0cnXxCltA".
        assert_eq!(
            half_hash(
                "RS256",
                "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
            ),
            "LDktKdoQak3Pk0cnXxCltA"
        );
    }

    #[test]
    fn half_hash_lengths_by_alg() {
        // 16 bytes → 22 chars, 24 → 32, 32 → 43.
        for (alg, len) in [
            ("RS256", 22),
            ("ES256", 22),
            ("PS256", 22),
            ("ES384", 32),
            ("RS512", 43),
            ("EdDSA", 43),
            ("unknown", 22),
        ] {
            assert_eq!(half_hash(alg, "token").len(), len, "{alg}");
        }
        assert_eq!(half_hash("ES256", "t"), half_hash("RS256", "t"));
        assert_ne!(half_hash("EdDSA", "t")[..22], half_hash("RS256", "t"));
    }

    fn input() -> IdTokenInput<'static> {
        IdTokenInput {
            issuer: "https://id.example.com",
            sub: "u1",
            client_id: "c1",
            now: 1000,
            lifetime: 300,
            auth_time: 900,
            nonce: None,
            access_token: None,
            alg: "ES256",
            sid: None,
            acr: None,
            amr: &[],
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn minimal_id_token() {
        let m = id_token_claims(&input());
        assert_eq!(
            Value::Object(m),
            json!({"iss": "https://id.example.com", "sub": "u1", "aud": "c1",
                   "exp": 1300, "iat": 1000, "auth_time": 900, "azp": "c1"})
        );
    }

    #[test]
    fn full_id_token() {
        let mut extra = BTreeMap::new();
        extra.insert("email".to_string(), json!("ada@example.com"));
        let i = IdTokenInput {
            nonce: Some("n-0S6"),
            access_token: Some("dNZX1hEZ9wBCzNL40Upu646bdzQA"),
            alg: "RS256",
            sid: Some("s1"),
            acr: Some("urn:x:pwd"),
            amr: &["pwd", "otp"],
            extra,
            ..input()
        };
        let m = id_token_claims(&i);
        assert_eq!(m["nonce"], json!("n-0S6"));
        assert_eq!(m["at_hash"], json!("wfgvmE9VxjAudsl9lc6TqA"));
        assert_eq!(m["sid"], json!("s1"));
        assert_eq!(m["acr"], json!("urn:x:pwd"));
        assert_eq!(m["amr"], json!(["pwd", "otp"]));
        assert_eq!(m["email"], json!("ada@example.com"));
        assert_eq!(m.len(), 13);
    }

    #[test]
    fn extra_never_overrides_registered_claims() {
        let mut extra = BTreeMap::new();
        for k in ["iss", "sub", "aud", "exp", "nonce", "azp", "at_hash"] {
            extra.insert(k.to_string(), json!("evil"));
        }
        extra.insert("name".to_string(), json!("Ada"));
        let m = id_token_claims(&IdTokenInput { extra, ..input() });
        assert_eq!(m["iss"], json!("https://id.example.com"));
        assert_eq!(m["sub"], json!("u1"));
        assert_eq!(m["aud"], json!("c1"));
        assert_eq!(m["exp"], json!(1300));
        assert_eq!(m["azp"], json!("c1"));
        assert!(!m.contains_key("nonce"));
        assert!(!m.contains_key("at_hash"));
        assert_eq!(m["name"], json!("Ada"));
    }

    #[test]
    fn exp_saturates() {
        let m = id_token_claims(&IdTokenInput {
            now: u64::MAX - 1,
            ..input()
        });
        assert_eq!(m["exp"], json!(u64::MAX));
    }

    #[test]
    fn access_token_rfc9068_claims() {
        let scopes = vec!["openid".to_string(), "email".to_string()];
        let i = AccessTokenInput {
            issuer: "https://id.example.com",
            sub: "u1",
            client_id: "c1",
            audience: "https://api.example.com",
            now: 1000,
            lifetime: 600,
            jti: "j1",
            scopes: &scopes,
            auth_time: Some(900),
            sid: Some("s1"),
        };
        assert_eq!(
            Value::Object(access_token_claims(&i)),
            json!({"iss": "https://id.example.com", "exp": 1600,
                   "aud": "https://api.example.com", "sub": "u1", "client_id": "c1",
                   "iat": 1000, "jti": "j1", "scope": "openid email",
                   "auth_time": 900, "sid": "s1"})
        );
        let m = access_token_claims(&AccessTokenInput {
            scopes: &[],
            auth_time: None,
            sid: None,
            ..i
        });
        assert!(!m.contains_key("scope"));
        assert!(!m.contains_key("auth_time"));
        assert!(!m.contains_key("sid"));
        assert_eq!(m.len(), 7);
    }
}
