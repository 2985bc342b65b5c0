//! openraft plumbing: the type configuration and the handle the rest of the
//! node uses to write and to read linearizably.
//!
//! * [`log_store`] — the Raft log in sled, made durable with `fdatasync`.
//! * [`state_machine`] — applies entries to the state trees; snapshots.
//! * [`network`] — outbound Raft RPCs over HTTP/1.1 keep-alive (reqwest), https
//!   with the node's certificate under `[cluster.tls]` (mutual TLS).
//! * [`rpc`] — inbound Raft, forwarding and read-index handlers.
//! * [`membership`] — bootstrap from configuration, add and remove nodes.
//! * [`handle`] — [`ClusterHandle`]: write with leader forwarding, read-index.
//! * [`read_batch`] — concurrent linearizable reads share one read-index round.
//! * [`write_batch`] — the leader merges concurrent proposals into one entry.
//! * [`handover`] — a stopping leader hands leadership to a follower.
//! * [`storage`] — opens the sled database and checks its format version.
//! * [`backup`] — a consistent copy of the applied state for `tessera backup`.
//!
//! Timing (`[raft]`, defaults for a LAN: heartbeat 150 ms, election timeout
//! 200-350 ms). openraft 0.9 lets a follower that has seen a leader start an
//! election only after the leader lease (`election_timeout_max`) plus a random
//! election timeout, checked on a tick of 1.5 heartbeats: 550-925 ms after the
//! last heartbeat of a killed leader, so the first write through a follower
//! commits within about a second (it was about 2.5 s with 750-1500 ms).
//! Shorter timeouts would cost needless elections whenever a node stalls
//! briefly. The heartbeat stays at 150 ms because openraft also uses it as
//! the time limit of each replication call (a follower's fsync included) and
//! of the leadership check of a read: at 100 ms a loaded machine timed out
//! replication and reads (see [`handle`] for the retried check).

pub mod backup;
pub mod handle;
pub mod handover;
mod log_cache;
pub mod log_store;
pub mod membership;
pub mod network;
pub mod read_batch;
pub mod rpc;
pub mod state_machine;
pub mod storage;
pub mod write_batch;

use serde::{Deserialize, Serialize};

use std::io::Cursor;

use crate::state::{Proposal, ProposalResult};

pub use handle::{ClusterError, ClusterHandle};

/// Node ids are small positive integers from `cluster.toml`.
pub type NodeId = u64;

/// How to reach a member: its public HTTP address and its cluster RPC address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    pub http_addr: String,
    pub rpc_addr: String,
}

openraft::declare_raft_types!(
    /// The openraft type configuration of Tessera.
    pub TypeConfig:
        D = Proposal,
        R = ProposalResult,
        NodeId = NodeId,
        Node = NodeAddr,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, NodeAddr>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, NodeAddr>;

/// Header that carries the cluster secret on node-to-node calls.
pub const SECRET_HEADER: &str = "x-tessera-cluster-secret";

/// Wrap any error as an openraft storage error.
pub(crate) fn io_err(
    subject: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
    e: impl std::fmt::Display,
) -> StorageError {
    let io = std::io::Error::other(e.to_string());
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&io)).into()
}
