//! Property tests of every parser in `oidc/` that reads untrusted input:
//! form bodies and query strings, space-delimited lists, the `claims`
//! parameter, registration metadata, the authorization request, the token
//! request and PKCE verifiers. Each must return a value or an error for any
//! input, never panic (docs/ARCHITECTURE.md invariant 7); where a natural
//! inverse exists the parser round-trips, and the linear rewrites agree
//! with the obvious quadratic definitions they replace.

use proptest::prelude::*;
use serde_json::{Map, Value};
use url::form_urlencoded;

use super::authorize::{self, AuthorizeError, ClientView, SUPPORTED_SCOPES};
use super::claims::{json_depth, parse_claims_param, MAX_CLAIMS_LEN};
use super::form::{self, Params, MAX_LIST_ITEMS, MAX_PARAMS};
use super::token_request::{self, Grant};
use super::{pkce, registration};

/// Any JSON value, a few levels deep, biased to the shapes parsers expect.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z_]{0,8}".prop_map(Value::from),
        "https://[a-z]{1,5}\\.example/[a-z]{0,4}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Object keys: the member names the parsers look for, or anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "userinfo",
            "id_token",
            "essential",
            "value",
            "values",
            "email",
            "sub",
            "acr",
            "redirect_uris",
            "grant_types",
            "response_types",
            "jwks",
            "jwks_uri",
            "keys",
            "token_endpoint_auth_method",
            "application_type",
            "client_name",
            "contacts",
            "default_max_age",
            "post_logout_redirect_uris",
            "logo_uri",
        ])
        .prop_map(String::from),
        "[a-z_]{1,6}",
    ]
}

/// One of `known`, or any string.
fn known_or_any(known: Vec<&'static str>) -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(known).prop_map(String::from),
        any::<String>(),
    ]
}

/// Request pairs: names an endpoint reads (or any), values that are valid,
/// empty, or anything.
fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = known_or_any(vec![
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "response_mode",
        "prompt",
        "max_age",
        "claims",
        "code_challenge",
        "code_challenge_method",
        "acr_values",
        "ui_locales",
        "request",
        "grant_type",
        "code",
        "code_verifier",
        "refresh_token",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
    ]);
    let value = known_or_any(vec![
        "",
        "c",
        "https://rp.example/cb",
        "code",
        "openid",
        "openid email openid",
        "query",
        "form_post",
        "none login",
        "consent",
        "60",
        "S256",
        "authorization_code",
        "refresh_token",
        "client_credentials",
        token_request::JWT_BEARER,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "{\"id_token\":{\"email\":null}}",
    ]);
    prop::collection::vec((name, value), 0..24)
}

