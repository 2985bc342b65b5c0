//! A node that missed more entries than the leader keeps catches up through
//! an installed snapshot.

use std::time::Duration;

use crate::harness::{public_client, Cluster, RaftOpts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_far_behind_catches_up_through_a_snapshot() {
    let mut c = Cluster::start_with(
        3,
        RaftOpts {
            snapshot_logs_since_last: 20,
            max_in_snapshot_log_to_keep: 0,
            ..Default::default()
        },
    )
    .await;
    let leader = c.leader(1).await;
    let behind = (1..=3).find(|id| *id != leader).unwrap();
    c.kill(behind);

    let admin = c.node(leader).admin();
    for i in 0..120 {
        admin
            .create_client(&public_client(&format!("snap-{i}")))
            .await
            .expect("write while a follower is down");
    }
    // Let the leader compact its log past what the stopped node has (it
    // builds the snapshot in the background, a moment after the writes).
    crate::harness::wait::until(
        "a snapshot on the leader",
        Duration::from_secs(10),
        async || c.metric(leader, "tessera_raft_snapshots_built_total").await >= 1.0,
    )
    .await;
    // A snapshot holds every record: only the node's own user may read it.
    let snapshot = c.dir.path().join(format!("data{leader}/snapshot.json"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&snapshot)
            .expect("snapshot.json")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "{}", snapshot.display());

    c.spawn(behind);
    c.wait_ready(behind).await;
    assert!(
        c.metric(behind, "tessera_raft_snapshots_installed_total")
            .await
            >= 1.0,
        "the node caught up without a snapshot; log:\n{}",
        c.log(behind)
    );
    let b = c.node(behind).admin();
    for i in 0..120 {
        b.get_client(&format!("snap-{i}"))
            .await
            .expect("client from the snapshot");
    }
    // And it keeps following after the snapshot.
    admin
        .create_client(&public_client("after-snapshot"))
        .await
        .unwrap();
    b.get_client("after-snapshot").await.unwrap();
}
