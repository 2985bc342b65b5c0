//! Outbound Raft RPCs: JSON over HTTP to a peer's cluster port.
//!
//! Connections are long-lived: [`peer_client`] builds the one HTTP/1.1
//! keep-alive pool used for Raft RPCs (and, in [`super::handle`], for
//! forwarded writes and read-index calls). HTTP/1.1 keep-alive was chosen
//! over HTTP/2 or a framed protocol because the cluster port is served by
//! actix-web, which speaks HTTP/2 only over TLS, and because a pool sized for
//! the real concurrency removes the churn just as well: per peer there are at
//! most a replication stream, a heartbeat, one read-index round (reads are
//! batched, see [`super::read_batch`]), votes, and the forwarded writes the
//! actors' batchers send, so [`MAX_IDLE_PER_PEER`] idle connections cover
//! every burst and no connection is closed after each call (before, four idle
//! connections per peer left ~22,000 sockets in TIME_WAIT after ten seconds
//! of introspection). Idle connections are dropped by the client after
//! [`IDLE_TIMEOUT`], shorter than the server's 5 s keep-alive, so the client
//! never reuses a socket the server is closing at that moment (a forwarded
//! write sent on such a socket would have an unknown outcome). Nagle is off
//! (small request/response pairs) and TCP keepalive notices a vanished peer.
//!
//! Each call carries the cluster secret in [`SECRET_HEADER`]. The peer answers
//! with a JSON `Result<Response, RaftError>`; a remote error comes back as
//! openraft's `RemoteError`, a refused connection as `Unreachable` (openraft
//! backs off), anything else as a `NetworkError`.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{de::DeserializeOwned, Serialize};

use super::{NodeAddr, NodeId, TypeConfig, SECRET_HEADER};

/// Idle keep-alive connections kept per peer.
pub const MAX_IDLE_PER_PEER: usize = 64;
/// An idle pooled connection is closed after this (server keep-alive: 5 s).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// A peer that does not accept a connection within this is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The HTTP client for node-to-node calls: a keep-alive pool per peer.
pub fn peer_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IDLE_PER_PEER)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_keepalive(Duration::from_secs(30))
        .tcp_nodelay(true)
        .http1_only()
        .build()
        .expect("HTTP client")
}

/// Builds one [`PeerClient`] per follower; shares one HTTP connection pool.
pub struct Network {
    client: reqwest::Client,
    secret: Arc<str>,
}

impl Network {
    pub fn new(secret: &str) -> Network {
        Network {
            client: peer_client(),
            secret: secret.into(),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> PeerClient {
        PeerClient {
            client: self.client.clone(),
            secret: self.secret.clone(),
            target,
            target_node: node.clone(),
            base: format!("http://{}", node.rpc_addr),
        }
    }
}

/// Sends Raft RPCs to one peer.
pub struct PeerClient {
    client: reqwest::Client,
    secret: Arc<str>,
    target: NodeId,
    target_node: NodeAddr,
    base: String,
}

type RpcErr<E> = RPCError<NodeId, NodeAddr, E>;

impl PeerClient {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RpcErr<E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let res = self
            .client
            .post(format!("{}{}", self.base, path))
            .header(SECRET_HEADER, &*self.secret)
            .timeout(option.hard_ttl())
            .json(req)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        if !res.status().is_success() {
            let e =
                std::io::Error::other(format!("peer {} answered {}", self.target, res.status()));
            return Err(RPCError::Network(NetworkError::new(&e)));
        }
        let body: Result<Resp, E> = res
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        body.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.target_node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr<RaftError<NodeId>>> {
        self.call("/raft/append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<RaftError<NodeId, InstallSnapshotError>>>
    {
        self.call("/raft/snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr<RaftError<NodeId>>> {
        self.call("/raft/vote", &rpc, &option).await
    }
}
