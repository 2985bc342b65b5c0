//! Unit tests of the request-object rules (OIDC Core §6, RFC 9101).

use serde_json::{json, Map, Value};

use super::*;

const NOW: u64 = 1_800_000_000;

fn expect() -> Expect<'static> {
    Expect {
        client_id: "rp",
        issuer: "https://id.example.com",
        now: NOW,
        registered_alg: None,
        allow_unsigned: false,
    }
}

fn claims(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn code(r: Result<impl std::fmt::Debug, OAuthError>) -> ErrorCode {
    r.expect_err("refused").code
}

#[test]
fn the_header_alg_is_read_from_a_compact_jws_of_bounded_size() {
    let jwt = format!("{}.{}.sig", b64(&json!({"alg": "ES256"})), b64(&json!({})));
    assert_eq!(object_alg(&jwt).unwrap(), "ES256");
    for bad in ["", "a.b", "not-base64!.e30.x", "e30.e30.x"] {
        assert_eq!(
            code(object_alg(bad)),
            ErrorCode::InvalidRequestObject,
            "{bad}"
        );
    }
    let jwe = "a.b.c.d.e";
    assert!(object_alg(jwe)
        .unwrap_err()
        .description
        .contains("encrypted"));
    let big = format!("{jwt}{}", "x".repeat(MAX_REQUEST_OBJECT_BYTES));
    assert!(object_alg(&big).unwrap_err().description.contains("larger"));
}

#[test]
fn only_the_supported_or_registered_alg_is_accepted() {
    for alg in SIGNING_ALGS {
        assert!(check_alg(alg, &expect()).is_ok(), "{alg}");
    }
    for alg in ["HS256", "PS256", "none", "RS512"] {
        assert_eq!(
            code(check_alg(alg, &expect())),
            ErrorCode::InvalidRequestObject
        );
    }
    let registered = Expect {
        registered_alg: Some("ES256"),
        ..expect()
    };
    assert!(check_alg("ES256", &registered).is_ok());
    assert!(check_alg("RS256", &registered).is_err());
}

#[test]
fn unsigned_objects_only_when_the_operator_allows_them() {
    let allowed = Expect {
        allow_unsigned: true,
        ..expect()
    };
    assert!(check_alg("none", &expect()).is_err());
    assert!(check_alg("none", &allowed).is_ok());
    let payload = b64(&json!({"state": "s"}));
    let jwt = format!("{}.{payload}.", b64(&json!({"alg": "none"})));
    assert_eq!(unsigned_claims(&jwt).unwrap()["state"], "s");
    let signed = format!("{}.{payload}.c2ln", b64(&json!({"alg": "none"})));
    assert!(unsigned_claims(&signed).is_err());
}

#[test]
fn claims_become_parameters() {
    let c = claims(json!({
        "iss": "rp", "aud": "https://id.example.com", "exp": NOW + 60, "iat": NOW,
        "jti": "j", "client_id": "rp", "state": "inside", "max_age": 30,
        "claims": {"userinfo": {"email": null}}, "display": null,
    }));
    let p = object_params(&c, &expect(), true).unwrap();
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("state"), Some("inside"));
    assert_eq!(get("max_age"), Some("30"));
    assert_eq!(get("client_id"), Some("rp"));
    assert_eq!(get("claims"), Some(r#"{"userinfo":{"email":null}}"#));
    for jwt_claim in ["iss", "aud", "exp", "iat", "jti", "display"] {
        assert_eq!(get(jwt_claim), None, "{jwt_claim}");
    }
}

#[test]
fn iss_aud_exp_nbf_and_client_id_are_checked() {
    let ok = json!({"iss": "rp", "aud": ["x", "https://id.example.com"]});
    assert!(object_params(&claims(ok), &expect(), true).is_ok());
    let refused = [
        json!({"aud": "https://id.example.com"}),
        json!({"iss": "other"}),
        json!({"iss": "rp", "aud": "https://evil.example"}),
        json!({"iss": "rp", "aud": 5}),
        json!({"iss": "rp", "exp": NOW}),
        json!({"iss": "rp", "exp": "soon"}),
        json!({"iss": "rp", "nbf": NOW + CLOCK_SKEW + 1}),
        json!({"iss": "rp", "client_id": "other"}),
        json!({"iss": "rp", "request_uri": "https://x"}),
        json!({"iss": "rp", "request": "a.b.c"}),
        json!({"iss": "rp", "scope": ["openid"]}),
    ];
    for c in refused {
        let r = object_params(&claims(c.clone()), &expect(), true);
        assert_eq!(code(r), ErrorCode::InvalidRequestObject, "{c}");
    }
    // An unsigned object need not name its issuer.
    assert!(object_params(&claims(json!({"state": "s"})), &expect(), false).is_ok());
    let many: Map<String, Value> = (0..=MAX_PARAMS)
        .map(|i| (format!("p{i}"), json!("v")))
        .collect();
    assert!(object_params(&many, &expect(), false).is_err());
}

#[test]
fn the_object_wins_and_client_id_response_type_must_match() {
    let query = pairs(&[
        ("client_id", "rp"),
        ("response_type", "code"),
        ("state", "outside"),
        ("redirect_uri", "https://evil.example/cb"),
    ]);
    let object = pairs(&[
        ("state", "inside"),
        ("redirect_uri", "https://rp.example/cb"),
    ]);
    let merged = merge(&query, object).unwrap();
    assert_eq!(
        merged,
        pairs(&[
            ("state", "inside"),
            ("redirect_uri", "https://rp.example/cb"),
            ("client_id", "rp"),
            ("response_type", "code"),
        ])
    );
    let differs = pairs(&[("response_type", "token")]);
    assert_eq!(
        code(merge(&query, differs)),
        ErrorCode::InvalidRequestObject
    );
    let same = pairs(&[("client_id", "rp"), ("response_type", "code")]);
    assert_eq!(merge(&query, same.clone()).unwrap(), same);
}

#[test]
fn registration_metadata_is_validated_and_read_back() {
    let obj = claims(json!({
        "request_uris": ["https://rp.example/req#frag"],
        "request_object_signing_alg": "EdDSA",
        "require_pushed_authorization_requests": true,
    }));
    let m = client_metadata(&obj, false).unwrap();
    let policy = ClientPolicy::of(Some(&Value::Object(m)));
    assert_eq!(policy.signing_alg.as_deref(), Some("EdDSA"));
    assert!(policy.require_par);
    assert!(policy.allows_request_uri("https://rp.example/req"));
    assert!(policy.allows_request_uri("https://rp.example/req#other"));
    assert!(!policy.allows_request_uri("https://rp.example/other"));
    assert!(ClientPolicy::of(None).allows_request_uri("https://any.example/x"));
    for bad in [
        json!({"request_uris": ["http://rp.example/req"]}),
        json!({"request_uris": "https://rp.example/req"}),
        json!({"request_uris": [5]}),
        json!({"request_object_signing_alg": "HS256"}),
        json!({"require_pushed_authorization_requests": "yes"}),
    ] {
        let e = client_metadata(&claims(bad.clone()), false).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidClientMetadata, "{bad}");
    }
    let http = claims(json!({"request_uris": ["http://127.0.0.1:9/req"]}));
    assert!(client_metadata(&http, true).is_ok());
}

proptest::proptest! {
    /// Reading any string as a request object answers, never panics.
    #[test]
    fn any_text_is_a_refusal_or_an_object(
        text in ".{0,200}",
        parts in proptest::collection::vec("[A-Za-z0-9_=-]{0,40}", 0..6),
    ) {
        for s in [text, parts.join(".")] {
            let _ = object_alg(&s);
            let _ = unsigned_claims(&s);
        }
    }
}
