//! Leadership handover for a graceful stop.
//!
//! openraft 0.9 has no leader-transfer call, so a stopping leader picks the
//! follower whose replicated log matches its own last index and asks it,
//! through `/cluster/elect`, to start an election. The leader first stops
//! proposing and campaigning, so that follower's log is as long as any. The
//! other nodes refuse the first election while their leader lease runs, but
//! it makes the old leader step down; the repeated election then wins with
//! the old leader's vote. The cluster has a leader again before the old one
//! exits, and writes stall for a few round trips instead of an election
//! timeout.

use std::time::Duration;

use super::{ClusterHandle, NodeId};

/// The least time a follower gets to take over. The caller's budget is
/// derived from the election timeout, which is short on a LAN (a few hundred
/// ms); a busy node needs longer for the round trips of a handover.
const MIN_WAIT: Duration = Duration::from_secs(3);

/// If this node leads, hand leadership to an up-to-date follower and wait
/// (at least [`MIN_WAIT`]) until another node leads. Returns the new leader,
/// if any.
pub async fn hand_over(handle: &ClusterHandle, wait: Duration) -> Option<NodeId> {
    let wait = wait.max(MIN_WAIT);
    if handle.metrics().current_leader != Some(handle.node_id) {
        return None;
    }
    // No new proposals from here on, and no campaign of our own: followers
    // catch up with our last entry and one of them wins the election.
    handle.start_draining();
    handle.raft.runtime_config().elect(false);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let m = handle.metrics();
    let last = m.last_log_index;
    let mut followers: Vec<(NodeId, Option<u64>)> = m
        .replication
        .as_ref()
        .map(|r| {
            r.iter()
                .filter(|(id, _)| **id != m.id)
                .map(|(id, matched)| (*id, matched.map(|l| l.index)))
                .collect()
        })
        .unwrap_or_default();
    let voters = super::membership::voter_ids(handle);
    followers.retain(|(id, _)| voters.contains(id));
    if followers.is_empty() {
        return None; // a cluster of one: nobody to hand over to
    }
    // Most up to date first.
    followers.sort_by_key(|f| std::cmp::Reverse(f.1));
    for (id, matched) in followers {
        if matched < last {
            // Give replication a moment to catch up before asking.
            let _ = handle
                .raft
                .wait(Some(Duration::from_millis(500)))
                .metrics(
                    |m| {
                        m.replication
                            .as_ref()
                            .and_then(|r| r.get(&id).cloned().flatten())
                            .map(|l| l.index)
                            >= m.last_log_index
                    },
                    "follower caught up",
                )
                .await;
        }
        let Some(addr) = m.membership_config.membership().get_node(&id).cloned() else {
            continue;
        };
        // The first election is refused by nodes whose leader lease is still
        // running, but it makes us step down; asking again right away wins
        // with our vote. Keep asking until another node leads.
        let me = m.id;
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            let asked = handle
                .peer_request(&addr.rpc_addr, "/cluster/elect")
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if !matches!(&asked, Ok(r) if r.status().is_success()) {
                tracing::warn!(follower = id, "could not ask the follower to take over");
                break;
            }
            let changed = handle
                .raft
                .wait(Some(Duration::from_millis(150)))
                .metrics(
                    |m| m.current_leader.is_some() && m.current_leader != Some(me),
                    "new leader",
                )
                .await;
            if let Ok(now) = changed {
                tracing::info!(new_leader = ?now.current_leader, "leadership handed over");
                return now.current_leader;
            }
        }
    }
    tracing::warn!(
        "no follower took over; the cluster will elect a leader after the election timeout"
    );
    None
}
