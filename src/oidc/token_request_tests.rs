//! Tests for [`super`]: client authentication (RFC 6749 §2.3.1, RFC 7523
//! §2.2), grant parsing (RFC 6749 §4.1.3, §4.4.2, §6) and assertion claims
//! (RFC 7523 §3, OIDC Core §9).

use super::*;
use crate::oidc::error::ErrorCode;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

fn form(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn basic(raw: &str) -> String {
    format!("Basic {}", STANDARD.encode(raw))
}

fn err(r: Result<impl std::fmt::Debug, OAuthError>) -> ErrorCode {
    r.unwrap_err().code
}

#[test]
fn basic_rfc6749_example() {
    let a = client_auth(
        Some("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3"),
        &form(&[("grant_type", "authorization_code")]),
    )
    .unwrap();
    assert_eq!(
        a,
        ClientAuth::Basic {
            client_id: "s6BhdRkqt3".into(),
            secret: "7Fjfp0ZBr1KtDRbnfVdmIw".into()
        }
    );
    assert_eq!(a.client_id_hint(), Some("s6BhdRkqt3"));
}

#[test]
fn basic_parts_are_form_urldecoded() {
    let a = client_auth(Some(&basic("my+client%3A1:p%3Aa%25s+s")), &[]).unwrap();
    assert_eq!(
        a,
        ClientAuth::Basic {
            client_id: "my client:1".into(),
            secret: "p:a%s s".into()
        }
    );
    // Scheme is case-insensitive; padding optional; secret may hold ':'.
    let hdr = format!("basic {}", STANDARD.encode("id:a:b").trim_end_matches('='));
    let a = client_auth(Some(&hdr), &[]).unwrap();
    assert_eq!(
        a,
        ClientAuth::Basic {
            client_id: "id".into(),
            secret: "a:b".into()
        }
    );
}

#[test]
fn malformed_basic_is_invalid_client() {
    for h in [
        "Basic".to_string(),
        "Basic !!!".to_string(),
        basic("no-colon"),
        basic(":secret"),
        basic("id:"),
        format!("Basic {}", STANDARD.encode([0xff, b':', b'x'])),
    ] {
        assert_eq!(
            err(client_auth(Some(&h), &[])),
            ErrorCode::InvalidClient,
            "{h}"
        );
    }
}

#[test]
fn other_authorization_schemes_are_ignored() {
    let f = form(&[("client_id", "c")]);
    let a = client_auth(Some("Bearer abc"), &f).unwrap();
    assert_eq!(
        a,
        ClientAuth::None {
            client_id: "c".into()
        }
    );
    assert_eq!(
        err(client_auth(Some("Bearer abc"), &[])),
        ErrorCode::InvalidClient
    );
}

#[test]
fn client_secret_post() {
    let f = form(&[("client_id", "c"), ("client_secret", "s")]);
    let a = client_auth(None, &f).unwrap();
    assert_eq!(
        a,
        ClientAuth::Post {
            client_id: "c".into(),
            secret: "s".into()
        }
    );
    let f = form(&[("client_secret", "s")]);
    assert_eq!(err(client_auth(None, &f)), ErrorCode::InvalidRequest);
}

#[test]
fn private_key_jwt() {
    let f = form(&[
        ("client_assertion", "a.b.c"),
        ("client_assertion_type", JWT_BEARER),
    ]);
    let a = client_auth(None, &f).unwrap();
    assert_eq!(
        a,
        ClientAuth::JwtAssertion {
            client_id: None,
            assertion: "a.b.c".into()
        }
    );
    assert_eq!(a.client_id_hint(), None);
    let f = form(&[
        ("client_id", "c"),
        ("client_assertion", "a.b.c"),
        ("client_assertion_type", JWT_BEARER),
    ]);
    assert_eq!(client_auth(None, &f).unwrap().client_id_hint(), Some("c"));
    // Missing type → invalid_request; other type → invalid_client.
    let f = form(&[("client_assertion", "a.b.c")]);
    assert_eq!(err(client_auth(None, &f)), ErrorCode::InvalidRequest);
    let f = form(&[
        ("client_assertion", "a.b.c"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        ),
    ]);
    assert_eq!(err(client_auth(None, &f)), ErrorCode::InvalidClient);
    // A type without an assertion.
    let f = form(&[("client_id", "c"), ("client_assertion_type", JWT_BEARER)]);
    assert_eq!(err(client_auth(None, &f)), ErrorCode::InvalidRequest);
}

#[test]
fn none_and_missing() {
    let a = client_auth(None, &form(&[("client_id", "c"), ("code", "x")])).unwrap();
    assert_eq!(
        a,
        ClientAuth::None {
            client_id: "c".into()
        }
    );
    let e = client_auth(None, &form(&[("code", "x")])).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidClient);
    assert_eq!(e.description, "client authentication required");
    // Empty values count as absent.
    let e = client_auth(None, &form(&[("client_id", ""), ("client_secret", "")]));
    assert_eq!(err(e), ErrorCode::InvalidClient);
}

