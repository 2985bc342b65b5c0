//! What a relying party sends to the provider over plain HTTP, shared by
//! every test file: `/token` (codes, refresh tokens, client credentials),
//! `/introspect`, `/revoke` and `/userinfo`, each read in full into an
//! [`Answer`] that refuses a 500 (docs/ARCHITECTURE.md invariant 7).
//!
//! The full OpenID Connect relying party (discovery, ID-token validation)
//! is the `openidconnect` crate itself, driven by `signin.rs`; these helpers
//! are for the cases that crate would refuse to send or to read.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::{Cluster, RaftOpts, REDIRECT};

/// The start of most protocol tests: a seeded cluster, each node's base
/// URL, a raw HTTP client and the instant the test began.
pub struct Seeded {
    pub c: Cluster,
    pub http: Client,
    pub started: Instant,
    urls: BTreeMap<u64, String>,
}

impl Seeded {
    /// [`Cluster::seeded`] with `n` nodes; requests time out after `timeout`.
    pub async fn start(n: u64, timeout: Duration) -> Seeded {
        Self::start_with(n, RaftOpts::default(), timeout).await
    }

    pub async fn start_with(n: u64, opts: RaftOpts, timeout: Duration) -> Seeded {
        let started = Instant::now();
        let c = Cluster::start_with(n, opts).await;
        c.seed().await;
        Seeded {
            urls: c.http_urls(),
            c,
            http: raw_client(timeout),
            started,
        }
    }

    /// Node `n`'s base URL.
    pub fn on(&self, n: u64) -> &str {
        &self.urls[&n]
    }
}