proptest! {
    // 128 cases each keeps the whole file near ten seconds in a debug build.
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn form_bodies_round_trip_and_are_capped(raw in prop::collection::vec(any::<u8>(), 0..512),
                                             ps in prop::collection::vec(("\\PC{0,6}", "\\PC{0,6}"), 0..8),
                                             n in 90..110usize) {
        if let Ok(got) = form::parse_pairs(&raw) {
            prop_assert!(got.len() <= MAX_PARAMS);
        }
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &ps {
            ser.append_pair(k, v);
        }
        prop_assert_eq!(form::parse_pairs(ser.finish().as_bytes()), Ok(ps));
        let body = vec!["k=v"; n].join("&");
        match form::parse_pairs(body.as_bytes()) {
            Ok(got) => prop_assert!(got.len() == n && n <= MAX_PARAMS),
            Err(e) => prop_assert!(n > MAX_PARAMS && e.description.contains("too many")),
        }
    }

    #[test]
    fn first_repeated_agrees_with_the_quadratic_definition(ps in prop::collection::vec(("[a-d]{1,2}", "[xy]{0,1}"), 0..40)) {
        let p = Params::new(&ps);
        let given: Vec<&str> = ps.iter().filter(|(_, v)| !v.is_empty()).map(|(k, _)| k.as_str()).collect();
        let naive = given.iter().copied().find(|k| given.iter().filter(|o| *o == k).count() > 1);
        prop_assert_eq!(p.first_repeated(), naive);
        prop_assert_eq!(p.reject_repeated().is_ok(), naive.is_none());
    }

    #[test]
    fn components_decode_what_the_serializer_encodes(s in any::<String>(), junk in any::<String>()) {
        let encoded: String = form_urlencoded::byte_serialize(s.as_bytes()).collect();
        prop_assert_eq!(form::decode_component(&encoded), s);
        let _ = form::decode_component(&junk);
    }

    #[test]
    fn appended_queries_keep_the_uri(uri in any::<String>(), ps in prop::collection::vec((any::<String>(), any::<String>()), 0..4)) {
        let out = form::append_query(&uri, &ps);
        prop_assert!(out.starts_with(uri.split('#').next().unwrap_or_default()));
    }

    #[test]
    fn lists_are_deduplicated_idempotent_and_capped(s in "[a-c ]{0,200}", junk in any::<String>()) {
        let _ = form::split_list(&junk);
        let words = s.split(' ').filter(|w| !w.is_empty()).count();
        match form::split_list(&s) {
            None => prop_assert!(words > MAX_LIST_ITEMS),
            Some(items) => {
                prop_assert!(words <= MAX_LIST_ITEMS);
                let mut unique = items.clone();
                unique.sort_unstable();
                unique.dedup();
                prop_assert_eq!(unique.len(), items.len());
                prop_assert!(items.iter().all(|i| !i.is_empty() && !i.contains(' ')));
                let joined = items.join(" ");
                prop_assert_eq!(form::split_list(&joined), Some(items.clone()));
            }
        }
    }

    #[test]
    fn claims_parameter_never_panics_and_round_trips(v in json(), junk in any::<String>()) {
        let _ = parse_claims_param(&junk);
        let text = v.to_string();
        if let Ok(c) = parse_claims_param(&text) {
            let again = serde_json::to_string(&c).unwrap();
            if again.len() <= MAX_CLAIMS_LEN {
                prop_assert_eq!(parse_claims_param(&again), Ok(c));
            }
        }
    }

    #[test]
    fn the_depth_scan_agrees_with_the_parsed_value(v in json()) {
        fn depth(v: &Value) -> usize {
            match v {
                Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
                Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
                _ => 0,
            }
        }
        prop_assert_eq!(json_depth(&v.to_string()), depth(&v));
        prop_assert_eq!(json_depth(&serde_json::to_string_pretty(&v).unwrap()), depth(&v));
    }

    #[test]
    fn registration_metadata_never_panics(body in json(), extra in prop::collection::btree_map(key(), json(), 0..8)) {
        let _ = registration::validate(&body);
        let mut obj: Map<String, Value> = extra.into_iter().collect();
        obj.entry("redirect_uris").or_insert(serde_json::json!(["https://rp.example/cb"]));
        if let Ok(r) = registration::validate(&Value::Object(obj)) {
            prop_assert!(!r.redirect_uris.is_empty());
            let native = r.metadata["application_type"] == "native";
            for u in &r.redirect_uris {
                prop_assert!(registration::check_redirect_uri(u, native).is_ok());
            }
            prop_assert!(registration::AUTH_METHODS.contains(&r.token_endpoint_auth_method.as_str()));
        }
    }

    #[test]
    fn authorization_requests_never_panic(mut ps in pairs(), public in any::<bool>(), trusted in any::<bool>()) {
        if trusted {
            ps.push(("client_id".into(), "c".into()));
            ps.push(("redirect_uri".into(), "https://rp.example/cb".into()));
        }
        let uris = vec!["https://rp.example/cb".to_string()];
        let grants = vec!["authorization_code".to_string()];
        let lookup = |id: &str| (id == "c").then_some(ClientView {
            client_id: "c", redirect_uris: &uris, public, grant_types: &grants,
        });
        match authorize::validate(&ps, lookup) {
            Ok(r) => {
                prop_assert!(r.scopes.contains(&"openid".to_string()));
                prop_assert!(r.scopes.iter().all(|s| SUPPORTED_SCOPES.contains(&s.as_str())));
                prop_assert_eq!(r.code_challenge.is_some(), r.code_challenge_method.is_some());
                prop_assert!(!public || r.code_challenge.is_some());
            }
            Err(AuthorizeError::Redirect { redirect_uri, state, error, .. }) => {
                let url = authorize::error_redirect_url(&redirect_uri, &error, state.as_deref(), "https://id.example");
                prop_assert!(url.starts_with("https://rp.example/cb?error="));
            }
            Err(AuthorizeError::Fatal(m)) => prop_assert!(!m.is_empty()),
        }
    }

    #[test]
    fn token_requests_never_panic(ps in pairs(), header in any::<String>(), basic in any::<Vec<u8>>()) {
        let _ = token_request::client_auth(Some(&header), &ps);
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &basic);
        let _ = token_request::client_auth(Some(&format!("Basic {encoded}")), &ps);
        let _ = token_request::unverified_claims(&header);
        match token_request::parse_grant(&ps) {
            Ok(Grant::AuthorizationCode { code_verifier: Some(v), .. }) => {
                prop_assert!(pkce::valid_verifier(&v));
            }
            Ok(Grant::RefreshToken { scope: Some(s), .. } | Grant::ClientCredentials { scope: Some(s) }) => {
                prop_assert!(!s.is_empty() && s.len() <= MAX_LIST_ITEMS);
                prop_assert!(s.iter().all(|t| !t.is_empty() && t.bytes().all(|b| b > b' ' && b != b'"' && b != b'\\' && b < 0x7f)));
            }
            _ => {}
        }
    }

    #[test]
    fn assertion_claims_never_panic(claims in prop::collection::btree_map(key(), json(), 0..8), now in any::<u64>()) {
        let m: Map<String, Value> = claims.into_iter().collect();
        let _ = token_request::check_assertion_claims(&m, "c", "https://id.example/token", "https://id.example", now);
    }

    #[test]
    fn pkce_verifier_syntax(v in "[A-Za-z0-9._~-]{0,140}", junk in any::<String>()) {
        prop_assert_eq!(pkce::valid_verifier(&v), (43..=128).contains(&v.len()));
        prop_assert_eq!(pkce::verify_s256(&v, &pkce::s256(&v)), pkce::valid_verifier(&v));
        prop_assert!(!pkce::valid_verifier(&junk) || junk.is_ascii());
        prop_assert!(pkce::valid_challenge(&pkce::s256(&junk)));
    }
}