#[test]
fn more_than_one_method_is_invalid_request() {
    let h = basic("c:s");
    let cases = [
        (Some(h.as_str()), form(&[("client_secret", "s")])),
        (
            Some(h.as_str()),
            form(&[
                ("client_assertion", "x"),
                ("client_assertion_type", JWT_BEARER),
            ]),
        ),
        (
            None,
            form(&[
                ("client_id", "c"),
                ("client_secret", "s"),
                ("client_assertion", "x"),
                ("client_assertion_type", JWT_BEARER),
            ]),
        ),
    ];
    for (h, f) in cases {
        assert_eq!(err(client_auth(h, &f)), ErrorCode::InvalidRequest, "{f:?}");
    }
}

#[test]
fn basic_with_body_client_id() {
    let h = basic("c:s");
    assert!(client_auth(Some(&h), &form(&[("client_id", "c")])).is_ok());
    assert_eq!(
        err(client_auth(Some(&h), &form(&[("client_id", "other")]))),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn repeated_auth_parameters() {
    let f = form(&[("client_id", "c"), ("client_id", "c")]);
    assert_eq!(err(client_auth(None, &f)), ErrorCode::InvalidRequest);
}

#[test]
fn authorization_code_grant() {
    let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let g = parse_grant(&form(&[
        ("grant_type", "authorization_code"),
        ("code", "SplxlOBeZQQYbYS6WxSbIA"),
        ("redirect_uri", "https://client.example.com/cb"),
        ("code_verifier", v),
        ("client_id", "c"),
    ]))
    .unwrap();
    assert_eq!(
        g,
        Grant::AuthorizationCode {
            code: "SplxlOBeZQQYbYS6WxSbIA".into(),
            redirect_uri: Some("https://client.example.com/cb".into()),
            code_verifier: Some(v.into()),
        }
    );
    let g = parse_grant(&form(&[
        ("grant_type", "authorization_code"),
        ("code", "x"),
    ]))
    .unwrap();
    assert_eq!(
        g,
        Grant::AuthorizationCode {
            code: "x".into(),
            redirect_uri: None,
            code_verifier: None
        }
    );
    let missing = form(&[("grant_type", "authorization_code"), ("code", "")]);
    assert_eq!(err(parse_grant(&missing)), ErrorCode::InvalidRequest);
    let short = form(&[
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("code_verifier", "abc"),
    ]);
    assert_eq!(err(parse_grant(&short)), ErrorCode::InvalidRequest);
}

#[test]
fn refresh_and_client_credentials_grants() {
    let g = parse_grant(&form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "tGzv3JOkF0XG5Qx2TlKWIA"),
        ("scope", "openid  email openid"),
    ]))
    .unwrap();
    assert_eq!(
        g,
        Grant::RefreshToken {
            refresh_token: "tGzv3JOkF0XG5Qx2TlKWIA".into(),
            scope: Some(vec!["openid".into(), "email".into()]),
        }
    );
    let missing = form(&[("grant_type", "refresh_token")]);
    assert_eq!(err(parse_grant(&missing)), ErrorCode::InvalidRequest);
    let g = parse_grant(&form(&[("grant_type", "client_credentials")])).unwrap();
    assert_eq!(g, Grant::ClientCredentials { scope: None });
    let g = parse_grant(&form(&[
        ("grant_type", "client_credentials"),
        ("scope", "  "),
    ]))
    .unwrap();
    assert_eq!(g, Grant::ClientCredentials { scope: None });
    let g = parse_grant(&form(&[
        ("grant_type", "client_credentials"),
        ("scope", "api:read"),
    ]))
    .unwrap();
    assert_eq!(
        g,
        Grant::ClientCredentials {
            scope: Some(vec!["api:read".into()])
        }
    );
    let bad = form(&[("grant_type", "client_credentials"), ("scope", "a\"b")]);
    assert_eq!(err(parse_grant(&bad)), ErrorCode::InvalidScope);
    let bad = form(&[("grant_type", "client_credentials"), ("scope", "é")]);
    assert_eq!(err(parse_grant(&bad)), ErrorCode::InvalidScope);
}

