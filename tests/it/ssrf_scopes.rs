//! Issue 10 #3, #8 and #10 against three-node clusters.
//!
//! * A `jwks_uri` is fetched without following redirects and, unless the
//!   operator sets `[outbound] allow_private_targets`, never on a loopback
//!   address: the target servers count every TCP connection they accept and
//!   must see none; the token endpoint answers one generic `invalid_client`
//!   for every failure. With the switch on, a `jwks_uri` that answers with
//!   the keys works (the wiring is real), one that redirects does not.
//! * `client_credentials` issues only the scopes a client registered
//!   (`invalid_scope` otherwise); without scope it works for `demo`, as the
//!   benchmark uses it.
//! * Introspection shows an access token only to its own client or to a
//!   client the operator added with `--resource-server`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tessera::actors::directory::CreateClient;
use tessera::crypto::jwt;

use crate::client_auth::assertion;
use crate::harness::RaftOpts;
use crate::rp::{client_credentials, introspect, register, serve_fixed, token, Seeded, DEMO, RP};

/// What the token endpoint says for every `jwks_uri` failure.
const GENERIC: &str = "the client's jwks_uri could not be used";

/// A loopback server serving the JWK Set `jwks` (see [`serve_fixed`]).
async fn jwks_server(redirect_to: String, jwks: Value) -> (u16, Arc<AtomicUsize>) {
    serve_fixed(redirect_to, jwks.to_string()).await
}

/// Register a `private_key_jwt` client_credentials client with this
/// `jwks_uri` (dynamic registration); its id.
async fn register_jwks_uri(s: &Seeded, jwks_uri: &str) -> String {
    let body = json!({
        "redirect_uris": ["https://rp.example/cb"],
        "response_types": [],
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": jwks_uri,
    });
    let a = register(&s.http, s.on(1), &body).await;
    assert_eq!(a.status, 201, "{}: {}", a.what, a.body);
    a.json()["client_id"].as_str().unwrap().to_string()
}

/// `client_credentials` on node `n`, authenticated with an assertion signed
/// by `private`.
async fn token_by_assertion(
    s: &Seeded,
    n: u64,
    private: &Value,
    client_id: &str,
) -> crate::rp::Answer {
    let aud = format!("{}/token", s.on(1));
    let a = assertion(private, client_id, &aud, &tessera::crypto::random_id());
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", a.as_str()),
    ];
    token(&s.http, s.on(n), None, &form).await
}

/// A seeded three-node cluster with open registration and `extra` config.
async fn open_registration(extra: &str) -> Seeded {
    let opts = RaftOpts {
        registration_open: true,
        extra: extra.into(),
        ..Default::default()
    };
    Seeded::start_with(3, opts, Duration::from_secs(20)).await
}

fn assert_generic(a: &crate::rp::Answer) {
    a.invalid_client();
    assert_eq!(a.json()["error_description"], GENERIC, "{}", a.what);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_uri_on_loopback_is_never_fetched_without_the_operator_switch() {
    let s = open_registration("").await;
    let (private, public) = jwt::generate("ES256", "k1").unwrap();
    let (port, hits) = jwks_server(String::new(), json!({"keys": [public]})).await;

    // http is refused at registration; https to a name that resolves to
    // 127.0.0.1 is accepted there but never fetched.
    let http = json!({"redirect_uris": ["https://rp.example/cb"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": format!("http://127.0.0.1:{port}/jwks")});
    register(&s.http, s.on(2), &http)
        .await
        .oauth_error(400, "invalid_client_metadata");
    for uri in [
        format!("https://localhost:{port}/jwks"),
        format!("https://127.0.0.1:{port}/jwks"),
    ] {
        let id = register_jwks_uri(&s, &uri).await;
        for n in 1..=3 {
            let answer = token_by_assertion(&s, n, &private, &id).await;
            let connections = hits.load(Ordering::SeqCst);
            assert_eq!(connections, 0, "{uri} was connected to (node {n})");
            assert_generic(&answer);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_private_targets_allowed_a_jwks_uri_works_but_its_redirects_are_not_followed() {
    let s = open_registration("[outbound]\nallow_private_targets = true\n").await;
    let (private, public) = jwt::generate("ES256", "k1").unwrap();
    let keys = json!({"keys": [public]});
    let (target, target_hits) = jwks_server(String::new(), keys.clone()).await;
    let (first, _) = jwks_server(format!("http://127.0.0.1:{target}/jwks"), keys).await;

    let redirected = register_jwks_uri(&s, &format!("http://127.0.0.1:{first}/redirect")).await;
    for n in 1..=3 {
        assert_generic(&token_by_assertion(&s, n, &private, &redirected).await);
    }
    assert_eq!(
        target_hits.load(Ordering::SeqCst),
        0,
        "a redirect was followed"
    );

    // The same keys served directly: private_key_jwt through jwks_uri works.
    let direct = register_jwks_uri(&s, &format!("http://127.0.0.1:{first}/jwks")).await;
    for n in 1..=3 {
        token_by_assertion(&s, n, &private, &direct).await.tokens();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_scopes_and_introspection_are_scoped_to_the_client() {
    let s = Seeded::start(3, Duration::from_secs(20)).await;
    // Registered scopes and resource servers are format 2.
    s.c.wait_cluster_format(2).await;
    let (http, on) = (&s.http, |n| s.on(n));
    s.c.node(1)
        .admin()
        .create_client(&CreateClient {
            client_id: "svc".into(),
            secret: Some("svc-secret-123-of-at-least-32-chars".into()),
            grant_types: vec!["client_credentials".into()],
            scope: Some(vec!["read".into(), "write".into()]),
            ..Default::default()
        })
        .await
        .expect("create svc");
    let (code, _, err) = s.c.cli_on(
        2,
        &[
            "client",
            "add",
            "--id",
            "api",
            "--secret",
            "api-secret-123-of-at-least-32-chars",
            "--grant-types",
            "client_credentials",
            "--resource-server",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let svc = Some(("svc", "svc-secret-123-of-at-least-32-chars"));
    let api = Some(("api", "api-secret-123-of-at-least-32-chars"));
    let cc = |scope| [("grant_type", "client_credentials"), ("scope", scope)];

    // #8: registered scopes only; none registered means none issued.
    let t = token(http, on(2), svc, &cc("read")).await.ok();
    assert_eq!(t["scope"], "read");
    token(http, on(3), svc, &cc("read admin"))
        .await
        .oauth_error(400, "invalid_scope");
    token(http, on(1), DEMO, &cc("read"))
        .await
        .oauth_error(400, "invalid_scope");
    let demo = client_credentials(http, on(1), DEMO).await.ok();
    let demo_at = demo["access_token"].as_str().unwrap();

    // #10: the owner and the resource server see it; another client does not.
    let v = introspect(http, on(2), DEMO, demo_at).await.active();
    assert_eq!(v["client_id"], "demo");
    introspect(http, on(3), RP, demo_at).await.inactive();
    introspect(http, on(1), svc, demo_at).await.inactive();
    let v = introspect(http, on(3), api, demo_at).await.active();
    assert_eq!(v["client_id"], "demo");
    let svc_at = t["access_token"].as_str().unwrap();
    introspect(http, on(1), DEMO, svc_at).await.inactive();
    introspect(http, on(1), svc, svc_at).await.active();
}
