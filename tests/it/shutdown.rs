//! Graceful stop: SIGTERM on the leader hands leadership to a follower before
//! the process exits (status 0), and writes stall for less than 750 ms (the
//! election timeout of release 0.1.0: a handover must beat what an election
//! after a crash used to cost). The stall is printed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera::actors::directory::CreateClient;

use crate::harness::Cluster;

/// The longest write stall a graceful handover may cause.
const STALL_LIMIT: Duration = Duration::from_millis(750);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_the_leader_hands_over_before_exit_with_a_short_write_stall() {
    let mut c = Cluster::start(3).await;
    let leader = c.leader(1).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();

    let acks = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acks, stop) = (acks.clone(), stop.clone());
        let admin = c.node(follower).admin();
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let req = CreateClient {
                    client_id: format!("stall-{i}"),
                    redirect_uris: vec!["https://rp.example/cb".into()],
                    grant_types: vec!["authorization_code".into()],
                    ..Default::default()
                };
                if admin.create_client(&req).await.is_ok() {
                    acks.lock().unwrap().push(Instant::now());
                }
                i += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let before = Instant::now();
    let status = tokio::task::block_in_place(|| c.terminate(leader));
    let exited = Instant::now();
    assert!(status.success(), "the leader exited with {status:?}");
    let log = c.log(leader);
    assert!(
        log.contains("handed leadership over"),
        "the old leader exited without handing over; log:\n{log}"
    );
    let new_leader = c.leader(follower).await;
    assert_ne!(new_leader, leader);

    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let acks = acks.lock().unwrap().clone();
    let after_stop: Vec<&Instant> = acks.iter().filter(|t| **t > before).collect();
    assert!(
        after_stop.len() > 5,
        "writes did not continue after the stop"
    );
    // The longest gap between acknowledged writes around the stop.
    let stall = acks
        .windows(2)
        .filter(|w| w[1] > before - Duration::from_millis(200))
        .map(|w| w[1] - w[0])
        .max()
        .unwrap();
    println!(
        "graceful stop of leader {leader}: process exited after {:?}, new leader {new_leader}, longest write stall {stall:?}",
        exited - before
    );
    assert!(
        stall < STALL_LIMIT,
        "writes stalled for {stall:?}, more than {STALL_LIMIT:?}; old leader's log:\n{log}\nnew leader's log:\n{}",
        c.log(new_leader)
    );
}
