//! `DirectoryActor`: users and clients.
//!
//! Writes hash the password or secret on the `PasswordActor` pool, build the
//! record (id and timestamp chosen here, never in `apply`), and propose it
//! through the actor's [`Batcher`]. Reads first pass read-index, so a user
//! created through any node is visible here once the create has answered.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::{
    Actor, ActorFutureExt, Addr, Context, Handler, Message, ResponseActFuture, WrapFuture,
};
use serde::{Deserialize, Serialize};

use super::batcher::{propose, Batcher, Batching};
use super::password::{HashSecret, PasswordActor};
use crate::cluster::{ClusterError, ClusterHandle};
use crate::oidc::client_rules;
use crate::state::{self, ClientRecord, Command, CommandResult, UserRecord, FORMAT_VERSION};

/// How long a linearizable read waits for the leader before failing.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("internal error: {0}")]
    Internal(String),
}

pub struct DirectoryActor {
    cluster: ClusterHandle,
    passwords: Addr<PasswordActor>,
    batcher: Batcher,
    users: sled::Tree,
    clients: sled::Tree,
}

impl DirectoryActor {
    pub fn new(cluster: ClusterHandle, passwords: Addr<PasswordActor>) -> Self {
        let users = cluster.sm.tree("users");
        let clients = cluster.sm.tree("clients");
        DirectoryActor {
            cluster,
            passwords,
            batcher: Batcher::default(),
            users,
            clients,
        }
    }
}

impl Actor for DirectoryActor {
    type Context = Context<Self>;
}

impl Batching for DirectoryActor {
    fn batcher(&mut self) -> &mut Batcher {
        &mut self.batcher
    }
    fn cluster(&self) -> &ClusterHandle {
        &self.cluster
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Create a user.
#[derive(Debug, Clone, Message, Serialize, Deserialize)]
#[rtype(result = "Result<UserRecord, DirectoryError>")]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// Create a client; `secret: None` makes a public client.
#[derive(Debug, Clone, Message, Serialize, Deserialize)]
#[rtype(result = "Result<ClientRecord, DirectoryError>")]
pub struct CreateClient {
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub first_party: bool,
}

/// Read a user (linearizable).
#[derive(Message)]
#[rtype(result = "Result<Option<UserRecord>, DirectoryError>")]
pub struct GetUser(pub String);

/// Read a client (linearizable).
#[derive(Message)]
#[rtype(result = "Result<Option<ClientRecord>, DirectoryError>")]
pub struct GetClient(pub String);

/// Hash a secret on the pool, then propose the command it completes.
fn hash_then_propose<T: 'static>(
    act: &DirectoryActor,
    secret: Option<String>,
    build: impl FnOnce(Option<String>) -> (Command, T) + 'static,
    exists: impl FnOnce() -> DirectoryError + 'static,
) -> ResponseActFuture<DirectoryActor, Result<T, DirectoryError>> {
    let pool = act.passwords.clone();
    let hashed = async move {
        match secret {
            Some(s) => match pool.send(HashSecret(s)).await {
                Ok(Ok(h)) => Ok(Some(h)),
                Ok(Err(e)) => Err(DirectoryError::Internal(e)),
                Err(e) => Err(DirectoryError::Internal(e.to_string())),
            },
            None => Ok(None),
        }
    };
    Box::pin(hashed.into_actor(act).then(move |hashed, act, ctx| {
        let outcome = hashed.map(|h| {
            let (cmd, value) = build(h);
            (propose(act, ctx, cmd), value)
        });
        async move {
            let (rx, value) = outcome?;
            match rx
                .await
                .map_err(|e| DirectoryError::Internal(e.to_string()))??
            {
                CommandResult::Done => Ok(value),
                CommandResult::UserExists | CommandResult::ClientExists => Err(exists()),
                CommandResult::UnsupportedVersion => Err(DirectoryError::Internal(
                    "the cluster runs an older format".into(),
                )),
            }
        }
        .into_actor(act)
    }))
}

impl Handler<CreateUser> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<UserRecord, DirectoryError>>;

    fn handle(&mut self, msg: CreateUser, _: &mut Context<Self>) -> Self::Result {
        if let Err(e) = client_rules::validate_username(&msg.username) {
            return Box::pin(actix::fut::ready(Err(DirectoryError::Invalid(e))));
        }
        if msg.password.chars().count() < 8 {
            return Box::pin(actix::fut::ready(Err(DirectoryError::Invalid(
                "a password has at least 8 characters".into(),
            ))));
        }
        let username = msg.username.clone();
        hash_then_propose(
            self,
            Some(msg.password),
            move |hash| {
                let mut user = UserRecord::new(
                    crate::crypto::random_id(),
                    msg.username,
                    hash.expect("password hashed"),
                    now(),
                );
                user.email = msg.email;
                user.name = msg.name;
                (Command::CreateUser { user: user.clone() }, user)
            },
            move || DirectoryError::Exists(format!("user `{username}`")),
        )
    }
}

impl Handler<CreateClient> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<ClientRecord, DirectoryError>>;

    fn handle(&mut self, msg: CreateClient, _: &mut Context<Self>) -> Self::Result {
        let checks = client_rules::validate_client_id(&msg.client_id)
            .and_then(|_| client_rules::validate_grant_types(&msg.grant_types))
            .and_then(|_| {
                if msg.redirect_uris.is_empty()
                    && msg.grant_types.iter().any(|g| g == "authorization_code")
                {
                    return Err(
                        "an authorization_code client needs at least one redirect URI".into(),
                    );
                }
                msg.redirect_uris
                    .iter()
                    .chain(&msg.post_logout_redirect_uris)
                    .try_for_each(|u| client_rules::validate_redirect_uri(u))
            })
            .and_then(|_| match &msg.secret {
                Some(s) if s.len() < 8 => Err("a client secret has at least 8 characters".into()),
                None if msg.grant_types.iter().any(|g| g == "client_credentials") => {
                    Err("a public client cannot use client_credentials".into())
                }
                _ => Ok(()),
            });
        if let Err(e) = checks {
            return Box::pin(actix::fut::ready(Err(DirectoryError::Invalid(e))));
        }
        let client_id = msg.client_id.clone();
        let secret = msg.secret.clone();
        hash_then_propose(
            self,
            secret,
            move |secret_hash| {
                let client = ClientRecord {
                    v: FORMAT_VERSION,
                    client_id: msg.client_id,
                    secret_hash,
                    redirect_uris: msg.redirect_uris,
                    post_logout_redirect_uris: msg.post_logout_redirect_uris,
                    grant_types: msg.grant_types,
                    first_party: msg.first_party,
                    created_at: now(),
                };
                (
                    Command::CreateClient {
                        client: client.clone(),
                    },
                    client,
                )
            },
            move || DirectoryError::Exists(format!("client `{client_id}`")),
        )
    }
}

impl Handler<GetUser> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<Option<UserRecord>, DirectoryError>>;

    fn handle(&mut self, msg: GetUser, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        let users = self.users.clone();
        Box::pin(
            async move {
                cluster.read_index(READ_TIMEOUT).await?;
                Ok(state::users::get(&users, &msg.0))
            }
            .into_actor(self),
        )
    }
}

impl Handler<GetClient> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<Option<ClientRecord>, DirectoryError>>;

    fn handle(&mut self, msg: GetClient, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        let clients = self.clients.clone();
        Box::pin(
            async move {
                cluster.read_index(READ_TIMEOUT).await?;
                Ok(state::clients::get(&clients, &msg.0))
            }
            .into_actor(self),
        )
    }
}
