//! Linearizable introspection under concurrent revocations, on a real
//! three-node cluster (issue 12, "What it must show";
//! docs/ARCHITECTURE.md invariant 2).
//!
//! * Hundreds of concurrent `/introspect` calls spread over nodes B and C
//!   while the same tokens are revoked one after another through node A.
//!   Each call's start and end instants, and each revocation's send and
//!   200 instants, are taken on the test's clock. No introspection that
//!   *started* after a revocation's 200 reports that token active, on any
//!   node; none that *ended* before the revocation was sent reports it
//!   inactive. Introspections are aimed at the tokens around the
//!   revocation front, so many of them race a revocation in flight.
//! * A node cut off from the quorum right after a revocation it may not
//!   have applied yet answers 503, never a stale `active`, to concurrent
//!   introspections; after it rejoins, every node gives the right verdict.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::Client;

use crate::flow::Browser;
use crate::harness::wait::until_some;
use crate::harness::Cluster;
use crate::rp::{client_credentials, form_request, introspect, revoke, Answer, Seeded, DEMO};
use crate::session::{demo_sign_in, demo_tokens, Via};

/// Access tokens (client_credentials) revoked in the race.
const ACCESS_TOKENS: usize = 32;
/// Refresh tokens (from one browser session) revoked in the race.
const REFRESH_TOKENS: usize = 8;
/// Concurrent introspection loops.
const READERS: usize = 16;
/// Answered (200) introspections the race must at least see.
const MIN_READS: usize = 300;

/// One introspection of token `idx` on `node`, timed on the test's clock.
struct Read {
    idx: usize,
    node: u64,
    start: Instant,
    end: Instant,
    /// `None` for a 503 or no answer at all.
    active: Option<bool>,
    /// The request got no HTTP answer at all.
    unanswered: bool,
}

/// The tokens of the race: access and refresh tokens interleaved.
async fn race_tokens(c: &Cluster, http: &Client) -> Vec<String> {
    let on = |n: u64| c.node(n).http_url();
    let browser = Browser::new();
    let scope = "openid offline_access";
    demo_sign_in(&browser, &on(1), scope).await;
    let mut refresh = Vec::new();
    for i in 0..REFRESH_TOKENS as u64 {
        let (auth, token) = (on(i % 3 + 1), on((i + 1) % 3 + 1));
        let t = demo_tokens(&browser, http, Via::Session, (&auth, &token), scope).await;
        refresh.push(t.refresh().to_string());
    }
    let mut access = Vec::new();
    for i in 0..ACCESS_TOKENS as u64 {
        let v = client_credentials(http, &on(i % 3 + 1), DEMO).await.ok();
        access.push(
            v["access_token"]
                .as_str()
                .expect("access_token")
                .to_string(),
        );
    }
    let every = ACCESS_TOKENS / REFRESH_TOKENS + 1;
    let mut tokens = Vec::new();
    for i in 0..ACCESS_TOKENS + REFRESH_TOKENS {
        let pick = if i % every == every - 1 {
            refresh.pop()
        } else {
            access.pop()
        };
        tokens.push(pick.or_else(|| refresh.pop()).expect("a token"));
    }
    tokens
}

