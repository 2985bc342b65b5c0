//! `TokenActor`: refresh-token rotation, client-assertion replay protection
//! and the revoked-token check.
//!
//! Rotation and assertion use are Raft commands decided in `apply`; the
//! revocation check passes read-index first, so a token revoked through any
//! node is dead here once the revocation has answered (DESIGN.md invariant 2).

use std::time::Duration;

use actix::{Actor, Context, Handler, Message, ResponseActFuture, WrapFuture};

use super::batcher::{propose, Batcher, Batching};
use super::result_of;
use crate::cluster::{ClusterError, ClusterHandle};
use crate::state::tokens::Rotate;
use crate::state::{self, Command, CommandResult};

const READ_TIMEOUT: Duration = Duration::from_secs(3);

pub struct TokenActor {
    cluster: ClusterHandle,
    batcher: Batcher,
    revoked: sled::Tree,
}

impl TokenActor {
    pub fn new(cluster: ClusterHandle) -> Self {
        TokenActor {
            revoked: cluster.sm.tree("revoked_jti"),
            cluster,
            batcher: Batcher::default(),
        }
    }
}

impl Actor for TokenActor {
    type Context = Context<Self>;
}

impl Batching for TokenActor {
    fn batcher(&mut self) -> &mut Batcher {
        &mut self.batcher
    }
    fn cluster(&self) -> &ClusterHandle {
        &self.cluster
    }
}

/// Rotate a refresh token.
#[derive(Message)]
#[rtype(result = "Result<CommandResult, ClusterError>")]
pub struct RotateRefresh(pub Rotate);

/// Record a client assertion `jti`; answers `Done` or `Replayed`.
#[derive(Message)]
#[rtype(result = "Result<CommandResult, ClusterError>")]
pub struct UseAssertion {
    pub client_id: String,
    pub jti: String,
    pub exp: u64,
}

/// Whether an access token id is revoked (linearizable).
#[derive(Message)]
#[rtype(result = "Result<bool, ClusterError>")]
pub struct IsRevoked(pub String);

impl Handler<RotateRefresh> for TokenActor {
    type Result = ResponseActFuture<Self, Result<CommandResult, ClusterError>>;

    fn handle(&mut self, msg: RotateRefresh, ctx: &mut Context<Self>) -> Self::Result {
        let rx = propose(self, ctx, Command::RotateRefresh(Box::new(msg.0)));
        Box::pin(async move { result_of(rx).await }.into_actor(self))
    }
}

impl Handler<UseAssertion> for TokenActor {
    type Result = ResponseActFuture<Self, Result<CommandResult, ClusterError>>;

    fn handle(&mut self, msg: UseAssertion, ctx: &mut Context<Self>) -> Self::Result {
        let cmd = Command::UseAssertion {
            client_id: msg.client_id,
            jti: msg.jti,
            exp: msg.exp,
            now: super::now(),
        };
        let rx = propose(self, ctx, cmd);
        Box::pin(async move { result_of(rx).await }.into_actor(self))
    }
}

impl Handler<IsRevoked> for TokenActor {
    type Result = ResponseActFuture<Self, Result<bool, ClusterError>>;

    fn handle(&mut self, msg: IsRevoked, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        let revoked = self.revoked.clone();
        Box::pin(
            async move {
                cluster.read_index(READ_TIMEOUT).await?;
                Ok(state::tokens::is_revoked(&revoked, &msg.0))
            }
            .into_actor(self),
        )
    }
}