#[test]
fn grant_type_rules() {
    assert_eq!(
        err(parse_grant(&form(&[("code", "x")]))),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        err(parse_grant(&form(&[("grant_type", "")]))),
        ErrorCode::InvalidRequest
    );
    for gt in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "CODE",
    ] {
        assert_eq!(
            err(parse_grant(&form(&[("grant_type", gt)]))),
            ErrorCode::UnsupportedGrantType,
            "{gt}"
        );
    }
    let twice = form(&[
        ("grant_type", "authorization_code"),
        ("code", "a"),
        ("code", "b"),
    ]);
    let e = parse_grant(&twice).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.description.contains("`code`"));
}

const NOW: u64 = 1_700_000_000;
const TE: &str = "https://id.example.com/token";
const ISS: &str = "https://id.example.com";

fn assertion() -> Map<String, Value> {
    json!({"iss": "c", "sub": "c", "aud": TE, "exp": NOW + 300, "iat": NOW, "jti": "j1"})
        .as_object()
        .cloned()
        .unwrap()
}

fn with(k: &str, v: Value) -> Map<String, Value> {
    let mut m = assertion();
    m.insert(k.into(), v);
    m
}

fn without(k: &str) -> Map<String, Value> {
    let mut m = assertion();
    m.remove(k);
    m
}

fn check(m: &Map<String, Value>) -> Result<(String, u64), OAuthError> {
    check_assertion_claims(m, "c", TE, ISS, NOW)
}

#[test]
fn good_assertions() {
    assert_eq!(check(&assertion()).unwrap(), ("j1".to_string(), NOW + 300));
    assert!(check(&with("aud", json!(ISS))).is_ok());
    assert!(check(&with("aud", json!(["https://other", TE]))).is_ok());
    assert!(check(&without("iat")).is_ok());
    assert!(check(&with("exp", json!(NOW + MAX_ASSERTION_LIFETIME))).is_ok());
    assert!(check(&with("exp", json!((NOW + 10) as f64 + 0.5))).is_ok());
    assert!(check(&with("iat", json!(NOW + CLOCK_SKEW))).is_ok());
}

#[test]
fn bad_assertions_are_invalid_client() {
    let cases = [
        with("iss", json!("other")),
        with("sub", json!("other")),
        without("iss"),
        without("sub"),
        with("aud", json!("https://other")),
        with("aud", json!([])),
        with("aud", json!(5)),
        without("aud"),
        without("exp"),
        with("exp", json!(NOW)),
        with("exp", json!(NOW - 1)),
        with("exp", json!(NOW + MAX_ASSERTION_LIFETIME + 1)),
        with("exp", json!("soon")),
        with("exp", json!(-5)),
        with("iat", json!(NOW + CLOCK_SKEW + 1)),
        with("iat", json!("x")),
        with("nbf", json!(NOW + CLOCK_SKEW + 1)),
        without("jti"),
        with("jti", json!("")),
        with("jti", json!(7)),
    ];
    for m in cases {
        assert_eq!(err(check(&m)), ErrorCode::InvalidClient, "{m:?}");
    }
}

#[test]
fn unverified_claims_reads_the_payload() {
    let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"c","iss":"c"}"#);
    let jwt = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.sig");
    assert_eq!(unverified_claims(&jwt).unwrap()["sub"], json!("c"));
    assert!(unverified_claims("a.b").is_none());
    assert!(unverified_claims("a.b.c.d").is_none());
    assert!(unverified_claims(&format!("h.{}.s", URL_SAFE_NO_PAD.encode("[1]"))).is_none());
    assert!(unverified_claims("h.!!!.s").is_none());
}

/// 11,000 distinct pairs (issue 10, finding 2) are refused by the cap, by
/// client authentication and by grant parsing alike.
#[test]
fn too_many_parameters_are_refused() {
    let mut many: Vec<(String, String)> =
        (0..11_000).map(|i| (format!("p{i}"), "v".into())).collect();
    many.push(("grant_type".into(), "client_credentials".into()));
    many.push(("client_id".into(), "c".into()));
    for e in [
        client_auth(None, &many).unwrap_err(),
        parse_grant(&many).unwrap_err(),
    ] {
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.description.contains("too many parameters"), "{e}");
    }
    let words = vec!["s"; 51].join(" ");
    let f = form(&[("grant_type", "client_credentials"), ("scope", &words)]);
    assert_eq!(err(parse_grant(&f)), ErrorCode::InvalidScope);
}
