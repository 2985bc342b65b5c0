//! Unit tests of DPoP proof checking, the RFC 7638 thumbprint and nonces.
//! Proofs are built with josekit, as a client would.

use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, ES256, HS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::json;

use super::*;
use crate::crypto::jwt::generate;

const HTU: &str = "https://login.example.com/token";
const NOW: u64 = 1_800_000_000;

/// A key pair: (private JWK, public JWK as a map).
fn keypair(alg: &str) -> (Jwk, Map<String, Value>) {
    let (private, public) = generate(alg, "k").unwrap();
    let mut public = public.as_object().unwrap().clone();
    for m in ["kid", "alg", "use"] {
        public.remove(m);
    }
    (
        Jwk::from_map(private.as_object().unwrap().clone()).unwrap(),
        public,
    )
}

/// A proof signed with `private`, header `jwk` = `public`; `edit` changes
/// the header and claims before signing.
fn proof_with(
    alg: &str,
    private: &Jwk,
    public: &Map<String, Value>,
    edit: impl FnOnce(&mut JwsHeader, &mut Map<String, Value>),
) -> String {
    let mut header = JwsHeader::new();
    header.set_token_type("dpop+jwt");
    header
        .set_claim("jwk", Some(Value::Object(public.clone())))
        .unwrap();
    let mut claims = json!({"jti": "j-1", "htm": "POST", "htu": HTU, "iat": NOW})
        .as_object()
        .unwrap()
        .clone();
    edit(&mut header, &mut claims);
    let payload = JwtPayload::from_map(claims).unwrap();
    let signer: Box<dyn josekit::jws::JwsSigner> = match alg {
        "ES256" => Box::new(ES256.signer_from_jwk(private).unwrap()),
        "RS256" => Box::new(josekit::jws::RS256.signer_from_jwk(private).unwrap()),
        _ => Box::new(josekit::jws::EdDSA.signer_from_jwk(private).unwrap()),
    };
    jwt::encode_with_signer(&payload, &header, signer.as_ref()).unwrap()
}

fn es256_proof(edit: impl FnOnce(&mut JwsHeader, &mut Map<String, Value>)) -> String {
    let (private, public) = keypair("ES256");
    proof_with("ES256", &private, &public, edit)
}

fn expected() -> Expected<'static> {
    Expected {
        htm: "POST",
        htu: HTU,
        now: NOW,
        access_token: None,
        nonce: None,
    }
}

fn refused(proof: &str, e: &Expected) -> String {
    match check(proof, e) {
        Err(ProofError::Invalid(m)) => m,
        other => panic!("expected invalid_dpop_proof, got {other:?}"),
    }
}

