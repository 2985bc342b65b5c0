//! DPoP (RFC 9449) on a real three-node cluster: proofs built with josekit
//! as a client would, sent to different nodes.
//!
//! * A proof at `/token` makes a DPoP-bound access token (`cnf.jkt`,
//!   `token_type: DPoP`); `/userinfo` then wants that key's proof with the
//!   DPoP scheme and refuses the token as Bearer, without a proof or with
//!   another key's; introspection shows `cnf`.
//! * A public client's refresh token is bound to the key; a confidential
//!   client's is not.
//! * A proof is accepted once cluster-wide: replayed at another node (or
//!   the same one), at `/token` or `/userinfo`, it is refused.
//! * A node cut off from the majority accepts no proof (503), and the same
//!   proof is accepted at most once after the cluster heals.
//! * Proofs for another URL or method, or too old, are refused; with
//!   `[oauth] dpop_require_nonce`, a proof needs a server nonce, which any
//!   node issues and every node accepts.

use std::time::Duration;

use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, ES256};
use josekit::jwt::{self, JwtPayload};
use reqwest::Client;
use serde_json::{json, Map, Value};

use crate::flow::{pkce, Browser};
use crate::harness::{others, RaftOpts};
use crate::rp::{self, jwt_claims, Answer, Basic, Seeded, DEMO, RP};
use crate::session::{checked, demo_sign_in, expect_code, pkce_params, sign_in, STATE};

/// A client's DPoP key pair.
struct Key {
    private: Jwk,
    public: Map<String, Value>,
}

impl Key {
    fn new() -> Key {
        let private = Jwk::generate_ec_key(EcCurve::P256).unwrap();
        let public = private.to_public_key().unwrap().as_ref().clone();
        Key { private, public }
    }

    /// The RFC 7638 thumbprint (`cnf.jkt` of tokens bound to this key).
    fn jkt(&self) -> String {
        tessera::oidc::dpop::thumbprint(&self.public).unwrap()
    }

    /// A proof for `htm` `htu`, issued now, with these extra claims.
    fn proof(&self, htm: &str, htu: &str, extra: Value) -> String {
        self.proof_at(htm, htu, tessera::clock::now(), extra)
    }

    fn proof_at(&self, htm: &str, htu: &str, iat: u64, extra: Value) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("dpop+jwt");
        header
            .set_claim("jwk", Some(Value::Object(self.public.clone())))
            .unwrap();
        let mut claims = json!({
            "jti": tessera::crypto::random_id(),
            "htm": htm,
            "htu": htu,
            "iat": iat,
        });
        if let (Value::Object(c), Value::Object(e)) = (&mut claims, extra) {
            c.extend(e);
        }
        let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        let signer = ES256.signer_from_jwk(&self.private).unwrap();
        jwt::encode_with_signer(&payload, &header, &signer).unwrap()
    }

    /// A proof for `/userinfo` (GET) presenting `token`.
    fn userinfo_proof(&self, htu: &str, token: &str) -> String {
        let ath = tessera::crypto::s256(token);
        self.proof("GET", htu, json!({ "ath": ath }))
    }
}

/// POST `form` to `{base}/token` with a `DPoP` header.
async fn token(
    http: &Client,
    base: &str,
    basic: Basic<'_>,
    form: &[(&str, &str)],
    proof: &str,
) -> Answer {
    let (what, req) = rp::form_request(http, &format!("{base}/token"), basic, form);
    Answer::read(
        format!("{what} with DPoP"),
        req.header("DPoP", proof).send().await,
    )
    .await
}

/// GET `{base}/userinfo` with `Authorization: <scheme> <token>` and a proof.
async fn userinfo(
    http: &Client,
    base: &str,
    scheme: &str,
    token: &str,
    proof: Option<&str>,
) -> Answer {
    let mut req = http
        .get(format!("{base}/userinfo"))
        .header("Authorization", format!("{scheme} {token}"));
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    let what = format!("GET {base}/userinfo ({scheme}, proof {})", proof.is_some());
    Answer::read(what, req.send().await).await
}

/// A 401 with a DPoP challenge naming `error`, and a fresh nonce.
#[track_caller]
fn dpop_refusal(a: &Answer, error: &str) {
    a.oauth_error(401, error);
    let challenge = a.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains(&format!("error=\"{error}\"")),
        "{}: challenge {challenge:?}",
        a.what
    );
    assert!(
        a.header("dpop-nonce").is_some(),
        "{}: no DPoP-Nonce",
        a.what
    );
}

/// A code for the public client `spa` (`openid offline_access`), signed in
/// and consented on `base`; the code and its PKCE verifier.
async fn spa_code(base: &str) -> (String, String) {
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let p = pkce_params("spa", "openid offline_access", &challenge);
    let consent = sign_in(&browser, base, base, &p).await;
    let back = checked("consent", browser.consent(base, &consent, true).await);
    (expect_code("consent", &back, STATE), verifier)
}

