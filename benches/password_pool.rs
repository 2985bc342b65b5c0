//! The argon2 pool's limit: how many password checks per second this machine
//! can do with the node's parameters (argon2id m=19456 KiB, t=2, p=1) on as
//! many threads as the node's `PasswordActor` pool has (one per core),
//! through the same `password::verify` (reused argon2 memory) as the node. A login costs one such check,
//! so this is the ceiling for the login workload of
//! `scripts/bench-http.sh`.
//!
//!   cargo bench --bench password_pool            # BENCH_SECONDS=10

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera::crypto::password;

fn main() {
    let secs: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let phc = password::hash("wonderland-42").expect("argon2 parameters are valid");
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (phc, done, stop) = (phc.clone(), done.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut latencies = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    assert!(password::verify("wonderland-42", &phc));
                    latencies.record(t.elapsed().as_micros() as u64).ok();
                    done.fetch_add(1, Ordering::Relaxed);
                }
                latencies
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let mut all = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    for w in workers {
        all.add(w.join().expect("worker"))
            .expect("same histogram bounds");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "argon2 pool: {threads} threads, {n} checks in {elapsed:.1} s = {:.1} checks/s, p50 {:.1} ms, p99 {:.1} ms per check",
        n as f64 / elapsed,
        all.value_at_quantile(0.5) as f64 / 1000.0,
        all.value_at_quantile(0.99) as f64 / 1000.0
    );
}
