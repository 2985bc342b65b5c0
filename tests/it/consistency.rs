//! Consistent validation and termination across a three-node cluster
//! (issue 4, "What it must show"; DESIGN.md invariant 2).
//!
//! * A token revoked on node A is inactive on B and C at once — access
//!   tokens by `jti`, refresh tokens with their whole family and the access
//!   tokens issued from it — in a loop of many tokens with no sleeps.
//! * A node cut off from any quorum answers 503, never a stale `active`; a
//!   follower that missed a revocation while stopped catches up (read-index)
//!   before it answers.
//! * A session ended on node A is ended on every node: `prompt=none` on B
//!   answers `login_required`; its session-bound access tokens die on C.
//!
//! The helpers here (an [`Answer`] that refuses a 500, token issuance
//! through a cookie-keeping browser) are shared with `registration.rs`.

use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use serde_json::Value;

use crate::flow::{authorize_url, hidden, pkce, Browser, Step};
use crate::harness::{Cluster, ALICE, REDIRECT};

// ---------------------------------------------------------------------------
// Helpers: every response goes through one of these, which refuse a 500.

/// A response read in full.
#[derive(Debug)]
pub(crate) struct Answer {
    pub what: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub async fn read(what: String, res: reqwest::Result<Response>) -> Answer {
        let res = res.unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        assert_ne!(status, 500, "{what}: 500 Internal Server Error: {body}");
        Answer {
            what,
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {}", self.what, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A 200 JSON answer.
    #[track_caller]
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "{}: {}", self.what, self.body);
        self.json()
    }

    /// An RFC 6749 §5.2 / RFC 7591 §3.2.2 JSON error with this status and code.
    #[track_caller]
    pub fn oauth_error(&self, status: u16, error: &str) {
        let got = serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from));
        assert_eq!(
            (self.status, got.as_deref()),
            (status, Some(error)),
            "{}: {}",
            self.what,
            self.body
        );
    }

    /// 401 `invalid_client` with a `WWW-Authenticate` challenge (RFC 6749 §5.2).
    #[track_caller]
    pub fn invalid_client(&self) {
        self.oauth_error(401, "invalid_client");
        assert!(
            self.header("www-authenticate").is_some(),
            "{}: invalid_client without WWW-Authenticate",
            self.what
        );
    }

    /// 200 and exactly `{"active": false}` (RFC 7662 §2.2).
    #[track_caller]
    pub fn inactive(&self) {
        assert_eq!(
            (self.status, self.json()),
            (200, serde_json::json!({"active": false})),
            "{}: a dead token must be reported inactive",
            self.what
        );
    }

    /// 200 with `active: true`; the body.
    #[track_caller]
    pub fn active(&self) -> Value {
        let v = self.ok();
        assert_eq!(v["active"], true, "{}: expected active: {v}", self.what);
        v
    }
}

/// A client that keeps no cookies and follows no redirects.
pub(crate) fn raw_client(timeout: Duration) -> Client {
    Client::builder()
        .redirect(Policy::none())
        .timeout(timeout)
        .build()
        .unwrap()
}

/// A browser step, refused if it is a 500.
pub(crate) fn checked(what: &str, step: Step) -> Step {
    let status = match &step {
        Step::Page { status, .. } | Step::Redirect { status, .. } => *status,
    };
    assert_ne!(status, 500, "{what}: 500 Internal Server Error: {step:?}");
    step
}

pub(crate) type Basic<'a> = Option<(&'a str, &'a str)>;
pub(crate) const DEMO: Basic = Some(("demo", "demo-secret"));
pub(crate) const RP: Basic = Some(("rp", "rp-secret-123"));
pub(crate) const LOGGED_OUT: &str = "http://127.0.0.1:8765/logged-out";

