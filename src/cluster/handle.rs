//! [`ClusterHandle`]: how actors write to and read from the replicated state.
//!
//! * `write` proposes a [`Proposal`]. A node that knows another node leads
//!   posts the proposal to the leader's `/cluster/write` (so does a node
//!   whose proposal openraft answers with `ForwardToLeader`). It retries only when the proposal certainly was not
//!   taken (no leader known yet, connection refused, "not leader"), so a write
//!   is never applied twice by a retry.
//! * `read_index` makes a following local read linearizable: the leader
//!   confirms its leadership with a quorum and names its commit index; this
//!   node waits until it has applied that index. Without a quorum it fails
//!   instead of serving stale data. Concurrent reads share the expensive
//!   part ([`super::read_batch`]): on the leader one confirmation round
//!   serves every read that arrived before it started, on a follower one
//!   call to the leader does; each read then waits only for its own node to
//!   have applied the index.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, RaftError};
use serde::{Deserialize, Serialize};

use super::read_batch::Batcher;
use super::state_machine::StateMachine;
use super::storage::Storage;
use super::write_batch::{WriteBatch, WriteOutcome};
use super::{NodeAddr, NodeId, Raft, SECRET_HEADER};
use crate::metrics::METRICS;
use crate::state::{Proposal, ProposalResult};

/// How long a write may look for a leader before giving up.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// Pause before looking for a leader again (during an election).
const RETRY_PAUSE: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    #[error("no leader is reachable; the cluster may have lost its quorum")]
    NoLeader,
    #[error("the cluster did not answer in time")]
    Timeout,
    #[error("the write's outcome is unknown: {0}")]
    Unknown(String),
    #[error("cluster not upgraded: needs format {needed}, cluster is at {cluster}; upgrade every member first")]
    NotUpgraded { needed: u32, cluster: u32 },
}

/// The answer of `/cluster/write` on the leader.
#[derive(Debug, Serialize, Deserialize)]
pub enum ForwardedWrite {
    Applied(ProposalResult),
    NotLeader,
    Failed(String),
}

/// The answer of `/cluster/read-index` on the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ReadIndex {
    Index(Option<u64>),
    NotLeader,
    Failed(String),
}

#[derive(Clone)]
pub struct ClusterHandle {
    pub raft: Raft,
    pub node_id: NodeId,
    pub sm: StateMachine,
    pub storage: Storage,
    transport: super::network::PeerTransport,
    secret: Arc<str>,
    /// The Raft runtime: forwarded writes and read-index calls are sent from
    /// it, so their pooled connections never belong to an HTTP worker's
    /// runtime that stops first during a graceful shutdown.
    rt: tokio::runtime::Handle,
    /// Set while a stopping leader hands over: it proposes nothing more, so
    /// its followers can catch up and one of them can win the election.
    draining: Arc<std::sync::atomic::AtomicBool>,
    /// What every member reports (refreshed by [`Self::watch_members`]).
    members:
        Arc<std::sync::RwLock<std::collections::BTreeMap<NodeId, super::membership::NodeInfo>>>,
    /// Leadership confirmations (as leader), shared by concurrent reads.
    leader_reads: Arc<Batcher<ReadAnswer>>,
    /// Read-index calls to the leader (as follower), shared likewise.
    follower_reads: Arc<Batcher<ReadAnswer>>,
    /// Proposals (as leader), merged into shared entries.
    leader_writes: Arc<WriteBatch>,
}

/// The answer of one read-index round.
type ReadAnswer = Result<ReadIndex, ClusterError>;

impl ClusterHandle {
    pub fn new(
        raft: Raft,
        node_id: NodeId,
        sm: StateMachine,
        storage: Storage,
        secret: &str,
        rt: tokio::runtime::Handle,
    ) -> Self {
        ClusterHandle {
            raft,
            node_id,
            sm,
            storage,
            transport: super::network::PeerTransport::plain(),
            secret: secret.into(),
            leader_reads: Batcher::new(rt.clone()),
            follower_reads: Batcher::new(rt.clone()),
            leader_writes: WriteBatch::new(rt.clone()),
            rt,
            draining: Default::default(),
            members: Default::default(),
        }
    }

    pub fn metrics(&self) -> openraft::RaftMetrics<NodeId, NodeAddr> {
        self.raft.metrics().borrow().clone()
    }

