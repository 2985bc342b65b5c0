//! The node side of `tessera backup`: a consistent copy of the applied
//! state, as a backup file (`crate::backup::format`).
//!
//! Consistency: the node first passes a read-index (the leader confirms its
//! leadership with a quorum and names its commit index; this node waits
//! until it has applied that index), then dumps its state trees under the
//! state machine's apply lock, the same dump a Raft snapshot is made of. So
//! the copy is one point in time, at a committed index at least as recent as
//! every write acknowledged before the backup was asked for, and the header
//! names that index. Without a quorum the backup fails (503) instead of
//! copying state that may be stale (docs/ARCHITECTURE.md invariant 2).
//!
//! Memory: the dump is built in memory once, as for a Raft snapshot (which
//! a node already does every `snapshot_logs_since_last` entries), on a
//! blocking thread so the node's HTTP workers keep serving; it is freed
//! once serialized, and the header is put in front of the body in place.

use super::{ClusterError, ClusterHandle, LogId};
use crate::backup::format::{self, AppliedAt, Header};
use crate::clock::{now, READ_TIMEOUT};

/// Where a log id points, for the backup header.
fn applied_at(l: &LogId) -> AppliedAt {
    AppliedAt {
        term: l.leader_id.term,
        leader: l.leader_id.node_id,
        index: l.index,
    }
}

/// A complete backup file of the state this node has applied after a
/// read-index, stamped with `issuer` and, if it has one, `cluster_id`.
pub async fn backup_file(
    handle: &ClusterHandle,
    issuer: String,
    cluster_id: Option<String>,
) -> Result<Vec<u8>, ClusterError> {
    handle.read_index(READ_TIMEOUT).await?;
    let sm = handle.sm.clone();
    let dumped = tokio::task::spawn_blocking(move || {
        let (applied, _membership, payload) = sm.dump().map_err(|e| e.to_string())?;
        let body = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
        Ok::<_, String>((applied, payload.v, body))
    })
    .await
    .map_err(|e| ClusterError::Unknown(e.to_string()))?;
    let (applied, state_format, body) = dumped.map_err(ClusterError::Unknown)?;
    let header = Header::new(
        cluster_id,
        applied.as_ref().map(applied_at),
        now(),
        issuer,
        state_format,
        &body,
    );
    let file = format::encode(&header, body);
    crate::memory::release_free_memory();
    tracing::info!(
        target: "audit",
        event = "backup_taken",
        index = header.last_applied.map(|a| a.index),
        bytes = header.body_len,
    );
    Ok(file)
}
