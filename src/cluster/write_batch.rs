//! [`WriteBatch`]: the leader merges concurrent proposals into one entry.
//!
//! Each node's domain actors already batch their own commands
//! ([`crate::actors::batcher`]), but every such batch used to become a log
//! entry of its own on the leader. With three nodes and several actors each
//! proposing, an entry carried about three commands under load, and every
//! entry costs an append and an `fdatasync` on each node, a replication
//! message per follower and an apply transaction per node.
//!
//! Here the leader keeps at most [`MAX_IN_FLIGHT`] client writes open. A
//! proposal that arrives while they are all busy waits, and the next free
//! writer takes every waiting proposal with the same format stamp `v` (up
//! to [`MAX_COMMANDS`] commands) as one entry. Each proposer then gets the
//! results of its own commands, in order.
//!
//! Merging changes nothing `apply` can see: the commands run in the order
//! they would have as consecutive entries, each proposal's commands stay
//! together and in order, and proposals with different format stamps are
//! never merged. Every proposer of an entry shares openraft's answer for
//! it ("not leader", another error, or the results), so each one handles
//! it exactly as it handled the answer for an entry of its own before.
//!
//! Writers run as tasks on the Raft runtime, so a proposer that gives up
//! cancels nothing shared.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::oneshot;

use super::{NodeAddr, Raft};
use crate::state::{Proposal, ProposalResult};

/// Client writes the leader keeps open at once: two, so one entry is being
/// replicated while the next one gathers proposals.
pub const MAX_IN_FLIGHT: usize = 2;
/// At most this many commands go into one merged entry (a proposal larger
/// than this on its own still goes alone).
pub const MAX_COMMANDS: usize = 1024;

/// What became of a proposal submitted on this node.
#[derive(Debug, Clone)]
pub enum WriteOutcome {
    Applied(ProposalResult),
    /// This node does not lead; the entry was not appended. The leader, if
    /// openraft knows it.
    NotLeader(Option<NodeAddr>),
    Failed(String),
}

/// Merges proposals into entries; see the module doc.
pub struct WriteBatch {
    queue: Mutex<Queue>,
    rt: tokio::runtime::Handle,
}

#[derive(Default)]
struct Queue {
    writers: usize,
    waiting: VecDeque<(Proposal, oneshot::Sender<WriteOutcome>)>,
}

impl Queue {
    /// The waiting proposals the next entry carries: the oldest one, then
    /// those after it with the same format stamp while they fit.
    fn next_batch(&mut self) -> Vec<(Proposal, oneshot::Sender<WriteOutcome>)> {
        let Some(first) = self.waiting.pop_front() else {
            return Vec::new();
        };
        let (v, mut size) = (first.0.v, first.0.commands.len());
        let mut batch = vec![first];
        while let Some((p, _)) = self.waiting.front() {
            if p.v != v || size + p.commands.len() > MAX_COMMANDS {
                break;
            }
            size += p.commands.len();
            batch.extend(self.waiting.pop_front());
        }
        batch
    }
}

impl WriteBatch {
    pub fn new(rt: tokio::runtime::Handle) -> Arc<WriteBatch> {
        Arc::new(WriteBatch {
            queue: Mutex::new(Queue::default()),
            rt,
        })
    }

