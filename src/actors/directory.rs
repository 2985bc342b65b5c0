//! `DirectoryActor`: users and clients.
//!
//! Writes hash the password or secret on the `PasswordActor` pool, build the
//! record (id and timestamp chosen here, never in `apply`), and propose it
//! through the actor's [`Batcher`]. Reads first pass read-index, so a user
//! created through any node is visible here once the create has answered.

use crate::clock::{now, READ_TIMEOUT};

use actix::{
    Actor, ActorFutureExt, Addr, Context, Handler, Message, ResponseActFuture, WrapFuture,
};
use serde::{Deserialize, Serialize};

use super::batcher::{propose, Batcher, Batching};
use super::password::{HashSecret, PasswordActor, VerifySecret};
use crate::cluster::{ClusterError, ClusterHandle};
use crate::oidc::client_rules;
use crate::state::{self, Command, CommandResult, FORMAT_VERSION};

pub use crate::state::{ClientRecord, UserRecord};

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
        let users = cluster.sm.tree(crate::state::TreeId::Users);
        let clients = cluster.sm.tree(crate::state::TreeId::Clients);
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

/// Create a user.
#[derive(Debug, Clone, Default, Message, Serialize, Deserialize)]
#[rtype(result = "Result<UserRecord, DirectoryError>")]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Further standard claims (OIDC Core §5.1), e.g. `given_name`.
    #[serde(default)]
    pub claims: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Create a client; `secret: None` makes a public client.
#[derive(Debug, Clone, Default, Message, Serialize, Deserialize)]
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
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Other registration metadata, stored as given.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// SHA-256 of a registration access token (dynamic registration only).
    #[serde(skip)]
    pub registration_token_hash: Option<String>,
}