/// POST a form to `{base}{path}`, with HTTP Basic client authentication if
/// `basic` is given.
pub(crate) async fn post_form(
    http: &Client,
    base: &str,
    path: &str,
    basic: Basic<'_>,
    form: &[(&str, &str)],
) -> Answer {
    let mut req = http.post(format!("{base}{path}")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let shown: Vec<(&str, String)> = form
        .iter()
        .map(|(k, v)| (*k, v.chars().take(24).collect()))
        .collect();
    let what = format!("POST {base}{path} (basic {basic:?}) {shown:?}");
    Answer::read(what, req.send().await).await
}

pub(crate) async fn introspect(http: &Client, base: &str, basic: Basic<'_>, token: &str) -> Answer {
    post_form(http, base, "/introspect", basic, &[("token", token)]).await
}

pub(crate) async fn revoke(http: &Client, base: &str, basic: Basic<'_>, token: &str) -> Answer {
    post_form(http, base, "/revoke", basic, &[("token", token)]).await
}

pub(crate) async fn refresh(http: &Client, base: &str, basic: Basic<'_>, token: &str) -> Answer {
    post_form(
        http,
        base,
        "/token",
        basic,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

pub(crate) async fn userinfo(http: &Client, base: &str, token: &str) -> Answer {
    let req = http.get(format!("{base}/userinfo")).bearer_auth(token);
    Answer::read(format!("GET {base}/userinfo"), req.send().await).await
}

/// What `/token` answered for a code.
#[derive(Debug, Clone)]
pub(crate) struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub id_token: Option<String>,
}

impl Tokens {
    fn of(v: &Value) -> Tokens {
        Tokens {
            access: v["access_token"].as_str().expect("access_token").into(),
            refresh: v["refresh_token"].as_str().map(String::from),
            id_token: v["id_token"].as_str().map(String::from),
        }
    }
    pub fn refresh(&self) -> &str {
        self.refresh.as_deref().expect("a refresh token")
    }
}

/// The authorize parameters for `client_id` (PKCE S256, `redirect_uri`
/// [`REDIRECT`]) plus `extra`.
pub(crate) fn authorize_params<'a>(
    client_id: &'a str,
    scope: &'a str,
    challenge: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    p.extend_from_slice(extra);
    p
}

/// Sign alice in to `demo` in `browser` (authorize and login on
/// `node_base`); returns the code and its PKCE verifier.
pub(crate) async fn sign_in(browser: &Browser, node_base: &str, scope: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let url = authorize_url(node_base, &authorize_params("demo", scope, &challenge, &[]));
    let login = checked("authorize", browser.get(&url).await);
    assert!(
        login.body().contains("name=\"password\""),
        "login page expected: {login:?}"
    );
    let back = checked(
        "login",
        browser.login(node_base, &login, ALICE.0, ALICE.1).await,
    );
    assert!(back.location().starts_with(REDIRECT), "{back:?}");
    (back.param("code").expect("code after login"), verifier)
}

/// Another code for `demo` from an existing session, authorized on
/// `node_base` without any page.
pub(crate) async fn code_again(
    browser: &Browser,
    node_base: &str,
    scope: &str,
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let url = authorize_url(node_base, &authorize_params("demo", scope, &challenge, &[]));
    let back = checked("authorize with a session", browser.get(&url).await);
    let code = back
        .param("code")
        .unwrap_or_else(|| panic!("a code from the session: {back:?}"));
    (code, verifier)
}

/// Redeem a code at `{base}/token` with Basic authentication.
pub(crate) async fn redeem(
    http: &Client,
    base: &str,
    basic: Basic<'_>,
    code: &str,
    verifier: &str,
) -> Tokens {
    let a = post_form(
        http,
        base,
        "/token",
        basic,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await;
    Tokens::of(&a.ok())
}

/// One more token set for `demo` through `browser`'s session: authorized
/// on `auth_base`, redeemed on `token_base`.
async fn issue(
    browser: &Browser,
    http: &Client,
    auth_base: &str,
    token_base: &str,
    scope: &str,
) -> Tokens {
    let (code, verifier) = code_again(browser, auth_base, scope).await;
    redeem(http, token_base, DEMO, &code, &verifier).await
}

/// The claims of a JWT, unverified.
pub(crate) fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The two nodes other than `a` (in a three-node cluster).
fn others(a: u64) -> (u64, u64) {
    let b = a % 3 + 1;
    (b, b % 3 + 1)
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_on_one_node_is_seen_at_once_on_every_other_node() {
    let started = Instant::now();
    let c = Cluster::start(3).await;
    c.seed().await;
    let urls: Vec<String> = (0..=3)
        .map(|n| {
            if n == 0 {
                String::new()
            } else {
                c.node(n).http_url()
            }
        })
        .collect();
    let on = |n: u64| urls[n as usize].as_str();
    let http = raw_client(Duration::from_secs(15));
    let browser = Browser::new();
    let scope = "openid offline_access";

    let (code, verifier) = sign_in(&browser, on(1), scope).await;
    let first = redeem(&http, on(2), DEMO, &code, &verifier).await;

    // A live access token: every field of RFC 7662 §2.2 the issue lists.
    let at_claims = jwt_claims(&first.access);
    let v = introspect(&http, on(3), DEMO, &first.access).await.active();
    for k in [
        "scope",
        "client_id",
        "username",
        "sub",
        "aud",
        "iss",
        "exp",
        "iat",
        "nbf",
        "jti",
        "token_type",
        "sid",
    ] {
        assert!(
            !v[k].is_null(),
            "introspection of a live access token lacks `{k}`: {v}"
        );
    }
    assert_eq!(v["client_id"], "demo", "{v}");
    assert_eq!(v["username"], ALICE.0, "{v}");
    assert_eq!(v["iss"], on(1), "{v}");
    assert_eq!(v["sub"], at_claims["sub"], "{v}");
    assert_eq!(v["jti"], at_claims["jti"], "{v}");
    assert_eq!(v["sid"], at_claims["sid"], "{v}");
    let scopes: Vec<&str> = v["scope"].as_str().unwrap().split(' ').collect();
    assert!(
        scopes.contains(&"openid") && scopes.contains(&"offline_access"),
        "{v}"
    );
    let (exp, iat) = (v["exp"].as_u64().unwrap(), v["iat"].as_u64().unwrap());
    assert!(exp > now() && iat <= now() + 1 && iat < exp, "{v}");
    assert_eq!(
        v["token_type"].as_str().map(str::to_ascii_lowercase),
        Some("bearer".into()),
        "{v}"
    );
    // A live refresh token, on another node.
    let r = introspect(&http, on(2), DEMO, first.refresh())
        .await
        .active();
    assert_eq!(
        (r["client_id"].as_str(), r["username"].as_str()),
        (Some("demo"), Some(ALICE.0)),
        "{r}"
    );
    assert_eq!(r["sub"], at_claims["sub"], "{r}");
    // Another client's refresh token is not shown to `rp`.
    introspect(&http, on(1), RP, first.refresh())
        .await
        .inactive();

    // `rp` cannot revoke `demo`'s tokens: 200 (RFC 7009 §2.2) and no effect.
    revoke(&http, on(2), RP, &first.access).await.ok();
    revoke(&http, on(3), RP, first.refresh()).await.ok();
    introspect(&http, on(1), DEMO, &first.access).await.active();
    introspect(&http, on(2), DEMO, first.refresh())
        .await
        .active();
    userinfo(&http, on(3), &first.access).await.ok();
    // Unknown tokens: 200, as RFC 7009 §2.2 says.
    for (n, t) in [(1, "no-such-token"), (2, "x"), (3, "a.b.c")] {
        revoke(&http, on(n), DEMO, t).await.ok();
        introspect(&http, on(n), DEMO, t).await.inactive();
    }

    // The loop: revoke on A, then B and C at once, no sleeps.
    let loop_started = Instant::now();
    const ROUNDS: u64 = 42;
    for i in 0..ROUNDS {
        let a = i % 3 + 1;
        let (b, cc) = others(a);
        let t = issue(&browser, &http, on(b), on(cc), scope).await;
        match i % 3 {
            // An access token by `jti`.
            0 => {
                let r = revoke(&http, on(a), DEMO, &t.access).await;
                assert_eq!(r.ok(), serde_json::json!({}), "{}", r.what);
                let (x, y, u) = tokio::join!(
                    introspect(&http, on(b), DEMO, &t.access),
                    introspect(&http, on(cc), DEMO, &t.access),
                    userinfo(&http, on(cc), &t.access),
                );
                x.inactive();
                y.inactive();
                u.oauth_error(401, "invalid_token");
                // The refresh token of the grant is not what was revoked.
                introspect(&http, on(a), DEMO, t.refresh()).await.active();
            }
            // A refresh token: its family and the access token it came with.
            1 => {
                revoke(&http, on(a), DEMO, t.refresh()).await.ok();
                let (g, x, y, z) = tokio::join!(
                    refresh(&http, on(b), DEMO, t.refresh()),
                    introspect(&http, on(cc), DEMO, &t.access),
                    introspect(&http, on(b), DEMO, &t.access),
                    introspect(&http, on(cc), DEMO, t.refresh()),
                );
                g.oauth_error(400, "invalid_grant");
                x.inactive();
                y.inactive();
                z.inactive();
            }
            // A rotated family: revoke the newest refresh token; every
            // access token of the family dies, and both refresh tokens.
            _ => {
                let rotated = Tokens::of(&refresh(&http, on(b), DEMO, t.refresh()).await.ok());
                introspect(&http, on(cc), DEMO, &rotated.access)
                    .await
                    .active();
                revoke(&http, on(a), DEMO, rotated.refresh()).await.ok();
                let (g1, g2, x0, x1, y0, y1) = tokio::join!(
                    refresh(&http, on(cc), DEMO, rotated.refresh()),
                    refresh(&http, on(b), DEMO, t.refresh()),
                    introspect(&http, on(b), DEMO, &t.access),
                    introspect(&http, on(b), DEMO, &rotated.access),
                    introspect(&http, on(cc), DEMO, &t.access),
                    introspect(&http, on(cc), DEMO, &rotated.access),
                );
                g1.oauth_error(400, "invalid_grant");
                g2.oauth_error(400, "invalid_grant");
                for x in [x0, x1, y0, y1] {
                    x.inactive();
                }
                userinfo(&http, on(a), &rotated.access)
                    .await
                    .oauth_error(401, "invalid_token");
            }
        }
    }
    // The first grant was never revoked by anyone allowed to.
    introspect(&http, on(3), DEMO, &first.access).await.active();
    eprintln!(
        "revocation loop: {ROUNDS} rounds in {:?} (test {:?})",
        loop_started.elapsed(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_without_quorum_answers_503_and_a_returning_follower_catches_up() {
    let started = Instant::now();
    let c = Cluster::start(3).await;
    c.seed().await;
    let urls: Vec<String> = (0..=3)
        .map(|n| {
            if n == 0 {
                String::new()
            } else {
                c.node(n).http_url()
            }
        })
        .collect();
    let on = |n: u64| urls[n as usize].as_str();
    let http = raw_client(Duration::from_secs(30));
    let browser = Browser::new();
    let scope = "openid offline_access";
    let (code, verifier) = sign_in(&browser, on(1), scope).await;
    let live = redeem(&http, on(1), DEMO, &code, &verifier).await;
    let doomed = issue(&browser, &http, on(2), on(3), scope).await;

    let leader = c.leader(1).await;
    let (f, lone) = others(leader);
    // The lone node has verified demo's secret and knows the token is live.
    introspect(&http, on(lone), DEMO, &live.access)
        .await
        .active();
    introspect(&http, on(lone), DEMO, live.refresh())
        .await
        .active();

    // Cut `lone` off from any quorum: stop the leader and the other follower.
    c.signal(leader, libc::SIGSTOP);
    c.signal(f, libc::SIGSTOP);
    let cut = Instant::now();
    for (what, res) in [
        (
            "access",
            introspect(&http, on(lone), DEMO, &live.access).await,
        ),
        (
            "refresh",
            introspect(&http, on(lone), DEMO, live.refresh()).await,
        ),
    ] {
        assert_eq!(
            res.status, 503,
            "{what} token introspected on a node without quorum: {} {}",
            res.status, res.body
        );
        assert!(
            !res.body.contains("\"active\""),
            "a 503 must not carry a verdict: {}",
            res.body
        );
    }
    let u = userinfo(&http, on(lone), &live.access).await;
    assert_eq!(u.status, 503, "userinfo without quorum: {}", u.body);
    // A revocation cannot be acknowledged without a quorum.
    let r = revoke(&http, on(lone), DEMO, &doomed.access).await;
    assert_ne!(
        r.status, 200,
        "revoke acknowledged without quorum: {}",
        r.body
    );
    eprintln!("partitioned answers took {:?}", cut.elapsed());

    c.signal(leader, libc::SIGCONT);
    c.signal(f, libc::SIGCONT);
    c.wait_all_ready().await;
    // After it rejoins, the lone node answers again, correctly.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = introspect(&http, on(lone), DEMO, &live.access).await;
        if a.status == 200 {
            a.active();
            break;
        }
        assert_eq!(a.status, 503, "{}", a.body);
        assert!(
            Instant::now() < deadline,
            "node {lone} still answers 503 after rejoining"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The opposite case: a follower misses revocations while stopped and
    // must catch up before its first answer.
    let t_access = issue(&browser, &http, on(1), on(2), scope).await;
    let t_refresh = issue(&browser, &http, on(2), on(3), scope).await;
    let leader = c.leader(lone).await;
    let (f, _) = others(leader);
    introspect(&http, on(f), DEMO, &t_access.access)
        .await
        .active();
    introspect(&http, on(f), DEMO, &t_refresh.access)
        .await
        .active();
    introspect(&http, on(f), DEMO, t_refresh.refresh())
        .await
        .active();
    c.signal(f, libc::SIGSTOP);
    revoke(&http, on(leader), DEMO, &t_access.access).await.ok();
    revoke(&http, on(leader), DEMO, t_refresh.refresh())
        .await
        .ok();
    c.signal(f, libc::SIGCONT);
    let back = Instant::now();
    let (x, y, z, g) = tokio::join!(
        introspect(&http, on(f), DEMO, &t_access.access),
        introspect(&http, on(f), DEMO, &t_refresh.access),
        introspect(&http, on(f), DEMO, t_refresh.refresh()),
        refresh(&http, on(f), DEMO, t_refresh.refresh()),
    );
    eprintln!(
        "first answers of the returning follower took {:?}",
        back.elapsed()
    );
    x.inactive();
    y.inactive();
    z.inactive();
    g.oauth_error(400, "invalid_grant");
    // The token never revoked is still live there.
    introspect(&http, on(f), DEMO, &live.access).await.active();
    eprintln!("partition test took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_ended_on_one_node_is_ended_on_every_node() {
    let started = Instant::now();
    let c = Cluster::start(3).await;
    c.seed().await;
    let urls: Vec<String> = (0..=3)
        .map(|n| {
            if n == 0 {
                String::new()
            } else {
                c.node(n).http_url()
            }
        })
        .collect();
    let on = |n: u64| urls[n as usize].as_str();
    let http = raw_client(Duration::from_secs(15));

    let browser = Browser::new();
    let (code, verifier) = sign_in(&browser, on(1), "openid").await;
    let tokens = redeem(&http, on(2), DEMO, &code, &verifier).await;
    let id_token = tokens.id_token.clone().expect("id_token");
    assert!(jwt_claims(&id_token)["sid"].is_string(), "ID token has sid");
    let cookies = cookie_header(&browser, on(1));
    introspect(&http, on(3), DEMO, &tokens.access)
        .await
        .active();

    // An unregistered post_logout_redirect_uri: a 400 page, no redirect,
    // and the session lives on.
    for url in [
        format!(
            "{}/end_session?client_id=demo&post_logout_redirect_uri={}&state=x",
            on(2),
            urlencode("http://127.0.0.1:8765/elsewhere")
        ),
        format!(
            "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri={}&state=x",
            on(3),
            urlencode("https://evil.example/logged-out")
        ),
    ] {
        match checked(&url, browser.get(&url).await) {
            Step::Page { status, body } => {
                assert_eq!(status, 400, "{url}: {body}");
                assert!(body.contains("<html") || body.contains("<!"), "{body}");
            }
            other => panic!("{url}: an unregistered URI must not be redirected to: {other:?}"),
        }
    }
    let still = silent(&browser, on(3)).await;
    assert!(
        still.param("code").is_some(),
        "session must live: {still:?}"
    );

    // No id_token_hint: a confirmation page, and nothing ended yet.
    let ask_url = format!(
        "{}/end_session?client_id=demo&post_logout_redirect_uri={}&state=s2",
        on(2),
        urlencode(LOGGED_OUT)
    );
    for url in [format!("{}/end_session", on(1)), ask_url] {
        let ask = checked(&url, browser.get(&url).await);
        let body = match &ask {
            Step::Page { status: 200, body } => body.clone(),
            other => panic!("{url}: a confirmation page expected: {other:?}"),
        };
        assert!(
            body.contains("<form") && body.contains("/end_session/confirm"),
            "{body}"
        );
        assert!(hidden(&body, "req").is_some() && hidden(&body, "csrf").is_some());
        let still = silent(&browser, on(3)).await;
        assert!(
            still.param("code").is_some(),
            "an unconfirmed logout ended the session: {still:?}"
        );
    }
    introspect(&http, on(1), DEMO, &tokens.access)
        .await
        .active();

    // "Stay signed in" keeps the session; a forged form is refused.
    let ask = checked("ask", browser.get(&format!("{}/end_session", on(3))).await);
    let form = |decision: &str, csrf: Option<String>| {
        vec![
            ("req".to_string(), hidden(ask.body(), "req").unwrap()),
            (
                "csrf".to_string(),
                csrf.unwrap_or_else(|| hidden(ask.body(), "csrf").unwrap()),
            ),
            ("decision".to_string(), decision.to_string()),
        ]
    };
    let stay = browser
        .http
        .post(format!("{}/end_session/confirm", on(1)))
        .form(&form("stay", None))
        .send()
        .await
        .unwrap();
    assert_eq!(stay.status(), 200);
    let forged = browser
        .http
        .post(format!("{}/end_session/confirm", on(2)))
        .form(&form("logout", Some("forged-csrf-value".into())))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400, "a forged confirmation");
    let still = silent(&browser, on(2)).await;
    assert!(
        still.param("code").is_some(),
        "session must live: {still:?}"
    );

    // A second browser confirms its logout on another node: ended everywhere.
    let other = Browser::new();
    sign_in(&other, on(2), "openid").await;
    let ask = checked("ask", other.get(&format!("{}/end_session", on(2))).await);
    let res = other
        .http
        .post(format!("{}/end_session/confirm", on(3)))
        .form(&[
            ("req", hidden(ask.body(), "req").unwrap()),
            ("csrf", hidden(ask.body(), "csrf").unwrap()),
            ("decision", "logout".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let gone = silent(&other, on(1)).await;
    assert_eq!(
        gone.param("error").as_deref(),
        Some("login_required"),
        "{gone:?}"
    );
    // ...and the first browser's session was not touched.
    let still = silent(&browser, on(1)).await;
    assert!(still.param("code").is_some(), "{still:?}");

    // RP-initiated logout with a valid hint on node A, then at once on B
    // and C: prompt=none → login_required (with the browser's cookies, and
    // with the old cookie replayed, since the logout clears the browser's),
    // and the session-bound access token is dead. The first round uses the
    // browser above; the others sign in afresh, with A rotating.
    let mut session = (browser, tokens, id_token, cookies);
    const ROUNDS: u64 = 12;
    for i in 0..ROUNDS {
        let a = i % 3 + 1;
        let (b, cc) = others(a);
        if i > 0 {
            let browser = Browser::new();
            let (code, verifier) = sign_in(&browser, on(cc), "openid").await;
            let tokens = redeem(&http, on(b), DEMO, &code, &verifier).await;
            let id_token = tokens.id_token.clone().expect("id_token");
            let cookies = cookie_header(&browser, on(a));
            session = (browser, tokens, id_token, cookies);
        }
        let (browser, tokens, id_token, cookies) = &session;
        let state = format!("bye-{i}");
        let url = format!(
            "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri={}&state={state}",
            on(a),
            urlencode(LOGGED_OUT)
        );
        let out = checked(&url, browser.get(&url).await);
        match &out {
            Step::Redirect { status, location } => {
                assert!(matches!(status, 302 | 303), "{out:?}");
                let l = url::Url::parse(location).unwrap();
                assert_eq!(
                    format!("{}://{}{}", l.scheme(), l.authority(), l.path()),
                    LOGGED_OUT
                );
                assert_eq!(out.param("state"), Some(state), "{out:?}");
            }
            other => panic!("a redirect to the registered URI expected: {other:?}"),
        }
        let (sb, rb, rc, x, u) = tokio::join!(
            silent(browser, on(b)),
            silent_with_cookie(&http, on(b), cookies),
            silent_with_cookie(&http, on(cc), cookies),
            introspect(&http, on(cc), DEMO, &tokens.access),
            userinfo(&http, on(b), &tokens.access)
        );
        assert_eq!(
            sb.param("error").as_deref(),
            Some("login_required"),
            "round {i}: {sb:?}"
        );
        for (n, r) in [(b, rb), (cc, rc)] {
            assert!(
                r.contains("error=login_required") && !r.contains("code="),
                "round {i}: the session ended on node {a} still works on node {n}: {r}"
            );
        }
        x.inactive();
        u.oauth_error(401, "invalid_token");
    }
    eprintln!("logout test took {:?}", started.elapsed());
}

/// The `Cookie` header `browser` sends to `base`, with a session.
fn cookie_header(browser: &Browser, base: &str) -> String {
    let url = url::Url::parse(base).unwrap();
    let cookies = reqwest::cookie::CookieStore::cookies(&*browser.jar, &url)
        .expect("session cookies")
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookies.contains("tessera_session="), "{cookies}");
    cookies
}

/// `prompt=none` for `demo` on `base` with a replayed `Cookie` header; the
/// redirect location.
async fn silent_with_cookie(http: &Client, base: &str, cookies: &str) -> String {
    let (_, challenge) = pkce();
    let url = authorize_url(
        base,
        &authorize_params("demo", "openid", &challenge, &[("prompt", "none")]),
    );
    let res = http
        .get(&url)
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_redirection(),
        "prompt=none on {base}: {res:?}"
    );
    res.headers()["location"].to_str().unwrap().to_string()
}

/// `prompt=none` for `demo` on `base` with `browser`'s cookies.
async fn silent(browser: &Browser, base: &str) -> Step {
    let (_, challenge) = pkce();
    let url = authorize_url(
        base,
        &authorize_params("demo", "openid", &challenge, &[("prompt", "none")]),
    );
    checked("prompt=none", browser.get(&url).await)
}

pub(crate) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
