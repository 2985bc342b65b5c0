//! Back-channel logout (issue 11, part 3; OpenID Connect Back-Channel
//! Logout 1.0) on real three-node clusters, with a loopback receiver
//! registered as the client's `backchannel_logout_uri` (the operator allows
//! private outbound targets):
//!
//! * alice signs in on node 1 and logs out (RP-initiated) on node 2: the
//!   receiver gets a `logout_token` whose signature verifies against
//!   `/.well-known/jwks.json`, typed `logout+jwt`, with iss, aud, events,
//!   sid and sub and no nonce;
//! * a logout answered by the leader, which is then killed with SIGKILL at
//!   once: the token still arrives, answered only after the kill, so a
//!   surviving node delivered it (the queue is replicated state);
//! * a receiver that answers 500 twice gets retries, then the token, and
//!   the metric counts both; `tessera user logout` ends every session of
//!   the user on every node (`prompt=none` → `login_required`), triggers a
//!   delivery per session, and `tessera user sessions` lists them before;
//! * dynamic registration checks and echoes the metadata, and refresh-token
//!   introspection answers `iat` and `jti`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::flow::{pkce, Browser, Step};
use crate::harness::wait::until;
use crate::harness::{RaftOpts, REDIRECT};
use crate::rp::{get, introspect, jwt_claims, jwt_header, redeem, register, Basic, Seeded, Tokens};
use crate::session::{
    assert_redirect_error, authorize, browse, expect_code, params, pkce_params, sign_in, with,
    STATE,
};