/// A response read in full.
#[derive(Debug)]
pub struct Answer {
    pub what: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub async fn read(what: String, res: reqwest::Result<Response>) -> Answer {
        let res = res.unwrap_or_else(|e| panic!("{what}: request failed: {e:?}"));
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

    /// A 200 `/token` answer, as [`Tokens`].
    #[track_caller]
    pub fn tokens(&self) -> Tokens {
        Tokens::of(&self.ok())
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

    /// 401 `invalid_token` with an RFC 6750 challenge naming the error.
    #[track_caller]
    pub fn invalid_token(&self) {
        self.oauth_error(401, "invalid_token");
        let challenge = self.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
            "{}: challenge {challenge:?}",
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

    /// An oversized body is refused with 413 (or 400), never 500.
    #[track_caller]
    pub fn too_large(&self) {
        assert!(
            self.status == 413 || self.status == 400,
            "{}: an oversized body answered {}: {}",
            self.what,
            self.status,
            self.body
        );
    }

    /// 503 without a verdict: what a node cut off from the quorum answers
    /// (docs/ARCHITECTURE.md invariant 2).
    #[track_caller]
    pub fn unavailable(&self) {
        assert_eq!(
            self.status, 503,
            "{}: answered without a quorum: {}",
            self.what, self.body
        );
        assert!(
            !self.body.contains("\"active\""),
            "{}: a 503 must not carry a verdict: {}",
            self.what,
            self.body
        );
    }
}

/// A client that keeps no cookies and follows no redirects. It drops idle
/// connections before the server's keep-alive (5 s) would, so that no
/// request goes out on a connection the server is closing.
pub fn raw_client(timeout: Duration) -> Client {
    Client::builder()
        .redirect(Policy::none())
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .build()
        .unwrap()
}

/// HTTP Basic client credentials, if any.
pub type Basic<'a> = Option<(&'a str, &'a str)>;
/// The first-party confidential client of [`crate::harness::Cluster::seed`].
pub const DEMO: Basic = Some(("demo", "demo-secret"));
/// The third-party confidential client of [`crate::harness::Cluster::seed`].
pub const RP: Basic = Some(("rp", "rp-secret-123-of-at-least-32-chars"));
pub const LOGGED_OUT: &str = "http://127.0.0.1:8765/logged-out";

/// POST a form to `{base}{path}`, with HTTP Basic client authentication if
/// `basic` is given.
pub async fn post_form(
    http: &Client,
    base: &str,
    path: &str,
    basic: Basic<'_>,
    form: &[(&str, &str)],
) -> Answer {
    let (what, req) = form_request(http, &format!("{base}{path}"), basic, form);
    Answer::read(what, req.send().await).await
}

/// The request [`post_form`] sends to `url`, and how to name it.
pub fn form_request(
    http: &Client,
    url: &str,
    basic: Basic<'_>,
    form: &[(&str, &str)],
) -> (String, reqwest::RequestBuilder) {
    let mut req = http.post(url).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let shown: Vec<(&str, String)> = form
        .iter()
        .map(|(k, v)| (*k, v.chars().take(24).collect()))
        .collect();
    (format!("POST {url} (basic {basic:?}) {shown:?}"), req)
}

/// POST a form to `{base}/token`.
pub async fn token(http: &Client, base: &str, basic: Basic<'_>, form: &[(&str, &str)]) -> Answer {
    post_form(http, base, "/token", basic, form).await
}

/// A client_credentials grant at `{base}/token`.
pub async fn client_credentials(http: &Client, base: &str, basic: Basic<'_>) -> Answer {
    token(http, base, basic, &[("grant_type", "client_credentials")]).await
}

/// Redeem a code (issued for [`REDIRECT`]) at `{base}/token`, with its
/// PKCE verifier if there is one.
pub async fn redeem(
    http: &Client,
    base: &str,
    basic: Basic<'_>,
    code: &str,
    verifier: Option<&str>,
) -> Answer {
    token(http, base, basic, &redeem_form(code, verifier)).await
}

/// The `/token` form that redeems `code` (issued for [`REDIRECT`]).
pub fn redeem_form<'a>(code: &'a str, verifier: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    form
}

pub async fn refresh(http: &Client, base: &str, basic: Basic<'_>, token: &str) -> Answer {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    post_form(http, base, "/token", basic, &form).await
}

pub async fn introspect(http: &Client, base: &str, basic: Basic<'_>, token: &str) -> Answer {
    post_form(http, base, "/introspect", basic, &[("token", token)]).await
}

pub async fn revoke(http: &Client, base: &str, basic: Basic<'_>, token: &str) -> Answer {
    post_form(http, base, "/revoke", basic, &[("token", token)]).await
}

/// GET `{base}/userinfo` with an optional bearer token.
pub async fn userinfo(http: &Client, base: &str, bearer: Option<&str>) -> Answer {
    let mut req = http.get(format!("{base}/userinfo"));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let what = format!("GET {base}/userinfo (bearer {})", bearer.is_some());
    Answer::read(what, req.send().await).await
}

/// POST a JSON registration request.
pub async fn register(http: &Client, base: &str, body: &Value) -> Answer {
    let req = http.post(format!("{base}/register")).json(body);
    Answer::read(format!("POST {base}/register {body}"), req.send().await).await
}

/// POST a raw body with a content type.
pub async fn post_raw(
    http: &Client,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
    basic: Basic<'_>,
) -> Answer {
    let mut req = http
        .post(url)
        .header("content-type", content_type)
        .body(body.clone());
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let what = format!(
        "POST {url} ({content_type}, {} bytes: {})",
        body.len(),
        String::from_utf8_lossy(&body[..body.len().min(60)])
    );
    Answer::read(what, req.send().await).await
}

/// GET `{base}{path}`; an [`Answer`].
pub async fn get(http: &Client, base: &str, path: &str) -> Answer {
    let url = format!("{base}{path}");
    Answer::read(format!("GET {url}"), http.get(&url).send().await).await
}

/// What `/token` answered for a code.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub id_token: Option<String>,
}

impl Tokens {
    pub fn of(v: &Value) -> Tokens {
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

/// The header of a JWT, unverified.
pub fn jwt_header(jwt: &str) -> Value {
    jwt_part(jwt, 0)
}

/// The claims of a JWT, unverified.
pub fn jwt_claims(jwt: &str) -> Value {
    jwt_part(jwt, 1)
}

fn jwt_part(jwt: &str, i: usize) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(i).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url JWT part");
    serde_json::from_slice(&bytes).expect("a JSON JWT part")
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A loopback server standing in for a URL a client registers (`jwks_uri`,
/// `request_uri`): `/redirect` answers 302 to `redirect_to`, any other path
/// 200 with `body`. Returns its port and its connection count.
pub async fn serve_fixed(redirect_to: String, body: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            let redirect = buf[..n].starts_with(b"GET /redirect");
            let answer = if redirect {
                format!("HTTP/1.1 302 Found\r\nLocation: {redirect_to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            } else {
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            };
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (port, hits)
}
