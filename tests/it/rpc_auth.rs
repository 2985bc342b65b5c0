//! Cluster RPCs and the admin API refuse callers without the secret, and
//! such a refused call changes nothing.

use serde_json::json;

use crate::harness::{Cluster, SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_without_the_cluster_secret_is_refused_and_changes_nothing() {
    let c = Cluster::start(3).await;
    let leader = c.leader(1).await;
    let before = c.status(leader).await;
    let http = reqwest::Client::new();

    // A vote request for a far higher term would depose the leader if taken.
    let vote = json!({"vote": {"leader_id": {"term": before.term + 100, "node_id": 2}, "committed": false}, "last_log_id": null});
    let user = json!({"v": 1, "commands": [{"cmd": "create_user", "user": {
        "v": 1, "sub": "intruder", "username": "mallory", "password_hash": "x", "created_at": 0}}]});
    for id in 1..=3u64 {
        let base = c.node(id).rpc_url();
        for (path, body) in [
            ("/raft/vote", &vote),
            ("/cluster/write", &user),
            ("/raft/append", &json!({})),
            ("/raft/snapshot", &json!({})),
            ("/cluster/read-index", &json!({})),
            ("/cluster/info", &json!({})),
        ] {
            for secret in [None, Some("wrong-secret-wrong-secret-wrong-secret")] {
                let mut req = http.post(format!("{base}{path}")).json(body);
                if let Some(s) = secret {
                    req = req.header("x-tessera-cluster-secret", s);
                }
                let res = req.send().await.unwrap();
                assert_eq!(res.status(), 401, "{path} on node {id} with {secret:?}");
            }
        }
    }
    let after = c.status(leader).await;
    assert_eq!(after.term, before.term, "a refused vote changed the term");
    assert_eq!(after.leader_id, Some(leader));
    for id in 1..=3 {
        let e = c.node(id).admin().get_user("mallory").await.unwrap_err();
        assert_eq!(
            e.status,
            Some(404),
            "a refused write was applied on node {id}"
        );
    }

    // The right secret is accepted (so the refusals above were about the secret).
    let res = http
        .post(format!("{}/cluster/info", c.node(2).rpc_url()))
        .header("x-tessera-cluster-secret", SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The admin API wants the admin token; the cluster secret is not it.
    for token in [None, Some(SECRET)] {
        let mut req = http.get(format!("{}/admin/cluster/status", c.node(1).rpc_url()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers().contains_key("www-authenticate"));
    }
}
