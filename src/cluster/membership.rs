//! Cluster membership: bootstrap from configuration, add and remove nodes.
//!
//! Only the node named `bootstrap_node` initializes, and only when its own
//! log is empty *and* no other configured member reports an initialized
//! cluster, so restarting or wiping the bootstrap node never starts a second
//! cluster. Membership changes run on the leader; callers forward to it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{ClusterHandle, NodeAddr, NodeId};
use crate::config::Config;

/// What `/cluster/info` says about a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: NodeId,
    pub version: String,
    pub format_version: u32,
    pub initialized: bool,
}

/// Initialize the cluster if this node is the bootstrap node of a new cluster.
pub async fn bootstrap(handle: &ClusterHandle, config: &Config) -> anyhow::Result<()> {
    if config.node_id != config.bootstrap_node || handle.raft.is_initialized().await? {
        return Ok(());
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
                    return Ok(());
                }
            }
        }
    }
    let members = configured_members(config);
    tracing::info!(members = ?members.keys().collect::<Vec<_>>(), "initializing the cluster");
    handle.raft.initialize(members).await?;
    Ok(())
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
