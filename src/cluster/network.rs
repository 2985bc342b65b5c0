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
//! With `[cluster.tls]` the pool speaks https only, presents this node's
//! certificate and trusts only the cluster CA ([`PeerTransport`]); the peer
//! refuses any connection without such a certificate at the handshake
//! (docs/ARCHITECTURE.md invariant 6). Without it the pool speaks plain HTTP
//! (a trusted LAN or a dev machine). Either way each call also carries the
//! cluster secret in [`SECRET_HEADER`] (defence in depth), and the cluster
//! id once this node has applied it ([`super::membership::CLUSTER_ID_HEADER`]). The peer answers
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
use crate::config::ClusterTls;

/// Idle keep-alive connections kept per peer.
pub const MAX_IDLE_PER_PEER: usize = 64;
/// An idle pooled connection is closed after this, before the server closes
/// it ([`crate::node::KEEP_ALIVE`]).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// A peer that does not accept a connection within this is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The HTTP client for node-to-node calls: a keep-alive pool per peer, with
/// mutual TLS when `tls` is given.
pub fn peer_client(tls: Option<&ClusterTls>) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IDLE_PER_PEER)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_keepalive(Duration::from_secs(30))
        .tcp_nodelay(true)
        .http1_only();
    let builder = match tls {
        Some(tls) => tls.client(builder)?,
        None => builder,
    };
    builder.build().map_err(|e| e.to_string())
}

/// How this node reaches its peers' cluster ports: the shared connection
/// pool and the scheme (`https` with `[cluster.tls]`, else `http`).
#[derive(Clone)]
pub struct PeerTransport {
    client: reqwest::Client,
    scheme: &'static str,
}

impl PeerTransport {
    /// Plain HTTP (no `[cluster.tls]`).
    pub fn plain() -> PeerTransport {
        PeerTransport::new(None).expect("a plain HTTP client always builds")
    }

    /// Mutual TLS when `tls` is given; fails only on unusable TLS material.
    pub fn new(tls: Option<&ClusterTls>) -> Result<PeerTransport, String> {
        Ok(PeerTransport {
            client: peer_client(tls)?,
            scheme: if tls.is_some() { "https" } else { "http" },
        })
    }

    /// The URL of `path` on the cluster port at `rpc_addr` (host:port).
    pub fn url(&self, rpc_addr: &str, path: &str) -> String {
        format!("{}://{rpc_addr}{path}", self.scheme)
    }

    /// The shared connection pool.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// Builds one [`PeerClient`] per follower; shares one HTTP connection pool.
pub struct Network {
    transport: PeerTransport,
    secret: Arc<str>,
    /// The state tree that holds the cluster id (none in unit tests).
    cluster: Option<sled::Tree>,
}

impl Network {
    /// Plain HTTP to the peers.
    pub fn new(secret: &str) -> Network {
        Network::with_transport(secret, PeerTransport::plain())
    }

    pub fn with_transport(secret: &str, transport: PeerTransport) -> Network {
        Network {
            transport,
            secret: secret.into(),
            cluster: None,
        }
    }

    /// Send the cluster id applied in `sm` with every call.
    pub fn naming(mut self, sm: &super::state_machine::StateMachine) -> Network {
        self.cluster = Some(sm.tree(crate::state::TreeId::Cluster));
        self
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> PeerClient {
        PeerClient {
            client: self.transport.client().clone(),
            secret: self.secret.clone(),
            cluster: self.cluster.clone(),
            target,
            target_node: node.clone(),
            base: self.transport.url(&node.rpc_addr, ""),
        }
    }
}

/// Sends Raft RPCs to one peer.
pub struct PeerClient {
    client: reqwest::Client,
    secret: Arc<str>,
    cluster: Option<sled::Tree>,
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
        let mut call = self
            .client
            .post(format!("{}{}", self.base, path))
            .header(SECRET_HEADER, &*self.secret);
        if let Some(id) = self
            .cluster
            .as_ref()
            .and_then(crate::state::cluster_id::get)
        {
            call = call.header(super::membership::CLUSTER_ID_HEADER, id);
        }
        let res = call
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
            let status = res.status();
            // A refusal explains itself (e.g. a node of another cluster).
            let why = match status {
                reqwest::StatusCode::CONFLICT => res.text().await.unwrap_or_default(),
                _ => String::new(),
            };
            let e = std::io::Error::other(format!("peer {} answered {status} {why}", self.target));
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
