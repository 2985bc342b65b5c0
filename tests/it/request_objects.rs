//! Request objects (OIDC Core §6, RFC 9101) and pushed authorization
//! requests (RFC 9126) against three-node clusters.
//!
//! * A request object signed with the client's registered key is honoured
//!   and its parameters win over the query's (another `state` and `nonce`
//!   inside are what the client gets back); one with a broken signature,
//!   an unsigned one (`alg: none`, off by default) and one from a
//!   `request_uri` the client did not register are refused with the OIDC
//!   error at the registered redirect URI. A registered `request_uri`,
//!   served by a loopback server (the test turns on `[outbound]
//!   allow_private_targets`), is fetched and honoured.
//! * A request pushed to `/par` on node 1 completes a sign-in through node 2;
//!   the same `request_uri` is refused on node 3 (single use cluster-wide),
//!   a made-up one is refused on every node without a Raft write,
//!   an expired one is refused, `/par` without client authentication is
//!   refused, a `request` object can be pushed, and a client registered with
//!   `require_pushed_authorization_requests` cannot skip `/par`.

use std::time::Duration;

use serde_json::{json, Map, Value};
use tessera::actors::directory::CreateClient;
use tessera::crypto::jwt;
use tessera::state::FORMAT_VERSION;

use crate::flow::{authorize_url, Browser, Step};
use crate::hardening::settled_log_index;
use crate::harness::wait::until;
use crate::harness::{RaftOpts, REDIRECT};
use crate::rp::{jwt_claims, post_form, redeem, serve_fixed, Answer, Basic, Seeded};
use crate::session::{assert_redirect_error, browse, expect_code, params, sign_in};

const SECRET: &str = "ro-secret-0123456789-0123456789-0123";
const RO: Basic = Some(("ro", SECRET));
const PAR_ONLY: Basic = Some(("par-only", SECRET));
/// Pushed requests live this long in these tests (seconds).
const PAR_LIFETIME: u64 = 4;

async fn cluster() -> Seeded {
    let opts = RaftOpts {
        extra: format!(
            "[outbound]\nallow_private_targets = true\n\
             [oauth]\npushed_request_lifetime_secs = {PAR_LIFETIME}\n"
        ),
        ..Default::default()
    };
    let s = Seeded::start_with(3, opts, Duration::from_secs(20)).await;
    // Pushed requests are format-2 commands: proposed once each node has
    // seen every member report format 2 (members are polled every few s).
    for id in 1..=3 {
        let what = format!("node {id} to see format {FORMAT_VERSION} on every member");
        until(&what, Duration::from_secs(30), async || {
            s.c.status(id).await.cluster_format >= FORMAT_VERSION
        })
        .await;
    }
    s
}

/// A first-party confidential client `id` (secret [`SECRET`]) with its
/// public key and extra registration metadata.
async fn create_client(s: &Seeded, id: &str, public: Option<&Value>, metadata: Value) {
    s.c.node(1)
        .admin()
        .create_client(&CreateClient {
            client_id: id.into(),
            secret: Some(SECRET.into()),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into()],
            first_party: true,
            jwks: public.map(|k| json!({ "keys": [k] })),
            metadata: Some(metadata),
            ..Default::default()
        })
        .await
        .expect("create client");
}

/// The claims of an authorization request from `ro`, signed by `private`.
fn object_claims(s: &Seeded, state: &str, nonce: &str) -> Map<String, Value> {
    let now = tessera::clock::now();
    json!({
        "iss": "ro", "aud": s.on(1), "exp": now + 300, "iat": now,
        "client_id": "ro", "response_type": "code", "redirect_uri": REDIRECT,
        "scope": "openid email", "state": state, "nonce": nonce,
    })
    .as_object()
    .unwrap()
    .clone()
}

fn signed(private: &Value, claims: Map<String, Value>) -> String {
    jwt::sign_with_jwk("ES256", private, claims).unwrap()
}

/// The authorize query that carries a request object (or its URI) in
/// `name`, with its own `state` that the object overrides.
fn carrying<'a>(name: &'a str, value: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut p = params("ro", "openid", "outside");
    p.push((name, value));
    p
}

/// Redeem `code` for `basic` on `base`; the ID token's claims.
async fn id_token_claims(s: &Seeded, base: &str, basic: Basic<'_>, code: &str) -> Value {
    let tokens = redeem(&s.http, base, basic, code, None).await.tokens();
    jwt_claims(tokens.id_token.as_deref().expect("an ID token"))
}

