//! Behaviour of [`super::Fetcher`] and [`super::JwksCache`] against real HTTP
//! servers on loopback that count the requests they receive.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const GENERIC: &str = "the client's jwks_uri could not be used";

/// A loopback HTTP/1.1 server answering request `n` with `answer(n)`
/// (`None`: accept and never answer).
struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    async fn start(answer: impl Fn(usize) -> Option<Vec<u8>> + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let (count, answer) = (hits.clone(), Arc::new(answer));
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (count, answer) = (count.clone(), answer.clone());
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    match answer(n) {
                        Some(bytes) => {
                            let _ = sock.write_all(&bytes).await;
                            let _ = sock.shutdown().await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(60)).await,
                    }
                });
            }
        });
        Server { addr, hits }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}/jwks", self.addr.port())
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn http(status: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn jwks(kids: &[&str]) -> Vec<u8> {
    let keys: Vec<Value> = kids
        .iter()
        .map(|k| serde_json::json!({"kty": "oct", "kid": k}))
        .collect();
    http(
        "200 OK",
        "",
        serde_json::json!({ "keys": keys }).to_string().as_bytes(),
    )
}

fn settings(allow_private_targets: bool) -> JwksSettings {
    let mut s = JwksSettings::new(allow_private_targets);
    s.fetch.timeout = Duration::from_millis(500);
    s
}

fn cache(allow_private_targets: bool) -> JwksCache {
    JwksCache::new(settings(allow_private_targets)).unwrap()
}

/// The failure had `reason`, and says nothing but the generic text.
fn refused(got: Result<Arc<Value>, FetchError>, reason: Reason) {
    let e = got.expect_err("the fetch should fail");
    assert_eq!(e.reason(), &reason);
    assert_eq!(e.to_string(), GENERIC);
    assert_eq!(format!("{e:?}"), format!("FetchError({GENERIC})"));
}

fn kids(set: &Value) -> Vec<&str> {
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect()
}

#[tokio::test]
async fn a_redirect_to_loopback_is_never_followed() {
    let target = Server::start(|_| Some(jwks(&["a"]))).await;
    let location = format!("location: {}\r\n", target.url("http"));
    let redirector = Server::start(move |_| Some(http("302 Found", &location, b""))).await;
    let c = cache(true);
    refused(
        c.key_set(&redirector.url("http"), None).await,
        Reason::Status(302),
    );
    assert_eq!(redirector.hits(), 1);
    assert_eq!(target.hits(), 0, "the redirect target must never be asked");
}

#[tokio::test]
async fn loopback_literals_are_refused_before_connecting() {
    let s = Server::start(|_| Some(jwks(&["a"]))).await;
    let c = cache(false);
    let p = s.addr.port();
    refused(c.key_set(&s.url("http"), None).await, Reason::Scheme);
    for url in [
        s.url("https"),
        format!("https://[::1]:{p}/"),
        format!("https://[::ffff:127.0.0.1]:{p}/"),
        format!("https://2130706433:{p}/"),
        format!("https://0x7f.1:{p}/"),
        "https://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        refused(c.key_set(&url, None).await, Reason::ForbiddenAddress);
    }
    assert_eq!(s.hits(), 0);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect() {
    let s = Server::start(|_| Some(jwks(&["a"]))).await;
    let c = cache(false);
    let url = format!("https://localhost:{}/jwks", s.addr.port());
    refused(c.key_set(&url, None).await, Reason::ForbiddenAddress);
    assert_eq!(s.hits(), 0);
}

#[tokio::test]
async fn bad_urls_are_refused_without_network() {
    let c = cache(false);
    for (url, reason) in [
        ("http://example.com/jwks", Reason::Scheme),
        ("ftp://example.com/jwks", Reason::Scheme),
        ("https://user:pw@example.com/jwks", Reason::BadUrl),
        ("not a url", Reason::BadUrl),
    ] {
        refused(c.key_set(url, None).await, reason);
    }
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
    refused(c.key_set(&long, None).await, Reason::BadUrl);
    assert_eq!(c.len(), 0, "refused URLs take no cache entry");
}

#[tokio::test]
async fn the_set_is_cached_for_its_ttl_and_an_unknown_kid_refreshes_once() {
    let s = Server::start(|n| {
        Some(if n == 0 {
            jwks(&["a"])
        } else {
            jwks(&["a", "b"])
        })
    })
    .await;
    let c = cache(true);
    let (url, t0) = (s.url("http"), Instant::now());
    let at = |secs| t0 + Duration::from_secs(secs);
    assert_eq!(
        kids(&c.key_set_at(&url, Some("a"), at(0)).await.unwrap()),
        ["a"]
    );
    assert_eq!(
        kids(&c.key_set_at(&url, Some("a"), at(1)).await.unwrap()),
        ["a"]
    );
    assert_eq!(kids(&c.key_set_at(&url, None, at(2)).await.unwrap()), ["a"]);
    assert_eq!(s.hits(), 1, "served from the cache within the TTL");
    // Right after a fetch an unknown kid does not fetch again...
    assert_eq!(
        kids(&c.key_set_at(&url, Some("b"), at(3)).await.unwrap()),
        ["a"]
    );
    assert_eq!(s.hits(), 1);
    // ...once the refresh interval has passed it does, once.
    assert_eq!(
        kids(&c.key_set_at(&url, Some("b"), at(31)).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(s.hits(), 2);
    for (kid, t) in [("b", 32), ("made-up", 33), ("made-up-too", 34), ("x", 60)] {
        c.key_set_at(&url, Some(kid), at(t)).await.unwrap();
    }
    assert_eq!(
        s.hits(),
        2,
        "made-up kids cost at most one fetch per interval"
    );
    c.key_set_at(&url, Some("x"), at(62)).await.unwrap();
    assert_eq!(s.hits(), 3);
    // After the TTL the set is fetched again even for a known kid.
    c.key_set_at(&url, Some("a"), at(62 + 299)).await.unwrap();
    assert_eq!(s.hits(), 3);
    c.key_set_at(&url, Some("a"), at(62 + 300)).await.unwrap();
    assert_eq!(s.hits(), 4);
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let s = Server::start(|_| Some(jwks(&["a"]))).await;
    let c = cache(true);
    let url = s.url("http");
    let all = futures::future::join_all((0..8).map(|_| c.key_set(&url, Some("a")))).await;
    assert!(all.iter().all(|r| r.is_ok()));
    assert_eq!(s.hits(), 1);
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_while_reading() {
    let big = vec![b' '; 70 * 1024];
    let declared = Server::start({
        let big = big.clone();
        move |_| Some(http("200 OK", "", &big))
    })
    .await;
    // No content-length: the body ends when the server closes; only the
    // running count while reading can catch it.
    let streamed = Server::start(move |_| {
        let mut out = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{\"keys\":[]".to_vec();
        out.extend_from_slice(&big);
        Some(out)
    })
    .await;
    let c = cache(true);
    refused(
        c.key_set(&declared.url("http"), None).await,
        Reason::TooLarge,
    );
    refused(
        c.key_set(&streamed.url("http"), None).await,
        Reason::TooLarge,
    );
    assert_eq!((declared.hits(), streamed.hits()), (1, 1));
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let s = Server::start(|_| None).await;
    let c = cache(true);
    let started = Instant::now();
    refused(c.key_set(&s.url("http"), None).await, Reason::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn failures_are_remembered_briefly_and_all_look_alike() {
    let s = Server::start(|n| {
        Some(if n == 0 {
            http("500 Oops", "", b"")
        } else {
            jwks(&["a"])
        })
    })
    .await;
    let not_jwks = Server::start(|_| Some(http("200 OK", "", b"<html>hello</html>"))).await;
    let c = cache(true);
    let (url, t0) = (s.url("http"), Instant::now());
    refused(c.key_set_at(&url, None, t0).await, Reason::Status(500));
    refused(
        c.key_set_at(&url, None, t0 + Duration::from_secs(5)).await,
        Reason::Status(500),
    );
    assert_eq!(s.hits(), 1, "a recent failure is answered from memory");
    let later = t0 + Duration::from_secs(10);
    assert_eq!(kids(&c.key_set_at(&url, None, later).await.unwrap()), ["a"]);
    assert_eq!(s.hits(), 2);
    refused(
        c.key_set(&not_jwks.url("http"), None).await,
        Reason::NotJwks,
    );
    let closed = format!("http://127.0.0.1:{}/jwks", closed_port().await);
    let e = c.key_set(&closed, None).await.unwrap_err();
    assert!(matches!(e.reason(), Reason::Connect(_)), "{:?}", e.reason());
    assert_eq!(e.to_string(), GENERIC);
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn the_cache_holds_at_most_max_entries_urls() {
    let s = Server::start(|_| Some(jwks(&["a"]))).await;
    let c = JwksCache::new(JwksSettings {
        max_entries: 2,
        ..settings(true)
    })
    .unwrap();
    let t0 = Instant::now();
    for (i, path) in ["one", "two", "three"].iter().enumerate() {
        let url = format!("http://127.0.0.1:{}/{path}", s.addr.port());
        c.key_set_at(&url, None, t0 + Duration::from_secs(i as u64))
            .await
            .unwrap();
    }
    assert_eq!(c.len(), 2);
    // "one" was evicted: asking for it fetches again; "three" is still cached.
    let url = |p: &str| format!("http://127.0.0.1:{}/{p}", s.addr.port());
    c.key_set_at(&url("three"), None, t0 + Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(s.hits(), 3);
    c.key_set_at(&url("one"), None, t0 + Duration::from_secs(6))
        .await
        .unwrap();
    assert_eq!(s.hits(), 4);
}

#[test]
fn forbidden_ranges() {
    let forbidden = [
        "0.0.0.0",
        "10.1.2.3",
        "100.64.0.1",
        "100.127.255.255",
        "127.0.0.1",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "192.0.0.8",
        "198.18.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
        "fc00::1",
        "fdff::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "2001:db8::1",
    ];
    let allowed = [
        "1.1.1.1",
        "8.8.8.8",
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.169.0.1",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::",
    ];
    for ip in forbidden {
        assert!(is_forbidden(ip.parse().unwrap()), "{ip} must be refused");
    }
    for ip in allowed {
        assert!(!is_forbidden(ip.parse().unwrap()), "{ip} must be allowed");
    }
}

#[test]
fn header_kid_reads_the_jws_header_only() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = format!("{}.{}.sig", b64(r#"{"alg":"RS256","kid":"k1"}"#), b64("{}"));
    assert_eq!(header_kid(&token).as_deref(), Some("k1"));
    let no_kid = format!("{}.e30.sig", b64(r#"{"alg":"RS256"}"#));
    assert_eq!(header_kid(&no_kid), None);
    for junk in ["", ".", "!!!.x.y", "e30", "bnVsbA.x.y"] {
        assert_eq!(header_kid(junk), None);
    }
}