    /// Propose `proposal` through `raft` (this node must believe it leads)
    /// and wait for its outcome.
    pub async fn write(self: &Arc<Self>, raft: &Raft, proposal: Proposal) -> WriteOutcome {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut q = self.queue.lock().expect("write queue lock");
            q.waiting.push_back((proposal, tx));
            let start = q.writers < MAX_IN_FLIGHT;
            q.writers += usize::from(start);
            start
        };
        if start {
            self.rt.spawn(self.clone().writer(raft.clone()));
        }
        rx.await
            .unwrap_or_else(|_| WriteOutcome::Failed("the write task stopped".into()))
    }

    /// One writer: commit merged entries until nothing waits.
    async fn writer(self: Arc<Self>, raft: Raft) {
        loop {
            let batch = {
                let mut q = self.queue.lock().expect("write queue lock");
                let batch = q.next_batch();
                if batch.is_empty() {
                    q.writers -= 1;
                    return;
                }
                batch
            };
            let (proposals, replies): (Vec<Proposal>, Vec<_>) = batch.into_iter().unzip();
            let sizes: Vec<usize> = proposals.iter().map(|p| p.commands.len()).collect();
            let merged = Proposal {
                v: proposals[0].v,
                commands: proposals.into_iter().flat_map(|p| p.commands).collect(),
            };
            let outcome = match AssertUnwindSafe(raft.client_write(merged))
                .catch_unwind()
                .await
            {
                Ok(Ok(resp)) => WriteOutcome::Applied(resp.data),
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                    WriteOutcome::NotLeader(f.leader_node)
                }
                Ok(Err(e)) => WriteOutcome::Failed(e.to_string()),
                Err(_) => WriteOutcome::Failed("the client write panicked".into()),
            };
            for (tx, part) in replies.into_iter().zip(split(outcome, &sizes)) {
                let _ = tx.send(part);
            }
        }
    }
}

/// The outcome of a merged entry, cut back into one per proposal of
/// `sizes` commands each.
fn split(outcome: WriteOutcome, sizes: &[usize]) -> Vec<WriteOutcome> {
    let WriteOutcome::Applied(all) = outcome else {
        return sizes.iter().map(|_| outcome.clone()).collect();
    };
    let mut results = all.results.into_iter();
    sizes
        .iter()
        .map(|&n| {
            WriteOutcome::Applied(ProposalResult {
                results: results.by_ref().take(n).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Command, CommandResult};

    fn proposal(v: u32, n: usize) -> Proposal {
        let cmd = Command::RevokeAccess {
            jti: "j".into(),
            exp: 1,
        };
        Proposal {
            v,
            commands: vec![cmd; n],
        }
    }

    fn queue(ps: Vec<Proposal>) -> Queue {
        Queue {
            writers: 0,
            waiting: ps.into_iter().map(|p| (p, oneshot::channel().0)).collect(),
        }
    }

    fn sizes(batch: &[(Proposal, oneshot::Sender<WriteOutcome>)]) -> Vec<usize> {
        batch.iter().map(|(p, _)| p.commands.len()).collect()
    }

    #[test]
    fn a_batch_takes_waiting_proposals_of_one_format_in_order() {
        let mut q = queue(vec![
            proposal(3, 2),
            proposal(3, 1),
            proposal(1, 4),
            proposal(3, 5),
        ]);
        assert_eq!(sizes(&q.next_batch()), [2, 1]);
        assert_eq!(sizes(&q.next_batch()), [4]);
        assert_eq!(sizes(&q.next_batch()), [5]);
        assert!(q.next_batch().is_empty());
    }

    #[test]
    fn a_batch_stops_at_the_command_bound_but_never_splits_a_proposal() {
        let mut q = queue(vec![
            proposal(3, MAX_COMMANDS - 1),
            proposal(3, 2),
            proposal(3, MAX_COMMANDS + 7),
        ]);
        assert_eq!(sizes(&q.next_batch()), [MAX_COMMANDS - 1]);
        assert_eq!(sizes(&q.next_batch()), [2]);
        assert_eq!(sizes(&q.next_batch()), [MAX_COMMANDS + 7]);
    }

    #[test]
    fn each_proposer_gets_the_results_of_its_own_commands() {
        let results = (0..6u64)
            .map(|i| CommandResult::Rejected(i.to_string()))
            .collect();
        let parts = split(
            WriteOutcome::Applied(ProposalResult { results }),
            &[1, 3, 2],
        );
        let got: Vec<Vec<CommandResult>> = parts
            .into_iter()
            .map(|o| match o {
                WriteOutcome::Applied(r) => r.results,
                other => panic!("{other:?}"),
            })
            .collect();
        let want = |r: std::ops::Range<u64>| -> Vec<CommandResult> {
            r.map(|i| CommandResult::Rejected(i.to_string())).collect()
        };
        assert_eq!(got, [want(0..1), want(1..4), want(4..6)]);
        let failed = split(WriteOutcome::NotLeader(None), &[1, 2]);
        assert!(failed
            .iter()
            .all(|o| matches!(o, WriteOutcome::NotLeader(None))));
    }
}
