//! Membership changes at runtime through the CLI: a fourth node started
//! with the initial members' list is added (learner, catch-up, voter) and
//! removed again, each call sent to a follower.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Cluster, RaftOpts};

fn voters(s: &Value) -> Vec<u64> {
    s["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "voter")
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_is_added_and_removed_through_the_cli() {
    let mut c = Cluster::start_with(
        4,
        RaftOpts {
            initial_members: Some(3),
            ..Default::default()
        },
    )
    .await;
    c.seed().await;
    c.spawn(4);
    // Not a member yet: not ready.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!c.is_ready(4).await);

    let leader = c.leader(1).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let n4 = c.node(4);
    let (http, rpc) = (n4.http.clone(), n4.rpc.clone());
    let (code, _, err) = c.cli_on(
        follower,
        &[
            "cluster",
            "add-node",
            "--id",
            "4",
            "--http-addr",
            &http,
            "--rpc-addr",
            &rpc,
        ],
        None,
    );
    assert_eq!(code, 0, "add-node: {err}");
    c.wait_ready(4).await;
    assert_eq!(voters(&c.status_json(2)), vec![1, 2, 3, 4]);
    // The new node has the replicated state and serves sign-in data.
    let user = c
        .node(4)
        .admin()
        .get_user("alice")
        .await
        .expect("alice on the new node");
    assert_eq!(user.username, "alice");

    let (code, _, err) = c.cli_on(follower, &["cluster", "remove-node", "--id", "4"], None);
    assert_eq!(code, 0, "remove-node: {err}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while voters(&c.status_json(1)) != vec![1, 2, 3] {
        assert!(Instant::now() < deadline, "node 4 still a voter");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Removing the last voters is refused with a clear message.
    let (code, _, err) = c.cli_on(1, &["cluster", "remove-node", "--id", "9"], None);
    assert_ne!(code, 0);
    assert!(err.contains("not a voter"), "{err}");
    // The cluster still writes with its three voters.
    c.node(2).admin().get_user("alice").await.unwrap();
}
