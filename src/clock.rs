//! The node's clock and the time limits shared by its layers.
//!
//! `apply()` never reads the clock (docs/ARCHITECTURE.md, invariant 8):
//! proposers call [`now`] and put the value into the command they build.
//! Timeouts that several layers use live here so that one number governs
//! every linearizable read.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a linearizable read (read-index) waits for the leader before the
/// request fails with "unavailable" instead of answering from stale state.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// Unix seconds from this node's clock; proposers put it into commands.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
