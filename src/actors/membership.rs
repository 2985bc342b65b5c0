//! [`Membership`]: the cluster as operators and probes see it — status,
//! the cluster half of readiness, adding and removing nodes, and the Raft
//! figures `/metrics` exports. A cloneable handle over the cluster, so the
//! HTTP layer never reaches into `cluster/` itself. Membership changes run
//! on the leader; the admin API forwards them there (see `http::admin`).
//!
//! [`name_cluster`] runs for the life of the node: whenever this node leads
//! a cluster that has no id yet (a new one, or one upgraded from a release
//! without ids) and every member knows the command, it proposes a random
//! 128-bit id; the first one committed is the cluster's for good (see
//! `crate::state::cluster_id`).

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cluster::{membership, ClusterHandle, NodeAddr, Raft};
use crate::metrics::{RaftGauges, METRICS};
use crate::state::{Command, CommandResult, Proposal};

pub use crate::cluster::rpc::secret_matches;
pub use crate::cluster::NodeId;

/// How long `/readyz` waits for a quorum to confirm the leader.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// `cluster status` as JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node_id: NodeId,
    pub version: String,
    pub state: String,
    pub term: u64,
    pub leader_id: Option<NodeId>,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub members: Vec<MemberStatus>,
    /// The lowest data format all members know: what may be proposed.
    #[serde(default)]
    pub cluster_format: u32,
    /// The cluster id as applied on this node (none before it is named).
    #[serde(default)]
    pub cluster_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MemberStatus {
    pub id: NodeId,
    pub role: String,
    pub leader: bool,
    pub http_addr: String,
    pub rpc_addr: String,
    /// The member's release and data format, as it last reported them.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub format_version: Option<u32>,
}

/// A node to add: its id and addresses.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddNode {
    pub id: NodeId,
    pub http_addr: String,
    pub rpc_addr: String,
}

impl AddNode {
    /// Why this node cannot be added, if it cannot (checked before anything
    /// is forwarded or proposed).
    pub fn validate(&self) -> Result<(), String> {
        for (key, addr) in [("http_addr", &self.http_addr), ("rpc_addr", &self.rpc_addr)] {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err(format!(
                    "{key} `{addr}` is not an address like 10.0.0.4:9080"
                ));
            }
        }
        if self.id == 0 {
            return Err("node id must be positive".into());
        }
        Ok(())
    }
}

/// What the cluster half of `/readyz` found.
#[derive(Debug)]
pub struct ClusterReadiness {
    pub node_id: NodeId,
    pub leader_id: Option<NodeId>,
    pub last_applied: Option<u64>,
    pub cluster_id: Option<String>,
    /// `member`, then `caught_up`: what is wrong, if anything.
    pub checks: Vec<(&'static str, Result<(), String>)>,
}

/// The cluster's membership and health, for the admin API and probes.
#[derive(Clone)]
pub struct Membership {
    cluster: ClusterHandle,
}

impl Membership {
    pub fn new(cluster: &ClusterHandle) -> Membership {
        Membership {
            cluster: cluster.clone(),
        }
    }

    /// Whether this node is the leader now.
    pub fn is_leader(&self) -> bool {
        let m = self.cluster.metrics();
        m.current_leader == Some(m.id)
    }

    /// The cluster (RPC) address of the leader, if one is known.
    pub fn leader_rpc_addr(&self) -> Option<String> {
        self.cluster.leader_addr().map(|a| a.rpc_addr)
    }

    /// A request to the leader's cluster port over this node's transport
    /// (mutual TLS with `[cluster.tls]`), without credentials.
    pub fn leader_request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Option<reqwest::RequestBuilder> {
        let addr = self.leader_rpc_addr()?;
        Some(self.cluster.peer_call(method, &addr, path))
    }

    /// Add a node as a learner, let it catch up, make it a voter (leader only).
    pub async fn add_node(&self, node: &AddNode) -> Result<(), String> {
        let addr = NodeAddr {
            http_addr: node.http_addr.clone(),
            rpc_addr: node.rpc_addr.clone(),
        };
        let added = membership::add_node(&self.cluster, node.id, addr).await;
        audit_change("membership.add", node.id, &added);
        added.map_err(|e| e.to_string())
    }

    /// Remove a voter from the cluster (leader only).
    pub async fn remove_node(&self, id: NodeId) -> Result<(), String> {
        let removed = membership::remove_node(&self.cluster, id).await;
        audit_change("membership.remove", id, &removed);
        removed.map_err(|e| e.to_string())
    }

