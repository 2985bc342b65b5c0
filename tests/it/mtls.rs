//! Mutual TLS on the cluster port (`[cluster.tls]`, docs/ARCHITECTURE.md
//! invariant 6) and authentication before any body is read.
//!
//! A three-node cluster with certificates from `tessera certs` forms and
//! commits a write made through a follower; a client without a certificate,
//! or with one from another CA, is refused at the handshake even with the
//! right cluster secret, and nothing changes; the CLI works against a TLS
//! node. On a plain cluster, a request with a wrong secret and a large
//! announced body that is never sent gets its 401 at once.

use std::time::Duration;

use tessera::actors::directory::CreateUser;
use tessera::config::ClusterTls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::wait::until;
use crate::harness::{cli, path_str, Cluster, RaftOpts, SECRET};

async fn tls_cluster() -> Cluster {
    let opts = RaftOpts {
        tls: true,
        ..Default::default()
    };
    Cluster::start_with(3, opts).await
}

fn user(name: &str) -> CreateUser {
    CreateUser {
        username: name.into(),
        password: "correct-horse-battery".into(),
        email: None,
        name: None,
        claims: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_cluster_commits_writes_and_refuses_nodes_without_a_cluster_certificate() {
    let c = tls_cluster().await;
    let leader = c.leader(1).await;
    let follower = crate::harness::others(leader).0;
    c.node(follower)
        .admin()
        .create_user(&user("bob"))
        .await
        .expect("a user created through a follower (forwarded over mTLS)");
    for id in 1..=3 {
        until(
            &format!("bob on node {id}"),
            Duration::from_secs(20),
            async || c.node(id).admin().get_user("bob").await.is_ok(),
        )
        .await;
    }

    // Callers that know the cluster secret but hold no certificate of the
    // cluster CA: no certificate at all, and one from another CA.
    let certs = c.dir.path().join("certs");
    let ca = std::fs::read(certs.join("ca.pem")).unwrap();
    let other = c.dir.path().join("other-ca");
    let (code, _, err) = cli(&["certs", "--out", path_str(&other), "--nodes", "1"], None);
    assert_eq!(code, 0, "{err}");
    let read = |f: &str| std::fs::read(other.join(f)).unwrap();
    let foreign = ClusterTls::from_pem(&ca, &read("node1.pem"), &read("node1.key"));
    let no_cert = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
    let foreign = foreign.client(reqwest::Client::builder()).unwrap();
    let write = serde_json::json!({"v": 1, "commands": [{"cmd": "create_user", "user": {
        "v": 1, "sub": "intruder", "username": "mallory", "password_hash": "x", "created_at": 0}}]});
    for (what, client) in [("no certificate", no_cert), ("another CA", foreign)] {
        let client = client.timeout(Duration::from_secs(10)).build().unwrap();
        for id in 1..=3 {
            let res = client
                .post(format!("{}/cluster/write", c.node(id).rpc_url()))
                .header("x-tessera-cluster-secret", SECRET)
                .json(&write)
                .send()
                .await;
            assert!(res.is_err(), "{what}: node {id} answered {res:?}");
        }
    }
    // Plain HTTP to the TLS port gets no HTTP answer either.
    let plain = reqwest::Client::new()
        .post(format!("http://{}/cluster/write", c.node(leader).rpc))
        .header("x-tessera-cluster-secret", SECRET)
        .json(&write)
        .send()
        .await;
    assert!(!plain.is_ok_and(|r| r.status().is_success()));
    for id in 1..=3 {
        let e = c.node(id).admin().get_user("mallory").await.unwrap_err();
        assert_eq!(e.status, Some(404), "a refused write was applied on {id}");
    }

    // The CLI reads the TLS files from --config and speaks https.
    let (code, out, err) = c.cli_on(follower, &["cluster", "status", "--json"], None);
    assert_eq!(code, 0, "cluster status over mTLS: {err}");
    assert!(out.contains("\"leader_id\""), "{out}");
}

/// Sends a request head announcing a large body, sends no body, and
/// returns what the node answers within `within`.
async fn head_only(addr: &str, path: &str, auth: &str, within: Duration) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         {auth}\r\nContent-Length: 200000000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    match tokio::time::timeout(within, s.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Ok(Err(e)) => format!("read error: {e}"),
        Err(_) => "no answer".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_cluster_requests_are_refused_before_their_body() {
    let c = Cluster::start(3).await;
    let rpc = &c.node(1).rpc;
    let wrong = "x-tessera-cluster-secret: wrong-secret-wrong-secret-wrong-secret";
    for (path, auth) in [
        ("/raft/snapshot", wrong),
        ("/raft/append", wrong),
        ("/cluster/write", wrong),
        ("/admin/users", "Authorization: Bearer wrong-token"),
    ] {
        let answer = head_only(rpc, path, auth, Duration::from_secs(3)).await;
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "{path}: expected an immediate 401, got {answer:?}"
        );
    }
}
