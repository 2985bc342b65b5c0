//! No accidental second cluster (issue 9): a node with empty data never
//! initializes a cluster unless started with `--bootstrap`, so wiping the
//! bootstrap node's data and restarting it alone leaves it waiting, and it
//! rejoins with all the data once its peers are back. Every member learns
//! the cluster id (a cluster upgraded from 0.1.0 data too), and the cluster
//! port refuses a call that names another.

use std::time::Duration;

use crate::harness::wait::{until, until_some};
use crate::harness::{Cluster, RaftOpts, SECRET};

/// `/readyz` of node `id`: its status and JSON body, once it answers.
async fn readyz(c: &Cluster, id: u64) -> (u16, serde_json::Value) {
    let url = format!("{}/readyz", c.node(id).http_url());
    let what = format!("node {id} to answer /readyz");
    until_some(&what, Duration::from_secs(20), async || {
        let res = c.http.get(&url).send().await.ok()?;
        let status = res.status().as_u16();
        Some((status, res.json().await.ok()?))
    })
    .await
}

/// The cluster id node `id` has applied, once it has one.
pub(crate) async fn cluster_id(c: &Cluster, id: u64) -> String {
    let what = format!("node {id} to know the cluster id");
    until_some(&what, Duration::from_secs(30), async || {
        c.status_json(id)["cluster_id"].as_str().map(String::from)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_bootstrap_node_waits_and_rejoins_instead_of_starting_a_cluster() {
    let mut c = Cluster::seeded(3).await;
    let named = cluster_id(&c, 1).await;
    for id in 2..=3 {
        assert_eq!(cluster_id(&c, id).await, named, "node {id}");
    }
    let (code, out, err) = c.cli_on(
        2,
        &[
            "user",
            "add",
            "--username",
            "before-wipe",
            "--password-stdin",
        ],
        Some("a password of the user"),
    );
    assert_eq!(code, 0, "{out}{err}");
    for id in 1..=3 {
        assert!(c.terminate(id).success(), "node {id} stopped");
    }
    std::fs::remove_dir_all(c.dir.path().join("data1")).unwrap();

    // Alone, on empty data, without --bootstrap: no cluster of its own.
    c.spawn(1);
    let (status, body) = readyz(&c, 1).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failed"], "member", "{body}");
    // Several election timeouts: a node that had initialized would have
    // started elections (a term of its own) and, alone in its membership,
    // become leader.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let alone = c.status_json(1);
    assert_eq!(alone["term"], 0, "node 1 started elections alone: {alone}");
    assert_ne!(alone["state"], "Leader", "{alone}");
    assert_eq!(
        alone["members"].as_array().map(Vec::len),
        Some(0),
        "{alone}"
    );
    assert_eq!(readyz(&c, 1).await.0, 503);
    assert!(c.log(1).contains("waiting to be joined"), "{}", c.log(1));

    // The others come back: node 1 is joined, gets the data and the id.
    c.spawn(2);
    c.spawn(3);
    c.wait_all_ready().await;
    let what = "node 1 to have the user added before the wipe";
    until(what, Duration::from_secs(30), async || {
        let (code, _, _) = c.cli_on(1, &["user", "get", "--username", "before-wipe"], None);
        code == 0
    })
    .await;
    assert_eq!(cluster_id(&c, 1).await, named);
    assert_eq!(readyz(&c, 1).await.1["cluster_id"], named.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_another_cluster_is_refused() {
    let c = Cluster::start(3).await;
    let ours = cluster_id(&c, 1).await;
    let other = "0123456789abcdef0123456789abcdef";
    assert_ne!(ours, other);
    let url = format!("{}/cluster/info", c.node(1).rpc_url());
    let call = |id: Option<&str>| {
        let req = c.http.post(&url).header("x-tessera-cluster-secret", SECRET);
        match id {
            Some(id) => req.header("x-tessera-cluster-id", id),
            None => req,
        }
    };
    // Another cluster's id: refused, and the refusal names both.
    let res = call(Some(other)).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "cluster_id_mismatch", "{body}");
    let said = body["error_description"].as_str().unwrap();
    assert!(said.contains(&ours) && said.contains(other), "{said}");
    // Raft itself too: a vote request from another cluster is not counted.
    let vote = c
        .http
        .post(format!("{}/raft/vote", c.node(1).rpc_url()))
        .header("x-tessera-cluster-secret", SECRET)
        .header("x-tessera-cluster-id", other)
        .json(&serde_json::json!({"vote": {"leader_id": {"term": 99, "node_id": 7}, "committed": false}, "last_log_id": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(vote.status(), 409);
    let what = "node 1 to log the refusal";
    until(what, Duration::from_secs(5), async || {
        c.log(1)
            .contains("refused a call from a node of another cluster")
    })
    .await;
    // The right id, or none (a node that has not learnt it yet): taken.
    for id in [Some(ours.as_str()), None] {
        let res = call(id).send().await.unwrap();
        assert_eq!(res.status(), 200, "{id:?}");
        let info: serde_json::Value = res.json().await.unwrap();
        assert_eq!(info["cluster_id"], ours.as_str());
    }
    // The cluster still works: no member was cut off by its own calls.
    assert_eq!(c.status(1).await.term, c.status(2).await.term);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_upgraded_from_v1_data_gets_an_id() {
    // The golden data directory of release 0.1.0: initialized, no id. The
    // first start passes --bootstrap, which a node with data ignores.
    let opts = RaftOpts {
        before_start: Some(crate::golden::extract_golden_data),
        ..Default::default()
    };
    let c = Cluster::start_with(1, opts).await;
    let id = cluster_id(&c, 1).await;
    assert_eq!(id.len(), 32, "{id}");
    assert!(c.log(1).contains("named the cluster"), "{}", c.log(1));
    assert!(
        !c.log(1).contains("initializing the cluster"),
        "{}",
        c.log(1)
    );
    c.node(1)
        .admin()
        .get_user("alice")
        .await
        .expect("v1 user kept");
}
