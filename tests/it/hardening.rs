//! Hardening against unauthenticated load and bad admin input, on
//! three-node clusters: `/metrics` is not on the public port and made-up
//! HTTP methods create no metric series (issue 10 #7); random codes,
//! refresh tokens and revocations commit no Raft entry (#6); the
//! poison-pill admin call of #9 and raw commands with the same content fail
//! cleanly while the cluster keeps committing writes (docs/ARCHITECTURE.md
//! invariant 8); `/end_session` with a redirect but no session and no hint
//! asks before redirecting; an `https` issuer gets HSTS.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tessera::actors::directory::CreateUser;

use crate::harness::{Cluster, RaftOpts, ADMIN, ALICE, SECRET};
use crate::rp::{self, get, urlencode, Seeded, DEMO, LOGGED_OUT};

/// The series of `tessera_http_requests_total` node `id` exports.
async fn http_series(c: &Cluster, id: u64) -> BTreeSet<String> {
    let text = c.metrics_text(id).await;
    text.lines()
        .filter(|l| l.starts_with("tessera_http_requests_total{"))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_string()))
        .collect()
}

/// Make every node's issuer `https` (nodes still listen on plain http).
fn https_issuer(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.replace("issuer = \"http://", "issuer = \"https://");
            std::fs::write(&path, text).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_leave_the_public_port_and_methods_make_no_new_series() {
    let opts = RaftOpts {
        before_start: Some(https_issuer),
        ..RaftOpts::default()
    };
    let c = Cluster::start_with(3, opts).await;
    for id in 1..=3 {
        let url = format!("{}/metrics", c.node(id).http_url());
        let res = c.http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 404, "GET {url}");
        // The cluster port has them (metrics_text asserts the 200).
        assert!(c.metrics_text(id).await.contains("tessera_raft_term"));
    }
    let base = c.node(1).http_url();
    let health = c.http.get(format!("{base}/healthz")).send().await.unwrap();
    let hsts = health.headers().get("strict-transport-security");
    assert_eq!(
        hsts.and_then(|v| v.to_str().ok()),
        Some("max-age=31536000"),
        "an https issuer gets HSTS"
    );

    let odd = |i: u32| {
        let name = format!("X{}{i}", rand::random::<u32>());
        reqwest::Method::from_bytes(name.as_bytes()).unwrap()
    };
    let paths = ["/token", "/healthz", "/no-such-path", "/authorize"];
    let send = async |i: u32| {
        let url = format!("{base}{}", paths[i as usize % paths.len()]);
        let res = c.http.request(odd(i), url).send().await.unwrap();
        assert_ne!(res.status(), 500);
    };
    // One round creates the `other` series for each path; then 50 requests
    // with new random methods add none.
    for i in 0..paths.len() as u32 {
        send(i).await;
    }
    let before = http_series(&c, 1).await;
    for i in 0..50 {
        send(i).await;
    }
    let after = http_series(&c, 1).await;
    let new: Vec<_> = after.difference(&before).collect();
    assert!(new.is_empty(), "new series: {new:?}");
    assert!(
        after
            .iter()
            .any(|s| s.contains("method=\"other\"") && s.contains("route=\"unmatched\"")),
        "{after:?}"
    );
}

