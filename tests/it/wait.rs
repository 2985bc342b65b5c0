//! Waiting for the cluster, shared by every test file: poll a condition
//! every 100 ms until it holds, or fail the test with what was awaited.

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// How often [`until`] polls.
pub const POLL: Duration = Duration::from_millis(100);

/// Poll `f` until it returns true; fail the test with `what` after `within`.
pub async fn until(what: &str, within: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Poll `f` until it returns `Some`; its value. Fails the test with `what`
/// after `within`.
pub async fn until_some<T>(
    what: &str,
    within: Duration,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}
