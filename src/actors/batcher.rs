//! Group commit for domain actors.
//!
//! A domain actor owns a [`Batcher`] and calls [`propose`] (or
//! [`propose_then`]) for each command.
//! While fewer than `max_in_flight` proposals are outstanding, pending
//! commands are sent at once as one [`Proposal`] (one Raft entry); commands
//! that arrive meanwhile wait and leave together with the next proposal. Under
//! load a log entry carries many commands and pays one quorum round trip and
//! one fsync per node for all of them.
//!
//! The queue is bounded: with more than `max_pending` commands waiting, a new
//! one is refused at once with a [`ClusterError`] (a 503) rather than queued
//! without limit. [`propose_if_known`] proposes only if the record the command
//! acts on exists (here, or else after read-index), so a random code or token
//! sent anonymously commits no log entry.

use std::time::Instant;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, WrapFuture};
use tokio::sync::oneshot;

use crate::clock::READ_TIMEOUT;
use crate::cluster::{ClusterError, ClusterHandle};
use crate::metrics::METRICS;
use crate::state::{Command, CommandResult, Proposal, TreeId};

/// At most this many commands wait for a proposal slot; more are refused.
const MAX_PENDING: usize = 4096;

type Reply = oneshot::Sender<Result<CommandResult, ClusterError>>;

pub struct Batcher {
    pending: Vec<(Command, Reply)>,
    in_flight: usize,
    max_in_flight: usize,
    max_batch: usize,
    max_pending: usize,
}

impl Batcher {
    /// Whether the queue is full: a new command is then refused.
    fn full(&self) -> bool {
        self.pending.len() >= self.max_pending
    }
}

impl Default for Batcher {
    fn default() -> Self {
        Batcher {
            pending: Vec::new(),
            in_flight: 0,
            max_in_flight: 2,
            max_batch: 512,
            max_pending: MAX_PENDING,
        }
    }
}

/// An actor that proposes commands through a [`Batcher`].
pub trait Batching: Actor<Context = Context<Self>> {
    fn batcher(&mut self) -> &mut Batcher;
    fn cluster(&self) -> &ClusterHandle;
}

/// Queue a command; the receiver yields its result once applied.
pub fn propose<A: Batching>(
    act: &mut A,
    ctx: &mut Context<A>,
    cmd: Command,
) -> oneshot::Receiver<Result<CommandResult, ClusterError>> {
    let (tx, rx) = oneshot::channel();
    if let Some(e) = too_new(&cmd, act.cluster().cluster_format()) {
        let _ = tx.send(Err(e));
        return rx;
    }
    if act.batcher().full() {
        let _ = tx.send(Err(ClusterError::Timeout));
        return rx;
    }
    act.batcher().pending.push((cmd, tx));
    flush(act, ctx);
    rx
}

/// Propose `cmd` and answer with `then` of its result once applied: the
/// whole handler of a message that builds exactly one command.
pub fn propose_then<A, T, F>(
    act: &mut A,
    ctx: &mut Context<A>,
    cmd: Command,
    then: F,
) -> actix::ResponseActFuture<A, Result<T, ClusterError>>
where
    A: Batching,
    T: 'static,
    F: FnOnce(CommandResult) -> Result<T, ClusterError> + 'static,
{
    let rx = propose(act, ctx, cmd);
    Box::pin(async move { then(super::result_of(rx).await?) }.into_actor(act))
}

