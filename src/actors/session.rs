//! `SessionActor`: login sessions and consents.
//!
//! A session is created after a successful login: the actor picks the cookie
//! value, the public `sid` and the timestamps, and proposes the record keyed
//! by the cookie's hash. Lookups pass read-index first, so a session created
//! (or, later, ended) through any node is seen here at once.

use std::time::Duration;

use actix::{Actor, Context, Handler, Message, ResponseActFuture, WrapFuture};

use super::batcher::{propose, Batcher, Batching};
use super::result_of;
use crate::clock::now;
use crate::clock::READ_TIMEOUT;
use crate::cluster::{ClusterError, ClusterHandle};
use crate::crypto::{random_id, random_secret, sha256_hex};
use crate::state::{self, Command, SessionRecord, FORMAT_VERSION};

pub struct SessionActor {
    cluster: ClusterHandle,
    batcher: Batcher,
    sessions: sled::Tree,
    consents: sled::Tree,
    lifetime: u64,
}

impl SessionActor {
    pub fn new(cluster: ClusterHandle, lifetime: Duration) -> Self {
        SessionActor {
            sessions: cluster.sm.tree(crate::state::TreeId::Sessions),
            consents: cluster.sm.tree(crate::state::TreeId::Consents),
            cluster,
            batcher: Batcher::default(),
            lifetime: lifetime.as_secs(),
        }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;
}

impl Batching for SessionActor {
    fn batcher(&mut self) -> &mut Batcher {
        &mut self.batcher
    }
    fn cluster(&self) -> &ClusterHandle {
        &self.cluster
    }
}

/// Start a session for a user who just logged in; answers (cookie value, record).
#[derive(Message)]
#[rtype(result = "Result<(String, SessionRecord), ClusterError>")]
pub struct StartSession {
    pub sub: String,
    pub username: String,
}

/// Look up the live session behind a cookie value.
#[derive(Message)]
#[rtype(result = "Result<Option<SessionRecord>, ClusterError>")]
pub struct FindSession(pub String);

/// End a session (by `sid`) on every node.
#[derive(Message)]
#[rtype(result = "Result<(), ClusterError>")]
pub struct EndSession(pub String);

/// Remember a consent.
#[derive(Message)]
#[rtype(result = "Result<(), ClusterError>")]
pub struct GrantConsent {
    pub sub: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// Whether every scope was consented to before.
#[derive(Message)]
#[rtype(result = "Result<bool, ClusterError>")]
pub struct HasConsent {
    pub sub: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

impl Handler<StartSession> for SessionActor {
    type Result = ResponseActFuture<Self, Result<(String, SessionRecord), ClusterError>>;

    fn handle(&mut self, msg: StartSession, ctx: &mut Context<Self>) -> Self::Result {
        let cookie = random_secret();
        let t = now();
        let session = SessionRecord {
            v: FORMAT_VERSION,
            sid: random_id(),
            sub: msg.sub,
            username: msg.username,
            auth_time: t,
            expires_at: t + self.lifetime,
            ended: false,
        };
        let rx = propose(
            self,
            ctx,
            Command::CreateSession {
                key: sha256_hex(&cookie),
                session: session.clone(),
            },
        );
        Box::pin(
            async move {
                result_of(rx).await?;
                Ok((cookie, session))
            }
            .into_actor(self),
        )
    }
}

impl Handler<EndSession> for SessionActor {
    type Result = ResponseActFuture<Self, Result<(), ClusterError>>;

    fn handle(&mut self, msg: EndSession, ctx: &mut Context<Self>) -> Self::Result {
        let rx = propose(self, ctx, Command::EndSession { sid: msg.0 });
        Box::pin(
            async move {
                result_of(rx).await?;
                Ok(())
            }
            .into_actor(self),
        )
    }
}

impl Handler<FindSession> for SessionActor {
    type Result = ResponseActFuture<Self, Result<Option<SessionRecord>, ClusterError>>;

    fn handle(&mut self, msg: FindSession, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        let sessions = self.sessions.clone();
        Box::pin(
            async move {
                cluster.read_index(READ_TIMEOUT).await?;
                Ok(state::sessions::get(&sessions, &sha256_hex(&msg.0), now()))
            }
            .into_actor(self),
        )
    }
}

impl Handler<GrantConsent> for SessionActor {
    type Result = ResponseActFuture<Self, Result<(), ClusterError>>;

    fn handle(&mut self, msg: GrantConsent, ctx: &mut Context<Self>) -> Self::Result {
        let rx = propose(
            self,
            ctx,
            Command::GrantConsent {
                sub: msg.sub,
                client_id: msg.client_id,
                scopes: msg.scopes,
                now: now(),
            },
        );
        Box::pin(
            async move {
                result_of(rx).await?;
                Ok(())
            }
            .into_actor(self),
        )
    }
}

impl Handler<HasConsent> for SessionActor {
    type Result = ResponseActFuture<Self, Result<bool, ClusterError>>;

    fn handle(&mut self, msg: HasConsent, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        let consents = self.consents.clone();
        Box::pin(
            async move {
                cluster.read_index(READ_TIMEOUT).await?;
                Ok(state::sessions::consented(
                    &consents,
                    &msg.sub,
                    &msg.client_id,
                    &msg.scopes,
                ))
            }
            .into_actor(self),
        )
    }
}