/// The leader's last log index, once every node has applied it.
pub(crate) async fn settled_log_index(c: &Cluster) -> u64 {
    let leader = c.leader(1).await;
    let mut last = 0.0;
    crate::harness::wait::until(
        "every node to apply the log",
        Duration::from_secs(20),
        async || {
            last = c.metric(leader, "tessera_raft_last_log_index").await;
            let mut all = true;
            for id in 1..=3 {
                all &= c.metric(id, "tessera_raft_last_applied_index").await == last;
            }
            all
        },
    )
    .await;
    last as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_codes_refresh_tokens_and_revocations_commit_nothing() {
    let fx = Seeded::start(3, Duration::from_secs(20)).await;
    // A 64 KiB body of 11,000 distinct pairs (issue 10 #2) is refused by the
    // parameter cap before any pair is decoded or compared, on every
    // form endpoint; it commits nothing either.
    let base36 = |mut i: u32| {
        let mut name = Vec::new();
        loop {
            name.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(i % 36) as usize]);
            i /= 36;
            if i == 0 {
                break String::from_utf8(name).unwrap();
            }
        }
    };
    let many: Vec<u8> = (0..11_000)
        .map(|i| format!("{}=", base36(i)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes();
    assert!(many.len() <= 64 * 1024, "{} bytes", many.len());
    for path in ["/token", "/introspect", "/revoke"] {
        let url = format!("{}{path}", fx.on(1));
        let form = "application/x-www-form-urlencoded";
        let a = rp::post_raw(&fx.http, &url, form, many.clone(), DEMO).await;
        a.oauth_error(400, "invalid_request");
        assert!(a.body.contains("too many parameters"), "{}", a.body);
    }
    // The leader names a new cluster with one write of its own, once every
    // member reports format 2: let that happen before counting.
    crate::bootstrap::cluster_id(&fx.c, 1).await;
    let before = settled_log_index(&fx.c).await;
    for i in 0..200u64 {
        let base = fx.on(i % 3 + 1);
        let junk = format!("{:032x}", rand::random::<u128>());
        // Every other code looks sealed (a compact A256GCM JWE): it must not
        // open, and commit nothing either.
        let sealed = format!(
            "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..{}.{junk}.{}",
            &junk[..16],
            &junk[..22]
        );
        match i % 3 {
            0 => {
                let code = if i % 2 == 0 { &sealed } else { &junk };
                rp::redeem(&fx.http, base, DEMO, code, None)
                    .await
                    .oauth_error(400, "invalid_grant")
            }
            1 => rp::refresh(&fx.http, base, DEMO, &junk)
                .await
                .oauth_error(400, "invalid_grant"),
            _ => {
                // RFC 7009 §2.2: an unknown token is answered with 200.
                let a = rp::revoke(&fx.http, base, DEMO, &junk).await;
                assert_eq!(a.status, 200, "{}: {}", a.what, a.body);
            }
        }
    }
    let after = settled_log_index(&fx.c).await;
    assert_eq!(
        after, before,
        "random codes and tokens committed log entries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poison_pill_fails_cleanly_and_writes_continue() {
    let c = Cluster::seeded(3).await;
    let admin = c.node(1).admin();
    let sub = admin.get_user(ALICE.0).await.unwrap().sub;
    let http = reqwest::Client::new();
    // The call of issue 10 #9, on the admin port of every node.
    for id in 1..=3 {
        let url = format!("{}/admin/users/sub%2F{sub}/claims", c.node(id).rpc_url());
        let res = http
            .patch(&url)
            .bearer_auth(ADMIN)
            .json(&json!({"given_name": "X"}))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!((400..500).contains(&status), "PATCH {url}: {status}");
    }
    // Odd usernames through the CLI: refused, never a halted cluster.
    let pill = format!("sub/{sub}");
    for odd in [pill.as_str(), "..", "a b", "", "ä"] {
        let args = [
            "users",
            "set-claims",
            "--username",
            odd,
            "--claim",
            "given_name=X",
        ];
        let (code, out, err) = c.cli_on(2, &args, None);
        assert_ne!(code, 0, "set-claims {odd:?}: {out} {err}");
    }
    // The same content as raw commands, past every edge check: `apply`
    // answers an error result and the cluster goes on.
    let leader = c.leader(1).await;
    let proposal = json!({"v": 1, "commands": [
        {"cmd": "set_user_claims", "username": pill, "claims": {"given_name": "X"}},
        {"cmd": "set_user_claims", "username": "", "claims": {"given_name": "X"}},
        {"cmd": "create_user", "user": {"v": 1, "sub": sub, "username": pill,
            "password_hash": "x", "created_at": 0}},
    ]});
    let res = http
        .post(format!("{}/cluster/write", c.node(leader).rpc_url()))
        .header("x-tessera-cluster-secret", SECRET)
        .json(&proposal)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Applied"), "{body}");

    // Writes still commit, and every node serves them.
    let user = CreateUser {
        username: "bob".into(),
        password: "bob-password-123".into(),
        ..Default::default()
    };
    admin.create_user(&user).await.expect("create bob");
    for id in 1..=3 {
        assert!(c.is_ready(id).await, "node {id} is not ready");
        let got = c.node(id).admin().get_user("bob").await;
        assert_eq!(got.map(|u| u.username).ok().as_deref(), Some("bob"));
        let alice = c.node(id).admin().get_user(ALICE.0).await.unwrap();
        assert_ne!(alice.claims.get("given_name"), Some(&json!("X")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_session_without_session_or_hint_asks_before_redirecting() {
    let fx = Seeded::start(3, Duration::from_secs(20)).await;
    let path = format!(
        "/end_session?client_id=demo&post_logout_redirect_uri={}&state=s",
        urlencode(LOGGED_OUT)
    );
    let a = get(&fx.http, fx.on(2), &path).await;
    assert_eq!(a.status, 200, "{}: {}", a.what, a.body);
    assert!(a.header("location").is_none(), "{:?}", a.headers);
    assert!(a.body.contains("/end_session/confirm"), "{}", a.body);
}
