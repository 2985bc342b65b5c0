//! Forming, writing through followers, and surviving a killed leader.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{public_client, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_from_config_and_status_lists_three_voters_and_one_leader() {
    let c = Cluster::start(3).await;
    for id in 1..=3u64 {
        let s = c.status_json(id);
        let members = s["members"].as_array().unwrap();
        assert_eq!(members.len(), 3, "{s}");
        assert!(members.iter().all(|m| m["role"] == "voter"), "{s}");
        let leaders: Vec<_> = members.iter().filter(|m| m["leader"] == true).collect();
        assert_eq!(leaders.len(), 1, "{s}");
    }
    // The table form names the leader too.
    let (code, out, _) = c.cli_on(2, &["cluster", "status"], None);
    assert_eq!(code, 0);
    assert!(out.contains("voter") && out.contains('*'), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_a_follower_is_read_on_every_node() {
    let c = Cluster::start(3).await;
    let leader = c.leader(1).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let (code, out, err) = c.cli_on(
        follower,
        &[
            "user",
            "add",
            "--username",
            "bob",
            "--password-stdin",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
        ],
        Some("correct horse battery\n"),
    );
    assert_eq!(code, 0, "stderr: {err}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(created.get("password_hash").is_none(), "hash leaked: {out}");
    for id in 1..=3 {
        let u = c
            .node(id)
            .admin()
            .get_user("bob")
            .await
            .expect("user on every node");
        assert_eq!(u.sub, created["sub"].as_str().unwrap());
        assert_eq!(u.email.as_deref(), Some("bob@example.com"));
    }
    // The same name again is a conflict, whichever node is asked.
    let (code, _, err) = c.cli(
        &[
            "user",
            "add",
            "--username",
            "bob",
            "--password-stdin",
            "--url",
            &c.node(leader).rpc_url(),
            "--token",
            crate::harness::ADMIN,
        ],
        Some("another password"),
    );
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    // On every node's disk the password exists only as an argon2id hash
    // with the OWASP parameters (docs/ARCHITECTURE.md invariant 5).
    for id in 1..=3 {
        let mut bytes = Vec::new();
        let mut dirs = vec![c.dir.path().join(format!("data{id}"))];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    dirs.push(e.path());
                } else {
                    bytes.extend(std::fs::read(e.path()).unwrap());
                }
            }
        }
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(
            !has(b"correct horse battery"),
            "node {id} stores the password in clear"
        );
        assert!(
            has(b"$argon2id$v=19$m=19456,t=2,p=1$"),
            "node {id} has no argon2id hash on disk"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_acknowledged_write() {
    let mut c = Cluster::start(3).await;
    let old_leader = c.leader(1).await;
    let acked = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..6u64 {
        let acked = acked.clone();
        let stop = stop.clone();
        let admins: Vec<_> = (1..=3).map(|id| c.node(id).admin()).collect();
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let id = format!("w{w}-{i}");
                // Spread the writes over all nodes; errors (the killed node,
                // an election) leave the write unacknowledged.
                let admin = &admins[((w + i) % 3) as usize];
                if admin.create_client(&public_client(&id)).await.is_ok() {
                    acked.lock().unwrap().insert(id);
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_kill = acked.lock().unwrap().len();
    assert!(
        before_kill > 10,
        "only {before_kill} writes before the kill"
    );
    c.kill(old_leader);
    let killed_at = Instant::now();

    let survivor = (1..=3).find(|id| *id != old_leader).unwrap();
    let new_leader = c.leader(survivor).await;
    assert_ne!(new_leader, old_leader);
    println!(
        "new leader {new_leader} seen {:?} after the kill",
        killed_at.elapsed()
    );
    // Writes continue after the election.
    let after = acked.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < after + 20 {
        assert!(
            Instant::now() < deadline,
            "writes did not resume after the leader was killed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    println!(
        "{} acknowledged writes, {before_kill} before the kill",
        acked.len()
    );

    for id in (1..=3).filter(|id| *id != old_leader) {
        all_on(&c, id, &acked).await;
    }
    // The killed node restarts from its own data directory and catches up.
    c.spawn(old_leader);
    c.wait_ready(old_leader).await;
    all_on(&c, old_leader, &acked).await;
    let log = c.log(old_leader);
    assert!(
        !log.contains("initializing the cluster")
            || log.matches("initializing the cluster").count() == 1
    );
}

/// Every acknowledged client is on node `id`.
async fn all_on(c: &Cluster, id: u64, acked: &BTreeSet<String>) {
    let admin = c.node(id).admin();
    for client_id in acked {
        admin
            .get_client(client_id)
            .await
            .unwrap_or_else(|e| panic!("acknowledged {client_id} missing on node {id}: {e}"));
    }
}

/// Concurrent writes through all three nodes: the leader merges proposals
/// into shared entries (`cluster/write_batch.rs`), and still every caller
/// gets the answer to its own command. A name created twice at once through
/// two nodes is created once, and exactly one of the two callers hears so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_entries_and_each_gets_its_own_answer() {
    let c = Cluster::start(3).await;
    let leader = c.leader(1).await;
    let entries0 = c.metric(leader, "tessera_raft_last_log_index").await;
    let mut batches0 = 0.0;
    for id in 1..=3 {
        batches0 += c.metric(id, "tessera_raft_proposal_batches_total").await;
    }
    let mut tasks = Vec::new();
    for i in 0..150u64 {
        // Every fifth name is also sent through the next node.
        let (id, name) = (1 + i % 3, format!("merged-{i}"));
        let mut via = vec![id];
        if i % 5 == 0 {
            via.push(1 + (i + 1) % 3);
        }
        for id in via {
            let admin = c.node(id).admin();
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                let res = admin.create_client(&public_client(&name)).await;
                (name, res.map(|v| v.client_id).map_err(|e| e.status))
            }));
        }
    }
    let mut created = std::collections::BTreeMap::<String, Vec<Result<String, Option<u16>>>>::new();
    for t in tasks {
        let (name, res) = t.await.unwrap();
        created.entry(name).or_default().push(res);
    }
    for (name, answers) in &created {
        let ok: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
        assert_eq!(ok, [name], "{name}: {answers:?}");
        for refused in answers.iter().filter_map(|a| a.as_ref().err()) {
            assert_eq!(*refused, Some(409), "{name}: {answers:?}");
        }
    }
    let entries = c.metric(leader, "tessera_raft_last_log_index").await - entries0;
    let mut batches = -batches0;
    for id in 1..=3 {
        batches += c.metric(id, "tessera_raft_proposal_batches_total").await;
    }
    println!("{batches} proposals from the nodes' actors, {entries} entries");
    assert!(
        entries < batches,
        "{batches} proposals from the nodes' actors went into {entries} entries"
    );
}
