//! Dynamic client registration across nodes (RFC 7591, RFC 7592, OIDC
//! DCR): the RFC error for bad metadata, never a 500 (docs/ARCHITECTURE.md
//! invariant 7).
//!
//! * A client registered on node 1 signs a user in through nodes 2 and 3 at
//!   once; its registration access token reads it back (RFC 7592) and no
//!   other token does; each invalid-metadata case of RFC 7591 / OIDC DCR is
//!   refused with `invalid_redirect_uri` or `invalid_client_metadata`.
//!
//! Closed registration and bad input on `/introspect`, `/revoke` and
//! `/end_session` are in `bad_input.rs`.

use std::time::Duration;

use reqwest::Client;
use serde_json::{json, Value};

use crate::flow::{pkce, Browser};
use crate::harness::{RaftOpts, REDIRECT};
use crate::rp::{introspect, jwt_claims, post_raw, redeem, register, Answer, Seeded};
use crate::session::{checked, expect_code, pkce_params, sign_in, with, STATE};

/// GET a registration client URI with an optional bearer token.
async fn read_client(http: &Client, uri: &str, token: Option<&str>) -> Answer {
    let mut req = http.get(uri);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Answer::read(format!("GET {uri} (bearer {token:?})"), req.send().await).await
}

/// 401 with a Bearer challenge (RFC 6750 §3).
#[track_caller]
fn unauthorized(a: &Answer) {
    assert_eq!(a.status, 401, "{}: {}", a.what, a.body);
    let challenge = a.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "{}: 401 without a Bearer challenge: {challenge:?}",
        a.what
    );
    assert!(
        !a.body.contains("client_id_issued_at"),
        "{}: a refused read leaked metadata: {}",
        a.what,
        a.body
    );
}