    /// The cluster checks of readiness: a member, and read-index proves a
    /// quorum confirms the leader and that this node applied everything the
    /// leader had committed (`caught_up` is only tried for a member).
    pub async fn readiness(&self) -> ClusterReadiness {
        let m = self.cluster.metrics();
        let member = match m.membership_config.membership().get_node(&m.id) {
            Some(_) => Ok(()),
            None => Err("not a member of a cluster (yet)".to_string()),
        };
        let caught_up = match member {
            Ok(()) => self
                .cluster
                .read_index(READY_TIMEOUT)
                .await
                .map_err(|e| format!("not caught up with a quorum: {e}")),
            Err(_) => Err("not a member".to_string()),
        };
        let m = self.cluster.metrics();
        ClusterReadiness {
            node_id: m.id,
            leader_id: m.current_leader,
            last_applied: m.last_applied.map(|l| l.index),
            cluster_id: membership::cluster_id(&self.cluster.sm),
            checks: vec![("member", member), ("caught_up", caught_up)],
        }
    }

    /// Every member with its role and reported release.
    pub fn status(&self) -> ClusterStatus {
        let m = self.cluster.metrics();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let infos = self.cluster.member_info();
        let members = membership
            .nodes()
            .map(|(id, addr)| MemberStatus {
                id: *id,
                role: if voters.contains(id) {
                    "voter"
                } else {
                    "learner"
                }
                .into(),
                leader: m.current_leader == Some(*id),
                http_addr: addr.http_addr.clone(),
                rpc_addr: addr.rpc_addr.clone(),
                version: infos.get(id).map(|i| i.version.clone()),
                format_version: infos.get(id).map(|i| i.format_version),
            })
            .collect();
        ClusterStatus {
            node_id: m.id,
            version: crate::VERSION.into(),
            state: format!("{:?}", m.state),
            term: m.current_term,
            leader_id: m.current_leader,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            members,
            cluster_format: self.cluster.cluster_format(),
            cluster_id: membership::cluster_id(&self.cluster.sm),
        }
    }

    /// This node's Raft figures, for `/metrics`.
    pub fn raft_gauges(&self) -> RaftGauges {
        let m = self.cluster.metrics();
        let replication = m
            .replication
            .iter()
            .flatten()
            .filter(|(id, _)| **id != m.id)
            .map(|(id, matched)| (*id, matched.map_or(0, |l| l.index)))
            .collect();
        RaftGauges {
            node_id: m.id,
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index.unwrap_or(0),
            last_applied: m.last_applied.map_or(0, |l| l.index),
            replication,
            millis_since_quorum_ack: m.millis_since_quorum_ack,
        }
    }

    /// A backup file of the applied state after a read-index (`tessera
    /// backup`; see `cluster::backup`), stamped with `issuer`.
    pub async fn backup(&self, issuer: String) -> Result<Vec<u8>, crate::cluster::ClusterError> {
        let id = crate::cluster::membership::cluster_id(&self.cluster.sm);
        crate::cluster::backup::backup_file(&self.cluster, issuer, id).await
    }

    /// Bytes the node's storage uses on disk.
    pub fn storage_bytes(&self) -> u64 {
        self.cluster.storage.size_on_disk()
    }
}

/// Count leader changes seen by this node (runs for the life of Raft).
pub async fn watch_leader(raft: Raft) {
    let mut rx = raft.metrics();
    let mut leader = rx.borrow().current_leader;
    while rx.changed().await.is_ok() {
        let now = rx.borrow().current_leader;
        if now != leader {
            METRICS.leader_changes.inc();
            leader = now;
        }
    }
}

/// How often [`name_cluster`] looks whether the cluster needs an id.
const NAME_CHECK: Duration = Duration::from_secs(1);

/// Give the cluster an id when this node leads one without (runs for the
/// life of the node, on the Raft runtime).
pub async fn name_cluster(cluster: ClusterHandle) {
    let probe = Command::SetClusterId { id: String::new() };
    loop {
        tokio::time::sleep(NAME_CHECK).await;
        let m = cluster.metrics();
        let leading = m.current_leader == Some(m.id) && !cluster.is_draining();
        if !leading
            || membership::cluster_id(&cluster.sm).is_some()
            || probe.min_format() > cluster.cluster_format()
        {
            continue;
        }
        let id = format!("{:032x}", rand::random::<u128>());
        let named = Proposal::new(vec![Command::SetClusterId { id: id.clone() }]);
        match cluster.write(named).await {
            Ok(r) if r.results == [CommandResult::Done] => {
                tracing::info!(cluster_id = id, "named the cluster")
            }
            // Another leader named it first, or the write failed: look again.
            Ok(_) => {}
            Err(e) => tracing::warn!("could not name the cluster yet: {e}"),
        }
    }
}

/// The audit line of a membership change made on this (leader) node.
fn audit_change<E: std::fmt::Display>(event: &str, member: NodeId, result: &Result<(), E>) {
    match result {
        Ok(()) => tracing::info!(target: "audit", event, outcome = "success", member),
        Err(e) => tracing::info!(target: "audit", event, outcome = "failure", member, reason = %e),
    }
}
