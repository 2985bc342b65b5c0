//! `TokenActor`: refresh-token rotation, revocation, client-assertion replay
//! protection, token liveness checks and the expiry sweep.
//!
//! Rotation, revocation and assertion use are Raft commands decided in
//! `apply`. Liveness checks pass read-index first, so a token revoked (or a
//! session ended) through any node is dead here once that call has answered
//! (DESIGN.md invariant 2); without a quorum they fail rather than guess. On
//! the leader, a timer proposes `Sweep` commands that remove expired codes,
//! sessions, refresh tokens, revoked ids and assertion ids.

use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseActFuture, WrapFuture,
};

use super::batcher::{propose, proposed, Batcher, Batching};
use crate::clock::READ_TIMEOUT;
use crate::cluster::{ClusterError, ClusterHandle};
use crate::state::sweep::{self, Sweep};
use crate::state::tokens::Rotate;
use crate::state::{self, Command, CommandResult, RefreshRecord, TreeId};

/// How often the leader looks for expired records.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// At most this many keys per tree in one sweep command.
const SWEEP_LIMIT: usize = 500;

pub struct TokenActor {
    cluster: ClusterHandle,
    batcher: Batcher,
    revoked: sled::Tree,
    sweeping: bool,
}

impl TokenActor {
    pub fn new(cluster: ClusterHandle) -> Self {
        TokenActor {
            revoked: cluster.sm.tree(TreeId::RevokedJti),
            cluster,
            batcher: Batcher::default(),
            sweeping: false,
        }
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        let m = self.cluster.metrics();
        if self.sweeping || m.current_leader != Some(m.id) {
            return;
        }
        let before = super::now();
        let sm = &self.cluster.sm;
        let c = |tree: TreeId, f: fn(&[u8]) -> Option<u64>| {
            sweep::candidates(&sm.tree(tree), before, SWEEP_LIMIT, f)
        };
        let s = Sweep {
            before,
            codes: c(TreeId::Codes, sweep::code_expiry),
            sessions: c(TreeId::Sessions, sweep::session_expiry),
            refresh: c(TreeId::Refresh, sweep::refresh_expiry),
            families: c(TreeId::Families, sweep::family_expiry),
            revoked_jti: c(TreeId::RevokedJti, sweep::plain_expiry),
            assertions: c(TreeId::Assertions, sweep::plain_expiry),
        };
        if s.is_empty() {
            return;
        }
        let n = s.len();
        self.sweeping = true;
        let rx = propose(self, ctx, Command::Sweep(Box::new(s)));
        ctx.spawn(rx.into_actor(self).map(move |res, act, _| {
            act.sweeping = false;
            match res {
                Ok(Ok(_)) => {
                    crate::metrics::METRICS.swept.inc_by(n as u64);
                    tracing::debug!(records = n, "swept expired records");
                }
                other => tracing::warn!("sweep failed: {other:?}"),
            }
        }));
    }
}

impl Actor for TokenActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(SWEEP_INTERVAL, |act, ctx| act.sweep(ctx));
    }
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

/// Whether an access token is still good (linearizable): its `jti` is not
/// revoked and, for a session-bound token, its session has not ended.
#[derive(Message)]
#[rtype(result = "Result<bool, ClusterError>")]
pub struct AccessTokenLive {
    pub jti: String,
    /// The session it dies with (tokens without `offline_access`).
    pub bound_sid: Option<String>,
}

impl AccessTokenLive {
    /// The check for an access token's claims: offline tokens outlive their
    /// session, others die with it.
    pub fn of(claims: &serde_json::Map<String, serde_json::Value>) -> Self {
        let offline = claims
            .get("scope")
            .and_then(|s| s.as_str())
            .is_some_and(|s| s.split(' ').any(|x| x == "offline_access"));
        AccessTokenLive {
            jti: claims
                .get("jti")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            bound_sid: if offline {
                None
            } else {
                claims.get("sid").and_then(|v| v.as_str()).map(String::from)
            },
        }
    }
}

/// A refresh token that can still be used (linearizable), by hash.
#[derive(Message)]
#[rtype(result = "Result<Option<RefreshRecord>, ClusterError>")]
pub struct LiveRefresh(pub String);

/// Revoke an access token until it expires.
#[derive(Message)]
#[rtype(result = "Result<CommandResult, ClusterError>")]
pub struct RevokeAccess {
    pub jti: String,
    pub exp: u64,
}

/// Revoke a refresh token's family if `client_id` owns it.
#[derive(Message)]
#[rtype(result = "Result<CommandResult, ClusterError>")]
pub struct RevokeRefresh {
    pub hash: String,
    pub client_id: String,
}

impl Handler<RevokeAccess> for TokenActor {
    type Result = ResponseActFuture<Self, Result<CommandResult, ClusterError>>;

    fn handle(&mut self, msg: RevokeAccess, ctx: &mut Context<Self>) -> Self::Result {
        let cmd = Command::RevokeAccess {
            jti: msg.jti,
            exp: msg.exp,
        };
        proposed(self, ctx, cmd)
    }
}

impl Handler<RevokeRefresh> for TokenActor {
    type Result = ResponseActFuture<Self, Result<CommandResult, ClusterError>>;

    fn handle(&mut self, msg: RevokeRefresh, ctx: &mut Context<Self>) -> Self::Result {
        let cmd = Command::RevokeRefresh {
            hash: msg.hash,
            client_id: msg.client_id,
        };
        proposed(self, ctx, cmd)
    }
}

impl Handler<LiveRefresh> for TokenActor {
    type Result = ResponseActFuture<Self, Result<Option<RefreshRecord>, ClusterError>>;

    fn handle(&mut self, msg: LiveRefresh, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        Box::pin(
            async move {
                cluster.read_index(READ_TIMEOUT).await?;
                let (refresh, families) = (
                    cluster.sm.tree(TreeId::Refresh),
                    cluster.sm.tree(TreeId::Families),
                );
                Ok(state::tokens::live_refresh(
                    &refresh,
                    &families,
                    &msg.0,
                    super::now(),
                ))
            }
            .into_actor(self),
        )
    }
}

impl Handler<RotateRefresh> for TokenActor {
    type Result = ResponseActFuture<Self, Result<CommandResult, ClusterError>>;

    fn handle(&mut self, msg: RotateRefresh, ctx: &mut Context<Self>) -> Self::Result {
        proposed(self, ctx, Command::RotateRefresh(Box::new(msg.0)))
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
        proposed(self, ctx, cmd)
    }
}

impl Handler<AccessTokenLive> for TokenActor {
    type Result = ResponseActFuture<Self, Result<bool, ClusterError>>;

    fn handle(&mut self, msg: AccessTokenLive, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        let revoked = self.revoked.clone();
        Box::pin(
            async move {
                cluster.read_index(READ_TIMEOUT).await?;
                if state::tokens::is_revoked(&revoked, &msg.jti) {
                    return Ok(false);
                }
                Ok(match &msg.bound_sid {
                    Some(sid) => state::sessions::sid_live(
                        &cluster.sm.tree(TreeId::Sessions),
                        sid,
                        super::now(),
                    ),
                    None => true,
                })
            }
            .into_actor(self),
        )
    }
}
