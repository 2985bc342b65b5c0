//! TLS on the public listener (`[http] tls_cert` / `tls_key`).
//!
//! A node with a certificate from `tessera certs` serves discovery over
//! https, with HSTS. Its certificate files are replaced by ones from another
//! CA and the node gets SIGHUP: new connections see the new certificate
//! (a client trusting only the old CA is refused at the handshake), while a
//! connection kept alive from before goes on working. A bad file at reload
//! is logged and the served certificate kept; the same bad file at start is
//! a configuration error naming `http.tls_cert`, exit 2.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{cli, make_certs, path_str, public_ca, Cluster, RaftOpts};

/// A client that trusts only the CA in `dir`; `pool` keeps connections.
fn trusting(dir: &Path, pool: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(public_ca(dir))
        .timeout(Duration::from_secs(10));
    if !pool {
        b = b.pool_max_idle_per_host(0);
    }
    b.build().unwrap()
}

async fn discovery(http: &reqwest::Client, base: &str) -> reqwest::Result<reqwest::Response> {
    let url = format!("{base}/.well-known/openid-configuration");
    http.get(url).send().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_tls_serves_https_and_reloads_its_certificate_on_sighup() {
    let opts = RaftOpts {
        public_tls: true,
        ..Default::default()
    };
    let c = Cluster::start_with(1, opts).await;
    let base = c.node(1).http_url();
    assert!(base.starts_with("https://"), "{base}");
    let (old_ca, new_ca) = (c.dir.path().join("public"), c.dir.path().join("public2"));
    make_certs(&new_ca, 1);

    let kept = trusting(&old_ca, true);
    let res = discovery(&kept, &base).await.expect("discovery over https");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().contains_key("strict-transport-security"),
        "HSTS over TLS: {:?}",
        res.headers()
    );
    let meta: serde_json::Value = res.json().await.unwrap();
    assert_eq!(meta["issuer"], base.as_str());

    for f in ["node1.pem", "node1.key"] {
        std::fs::copy(new_ca.join(f), old_ca.join(f)).unwrap();
    }
    c.signal(1, libc::SIGHUP);
    // Until new handshakes get the new certificate, keep the old connection
    // busy (the server closes it after 5 s idle).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let old = discovery(&kept, &base).await;
        let status = old.map(|r| r.status().as_u16());
        assert_eq!(status.ok(), Some(200), "the kept-alive connection");
        if discovery(&trusting(&new_ca, false), &base).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no new certificate: {}",
            c.log(1)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = discovery(&trusting(&old_ca, false), &base).await;
    assert!(
        refused.is_err(),
        "a new connection must see the new certificate"
    );
    let old = discovery(&kept, &base)
        .await
        .expect("the kept-alive connection works on");
    assert_eq!(old.status(), 200);

    // A bad file at reload: logged, the served certificate kept.
    let cert = old_ca.join("node1.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    c.signal(1, libc::SIGHUP);
    crate::harness::wait::until(
        "the reload error in the log",
        Duration::from_secs(10),
        async || c.log(1).contains("kept the old TLS certificate"),
    )
    .await;
    let still = discovery(&trusting(&new_ca, false), &base).await;
    assert_eq!(still.expect("still served").status(), 200);

    // The same file at start: a configuration error, exit 2.
    let config = path_str(&c.node(1).config);
    let (code, _, err) = cli(&["serve", "--config", config], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(": http.tls_cert: "), "{err}");
    assert!(err.contains(path_str(&cert)), "{err}");
}