    /// Propose and wait until the proposal is committed and applied.
    pub async fn write(&self, proposal: Proposal) -> Result<ProposalResult, ClusterError> {
        let deadline = Instant::now() + WRITE_DEADLINE;
        loop {
            let other = self.leader_addr().filter(|_| !self.is_leader());
            let leader = if self.is_draining() || other.is_some() {
                // A follower forwards at once (without asking openraft
                // first); a draining node only ever forwards, and only to
                // another node.
                other
            } else {
                match self.leader_writes.write(&self.raft, proposal.clone()).await {
                    WriteOutcome::Applied(r) => return Ok(r),
                    WriteOutcome::NotLeader(leader) => leader,
                    WriteOutcome::Failed(e) => return Err(ClusterError::Unknown(e)),
                }
            };
            if let Some(node) = leader {
                match self.forward_write(&node, &proposal).await {
                    Ok(Some(result)) => return Ok(result),
                    Ok(None) => {} // not leader (any more): look again
                    Err(e) => return Err(e),
                }
            }
            if Instant::now() > deadline {
                return Err(ClusterError::NoLeader);
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// `Ok(None)` when the proposal was certainly not taken.
    async fn forward_write(
        &self,
        leader: &NodeAddr,
        p: &Proposal,
    ) -> Result<Option<ProposalResult>, ClusterError> {
        let req = self
            .peer_request(&leader.rpc_addr, "/cluster/write")
            .timeout(WRITE_DEADLINE)
            .json(p);
        match self.call_leader(req).await? {
            Some(ForwardedWrite::Applied(r)) => Ok(Some(r)),
            Some(ForwardedWrite::NotLeader) | None => Ok(None),
            Some(ForwardedWrite::Failed(e)) => Err(ClusterError::Unknown(e)),
        }
    }

    /// Send a call to the leader from the Raft runtime, whose connection
    /// pool outlives the HTTP workers, and decode its answer. `Ok(None)` when
    /// the connection was refused: the call certainly did not arrive.
    async fn call_leader<R>(&self, req: reqwest::RequestBuilder) -> Result<Option<R>, ClusterError>
    where
        R: serde::de::DeserializeOwned + Send + 'static,
    {
        let call = async move {
            let res = match req.send().await {
                Ok(r) => r,
                Err(e) if e.is_connect() => return Ok(None),
                Err(e) if e.is_timeout() => return Err(ClusterError::Timeout),
                Err(e) => return Err(ClusterError::Unknown(e.to_string())),
            };
            res.json::<R>()
                .await
                .map(Some)
                .map_err(|e| ClusterError::Unknown(e.to_string()))
        };
        self.rt
            .spawn(call)
            .await
            .unwrap_or_else(|e| Err(ClusterError::Unknown(e.to_string())))
    }

    /// The lowest data format every member knows (ours until members answer).
    /// Members that did not answer the last poll keep their last answer; a
    /// member never heard from counts as this build's format only if it is us.
    pub fn cluster_format(&self) -> u32 {
        let known = self.members.read().expect("members lock");
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config
            .membership()
            .nodes()
            .map(|(id, _)| match known.get(id) {
                Some(info) => info.format_version,
                None if *id == self.node_id => crate::state::FORMAT_VERSION,
                None => 1,
            })
            .min()
            .unwrap_or(crate::state::FORMAT_VERSION)
    }

    /// Version and format of each member, as last reported.
    pub fn member_info(&self) -> std::collections::BTreeMap<NodeId, super::membership::NodeInfo> {
        self.members.read().expect("members lock").clone()
    }

    /// Poll every member's `/cluster/info` every few seconds (every second
    /// while one was never heard from).
    pub async fn watch_members(self) {
        loop {
            let m = self.metrics();
            let nodes: Vec<(NodeId, NodeAddr)> = m
                .membership_config
                .membership()
                .nodes()
                .map(|(id, a)| (*id, a.clone()))
                .collect();
            for (id, addr) in nodes {
                let res = self
                    .peer_request(&addr.rpc_addr, "/cluster/info")
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                if let Ok(r) = res {
                    if let Ok(info) = r.json::<super::membership::NodeInfo>().await {
                        self.members.write().expect("members lock").insert(id, info);
                    }
                }
            }
            // Sooner while a member was never heard from (a new cluster):
            // its format gates what may be proposed.
            let pause = if self.all_members_known() { 5 } else { 1 };
            tokio::time::sleep(Duration::from_secs(pause)).await;
        }
    }

    /// Whether this node is a member and has heard from every member.
    fn all_members_known(&self) -> bool {
        let known = self.members.read().expect("members lock");
        let m = self.metrics();
        let mut nodes = m.membership_config.membership().nodes().peekable();
        nodes.peek().is_some() && nodes.all(|(id, _)| known.contains_key(id))
    }

    /// Stop proposing (before a leadership handover); irreversible.
    pub fn start_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The leader side of `/cluster/write`.
    pub async fn write_as_leader(&self, proposal: Proposal) -> ForwardedWrite {
        if self.is_draining() {
            return ForwardedWrite::NotLeader;
        }
        match self.leader_writes.write(&self.raft, proposal).await {
            WriteOutcome::Applied(r) => ForwardedWrite::Applied(r),
            WriteOutcome::NotLeader(_) => ForwardedWrite::NotLeader,
            WriteOutcome::Failed(e) => ForwardedWrite::Failed(e),
        }
    }

    /// The leader side of `/cluster/read-index`: confirm leadership with a
    /// quorum and return the index a linearizable read must wait for. One
    /// confirmation serves every caller that arrived before it started.
    pub async fn read_index_as_leader(&self) -> ReadIndex {
        let raft = self.raft.clone();
        let round = move || {
            let raft = raft.clone();
            async move {
                METRICS
                    .read_index_rounds
                    .with_label_values(&["leader"])
                    .inc();
                Ok(confirm_leadership(&raft).await)
            }
        };
        match self.leader_reads.run(round).await {
            Some(Ok(answer)) => answer,
            Some(Err(e)) => ReadIndex::Failed(e.to_string()),
            None => ReadIndex::Failed("the leadership confirmation failed".into()),
        }
    }

    /// Ask the leader for a read index; one call serves every caller that
    /// arrived before it was sent.
    async fn read_index_from_leader(&self) -> ReadAnswer {
        let me = self.clone();
        let round = move || {
            let me = me.clone();
            async move {
                METRICS
                    .read_index_rounds
                    .with_label_values(&["follower"])
                    .inc();
                match me.leader_addr() {
                    Some(leader) => me.ask_read_index(&leader).await,
                    None => Ok(ReadIndex::NotLeader),
                }
            }
        };
        self.follower_reads
            .run(round)
            .await
            .unwrap_or_else(|| Err(ClusterError::Unknown("the read-index call failed".into())))
    }

    /// Wait until a local read reflects every write committed before now.
    pub async fn read_index(&self, timeout: Duration) -> Result<(), ClusterError> {
        match tokio::time::timeout(timeout, self.read_index_inner(timeout)).await {
            Ok(r) => r,
            Err(_) => Err(ClusterError::Timeout),
        }
    }

    async fn read_index_inner(&self, timeout: Duration) -> Result<(), ClusterError> {
        METRICS.linearizable_reads.inc();
        loop {
            let answer = if self.is_leader() {
                self.read_index_as_leader().await
            } else if self.leader_addr().is_some() {
                self.read_index_from_leader().await?
            } else {
                ReadIndex::NotLeader
            };
            let index = match answer {
                ReadIndex::Index(i) => i,
                ReadIndex::Failed(e) => return Err(ClusterError::Unknown(e)),
                ReadIndex::NotLeader => {
                    // No leader known yet, or it just changed: look again.
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
            };
            if index > self.raft.metrics().borrow().last_applied.map(|l| l.index) {
                self.raft
                    .wait(Some(timeout))
                    .applied_index_at_least(index, "read index")
                    .await
                    .map_err(|_| ClusterError::Timeout)?;
            }
            return Ok(());
        }
    }

    /// One `/cluster/read-index` call; `NotLeader` means "ask again": the
    /// node was not (or no longer) leader, or did not take the call.
    async fn ask_read_index(&self, leader: &NodeAddr) -> ReadAnswer {
        let req = self.peer_request(&leader.rpc_addr, "/cluster/read-index");
        Ok(self.call_leader(req).await?.unwrap_or(ReadIndex::NotLeader))
    }

    /// Whether this node believes it is the leader (openraft has the last word).
    fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.node_id)
    }

    /// The current leader's addresses as this node knows them.
    pub fn leader_addr(&self) -> Option<NodeAddr> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let leader = m.current_leader?;
        m.membership_config.membership().get_node(&leader).cloned()
    }

    /// Reach peers through `transport` (mutual TLS with `[cluster.tls]`)
    /// instead of plain HTTP.
    pub fn with_transport(mut self, transport: super::network::PeerTransport) -> Self {
        self.transport = transport;
        self
    }

    /// A request to a peer's cluster port (the admin API included) over this
    /// node's transport, without credentials.
    pub fn peer_call(
        &self,
        method: reqwest::Method,
        rpc_addr: &str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.transport
            .client()
            .request(method, self.transport.url(rpc_addr, path))
    }

    /// POST a JSON body to a peer's cluster port with the cluster secret
    /// and, once applied here, the cluster id.
    pub fn peer_request(&self, rpc_addr: &str, path: &str) -> reqwest::RequestBuilder {
        let req = self
            .peer_call(reqwest::Method::POST, rpc_addr, path)
            .header(SECRET_HEADER, &*self.secret);
        match super::membership::cluster_id(&self.sm) {
            Some(id) => req.header(super::membership::CLUSTER_ID_HEADER, id),
            None => req,
        }
    }
}

/// Attempts of one leadership confirmation before a read fails.
const CONFIRM_ATTEMPTS: usize = 3;

/// One leadership confirmation: a heartbeat round to a quorum. openraft
/// gives each follower one heartbeat interval to answer; under a burst of
/// load an answer can be late, so a failed round is tried again (each try
/// is a complete round started after every caller arrived). A leader cut off
/// from the quorum fails every try and the read fails (503).
async fn confirm_leadership(raft: &Raft) -> ReadIndex {
    let mut answer = ReadIndex::NotLeader;
    for _ in 0..CONFIRM_ATTEMPTS {
        answer = match raft.get_read_log_id().await {
            Ok((read_log_id, _)) => return ReadIndex::Index(read_log_id.map(|l| l.index)),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_))) => {
                return ReadIndex::NotLeader
            }
            Err(e) => ReadIndex::Failed(e.to_string()),
        };
    }
    answer
}
