//! Cluster membership: bootstrap from configuration, add and remove nodes,
//! and the cluster id every node-to-node call carries.
//!
//! A node never initializes a cluster on its own. Only the node named
//! `bootstrap_node`, started with `tessera serve --bootstrap` (or as
//! `serve --dev`), initializes, and only when its own log is empty *and* no
//! other configured member reports an initialized cluster. A node whose data
//! was wiped and that is started as usual waits to be joined: its peers'
//! leader replicates the log (or a snapshot) to it. So restarting or wiping
//! the bootstrap node never starts a second cluster.
//!
//! The cluster id (see [`crate::state::cluster_id`] for why it is replicated
//! state) goes out in [`CLUSTER_ID_HEADER`] on every call to a peer once this
//! node has applied it; the cluster port refuses a call that names another
//! id (`super::rpc`). A node without an id yet (new, wiped, or not caught up
//! since the upgrade that introduced ids) accepts calls and learns the id
//! from the leader's log like any other state. Membership changes run on the
//! leader; callers forward to it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::state_machine::StateMachine;
use super::{ClusterHandle, NodeAddr, NodeId};
use crate::config::Config;
use crate::state::TreeId;

/// Header that carries the caller's cluster id on node-to-node calls.
pub const CLUSTER_ID_HEADER: &str = "x-tessera-cluster-id";

/// The cluster id as applied on this node, if it has one yet.
pub fn cluster_id(sm: &StateMachine) -> Option<String> {
    crate::state::cluster_id::get(&sm.tree(TreeId::Cluster))
}

/// What `/cluster/info` says about a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: NodeId,
    pub version: String,
    pub format_version: u32,
    pub initialized: bool,
    /// The cluster id as applied on the node (absent before it has one,
    /// and from releases without ids).
    #[serde(default)]
    pub cluster_id: Option<String>,
}

/// Initialize the cluster if this node is the bootstrap node of a new
/// cluster and was told to (`explicit`: `serve --bootstrap` or `--dev`).
/// `Ok(true)` if it initialized the cluster now.
pub async fn bootstrap(
    handle: &ClusterHandle,
    config: &Config,
    explicit: bool,
) -> anyhow::Result<bool> {
    if config.node_id != config.bootstrap_node || handle.raft.is_initialized().await? {
        return Ok(false);
    }
    if !explicit {
        tracing::warn!(
            "this node has no cluster state and was not started with --bootstrap: \
             waiting to be joined by the cluster's leader (start a new cluster with \
             `tessera serve --bootstrap` on node {} once)",
            config.bootstrap_node
        );
        return Ok(false);
    }
    for m in config.members.values().filter(|m| m.id != config.node_id) {
        let info = handle
            .peer_request(&m.rpc_addr, "/cluster/info")
            .timeout(std::time::Duration::from_secs(2))
            .send()
            .await;
        if let Ok(resp) = info {
            if let Ok(info) = resp.json::<NodeInfo>().await {
                if info.initialized {
                    tracing::warn!(
                        peer = m.id,
                        "a peer already belongs to an initialized cluster; not bootstrapping"
                    );
                    return Ok(false);
                }
            }
        }
    }
    let members = configured_members(config);
    tracing::info!(members = ?members.keys().collect::<Vec<_>>(), "initializing the cluster");
    handle.raft.initialize(members).await?;
    Ok(true)
}

/// The members `cluster.toml` lists, as Raft nodes (all voters at
/// bootstrap, and in a cluster seeded by `tessera restore`).
pub fn configured_members(config: &Config) -> BTreeMap<NodeId, NodeAddr> {
    config
        .members
        .values()
        .map(|m| {
            (
                m.id,
                NodeAddr {
                    http_addr: m.http_addr.clone(),
                    rpc_addr: m.rpc_addr.clone(),
                },
            )
        })
        .collect()
}

/// Add a node as a learner, wait for it to catch up, then make it a voter.
pub async fn add_node(handle: &ClusterHandle, id: NodeId, addr: NodeAddr) -> anyhow::Result<()> {
    handle.raft.add_learner(id, addr, true).await?;
    let mut voters = voter_ids(handle);
    voters.insert(id);
    handle.raft.change_membership(voters, false).await?;
    Ok(())
}

/// Remove a node from the voters and from the cluster.
pub async fn remove_node(handle: &ClusterHandle, id: NodeId) -> anyhow::Result<()> {
    let mut voters = voter_ids(handle);
    if !voters.remove(&id) {
        anyhow::bail!("node {id} is not a voter");
    }
    if voters.is_empty() {
        anyhow::bail!("cannot remove the last voter");
    }
    handle.raft.change_membership(voters, false).await?;
    Ok(())
}

pub fn voter_ids(handle: &ClusterHandle) -> BTreeSet<NodeId> {
    handle
        .metrics()
        .membership_config
        .membership()
        .voter_ids()
        .collect()
}
