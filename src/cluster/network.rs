//! Outbound Raft RPCs: JSON over HTTP to a peer's cluster port.
//!
//! Each call carries the cluster secret in [`SECRET_HEADER`]. The peer answers
//! with a JSON `Result<Response, RaftError>`; a remote error comes back as
//! openraft's `RemoteError`, a refused connection as `Unreachable` (openraft
//! backs off), anything else as a `NetworkError`.

use std::sync::Arc;

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

/// Builds one [`PeerClient`] per follower; shares one HTTP connection pool.
pub struct Network {
    client: reqwest::Client,
    secret: Arc<str>,
}

impl Network {
    pub fn new(secret: &str) -> Network {
        Network {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(4)
                .tcp_nodelay(true)
                .build()
                .expect("HTTP client"),
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
