//! `SessionActor`: login sessions and consents.
//!
//! A session is created after a successful login: the actor picks the cookie
//! value, the public `sid` and the timestamps, and proposes the record keyed
//! by the cookie's hash. Lookups pass read-index first, so a session created
//! (or, later, ended) through any node is seen here at once
//! (docs/ARCHITECTURE.md invariant 2); they then read through an exact cache
//! that `apply` invalidates (invariant 9), so a hot session is not
//! deserialized on every request.

use std::time::{Duration, Instant};

use actix::{Actor, ActorFutureExt, Context, Handler, Message, ResponseActFuture, WrapFuture};

use super::batcher::{propose, Batcher, Batching};
use super::logout_delivery;
use super::result_of;
use crate::clock::now;
use crate::clock::READ_TIMEOUT;
use crate::cluster::{ClusterError, ClusterHandle};
use crate::crypto::{random_id, random_secret, sha256_hex};
use crate::state::{self, Command, CommandResult, TreeCache, TreeId, FIRST_FORMAT};

pub use crate::state::{LogoutOutcome, SessionRecord};

/// Sessions cached by cookie hash (bounded).
const CACHE_CAPACITY: usize = 10_000;
/// Counting live sessions scans a tree: at most this often.
const COUNT_EVERY: Duration = Duration::from_secs(15);

pub struct SessionActor {
    cluster: ClusterHandle,
    batcher: Batcher,
    sessions: sled::Tree,
    consents: sled::Tree,
    cache: TreeCache<SessionRecord>,
    lifetime: u64,
    /// The last live-session count and when it was taken.
    counted: Option<(Instant, usize)>,
}

impl SessionActor {
    pub fn new(cluster: ClusterHandle, lifetime: Duration) -> Self {
        let generations = cluster.sm.generations();
        SessionActor {
            sessions: cluster.sm.tree(TreeId::Sessions),
            consents: cluster.sm.tree(TreeId::Consents),
            cache: TreeCache::new(TreeId::Sessions, generations, CACHE_CAPACITY),
            cluster,
            batcher: Batcher::default(),
            lifetime: lifetime.as_secs(),
            counted: None,
        }
    }
}

/// The live session stored under `key`, through the cache.
fn live_session(
    cache: &TreeCache<SessionRecord>,
    sessions: &sled::Tree,
    key: &str,
    now: u64,
) -> Option<SessionRecord> {
    cache
        .get_or_load(key, || state::sessions::get(sessions, key, now))
        .filter(|s| !s.ended && s.expires_at > now)
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
    /// The client that gets a code right after this login, if it does:
    /// the session is created listing it (once the cluster takes format
    /// 2), so issuing the code writes nothing more.
    pub first_client: Option<String>,
}

/// Look up the live session behind a cookie value.
#[derive(Message)]
#[rtype(result = "Result<Option<SessionRecord>, ClusterError>")]
pub struct FindSession(pub String);

/// End a session (by `sid`) on every node.
#[derive(Message)]
#[rtype(result = "Result<(), ClusterError>")]
pub struct EndSession(pub String);

/// The live sessions of a user (after read-index), for the admin API.
#[derive(Message)]
#[rtype(result = "Result<Vec<SessionRecord>, ClusterError>")]
pub struct UserSessions(pub String);

/// End every live session of a user, with back-channel logout.
#[derive(Message)]
#[rtype(result = "Result<LogoutOutcome, ClusterError>")]
pub struct EndUserSessions(pub String);