/// POST `form` to `/par` on `base`.
async fn push(s: &Seeded, base: &str, basic: Basic<'_>, form: &[(&str, &str)]) -> Answer {
    post_form(&s.http, base, "/par", basic, form).await
}

/// The `request_uri` of a successful push.
#[track_caller]
fn pushed_uri(a: &Answer) -> String {
    assert_eq!(a.status, 201, "{}: {}", a.what, a.body);
    let v = a.json();
    assert_eq!(v["expires_in"], PAR_LIFETIME, "{}", a.body);
    assert_eq!(a.header("cache-control"), Some("no-store"));
    let uri = v["request_uri"].as_str().expect("request_uri").to_string();
    assert!(
        uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{uri}"
    );
    uri
}

/// A 400 page naming `error`: no redirect without a registered redirect URI.
#[track_caller]
fn error_page(what: &str, step: &Step, error: &str) {
    match step {
        Step::Page { status: 400, body } if body.contains(error) => {}
        other => panic!("{what}: expected a 400 page with {error}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_request_objects_are_honoured_by_value_and_by_registered_reference() {
    let s = cluster().await;
    let (private, public) = jwt::generate("ES256", "ro-key").unwrap();
    let object = signed(&private, object_claims(&s, "by-reference", "n-ref"));
    let (port, hits) = serve_fixed(String::new(), object).await;
    let registered = format!("http://127.0.0.1:{port}/req.jwt");
    create_client(
        &s,
        "ro",
        Some(&public),
        json!({ "request_uris": [registered] }),
    )
    .await;
    let browser = Browser::new();

    // By value on node 2, signed in on node 3: the object's state and nonce win.
    let jwt = signed(&private, object_claims(&s, "inside", "n-inside"));
    let back = sign_in(&browser, s.on(2), s.on(3), &carrying("request", &jwt)).await;
    let code = expect_code("request object", &back, "inside");
    let claims = id_token_claims(&s, s.on(1), RO, &code).await;
    assert_eq!(claims["nonce"], "n-inside", "{claims}");

    // Broken signature, unsigned: invalid_request_object at the redirect URI.
    let mut tampered = jwt.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let header = b64_json(&json!({"alg": "none"}));
    let payload = b64_json(&Value::Object(object_claims(&s, "inside", "n")));
    let unsigned = format!("{header}.{payload}.");
    for (what, bad) in [("tampered", tampered), ("alg none", unsigned)] {
        let step = browse(
            &browser,
            &authorize_url(s.on(1), &carrying("request", &bad)),
        )
        .await;
        assert_redirect_error(what, &step, "invalid_request_object", Some("outside"));
    }

    // By reference: the registered URI is fetched; another one never is.
    let url = authorize_url(s.on(3), &carrying("request_uri", &registered));
    let code = expect_code(&url, &browse(&browser, &url).await, "by-reference");
    let claims = id_token_claims(&s, s.on(2), RO, &code).await;
    assert_eq!(claims["nonce"], "n-ref", "{claims}");
    let fetched = hits.load(std::sync::atomic::Ordering::SeqCst);
    let other = format!("http://127.0.0.1:{port}/other.jwt");
    let step = browse(
        &browser,
        &authorize_url(s.on(1), &carrying("request_uri", &other)),
    )
    .await;
    assert_redirect_error(
        "unregistered",
        &step,
        "invalid_request_uri",
        Some("outside"),
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), fetched);

    // Discovery says what works.
    let d = crate::rp::get(&s.http, s.on(2), "/.well-known/openid-configuration")
        .await
        .ok();
    assert_eq!(d["request_parameter_supported"], true);
    assert_eq!(d["request_uri_parameter_supported"], true);
    assert_eq!(
        d["request_object_signing_alg_values_supported"],
        json!(["RS256", "ES256", "EdDSA"])
    );
    assert_eq!(
        d["pushed_authorization_request_endpoint"],
        format!("{}/par", s.on(1))
    );
    assert_eq!(d["require_pushed_authorization_requests"], false);
}

fn b64_json(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_request_is_used_once_cluster_wide_and_only_while_fresh() {
    let s = cluster().await;
    let (private, public) = jwt::generate("ES256", "ro-key").unwrap();
    create_client(&s, "ro", Some(&public), json!({})).await;
    let requires = json!({ "require_pushed_authorization_requests": true });
    create_client(&s, "par-only", None, requires).await;
    let form = |state| {
        let mut p = params("ro", "openid", state);
        p.push(("nonce", "n-par"));
        p
    };

    // Pushed on node 1, used on node 2 (sign-in on node 2).
    let uri = pushed_uri(&push(&s, s.on(1), RO, &form("pushed")).await);
    let by_ref = [("client_id", "ro"), ("request_uri", uri.as_str())];
    let browser = Browser::new();
    let back = sign_in(&browser, s.on(2), s.on(2), &by_ref).await;
    let code = expect_code("pushed request", &back, "pushed");
    let claims = id_token_claims(&s, s.on(3), RO, &code).await;
    assert_eq!(claims["nonce"], "n-par", "{claims}");
    // Used once: refused on node 3, and on node 2 again.
    for n in [3, 2] {
        let step = browse(&browser, &authorize_url(s.on(n), &by_ref)).await;
        error_page(&format!("replay on node {n}"), &step, "invalid_request_uri");
    }
    // A made-up request_uri is refused without a Raft write. (The leader's
    // sweep of the pushed request above, once it expires, may commit an
    // entry meanwhile: such a round is tried again.)
    let swept = async || {
        let mut total = 0.0;
        for id in 1..=3 {
            total += s.c.metric(id, "tessera_state_swept_records_total").await;
        }
        total
    };
    for round in 1.. {
        let (before, swept_before) = (settled_log_index(&s.c).await, swept().await);
        for n in 1..=3 {
            let made_up = format!(
                "urn:ietf:params:oauth:request_uri:{}",
                tessera::crypto::random_secret()
            );
            let p = [("client_id", "ro"), ("request_uri", made_up.as_str())];
            let step = browse(&browser, &authorize_url(s.on(n), &p)).await;
            error_page("made-up request_uri", &step, "invalid_request_uri");
        }
        let after = settled_log_index(&s.c).await;
        if after != before && swept().await != swept_before && round < 3 {
            continue;
        }
        assert_eq!(after, before, "an unknown URN committed an entry");
        break;
    }

    // A request object can be pushed; its parameters are the request.
    let jwt = signed(&private, object_claims(&s, "pushed-object", "n-obj"));
    let a = push(&s, s.on(3), RO, &[("client_id", "ro"), ("request", &jwt)]).await;
    let uri = pushed_uri(&a);
    let url = authorize_url(s.on(1), &[("client_id", "ro"), ("request_uri", &uri)]);
    let code = expect_code(&url, &browse(&browser, &url).await, "pushed-object");
    let claims = id_token_claims(&s, s.on(1), RO, &code).await;
    assert_eq!(claims["nonce"], "n-obj", "{claims}");

    // Expired: refused.
    let uri = pushed_uri(&push(&s, s.on(2), RO, &form("late")).await);
    tokio::time::sleep(Duration::from_secs(PAR_LIFETIME + 1)).await;
    let late = [("client_id", "ro"), ("request_uri", uri.as_str())];
    let step = browse(&browser, &authorize_url(s.on(1), &late)).await;
    error_page("expired", &step, "invalid_request_uri");

    // Without client authentication, or with a bad pushed request: refused.
    push(&s, s.on(1), None, &form("x")).await.invalid_client();
    let mut bad = form("x");
    bad.push(("request_uri", "https://rp.example/r"));
    push(&s, s.on(1), RO, &bad)
        .await
        .oauth_error(400, "invalid_request");
    let wrong_redirect = [
        ("client_id", "ro"),
        ("response_type", "code"),
        ("redirect_uri", "https://evil.example/cb"),
        ("scope", "openid"),
    ];
    push(&s, s.on(1), RO, &wrong_redirect)
        .await
        .oauth_error(400, "invalid_request");

    // A client that requires PAR cannot skip it, and can use it.
    let direct = params("par-only", "openid", "direct");
    let step = browse(&browser, &authorize_url(s.on(3), &direct)).await;
    assert_redirect_error("PAR required", &step, "invalid_request", Some("direct"));
    let uri = pushed_uri(&push(&s, s.on(3), PAR_ONLY, &direct).await);
    let url = authorize_url(s.on(3), &[("client_id", "par-only"), ("request_uri", &uri)]);
    expect_code(&url, &browse(&browser, &url).await, "direct");
}
