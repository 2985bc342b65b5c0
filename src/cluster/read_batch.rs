//! [`Batcher`]: concurrent callers share one run of an async "round".
//!
//! Linearizable reads use it twice: on the leader one leadership
//! confirmation (a heartbeat round to a quorum) serves every read that was
//! waiting for it, and on a follower one `/cluster/read-index` call to the
//! leader does. A caller never joins a round that is already in flight: it
//! waits for the next one, which starts after it arrived. So the answer a
//! caller gets was obtained entirely after its call began, exactly as if it
//! had run the round alone; that is what keeps batched reads linearizable
//! (docs/ARCHITECTURE.md invariant 2). At most one round runs at a time; the
//! next one starts as soon as the previous one ends, for everybody who
//! arrived meanwhile.
//!
//! Rounds run in a task on the runtime given to [`Batcher::new`] (the Raft
//! runtime), so a caller that gives up (its timeout fires) cancels nothing
//! shared; a round whose callers have all given up is skipped.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use tokio::sync::oneshot;

/// Runs rounds for batches of concurrent callers; see the module doc.
pub struct Batcher<T> {
    state: Mutex<State<T>>,
    rt: tokio::runtime::Handle,
    rounds: AtomicU64,
}

struct State<T> {
    /// A driver task is running rounds.
    running: bool,
    /// Callers waiting for the next round.
    waiting: Vec<oneshot::Sender<T>>,
}

impl<T: Clone + Send + 'static> Batcher<T> {
    pub fn new(rt: tokio::runtime::Handle) -> Arc<Batcher<T>> {
        Arc::new(Batcher {
            state: Mutex::new(State {
                running: false,
                waiting: Vec::new(),
            }),
            rt,
            rounds: AtomicU64::new(0),
        })
    }

    /// The answer of a round that started after this call; `None` if the
    /// round panicked. `round` is used only if this call starts the driver
    /// (every caller of one batcher passes an equivalent round).
    pub async fn run<F, Fut>(self: &Arc<Self>, round: F) -> Option<T>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut st = self.state.lock().expect("batcher lock");
            st.waiting.push(tx);
            !std::mem::replace(&mut st.running, true)
        };
        if start {
            self.rt.spawn(self.clone().drive(round));
        }
        rx.await.ok()
    }

    /// Rounds run so far (for tests and diagnostics).
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    async fn drive<F, Fut>(self: Arc<Self>, mut round: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = T>,
    {
        loop {
            let batch: Vec<_> = {
                let mut st = self.state.lock().expect("batcher lock");
                st.waiting.retain(|tx| !tx.is_closed());
                if st.waiting.is_empty() {
                    st.running = false;
                    return;
                }
                std::mem::take(&mut st.waiting)
            };
            self.rounds.fetch_add(1, Ordering::Relaxed);
            // A round that panics answers its callers `None` (their senders
            // are dropped); the driver goes on with the next batch.
            if let Ok(answer) = AssertUnwindSafe(round()).catch_unwind().await {
                for tx in batch {
                    let _ = tx.send(answer.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::time::Duration;
    use tokio::sync::{mpsc, Semaphore};

    type BoxRound = Pin<Box<dyn Future<Output = u64> + Send>>;

    /// Rounds that report their start and then wait for the test to let
    /// them finish; each answers its own number.
    struct Gate {
        counter: Arc<AtomicU64>,
        open: Arc<Semaphore>,
        started: mpsc::UnboundedSender<u64>,
    }

    fn gate() -> (Gate, mpsc::UnboundedReceiver<u64>) {
        let (started, rx) = mpsc::unbounded_channel();
        let g = Gate {
            counter: Arc::default(),
            open: Arc::new(Semaphore::new(0)),
            started,
        };
        (g, rx)
    }

    impl Gate {
        fn round(&self) -> impl FnMut() -> BoxRound + Send + 'static {
            let (counter, open, started) = (
                self.counter.clone(),
                self.open.clone(),
                self.started.clone(),
            );
            move || {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let (open, started) = (open.clone(), started.clone());
                Box::pin(async move {
                    let _ = started.send(n);
                    open.acquire().await.expect("gate").forget();
                    n
                })
            }
        }
    }

    fn waiting<T>(b: &Batcher<T>) -> usize {
        b.state.lock().unwrap().waiting.len()
    }

    async fn until(cond: impl Fn() -> bool) {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// A batcher whose round 1 has started and waits at the gate.
    async fn first_round_in_flight() -> (
        Arc<Batcher<u64>>,
        Gate,
        tokio::sync::mpsc::UnboundedReceiver<u64>,
        tokio::task::JoinHandle<Option<u64>>,
    ) {
        let b = Batcher::<u64>::new(tokio::runtime::Handle::current());
        let (g, mut started) = gate();
        let first = tokio::spawn({
            let (b, r) = (b.clone(), g.round());
            async move { b.run(r).await }
        });
        assert_eq!(started.recv().await, Some(1));
        (b, g, started, first)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_arriving_during_a_round_share_the_next_one() {
        let (b, g, mut started, first) = first_round_in_flight().await;
        // Round 1 is in flight: these 99 must not join it.
        let rest: Vec<_> = (0..99)
            .map(|_| {
                let (b, r) = (b.clone(), g.round());
                tokio::spawn(async move { b.run(r).await })
            })
            .collect();
        until(|| waiting(&b) == 99).await;
        g.open.add_permits(1);
        assert_eq!(first.await.unwrap(), Some(1));
        assert_eq!(started.recv().await, Some(2));
        g.open.add_permits(1);
        for r in rest {
            assert_eq!(r.await.unwrap(), Some(2));
        }
        assert_eq!(b.rounds(), 2, "100 callers, 2 rounds");
        // Idle again: a lone caller gets a fresh round of its own.
        g.open.add_permits(1);
        assert_eq!(b.run(g.round()).await, Some(3));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rounds_whose_callers_gave_up_are_skipped_and_a_panic_is_survived() {
        let (b, g, _started, first) = first_round_in_flight().await;
        // A caller that gives up while round 1 runs leaves nobody waiting.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), b.run(g.round())).await;
        assert!(gave_up.is_err());
        g.open.add_permits(1);
        assert_eq!(first.await.unwrap(), Some(1));
        until(|| !b.state.lock().unwrap().running).await;
        assert_eq!(b.rounds(), 1, "nobody was waiting: no second round");

        let fail = std::hint::black_box(true);
        let panicked = b
            .run(move || async move {
                assert!(!fail, "round failed");
                0u64
            })
            .await;
        assert_eq!(panicked, None);
        // (A caller arriving before that driver stops would get its round.)
        until(|| !b.state.lock().unwrap().running).await;
        g.open.add_permits(1);
        assert_eq!(b.run(g.round()).await, Some(2));
    }
}