#[test]
fn thumbprint_matches_the_rfc7638_example() {
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    let jwk = jwk.as_object().unwrap();
    assert_eq!(
        thumbprint(jwk).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    let mut no_e = jwk.clone();
    no_e.remove("e");
    assert!(thumbprint(&no_e).is_err());
    assert!(thumbprint(json!({"kty": "oct", "k": "x"}).as_object().unwrap()).is_err());
}

#[test]
fn hmac_matches_rfc4231_test_case_2() {
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn a_valid_proof_of_each_algorithm_binds_to_its_key_thumbprint() {
    for alg in ALGS {
        let (private, public) = keypair(alg);
        let p = check(&proof_with(alg, &private, &public, |_, _| {}), &expected()).unwrap();
        assert_eq!(p.jkt, thumbprint(&public).unwrap(), "{alg}");
        assert_eq!((p.jti.as_str(), p.iat), ("j-1", NOW));
        assert_eq!(p.replay_until(), NOW + IAT_WINDOW + CLOCK_GRACE);
    }
}

#[test]
fn htu_is_compared_without_query_or_fragment_after_normalization() {
    for htu in [
        "https://login.example.com/token?x=1",
        "https://LOGIN.example.com:443/token#f",
    ] {
        let proof = es256_proof(|_, c| {
            c.insert("htu".into(), htu.into());
        });
        assert!(check(&proof, &expected()).is_ok(), "{htu}");
    }
}

#[test]
fn wrong_claims_are_refused() {
    type Edit = fn(&mut Map<String, Value>);
    let cases: [(&str, Edit); 9] = [
        ("htm", |c| {
            c.insert("htm".into(), "GET".into());
        }),
        ("htu", |c| {
            c.insert("htu".into(), "https://login.example.com/userinfo".into());
        }),
        ("htu", |c| {
            c.insert("htu".into(), "https://evil.example/token".into());
        }),
        ("iat", |c| {
            c.insert("iat".into(), (NOW - IAT_WINDOW - 1).into());
        }),
        ("iat", |c| {
            c.insert("iat".into(), (NOW + IAT_WINDOW + 1).into());
        }),
        ("iat", |c| {
            c.remove("iat");
        }),
        ("jti", |c| {
            c.remove("jti");
        }),
        ("jti", |c| {
            c.insert("jti".into(), "x".repeat(MAX_JTI_LEN + 1).into());
        }),
        ("jti", |c| {
            c.insert("jti".into(), "".into());
        }),
    ];
    for (what, edit) in cases {
        let m = refused(&es256_proof(|_, c| edit(c)), &expected());
        assert!(m.contains(what), "{what}: {m}");
    }
}

#[test]
fn wrong_headers_keys_and_signatures_are_refused() {
    let typ = es256_proof(|h, _| h.set_token_type("JWT"));
    assert!(refused(&typ, &expected()).contains("typ"));
    let (private, public) = keypair("ES256");
    let (_, other_public) = keypair("ES256");
    let foreign = proof_with("ES256", &private, &other_public, |_, _| {});
    assert!(refused(&foreign, &expected()).contains("signature"));
    let mut with_d = public.clone();
    with_d.insert("d".into(), private.parameter("d").unwrap().clone());
    let private_jwk = proof_with("ES256", &private, &with_d, |_, _| {});
    assert!(refused(&private_jwk, &expected()).contains("not a public key"));
    let no_jwk = es256_proof(|h, _| h.set_claim("jwk", None).unwrap());
    assert!(refused(&no_jwk, &expected()).contains("jwk"));
    // HS256 with a symmetric key, and alg none: never.
    let hs = {
        let mut h = JwsHeader::new();
        h.set_token_type("dpop+jwt");
        let jwk = json!({"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"});
        h.set_claim("jwk", Some(jwk)).unwrap();
        let claims = json!({"jti": "j", "htm": "POST", "htu": HTU, "iat": NOW});
        let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        let signer = HS256
            .signer_from_bytes(b"secretsecretsecretsecretsecretsecret")
            .unwrap();
        jwt::encode_with_signer(&payload, &h, &signer).unwrap()
    };
    assert!(refused(&hs, &expected()).contains("HS256"));
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"dpop+jwt"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"jti":"j","htm":"POST"}"#)
    );
    assert!(refused(&none, &expected()).contains("none"));
    let big = format!("{}{}", "a".repeat(MAX_PROOF_LEN), ".b.c");
    assert!(refused(&big, &expected()).contains("too large"));
    for garbage in ["", "a.b.c", "...", "x"] {
        refused(garbage, &expected());
    }
}

#[test]
fn ath_is_required_with_an_access_token() {
    let e = Expected {
        access_token: Some("the-token"),
        ..expected()
    };
    let without = es256_proof(|_, _| {});
    assert!(refused(&without, &e).contains("ath"));
    let wrong = es256_proof(|_, c| {
        c.insert("ath".into(), crate::crypto::s256("other").into());
    });
    assert!(refused(&wrong, &e).contains("ath"));
    let right = es256_proof(|_, c| {
        c.insert("ath".into(), crate::crypto::s256("the-token").into());
    });
    assert!(check(&right, &e).is_ok());
}

#[test]
fn nonces_are_required_when_configured_and_expire() {
    let key = NonceKey::derive(&[7; 32]);
    let e = Expected {
        nonce: Some(&key),
        ..expected()
    };
    let with = |n: String| {
        es256_proof(move |_, c| {
            c.insert("nonce".into(), n.into());
        })
    };
    assert!(matches!(
        check(&es256_proof(|_, _| {}), &e),
        Err(ProofError::UseNonce(_))
    ));
    assert!(check(&with(key.issue(NOW)), &e).is_ok());
    assert!(check(&with(key.issue(NOW - NONCE_SLOT)), &e).is_ok());
    assert!(matches!(
        check(&with(key.issue(NOW - 3 * NONCE_SLOT)), &e),
        Err(ProofError::UseNonce(_))
    ));
    let other = NonceKey::derive(&[8; 32]);
    assert!(matches!(
        check(&with(other.issue(NOW)), &e),
        Err(ProofError::UseNonce(_))
    ));
    assert_ne!(key.issue(NOW), key.issue(NOW + 3 * NONCE_SLOT));
    assert!(!key.accepts("", NOW));
}
