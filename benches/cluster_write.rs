//! Replicated write throughput and commit latency on a local three-node
//! cluster of release binaries with durable (fdatasync'd) logs.
//!
//! Each writer creates public clients through the leader's admin API in a
//! loop: one HTTP call = one command, committed by a quorum before the
//! answer. Prints commands/s, p50/p99/max latency, commands per log entry,
//! RSS and disk use at 1, 16 and 128 concurrent writers.
//!
//! Run: `cargo bench --bench cluster_write` (or `scripts/bench.sh`).
//! `BENCH_SECONDS` sets the time per step (default 5).

#[path = "../tests/it/harness.rs"]
mod harness;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tessera::actors::directory::CreateClient;

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn dir_size(p: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            total += if m.is_dir() {
                dir_size(&e.path())
            } else {
                m.len()
            };
        }
    }
    total
}

async fn step(c: &harness::Cluster, leader: u64, writers: usize, secs: u64, tag: &str) {
    let hist = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let props0 = c.metric(leader, "tessera_raft_proposals_total").await;
    let batches0 = c
        .metric(leader, "tessera_raft_proposal_batches_total")
        .await;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let admin = c.node(leader).admin();
        let (hist, errors, stop) = (hist.clone(), errors.clone(), stop.clone());
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new(3).unwrap();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let req = CreateClient {
                    client_id: format!("{tag}-{w}-{i}"),
                    secret: None,
                    redirect_uris: vec!["https://rp.example/cb".into()],
                    post_logout_redirect_uris: vec![],
                    grant_types: vec!["authorization_code".into()],
                    first_party: false,
                    ..Default::default()
                };
                let t = Instant::now();
                match admin.create_client(&req).await {
                    Ok(_) => local.record(t.elapsed().as_micros() as u64).unwrap(),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
            hist.lock().unwrap().add(local).unwrap();
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let h = hist.lock().unwrap().clone();
    let props = c.metric(leader, "tessera_raft_proposals_total").await - props0;
    let batches = c
        .metric(leader, "tessera_raft_proposal_batches_total")
        .await
        - batches0;
    let rss: Vec<String> = (1..=3)
        .map(|id| format!("{} MiB", rss_kib(c.node(id).pid()) / 1024))
        .collect();
    println!(
        "writers {writers:>3}: {:>7.0} commits/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  \
         {:.1} commands/entry  errors {}  RSS {}",
        h.len() as f64 / elapsed,
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        if batches > 0.0 { props / batches } else { 0.0 },
        errors.load(Ordering::Relaxed),
        rss.join(" / "),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let secs: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = harness::Cluster::start(3).await;
        let leader = c.leader(1).await;
        println!(
            "three-node cluster on loopback, {} cores, release build, leader = node {leader}, {secs} s per step",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        );
        for writers in [1usize, 16, 128] {
            step(&c, leader, writers, secs, &format!("b{writers}")).await;
        }
        let disk: Vec<String> = (1..=3)
            .map(|id| format!("{} MiB", dir_size(&c.dir.path().join(format!("data{id}"))) / (1024 * 1024)))
            .collect();
        println!("data directories: {}", disk.join(" / "));
    });
}