/// Registrations refused with `invalid_redirect_uri`: the whole body.
const BAD_REDIRECT: &[(&str, &str)] = &[
    ("no redirect_uris", r#"{"client_name": "x"}"#),
    ("empty redirect_uris", r#"{"redirect_uris": []}"#),
    (
        "fragment",
        r#"{"redirect_uris": ["https://rp.example/cb#frag"]}"#,
    ),
    (
        "http, not loopback",
        r#"{"redirect_uris": ["http://rp.example/cb"]}"#,
    ),
    ("relative", r#"{"redirect_uris": ["/cb"]}"#),
    ("redirect_uris not strings", r#"{"redirect_uris": [42]}"#),
];

/// Registrations refused with `invalid_client_metadata`: what a valid
/// body gets added.
const BAD_METADATA: &[(&str, &str)] = &[
    ("response_types token", r#"{"response_types": ["token"]}"#),
    (
        "unknown grant type",
        r#"{"grant_types": ["authorization_code", "urn:example:magic"]}"#,
    ),
    ("password grant", r#"{"grant_types": ["password"]}"#),
    (
        "none + client_credentials",
        r#"{"token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "client_credentials"]}"#,
    ),
    (
        "unknown auth method",
        r#"{"token_endpoint_auth_method": "magic"}"#,
    ),
    (
        "private_key_jwt without keys",
        r#"{"token_endpoint_auth_method": "private_key_jwt"}"#,
    ),
    (
        "jwks and jwks_uri",
        r#"{"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}, "jwks_uri": "https://rp.example/jwks"}"#,
    ),
    ("jwks not a set", r#"{"jwks": "keys"}"#),
    (
        "logo_uri ftp",
        r#"{"logo_uri": "ftp://rp.example/logo.png"}"#,
    ),
    ("logo_uri not a URI", r#"{"logo_uri": "not a uri"}"#),
    (
        "policy_uri http",
        r#"{"policy_uri": "http://rp.example/policy"}"#,
    ),
    ("contacts not an array", r#"{"contacts": "ops@rp.example"}"#),
    ("default_max_age negative", r#"{"default_max_age": -1}"#),
    ("default_max_age a string", r#"{"default_max_age": "60"}"#),
    (
        "id_token alg none",
        r#"{"id_token_signed_response_alg": "none"}"#,
    ),
    (
        "id_token alg HS256",
        r#"{"id_token_signed_response_alg": "HS256"}"#,
    ),
    ("client_name not a string", r#"{"client_name": ["x"]}"#),
    (
        "post_logout_redirect_uri with fragment",
        r#"{"post_logout_redirect_uris": ["https://rp.example/bye#x"]}"#,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_registered_on_one_node_signs_in_on_the_others() {
    let open = RaftOpts {
        registration_open: true,
        ..Default::default()
    };
    let fx = Seeded::start_with(3, open, Duration::from_secs(15)).await;
    let (http, on) = (&fx.http, |n: u64| fx.on(n));

    // A valid registration on node 1.
    let meta = json!({
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "Registered RP",
        "contacts": ["ops@rp.example"],
        "post_logout_redirect_uris": ["http://127.0.0.1:8765/bye"],
    });
    let res = register(http, on(1), &meta).await;
    assert_eq!(res.status, 201, "{}", res.body);
    let v = res.json();
    for k in [
        "client_id",
        "client_secret",
        "client_id_issued_at",
        "client_secret_expires_at",
        "registration_access_token",
        "registration_client_uri",
    ] {
        assert!(!v[k].is_null(), "registration response lacks `{k}`: {v}");
    }
    let client_id = v["client_id"].as_str().unwrap().to_string();
    let secret = v["client_secret"].as_str().unwrap().to_string();
    let rat = v["registration_access_token"].as_str().unwrap().to_string();
    let rcu = v["registration_client_uri"].as_str().unwrap().to_string();
    assert_eq!(v["redirect_uris"], json!([REDIRECT]), "{v}");
    assert_eq!(v["client_name"], "Registered RP", "{v}");
    assert!(v["client_id_issued_at"].is_u64(), "{v}");
    assert!(v["client_secret_expires_at"].is_u64(), "{v}");
    assert!(
        rcu.ends_with(&format!("/register/{client_id}")),
        "registration_client_uri {rcu}"
    );
    assert_eq!(
        res.header("cache-control"),
        Some("no-store"),
        "credentials must not be cached"
    );

    // A full sign-in at once with the new client, through nodes 2 and 3.
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let p = with(
        pkce_params(&client_id, "openid profile", &challenge),
        &[("nonce", "n-1")],
    );
    let consent = sign_in(&browser, on(2), on(3), &p).await;
    assert!(
        consent.body().contains("Allow access?"),
        "a registered client is third-party: consent expected: {consent:?}"
    );
    let back = checked("consent", browser.consent(on(2), &consent, true).await);
    let code = expect_code("consent", &back, STATE);
    let creds = Some((client_id.as_str(), secret.as_str()));
    let tokens = redeem(http, on(3), creds, &code, Some(&verifier))
        .await
        .tokens();
    let id_token = tokens.id_token.as_deref().expect("id_token");
    let claims = jwt_claims(id_token);
    let aud_ok = claims["aud"] == json!(client_id)
        || claims["aud"]
            .as_array()
            .is_some_and(|a| a.contains(&json!(client_id)));
    assert!(aud_ok, "ID token audience: {claims}");
    assert_eq!(claims["iss"], on(1), "{claims}");
    assert_eq!(claims["nonce"], "n-1", "{claims}");
    let at = introspect(http, on(1), creds, &tokens.access)
        .await
        .active();
    assert_eq!(at["client_id"], json!(client_id), "{at}");
    // The wrong secret for the new client is refused on any node.
    introspect(http, on(2), Some((&client_id, "wrong")), &tokens.access)
        .await
        .invalid_client();

    // RFC 7592 read, on node 3.
    let rcu3 = rcu.replace(on(1), on(3));
    assert_ne!(rcu3, rcu, "the registration_client_uri names node 1");
    let read = read_client(http, &rcu3, Some(&rat)).await;
    let m = read.ok();
    assert_eq!(m["client_id"], json!(client_id), "{m}");
    assert_eq!(m["redirect_uris"], json!([REDIRECT]), "{m}");
    assert_eq!(m["client_name"], "Registered RP", "{m}");
    assert_eq!(m["contacts"], json!(["ops@rp.example"]), "{m}");
    for g in ["authorization_code", "refresh_token"] {
        assert!(
            m["grant_types"].as_array().unwrap().contains(&json!(g)),
            "{m}"
        );
    }
    // No other token reads it.
    let second = register(
        http,
        on(2),
        &json!({"redirect_uris": ["https://second.example/cb"]}),
    )
    .await;
    assert_eq!(second.status, 201, "{}", second.body);
    let second = second.json();
    let rat2 = second["registration_access_token"].as_str().unwrap();
    let rcu2 = second["registration_client_uri"]
        .as_str()
        .unwrap()
        .replace(on(1), on(2));
    read_client(http, &rcu2, Some(rat2)).await.ok();
    unauthorized(&read_client(http, &rcu3, None).await);
    unauthorized(&read_client(http, &rcu3, Some(rat2)).await);
    unauthorized(&read_client(http, &rcu2, Some(&rat)).await);
    unauthorized(&read_client(http, &rcu3, Some("garbage-token")).await);
    unauthorized(&read_client(http, &rcu3, Some(&secret)).await);
    unauthorized(&read_client(http, &rcu3, Some(&tokens.access)).await);
    unauthorized(
        &read_client(
            http,
            &format!("{}/register/no-such-client", on(3)),
            Some(&rat),
        )
        .await,
    );
    unauthorized(&read_client(http, &format!("{}/register/demo", on(1)), Some(&rat)).await);
    let basic = http
        .get(&rcu3)
        .basic_auth(&client_id, Some(&secret))
        .send()
        .await;
    assert_eq!(
        Answer::read("read with Basic".into(), basic).await.status,
        401
    );

    // Each invalid-metadata case, on alternating nodes.
    let base = |extra: Value| {
        let mut v = json!({"redirect_uris": [REDIRECT]});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    let cases = BAD_REDIRECT
        .iter()
        .map(|(what, body)| (*what, parse(body), "invalid_redirect_uri"))
        .chain(
            BAD_METADATA
                .iter()
                .map(|(what, extra)| (*what, base(parse(extra)), "invalid_client_metadata")),
        )
        .chain([(
            "body not an object",
            json!([REDIRECT]),
            "invalid_client_metadata",
        )]);
    for (i, (what, body, error)) in cases.enumerate() {
        let node = i as u64 % 3 + 1;
        let a = register(http, on(node), &body).await;
        assert_eq!(
            (a.status, a.json()["error"].as_str()),
            (400, Some(error)),
            "{what}: {}",
            a.body
        );
    }
    // Wrong content types, malformed JSON, an oversized body.
    let url = format!("{}/register", on(2));
    let good = serde_json::to_vec(&meta).unwrap();
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        post_raw(http, &url, ct, good.clone(), None)
            .await
            .oauth_error(400, "invalid_request");
    }
    let no_ct = Answer::read(
        "register without content type".into(),
        http.post(&url).body(good.clone()).send().await,
    )
    .await;
    no_ct.oauth_error(400, "invalid_request");
    for bad in [&b"{\"redirect_uris\": ["[..], b"not json", b"", b"\xff\xfe"] {
        let a = post_raw(http, &url, "application/json", bad.to_vec(), None).await;
        assert_eq!(a.status, 400, "{}: {}", a.what, a.body);
        let e = a.json()["error"].as_str().map(String::from);
        assert!(
            matches!(
                e.as_deref(),
                Some("invalid_request" | "invalid_client_metadata")
            ),
            "{}: {}",
            a.what,
            a.body
        );
    }
    let mut big = json!({"redirect_uris": [REDIRECT], "client_name": "x".repeat(1 << 20)});
    register(http, on(3), &big).await.too_large();
    big["client_name"] = json!("Fine");
    // Nothing above registered a client by accident: the valid one still works.
    assert_eq!(register(http, on(3), &big).await.status, 201);
    eprintln!("registration test took {:?}", fx.started.elapsed());
}