/// Remember a consent. `scopes` are the consent items of the request
/// (`AuthRequest::consent_items`: scopes and `claim:NAME` entries).
#[derive(Message)]
#[rtype(result = "Result<(), ClusterError>")]
pub struct GrantConsent {
    pub sub: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// Whether every item (scope or `claim:NAME`, as in [`GrantConsent`]) was
/// consented to before.
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
        let clients = match msg.first_client {
            Some(c) if self.cluster.cluster_format() >= 2 => vec![c],
            _ => vec![],
        };
        let session = SessionRecord {
            v: FIRST_FORMAT,
            sid: random_id(),
            sub: msg.sub,
            username: msg.username,
            auth_time: t,
            expires_at: t + self.lifetime,
            ended: false,
            clients,
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
        // Back-channel logout needs format 2; before every node has it, the
        // session ends without notification.
        let cmd = if self.cluster.cluster_format() >= 2 {
            Command::LogoutSession {
                sid: msg.0,
                now: now(),
            }
        } else {
            Command::EndSession { sid: msg.0 }
        };
        let rx = propose(self, ctx, cmd);
        Box::pin(
            async move {
                if let CommandResult::LoggedOut(o) = result_of(rx).await? {
                    logout_delivery::report(&o);
                }
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
        let cache = self.cache.clone();
        Box::pin(
            async move {
                cluster.read_index(READ_TIMEOUT).await?;
                let key = sha256_hex(&msg.0);
                Ok(live_session(&cache, &sessions, &key, now()))
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

impl Handler<UserSessions> for SessionActor {
    type Result = ResponseActFuture<Self, Result<Vec<SessionRecord>, ClusterError>>;

    fn handle(&mut self, msg: UserSessions, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        let sessions = self.sessions.clone();
        Box::pin(
            async move {
                cluster.read_index(READ_TIMEOUT).await?;
                Ok(state::sessions::of_user(&sessions, &msg.0, now()))
            }
            .into_actor(self),
        )
    }
}

impl Handler<EndUserSessions> for SessionActor {
    type Result = ResponseActFuture<Self, Result<LogoutOutcome, ClusterError>>;

    /// Lists the user's sessions after read-index, then ends them in one
    /// command (`apply` skips any that ended meanwhile or are not the
    /// user's). A session started after the listing stays.
    fn handle(&mut self, msg: EndUserSessions, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        let sessions = self.sessions.clone();
        Box::pin(
            async move {
                cluster.read_index(READ_TIMEOUT).await?;
                let sids = state::sessions::of_user(&sessions, &msg.0, now())
                    .into_iter()
                    .map(|s| s.sid)
                    .collect::<Vec<_>>();
                Ok((msg.0, sids))
            }
            .into_actor(self)
            .then(|listed, act, ctx| -> Self::Result {
                let rx = match listed {
                    Ok((username, sids)) if !sids.is_empty() => Some(propose(
                        act,
                        ctx,
                        Command::EndUserSessions {
                            username,
                            sids,
                            now: now(),
                        },
                    )),
                    Ok(_) => None,
                    Err(e) => return Box::pin(actix::fut::ready(Err(e))),
                };
                Box::pin(
                    async move {
                        let Some(rx) = rx else {
                            return Ok(LogoutOutcome::default());
                        };
                        match result_of(rx).await? {
                            CommandResult::LoggedOut(o) => {
                                logout_delivery::report(&o);
                                Ok(o)
                            }
                            other => Err(ClusterError::Unknown(format!("{other:?}"))),
                        }
                    }
                    .into_actor(act),
                )
            }),
        )
    }
}

/// How many sessions are live (for `/metrics`); counted at most every 15 s.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountLive;

impl Handler<CountLive> for SessionActor {
    type Result = usize;

    fn handle(&mut self, _: CountLive, _: &mut Context<Self>) -> usize {
        match self.counted {
            Some((at, n)) if at.elapsed() < COUNT_EVERY => n,
            _ => {
                let n = state::sessions::count_live(&self.sessions, now());
                self.counted = Some((Instant::now(), n));
                n
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::directory::testing::{apply, state_machine};

    fn session(sid: &str, expires_at: u64) -> SessionRecord {
        SessionRecord {
            v: FIRST_FORMAT,
            sid: sid.into(),
            sub: "sub-1".into(),
            username: "alice".into(),
            auth_time: 1,
            expires_at,
            ended: false,
            clients: vec![],
        }
    }

    #[tokio::test]
    async fn a_cached_session_stops_being_live_when_ended_or_expired() {
        let (_dir, mut sm) = state_machine();
        let tree = sm.tree(TreeId::Sessions);
        let cache = TreeCache::new(TreeId::Sessions, sm.generations(), 10);
        let create = |sid: &str| Command::CreateSession {
            key: format!("key-{sid}"),
            session: session(sid, 100),
        };
        apply(&mut sm, vec![create("a"), create("b")]).await;
        assert_eq!(
            live_session(&cache, &tree, "key-a", 50).map(|s| s.sid),
            Some("a".into())
        );
        assert!(
            live_session(&cache, &tree, "key-b", 100).is_none(),
            "expired"
        );
        apply(&mut sm, vec![Command::EndSession { sid: "a".into() }]).await;
        assert!(live_session(&cache, &tree, "key-a", 50).is_none(), "ended");
    }

    #[tokio::test]
    async fn claim_entries_need_their_own_consent() {
        // What a v1 record holds (scopes only) does not cover claim entries.
        let (_dir, mut sm) = state_machine();
        let consents = sm.tree(TreeId::Consents);
        let items = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let grant = |scopes: Vec<String>| Command::GrantConsent {
            sub: "sub-1".into(),
            client_id: "rp".into(),
            scopes,
            now: 1,
        };
        let openid = items(&["openid"]);
        let with_claims = items(&["openid", "claim:email", "claim:phone_number"]);
        let has =
            |client: &str, v: &[String]| state::sessions::consented(&consents, "sub-1", client, v);
        apply(&mut sm, vec![grant(openid.clone())]).await;
        assert!(has("rp", &openid));
        assert!(!has("rp", &with_claims));
        apply(&mut sm, vec![grant(with_claims.clone())]).await;
        assert!(has("rp", &with_claims));
        assert!(!has("other", &with_claims));
    }
}