/// The verdict of a 200 introspection, `None` for a 503.
fn verdict(a: &Answer) -> Option<bool> {
    match a.status {
        503 => None,
        _ => Some(a.ok()["active"] == true),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn introspection_stays_linearizable_while_other_nodes_revoke() {
    let fx = Seeded::start(3, Duration::from_secs(20)).await;
    let (c, http, on) = (&fx.c, &fx.http, |n: u64| fx.on(n));
    let tokens = race_tokens(c, http).await;
    // Every node has verified demo's secret before the race.
    for n in 1..=3 {
        introspect(http, on(n), DEMO, &tokens[0]).await.active();
    }

    let front = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    // Per token: when its revocation was sent, and when it answered 200.
    let revoked = Mutex::new(vec![None; tokens.len()]);
    let revoker = async {
        for (i, t) in tokens.iter().enumerate() {
            let sent = Instant::now();
            revoke(http, on(1), DEMO, t).await.ok();
            let acked = Instant::now();
            revoked.lock().unwrap()[i] = Some((sent, acked));
            front.store(i + 1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Reads after the last revocation, on tokens all dead by now.
        tokio::time::sleep(Duration::from_millis(300)).await;
        done.store(true, Ordering::SeqCst);
    };
    let reader = |r: usize| {
        let (front, done, tokens, http) = (&front, &done, &tokens, &http);
        async move {
            let mut reads = Vec::new();
            let mut k = r;
            while !done.load(Ordering::SeqCst) {
                // A token near the front: just revoked, being revoked, or next.
                let f = front.load(Ordering::SeqCst);
                let idx = (f + k % 5).saturating_sub(2).min(tokens.len() - 1);
                let node = 2 + (k % 2) as u64;
                k += 1;
                let url = format!("{}/introspect", on(node));
                let (what, req) = form_request(http, &url, DEMO, &[("token", &tokens[idx])]);
                let start = Instant::now();
                let res = req.send().await;
                let end = Instant::now();
                // A request the node never answered gives no verdict.
                let (active, unanswered) = match res {
                    Err(e) if e.is_timeout() || e.is_request() => (None, true),
                    Err(e) => return Err(format!("{what} on node {node}: {e:?}")),
                    Ok(res) => (verdict(&Answer::read(what, Ok(res)).await), false),
                };
                reads.push(Read {
                    idx,
                    node,
                    start,
                    end,
                    active,
                    unanswered,
                });
            }
            Ok(reads)
        }
    };
    let race = Instant::now();
    let ((), reads) = tokio::join!(revoker, join_all((0..READERS).map(reader)));
    let race = race.elapsed();
    let reads: Vec<Read> = match reads.into_iter().collect::<Result<Vec<_>, String>>() {
        Ok(reads) => reads.into_iter().flatten().collect(),
        Err(e) => panic!("{e}\nlogs:\n{}", c.log_tails(40)),
    };
    let revoked = revoked.into_inner().unwrap();

    let (mut after, mut before, mut racing, mut unavailable) = (0, 0, 0, 0);
    let unanswered = reads.iter().filter(|r| r.unanswered).count();
    for r in &reads {
        let (sent, acked) = revoked[r.idx].expect("every token was revoked");
        let Some(active) = r.active else {
            unavailable += 1;
            continue;
        };
        if r.start > acked {
            after += 1;
            assert!(
                !active,
                "node {} reported token {} active in an introspection started {:?} \
                 after its revocation answered 200 on node 1",
                r.node,
                r.idx,
                r.start - acked
            );
        } else if r.end < sent {
            before += 1;
            assert!(
                active,
                "node {} reported token {} inactive {:?} before its revocation was sent",
                r.node,
                r.idx,
                sent - r.end
            );
        } else {
            racing += 1;
        }
    }
    eprintln!(
        "{} introspections on nodes 2 and 3 in {race:?} while node 1 revoked {} tokens: \
         {after} started after the revocation's 200, {before} ended before it was sent, \
         {racing} overlapped it, {unavailable} gave no verdict ({unanswered} of them no answer, the others 503)",
        reads.len(),
        tokens.len()
    );
    let answered = reads.len() - unavailable;
    assert!(
        answered >= MIN_READS,
        "only {answered} introspections answered"
    );
    assert!(
        after >= 50 && before >= 50 && racing >= 5,
        "the race did not interleave reads and revocations enough to show anything"
    );

    // What an operator sees: the reads on nodes 2 and 3 shared read-index
    // rounds (fewer rounds than reads).
    let (mut served, mut rounds) = (0.0, 0.0);
    for n in 2..=3 {
        served += c.metric(n, "tessera_raft_linearizable_reads_total").await;
        for role in ["leader", "follower"] {
            let name = format!("tessera_raft_read_index_rounds_total{{role=\"{role}\"}}");
            rounds += c.metric(n, &name).await;
        }
    }
    eprintln!("nodes 2 and 3: {served} linearizable reads in {rounds} read-index rounds");
    assert!(
        served >= answered as f64,
        "{served} reads counted, {answered} answered"
    );
    assert!(
        rounds >= 1.0 && rounds < served,
        "{rounds} rounds for {served} reads"
    );

    cut_off_node_answers_503(c, http).await;
    eprintln!("linearizable reads test took {:?}", fx.started.elapsed());
}

/// Revoke a token through node 1, cut node 3 off at once (SIGSTOP of 1 and
/// 2), and read it and a live token there concurrently: 503 for the live
/// token; 503 or (a committed revocation is final) inactive for the
/// revoked one; never `active`. After the others resume, every node
/// answers the right verdict.
async fn cut_off_node_answers_503(c: &Cluster, http: &Client) {
    let urls = c.http_urls();
    let on = |n: u64| urls[&n].as_str();
    let mint = async |n: u64| {
        let v = client_credentials(http, on(n), DEMO).await.ok();
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    };
    let (live, doomed) = (mint(2).await, mint(3).await);
    introspect(http, on(3), DEMO, &live).await.active();
    introspect(http, on(3), DEMO, &doomed).await.active();

    revoke(http, on(1), DEMO, &doomed).await.ok();
    c.signal(1, libc::SIGSTOP);
    c.signal(2, libc::SIGSTOP);
    let cut = Instant::now();
    let reads = join_all((0..16).map(|i| {
        let token = if i % 2 == 0 { &live } else { &doomed };
        introspect(http, on(3), DEMO, token)
    }))
    .await;
    for (i, a) in reads.iter().enumerate() {
        if i % 2 == 1 && a.status == 200 {
            a.inactive();
        } else {
            a.unavailable();
        }
    }
    eprintln!(
        "16 introspections on the cut-off node took {:?}",
        cut.elapsed()
    );
    c.signal(1, libc::SIGCONT);
    c.signal(2, libc::SIGCONT);
    c.wait_all_ready().await;

    for n in 1..=3 {
        for (token, active) in [(&live, true), (&doomed, false)] {
            let what = format!("node {n} to answer again");
            let a = until_some(&what, Duration::from_secs(30), async || {
                let a = introspect(http, on(n), DEMO, token).await;
                (a.status != 503).then_some(a)
            })
            .await;
            assert_eq!(verdict(&a), Some(active), "node {n}: {}", a.body);
        }
    }
}