/// Set or remove (null) standard claims of a user.
#[derive(Debug, Message)]
#[rtype(result = "Result<UserRecord, DirectoryError>")]
pub struct SetClaims {
    pub username: String,
    pub claims: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Check a user's password; `None` for an unknown user or a wrong password
/// (the same answer and about the same time, so usernames cannot be probed).
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<UserRecord>, DirectoryError>")]
pub struct CheckPassword {
    pub username: String,
    pub password: String,
}

/// Register a client dynamically (RFC 7591): this actor picks the client id,
/// the secret (if the method needs one) and the registration access token.
#[derive(Debug, Message)]
#[rtype(result = "Result<Registered, DirectoryError>")]
pub struct Register(pub crate::oidc::registration::Registration);

/// What a registration created; the secrets are shown once and stored hashed.
#[derive(Debug)]
pub struct Registered {
    pub client: ClientRecord,
    pub client_secret: Option<String>,
    pub registration_access_token: String,
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
                other => Err(DirectoryError::Internal(format!(
                    "unexpected result {other:?}"
                ))),
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
                if let Some(e) = msg.email {
                    user.claims.insert("email".into(), e.into());
                    user.claims.insert("email_verified".into(), false.into());
                }
                if let Some(n) = msg.name {
                    user.claims.insert("name".into(), n.into());
                }
                for (k, v) in msg.claims {
                    user.claims.insert(k, v);
                }
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
                None if msg.jwks.is_none()
                    && msg.grant_types.iter().any(|g| g == "client_credentials") =>
                {
                    Err("a public client cannot use client_credentials".into())
                }
                _ => Ok(()),
            });
        let checks = checks.and_then(|_| match &msg.jwks {
            Some(j) if !j["keys"].is_array() => {
                Err("jwks must be a JWK Set: {\"keys\": [...]}".to_string())
            }
            _ => Ok(()),
        });
        let checks = checks.and_then(|_| match msg.id_token_signed_response_alg.as_deref() {
            None | Some("RS256") | Some("ES256") => Ok(()),
            Some(other) => Err(format!(
                "id_token_signed_response_alg `{other}` is not supported (RS256, ES256)"
            )),
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
                    jwks: msg.jwks,
                    id_token_signed_response_alg: msg.id_token_signed_response_alg,
                    jwks_uri: msg.jwks_uri,
                    token_endpoint_auth_method: msg.token_endpoint_auth_method,
                    metadata: msg.metadata,
                    registration_token_hash: msg.registration_token_hash,
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

impl Handler<SetClaims> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<UserRecord, DirectoryError>>;

    fn handle(&mut self, msg: SetClaims, ctx: &mut Context<Self>) -> Self::Result {
        for k in msg.claims.keys() {
            if !crate::oidc::claims::STANDARD_CLAIMS.contains(&k.as_str()) {
                return Box::pin(actix::fut::ready(Err(DirectoryError::Invalid(format!(
                    "`{k}` is not a standard claim"
                )))));
            }
        }
        let username = msg.username.clone();
        let rx = propose(
            self,
            ctx,
            Command::SetUserClaims {
                username: msg.username,
                claims: msg.claims,
            },
        );
        let cluster = self.cluster.clone();
        let users = self.users.clone();
        Box::pin(
            async move {
                match rx
                    .await
                    .map_err(|e| DirectoryError::Internal(e.to_string()))??
                {
                    CommandResult::Done => {}
                    CommandResult::NotFound => {
                        return Err(DirectoryError::Invalid(format!("no user `{username}`")))
                    }
                    other => return Err(DirectoryError::Internal(format!("{other:?}"))),
                }
                cluster.read_index(READ_TIMEOUT).await?;
                state::users::get(&users, &username)
                    .ok_or_else(|| DirectoryError::Internal("user vanished".into()))
            }
            .into_actor(self),
        )
    }
}

/// A PHC string that no password matches, verified for unknown users so a
/// wrong username costs the same time as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2ldi4q2J2ehfyRRz9Ke1Yw1ZLlD0TUJnCk6YTmIdS4k";

impl Handler<CheckPassword> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<Option<UserRecord>, DirectoryError>>;

    fn handle(&mut self, msg: CheckPassword, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        let users = self.users.clone();
        let pool = self.passwords.clone();
        Box::pin(
            async move {
                let mut user = state::users::get(&users, &msg.username);
                if user.is_none() {
                    // Created moments ago through another node?
                    cluster.read_index(READ_TIMEOUT).await?;
                    user = state::users::get(&users, &msg.username);
                }
                let phc = user
                    .as_ref()
                    .map_or(DUMMY_HASH.to_string(), |u| u.password_hash.clone());
                let ok = pool
                    .send(VerifySecret {
                        secret: msg.password,
                        phc,
                    })
                    .await
                    .map_err(|e| DirectoryError::Internal(e.to_string()))?;
                Ok(user.filter(|_| ok))
            }
            .into_actor(self),
        )
    }
}

impl Handler<Register> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<Registered, DirectoryError>>;

    fn handle(&mut self, msg: Register, _: &mut Context<Self>) -> Self::Result {
        let r = msg.0;
        let client_secret = r.has_secret().then(crate::crypto::random_secret);
        let token = crate::crypto::random_secret();
        let token_hash = crate::crypto::sha256_hex(&token);
        let client_id = crate::crypto::random_id();
        let exists_id = client_id.clone();
        let fut = hash_then_propose(
            self,
            client_secret.clone(),
            move |secret_hash| {
                let client = ClientRecord {
                    v: FORMAT_VERSION,
                    client_id,
                    secret_hash,
                    redirect_uris: r.redirect_uris,
                    post_logout_redirect_uris: r.post_logout_redirect_uris,
                    grant_types: r.grant_types,
                    first_party: false,
                    jwks: r.jwks,
                    id_token_signed_response_alg: r.id_token_signed_response_alg,
                    jwks_uri: r.jwks_uri,
                    token_endpoint_auth_method: Some(r.token_endpoint_auth_method),
                    metadata: Some(serde_json::Value::Object(r.metadata)),
                    registration_token_hash: Some(token_hash),
                    created_at: now(),
                };
                (
                    Command::CreateClient {
                        client: client.clone(),
                    },
                    client,
                )
            },
            move || DirectoryError::Exists(format!("client `{exists_id}`")),
        );
        Box::pin(fut.map(move |res, _, _| {
            res.map(|client| Registered {
                client,
                client_secret,
                registration_access_token: token,
            })
        }))
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