/// Like [`propose_then`], but only if `key` exists in `tree`: looked up
/// locally, and if absent there, again after read-index (it may have been
/// written through another node a moment ago). If it does not exist, answer
/// `unknown` and propose nothing. The command itself still decides in
/// `apply` (a record that exists may be spent, e.g. a redeemed code), so
/// single use is unchanged (docs/ARCHITECTURE.md invariant 1).
pub fn propose_if_known<A: Batching, T: 'static>(
    act: &mut A,
    ctx: &mut Context<A>,
    (tree, key): (TreeId, String),
    cmd: Command,
    unknown: T,
    then: impl FnOnce(CommandResult) -> Result<T, ClusterError> + 'static,
) -> actix::ResponseActFuture<A, Result<T, ClusterError>> {
    let tree = act.cluster().sm.tree(tree);
    // A storage error counts as present: `apply` then decides.
    let exists = move || tree.contains_key(key.as_bytes()).unwrap_or(true);
    if exists() {
        return propose_then(act, ctx, cmd, then);
    }
    let cluster = act.cluster().clone();
    Box::pin(
        async move { cluster.read_index(READ_TIMEOUT).await }
            .into_actor(act)
            .then(move |res, act, ctx| match res {
                Err(e) => Box::pin(actix::fut::ready(Err(e))),
                Ok(()) if !exists() => Box::pin(actix::fut::ready(Ok(unknown))),
                Ok(()) => propose_then(act, ctx, cmd, then),
            }),
    )
}

/// Why `cmd` cannot be proposed to a cluster at `cluster_format`, if it
/// cannot: a member might not know it (rolling upgrade, `state::version`).
fn too_new(cmd: &Command, cluster_format: u32) -> Option<ClusterError> {
    (cmd.min_format() > cluster_format).then(|| ClusterError::NotUpgraded {
        needed: cmd.min_format(),
        cluster: cluster_format,
    })
}

fn flush<A: Batching>(act: &mut A, ctx: &mut Context<A>) {
    loop {
        let format = act.cluster().cluster_format();
        let b = act.batcher();
        if b.in_flight >= b.max_in_flight || b.pending.is_empty() {
            return;
        }
        let n = b.pending.len().min(b.max_batch);
        // Checked again as the batch leaves: a proposal never carries a
        // command a member (as now reported) cannot decode.
        let mut batch: Vec<(Command, Reply)> = Vec::with_capacity(n);
        for (cmd, tx) in b.pending.drain(..n) {
            match too_new(&cmd, format) {
                Some(e) => drop(tx.send(Err(e))),
                None => batch.push((cmd, tx)),
            }
        }
        if batch.is_empty() {
            continue;
        }
        b.in_flight += 1;
        let proposal = Proposal::new(batch.iter().map(|(c, _)| c.clone()).collect());
        METRICS.proposals.inc_by(batch.len() as u64);
        METRICS.proposal_batches.inc();
        let cluster = act.cluster().clone();
        let started = Instant::now();
        let fut = async move { cluster.write(proposal).await }
            .into_actor(act)
            .map(move |res, act: &mut A, ctx| {
                METRICS
                    .commit_seconds
                    .observe(started.elapsed().as_secs_f64());
                match res {
                    Ok(r) => {
                        for ((_, tx), result) in batch.into_iter().zip(r.results) {
                            let _ = tx.send(Ok(result));
                        }
                    }
                    Err(e) => {
                        for (_, tx) in batch {
                            let _ = tx.send(Err(e.clone()));
                        }
                    }
                }
                act.batcher().in_flight -= 1;
                flush(act, ctx);
            });
        ctx.spawn(fut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_full_at_its_bound() {
        let mut b = Batcher {
            max_pending: 3,
            ..Batcher::default()
        };
        let cmd = || Command::RevokeAccess {
            jti: "j".into(),
            exp: 1,
        };
        for _ in 0..3 {
            assert!(!b.full());
            b.pending.push((cmd(), oneshot::channel().0));
        }
        assert!(b.full());
        assert_eq!(Batcher::default().max_pending, MAX_PENDING);
    }

    #[test]
    fn a_command_newer_than_the_cluster_format_is_not_upgraded() {
        let disable = Command::SetUserDisabled {
            username: "u".into(),
            disabled: true,
        };
        let revoke = Command::RevokeAccess {
            jti: "j".into(),
            exp: 1,
        };
        assert!(too_new(&revoke, 1).is_none());
        assert!(too_new(&disable, 2).is_none());
        let e = too_new(&disable, 1).expect("refused at format 1");
        assert_eq!(
            e.to_string(),
            "cluster not upgraded: needs format 2, cluster is at 1; upgrade every member first"
        );
    }
}