const CLIENT: &str = "bcl-rp";
const SECRET: &str = "bcl-secret-0123456789-0123456789-xyz";
const BASIC: Basic = Some((CLIENT, SECRET));
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A back-channel logout endpoint on loopback. It answers 500 while
/// `closed` or while `fail_next` is above zero (counting it down), else
/// 200, and keeps every `logout_token` with the status it answered.
struct Receiver {
    port: u16,
    closed: Arc<AtomicBool>,
    fail_next: Arc<AtomicUsize>,
    got: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            port: listener.local_addr().unwrap().port(),
            closed: Arc::default(),
            fail_next: Arc::default(),
            got: Arc::default(),
        };
        let (closed, fail_next, got) = (r.closed.clone(), r.fail_next.clone(), r.got.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (closed, fail_next, got) = (closed.clone(), fail_next.clone(), got.clone());
                tokio::spawn(async move {
                    let Some(token) = read_logout_token(&mut stream).await else {
                        return;
                    };
                    let failing = closed.load(Ordering::SeqCst)
                        || fail_next
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                    let status = if failing { 500 } else { 200 };
                    got.lock().unwrap().push((token, status));
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        r
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/bcl", self.port)
    }

    /// The tokens answered with 200.
    fn delivered(&self) -> Vec<String> {
        let got = self.got.lock().unwrap();
        got.iter()
            .filter(|(_, s)| *s == 200)
            .map(|(t, _)| t.clone())
            .collect()
    }

    fn requests(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Wait until a token for session `sid` was delivered; that token.
    async fn delivered_for(&self, sid: &str, within: Duration) -> String {
        let what = format!("a logout token for session {sid}");
        let has = || {
            self.delivered()
                .into_iter()
                .find(|t| jwt_claims(t)["sid"] == sid)
        };
        until(&what, within, async || has().is_some()).await;
        has().unwrap()
    }
}

/// The `logout_token` of one HTTP request (headers, then a form body of
/// `Content-Length` bytes).
async fn read_logout_token(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())?;
            if buf.len() >= end + 4 + len {
                let body = &buf[end + 4..end + 4 + len];
                return url::form_urlencoded::parse(body)
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned());
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A seeded cluster that allows private outbound targets, with open
/// registration, and the client [`CLIENT`] added through the CLI with the
/// receiver as its back-channel logout URI.
async fn fixture(receiver: &Receiver) -> Seeded {
    let opts = RaftOpts {
        registration_open: true,
        extra: "[outbound]\nallow_private_targets = true\n".into(),
        ..Default::default()
    };
    let fx = Seeded::start_with(3, opts, Duration::from_secs(15)).await;
    // Back-channel logout needs format 2 on every member, known through
    // the nodes' polls of one another.
    for n in 1..=3 {
        let what = format!("node {n} to see every member at format 2");
        until(&what, Duration::from_secs(30), async || {
            fx.c.status(n).await.cluster_format >= 2
        })
        .await;
    }
    let uri = receiver.uri();
    let add = |id: &str, uri: &str| {
        let args = [
            "client",
            "add",
            "--id",
            id,
            "--secret",
            SECRET,
            "--redirect-uri",
            REDIRECT,
            "--first-party",
            "--backchannel-logout-uri",
            uri,
            "--backchannel-logout-session-required",
        ];
        fx.c.cli_on(1, &args, None)
    };
    let (code, out, err) = add(CLIENT, &uri);
    assert_eq!(code, 0, "client add: {err}");
    assert!(out.contains(&uri), "{out}");
    let (code, _, err) = add("bcl-bad", "http://rp.example/bcl");
    assert_eq!(code, 1, "http to a non-loopback host is refused: {err}");
    assert!(err.contains("backchannel_logout_uri"), "{err}");
    fx
}

/// Sign alice in to [`CLIENT`] on node `n` in `browser`; the tokens.
async fn signed_in(fx: &Seeded, browser: &Browser, n: u64, scope: &str) -> Tokens {
    let (verifier, challenge) = pkce();
    let p = pkce_params(CLIENT, scope, &challenge);
    let back = sign_in(browser, fx.on(n), fx.on(n), &p).await;
    let code = expect_code("login", &back, STATE);
    redeem(&fx.http, fx.on(n), BASIC, &code, Some(&verifier))
        .await
        .tokens()
}

/// RP-initiated logout on node `n` with the ID token as hint.
async fn logout(fx: &Seeded, browser: &Browser, n: u64, tokens: &Tokens) {
    let hint = tokens.id_token.as_deref().expect("id_token");
    let url = format!("{}/end_session?id_token_hint={hint}", fx.on(n));
    match browse(browser, &url).await {
        Step::Page { status: 200, body } if body.contains("signed out") => {}
        other => panic!("{url}: expected the signed-out page, got {other:?}"),
    }
}

/// Check a logout token against the cluster's published keys and the
/// session it ends (`id_token` of that session).
async fn check_logout_token(fx: &Seeded, n: u64, token: &str, id_token: &str) {
    let jwks = get(&fx.http, fx.on(n), "/.well-known/jwks.json").await.ok();
    let claims = tessera::crypto::jwt::verify_with_jwks(token, &jwks)
        .unwrap_or_else(|e| panic!("the logout token does not verify: {e:?}"));
    let issuer = get(&fx.http, fx.on(n), "/.well-known/openid-configuration")
        .await
        .ok()["issuer"]
        .clone();
    let id = jwt_claims(id_token);
    assert_eq!(jwt_header(token)["typ"], "logout+jwt");
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["aud"], CLIENT);
    assert_eq!(claims["sid"], id["sid"]);
    assert_eq!(claims["sub"], id["sub"]);
    assert_eq!(claims["events"], json!({ EVENT: {} }));
    assert!(!claims.contains_key("nonce"), "{claims:?}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert!(iat < exp && exp - iat <= 120, "{claims:?}");
}

fn sid_of(tokens: &Tokens) -> String {
    let id = tokens.id_token.as_deref().expect("id_token");
    jwt_claims(id)["sid"].as_str().expect("sid").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_tokens_reach_the_client_even_when_the_node_that_answered_dies() {
    let receiver = Receiver::start().await;
    let mut fx = fixture(&receiver).await;

    let browser = Browser::new();
    let tokens = signed_in(&fx, &browser, 1, "openid").await;
    logout(&fx, &browser, 2, &tokens).await;
    let token = receiver
        .delivered_for(&sid_of(&tokens), Duration::from_secs(20))
        .await;
    check_logout_token(&fx, 3, &token, tokens.id_token.as_deref().unwrap()).await;

    // The leader answers the logout and dies at once; the receiver refuses
    // until then, so what it accepts was sent by a surviving node.
    let browser = Browser::new();
    let tokens = signed_in(&fx, &browser, 1, "openid").await;
    let leader = fx.c.leader(1).await;
    receiver.closed.store(true, Ordering::SeqCst);
    logout(&fx, &browser, leader, &tokens).await;
    fx.c.kill(leader);
    let survivor = crate::harness::others(leader).0;
    let new_leader = fx.c.leader(survivor).await;
    assert_ne!(new_leader, leader);
    receiver.closed.store(false, Ordering::SeqCst);
    let token = receiver
        .delivered_for(&sid_of(&tokens), Duration::from_secs(40))
        .await;
    check_logout_token(&fx, survivor, &token, tokens.id_token.as_deref().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_reach_a_failing_client_and_an_admin_logout_ends_every_session() {
    let receiver = Receiver::start().await;
    receiver.fail_next.store(2, Ordering::SeqCst);
    let fx = fixture(&receiver).await;

    // Registration checks and echoes the metadata.
    let body = |uri: &str| {
        json!({"redirect_uris": ["https://rp.example/cb"], "backchannel_logout_uri": uri,
            "backchannel_logout_session_required": true})
    };
    let ok = register(&fx.http, fx.on(2), &body(&receiver.uri())).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(ok.json()["backchannel_logout_uri"], receiver.uri().as_str());
    assert_eq!(ok.json()["backchannel_logout_session_required"], true);
    register(&fx.http, fx.on(2), &body("https://rp.example/bcl#frag"))
        .await
        .oauth_error(400, "invalid_client_metadata");

    // Two sessions; refresh introspection answers iat and jti.
    let (a, b) = (Browser::new(), Browser::new());
    let ta = signed_in(&fx, &a, 2, "openid offline_access").await;
    let tb = signed_in(&fx, &b, 3, "openid").await;
    let seen = introspect(&fx.http, fx.on(3), BASIC, ta.refresh())
        .await
        .active();
    let now = tessera::clock::now();
    assert!(
        seen["iat"]
            .as_u64()
            .is_some_and(|t| t <= now && t + 120 > now),
        "{seen}"
    );
    assert!(
        seen["jti"].as_str().is_some_and(|j| j.len() >= 16),
        "{seen}"
    );

    let (code, out, err) =
        fx.c.cli_on(1, &["user", "sessions", "--username", "alice"], None);
    assert_eq!(code, 0, "{err}");
    for sid in [sid_of(&ta), sid_of(&tb)] {
        let line = out.lines().find(|l| l.contains(&sid));
        assert!(line.is_some_and(|l| l.contains(CLIENT)), "{sid} in {out}");
    }
    let (code, out, err) =
        fx.c.cli_on(2, &["user", "logout", "--username", "alice"], None);
    assert_eq!(code, 0, "{err}");
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (done["sessions"].as_u64(), done["queued"].as_u64()),
        (Some(2), Some(2)),
        "{out}"
    );

    for (browser, n) in [(&a, 1), (&a, 3), (&b, 2), (&b, 3)] {
        let p = with(params(CLIENT, "openid", "pn"), &[("prompt", "none")]);
        let step = authorize(browser, fx.on(n), &p).await;
        assert_redirect_error("prompt=none", &step, "login_required", Some("pn"));
    }
    for t in [&ta, &tb] {
        let token = receiver
            .delivered_for(&sid_of(t), Duration::from_secs(40))
            .await;
        check_logout_token(&fx, 1, &token, t.id_token.as_deref().unwrap()).await;
    }
    assert!(
        receiver.requests() >= 4,
        "two refusals, then two deliveries"
    );
    let leader = fx.c.leader(1).await;
    let metric = |o: &str| format!("tessera_backchannel_logout_total{{outcome=\"{o}\"}}");
    // The leader counts a delivery once it has the receiver's answer, a
    // moment after the receiver has seen the request.
    until(
        "the leader to count two retries and two deliveries",
        Duration::from_secs(10),
        async || {
            fx.c.metric(leader, &metric("retried")).await >= 2.0
                && fx.c.metric(leader, &metric("delivered")).await >= 2.0
        },
    )
    .await;
    let (_, out, _) =
        fx.c.cli_on(3, &["user", "sessions", "--username", "alice"], None);
    assert!(!out.contains(CLIENT), "no session is left: {out}");
}
