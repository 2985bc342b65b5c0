//! `/metrics` on every node's cluster port of a three-node cluster:
//! Prometheus text with the Raft, OIDC, HTTP, storage and process metrics,
//! and exactly one leader.

use crate::harness::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_exports_metrics_and_exactly_one_reports_leading() {
    let c = Cluster::start(3).await;
    c.seed().await;
    // Some traffic so the OIDC counters move.
    let res = c
        .http
        .post(format!("{}/token", c.node(2).http_url()))
        .basic_auth("demo", Some("demo-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let mut leaders = Vec::new();
    let mut leader_ids = Vec::new();
    for id in 1..=3u64 {
        let res = c
            .http
            .get(format!("{}/metrics", c.node(id).rpc_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        let text = res.text().await.unwrap();
        for name in [
            "tessera_raft_term",
            "tessera_raft_leader_id",
            "tessera_raft_is_leader",
            "tessera_raft_last_log_index",
            "tessera_raft_last_applied_index",
            "tessera_raft_apply_lag_entries",
            "tessera_raft_proposals_total",
            "tessera_raft_commit_duration_seconds_bucket",
            "tessera_raft_apply_duration_seconds_bucket",
            "tessera_raft_leader_changes_total",
            "tessera_http_requests_total",
            "tessera_http_request_duration_seconds_bucket",
            "tessera_storage_size_bytes",
            "tessera_storage_fsync_duration_seconds_bucket",
            "tessera_keys_age_seconds",
            "tessera_oidc_refreshes_total",
            "tessera_build_info",
            "process_resident_memory_bytes",
            "process_open_fds",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(name)),
                "node {id} lacks {name}"
            );
        }
        if c.metric(id, "tessera_raft_is_leader").await == 1.0 {
            leaders.push(id);
        }
        leader_ids.push(c.metric(id, "tessera_raft_leader_id").await as u64);
    }
    assert_eq!(
        leaders.len(),
        1,
        "exactly one node must report leading: {leaders:?}"
    );
    assert!(
        leader_ids.iter().all(|l| *l == leaders[0]),
        "every node names the same leader: {leader_ids:?}"
    );
    // The leader reports replication lag for both followers.
    let text = c.metrics_text(leaders[0]).await;
    let lag_lines = text
        .lines()
        .filter(|l| l.starts_with("tessera_raft_replication_lag_entries{"))
        .count();
    assert_eq!(lag_lines, 2, "{text}");
    let issued = text
        .lines()
        .any(|l| l.starts_with("tessera_oidc_tokens_issued_total{"))
        || c.metric(2, "tessera_oidc_tokens_issued_total").await > 0.0;
    assert!(issued);
}