#[tokio::test(flavor = "multi_thread")]
async fn dpop_binds_tokens_to_the_key_and_each_proof_works_once_cluster_wide() {
    let s = Seeded::start(3, Duration::from_secs(15)).await;
    s.c.wait_format(2).await;
    let (http, on) = (&s.http, |n| s.on(n));
    let token_url = format!("{}/token", on(1)); // the issuer is node 1's URL
    let userinfo_url = format!("{}/userinfo", on(1));
    let (a, b) = (Key::new(), Key::new());

    let disco = rp::get(http, on(2), "/.well-known/openid-configuration")
        .await
        .ok();
    assert_eq!(
        disco["dpop_signing_alg_values_supported"],
        json!(["ES256", "RS256", "EdDSA"])
    );

    // The public client's code, redeemed on node 2 with a proof by key a.
    let (code, verifier) = spa_code(on(1)).await;
    let mut form = rp::redeem_form(&code, Some(&verifier));
    form.push(("client_id", "spa"));
    let redeemed = token(
        http,
        on(2),
        None,
        &form,
        &a.proof("POST", &token_url, json!({})),
    )
    .await;
    let t = redeemed.ok();
    assert_eq!(t["token_type"], "DPoP");
    assert!(
        redeemed.header("dpop-nonce").is_some(),
        "a DPoP answer carries a nonce"
    );
    let at = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_claims(&at)["cnf"], json!({ "jkt": a.jkt() }));
    let rt = t["refresh_token"]
        .as_str()
        .expect("offline_access")
        .to_string();

    // /userinfo on node 3 with a's proof; the same proof again on node 1
    // and on node 3 is a replay.
    let proof = a.userinfo_proof(&userinfo_url, &at);
    let ok = userinfo(http, on(3), "DPoP", &at, Some(&proof)).await;
    assert!(ok.ok()["sub"].is_string());
    assert!(ok.header("dpop-nonce").is_some());
    for n in [1, 3] {
        dpop_refusal(
            &userinfo(http, on(n), "DPoP", &at, Some(&proof)).await,
            "invalid_dpop_proof",
        );
    }
    // Another key, no proof, Bearer: refused.
    let other = b.userinfo_proof(&userinfo_url, &at);
    dpop_refusal(
        &userinfo(http, on(2), "DPoP", &at, Some(&other)).await,
        "invalid_token",
    );
    dpop_refusal(
        &userinfo(http, on(2), "DPoP", &at, None).await,
        "invalid_dpop_proof",
    );
    dpop_refusal(
        &userinfo(http, on(2), "Bearer", &at, None).await,
        "invalid_token",
    );
    // A proof for another token (ath) is refused too.
    let wrong_ath = a.userinfo_proof(&userinfo_url, "another-token");
    dpop_refusal(
        &userinfo(http, on(2), "DPoP", &at, Some(&wrong_ath)).await,
        "invalid_dpop_proof",
    );

    // The public client's refresh token is bound to key a.
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &rt),
        ("client_id", "spa"),
    ];
    let no_proof = rp::post_form(http, on(3), "/token", None, &refresh_form).await;
    no_proof.oauth_error(400, "invalid_dpop_proof");
    let by_b = token(
        http,
        on(3),
        None,
        &refresh_form,
        &b.proof("POST", &token_url, json!({})),
    )
    .await;
    by_b.oauth_error(400, "invalid_grant");
    let by_a = a.proof("POST", &token_url, json!({}));
    let refreshed = token(http, on(3), None, &refresh_form, &by_a).await.ok();
    assert_eq!(refreshed["token_type"], "DPoP");
    let at2 = refreshed["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(at2)["cnf"]["jkt"], a.jkt());
    // The same /token proof with the next refresh token, on another node
    // and on the same one: a replay.
    let rt2 = refreshed["refresh_token"].as_str().unwrap();
    let next = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt2),
        ("client_id", "spa"),
    ];
    for n in [1, 3] {
        token(http, on(n), None, &next, &by_a)
            .await
            .oauth_error(400, "invalid_dpop_proof");
    }
    let fresh = token(
        http,
        on(1),
        None,
        &next,
        &a.proof("POST", &token_url, json!({})),
    )
    .await;
    assert_eq!(
        fresh.ok()["token_type"],
        "DPoP",
        "the refresh token was not spent by the replays"
    );

    // Wrong htu, wrong htm, old iat: refused before anything else.
    let now = tessera::clock::now();
    for bad in [
        a.proof("POST", &format!("{}/token", on(2)), json!({})),
        a.proof("POST", &userinfo_url, json!({})),
        a.proof("GET", &token_url, json!({})),
        a.proof_at("POST", &token_url, now - 600, json!({})),
    ] {
        let form = [("grant_type", "client_credentials")];
        token(http, on(2), RP, &form, &bad)
            .await
            .oauth_error(400, "invalid_dpop_proof");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confidential_clients_refresh_token_is_unbound_and_introspection_shows_cnf() {
    let s = Seeded::start(3, Duration::from_secs(15)).await;
    s.c.wait_format(2).await;
    let (http, on) = (&s.http, |n| s.on(n));
    let token_url = format!("{}/token", on(1));
    let key = Key::new();
    let browser = Browser::new();
    let (code, verifier) = demo_sign_in(&browser, on(1), "openid offline_access").await;
    let form = rp::redeem_form(&code, Some(&verifier));
    let t = token(
        http,
        on(2),
        DEMO,
        &form,
        &key.proof("POST", &token_url, json!({})),
    )
    .await
    .ok();
    let at = t["access_token"].as_str().unwrap();
    let seen = rp::introspect(http, on(3), DEMO, at).await.active();
    assert_eq!(seen["token_type"], "DPoP");
    assert_eq!(seen["cnf"], json!({ "jkt": key.jkt() }));
    // No proof needed to refresh; the new access token is then a Bearer one.
    let plain = rp::refresh(http, on(3), DEMO, t["refresh_token"].as_str().unwrap())
        .await
        .ok();
    assert_eq!(plain["token_type"], "Bearer");
    let bearer_at = plain["access_token"].as_str().unwrap();
    assert!(jwt_claims(bearer_at).get("cnf").is_none());
    assert_eq!(
        rp::introspect(http, on(1), DEMO, bearer_at).await.active()["token_type"],
        "Bearer"
    );
    assert!(rp::userinfo(http, on(2), Some(bearer_at)).await.ok()["sub"].is_string());

    // A node cut off from the majority accepts no proof (503); once the
    // cluster is whole again, that proof is accepted at most once.
    let form = [("grant_type", "client_credentials")];
    client_credentials_with_proof(&s, &key, &token_url).await;
    let leader = s.c.leader(1).await;
    let (f, lone) = others(leader);
    let proof = key.proof("POST", &token_url, json!({}));
    s.c.signal(leader, libc::SIGSTOP);
    s.c.signal(f, libc::SIGSTOP);
    let cut = token(http, on(lone), DEMO, &form, &proof).await;
    s.c.signal(leader, libc::SIGCONT);
    s.c.signal(f, libc::SIGCONT);
    assert_eq!(cut.status, 503, "accepted without a quorum: {}", cut.body);
    s.c.wait_all_ready().await;
    let mut accepted = 0;
    for n in [lone, leader, f] {
        let a = token(http, on(n), DEMO, &form, &proof).await;
        match a.status {
            200 => accepted += 1,
            _ => a.oauth_error(400, "invalid_dpop_proof"),
        }
    }
    assert!(accepted <= 1, "one proof accepted {accepted} times");
}

/// A `client_credentials` token for `demo` bound to `key`, on every node
/// (each then knows demo's secret and holds the client).
async fn client_credentials_with_proof(s: &Seeded, key: &Key, token_url: &str) {
    for n in 1..=3 {
        let form = [("grant_type", "client_credentials")];
        let proof = key.proof("POST", token_url, json!({}));
        let t = token(&s.http, s.on(n), DEMO, &form, &proof).await.ok();
        assert_eq!(
            jwt_claims(t["access_token"].as_str().unwrap())["cnf"]["jkt"],
            key.jkt()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_nonces_required_a_proof_needs_one_any_node_issued() {
    let opts = RaftOpts {
        extra: "[oauth]\ndpop_require_nonce = true\n".into(),
        ..Default::default()
    };
    let s = Seeded::start_with(3, opts, Duration::from_secs(15)).await;
    s.c.wait_format(2).await;
    let (http, on) = (&s.http, |n| s.on(n));
    let token_url = format!("{}/token", on(1));
    let key = Key::new();
    let form = [("grant_type", "client_credentials")];
    let first = token(
        http,
        on(1),
        RP,
        &form,
        &key.proof("POST", &token_url, json!({})),
    )
    .await;
    first.oauth_error(400, "use_dpop_nonce");
    let nonce = first
        .header("dpop-nonce")
        .expect("a nonce to use")
        .to_string();
    let stale = key.proof("POST", &token_url, json!({ "nonce": "not-a-nonce" }));
    token(http, on(2), RP, &form, &stale)
        .await
        .oauth_error(400, "use_dpop_nonce");
    // Node 1's nonce works on node 2, once per proof.
    let proof = key.proof("POST", &token_url, json!({ "nonce": nonce }));
    let ok = token(http, on(2), RP, &form, &proof).await;
    let t = ok.ok();
    assert_eq!(t["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(t["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt()
    );
    assert!(ok.header("dpop-nonce").is_some());
    token(http, on(3), RP, &form, &proof)
        .await
        .oauth_error(400, "invalid_dpop_proof");
    // Without a DPoP header, client_credentials is unaffected.
    assert_eq!(
        rp::client_credentials(http, on(3), RP).await.ok()["token_type"],
        "Bearer"
    );
}
