//! `DirectoryActor`: users and clients.
//!
//! Writes hash the password or secret on the `PasswordActor` pool, build the
//! record (id and timestamp chosen here, never in `apply`), and propose it
//! through the actor's [`Batcher`]. Reads have one path, the [`Directory`]
//! handle of [`reads`]: HTTP workers call it directly, and this actor uses
//! the same handle. A user or client created through any node is visible
//! through it once the create has answered.

mod reads;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeMap;

use crate::clock::now;

use actix::{
    Actor, ActorFutureExt, Addr, Context, Handler, Message, ResponseActFuture, WrapFuture,
};
use serde::{Deserialize, Serialize};

use super::batcher::{propose, Batcher, Batching};
use super::password::{HashSecret, PasswordActor, VerifySecret};
use crate::cluster::{ClusterError, ClusterHandle};
use crate::oidc::client_rules;
use crate::state::{Command, CommandResult, Versioned, FIRST_FORMAT};

pub use crate::state::{ClientRecord, UserRecord};
pub use reads::{Directory, DirectoryCache};

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
    reads: Directory,
}

impl DirectoryActor {
    /// The actor reads through `reads`, the handle HTTP workers use too.
    pub fn new(cluster: ClusterHandle, passwords: Addr<PasswordActor>, reads: Directory) -> Self {
        DirectoryActor {
            cluster,
            passwords,
            batcher: Batcher::default(),
            reads,
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
    pub claims: BTreeMap<String, serde_json::Value>,
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
    /// The scopes `client_credentials` may issue to this client.
    #[serde(default)]
    pub scope: Option<Vec<String>>,
    /// May introspect every access token of this issuer (operator only).
    #[serde(default)]
    pub resource_server: bool,
    /// Where back-channel logout tokens go; checked by the caller against
    /// the `[outbound]` policy (`oidc::logout_token::check_backchannel_uri`).
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
}

/// Set or remove (null) standard claims of a user.
#[derive(Debug, Message)]
#[rtype(result = "Result<UserRecord, DirectoryError>")]
pub struct SetClaims {
    pub username: String,
    pub claims: BTreeMap<String, serde_json::Value>,
}

/// Disable (or enable again) a user (format 2: refused with
/// `ClusterError::NotUpgraded` while a member runs format 1).
#[derive(Debug, Message)]
#[rtype(result = "Result<UserRecord, DirectoryError>")]
pub struct SetDisabled {
    pub username: String,
    pub disabled: bool,
}

/// Check a user's password; `None` for an unknown user, a wrong password or
/// a disabled user (the same answer and about the same time, so usernames
/// cannot be probed).
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
            match super::result_of(rx).await? {
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
        if let Err(e) = validate_user(&msg) {
            return Box::pin(actix::fut::ready(Err(DirectoryError::Invalid(e))));
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

/// The shortest client secret an operator may set: 32 characters make a
/// secret that cannot be guessed online even without the throttle.
pub const MIN_CLIENT_SECRET_CHARS: usize = 32;

/// The one exemption from [`MIN_CLIENT_SECRET_CHARS`]: the documented demo
/// client of `serve --dev` and `scripts/local-cluster.sh` (`demo` /
/// `demo-secret`, used by the benchmark). Its secret is public anyway; a
/// production cluster must not have a client `demo`.
const DEMO_CLIENT: (&str, &str) = ("demo", "demo-secret");

/// Why a client cannot be created as asked, if it cannot.
fn validate_client(msg: &CreateClient) -> Result<(), String> {
    client_rules::validate_client_id(&msg.client_id)?;
    client_rules::validate_grant_types(&msg.grant_types)?;
    if msg.redirect_uris.is_empty() && msg.grant_types.iter().any(|g| g == "authorization_code") {
        return Err("an authorization_code client needs at least one redirect URI".into());
    }
    msg.redirect_uris
        .iter()
        .chain(&msg.post_logout_redirect_uris)
        .try_for_each(|u| client_rules::validate_redirect_uri(u))?;
    match &msg.secret {
        Some(s)
            if s.chars().count() < MIN_CLIENT_SECRET_CHARS
                && (msg.client_id.as_str(), s.as_str()) != DEMO_CLIENT =>
        {
            return Err(format!(
                "a client secret has at least {MIN_CLIENT_SECRET_CHARS} characters \
                 (e.g. `openssl rand -hex 24`)"
            ))
        }
        None if msg.jwks.is_none() && msg.grant_types.iter().any(|g| g == "client_credentials") => {
            return Err("a public client cannot use client_credentials".into())
        }
        _ => {}
    }
    if let Some(uri) = &msg.backchannel_logout_uri {
        // The `[outbound]` policy was applied by the caller; here only what
        // holds under any policy.
        crate::oidc::logout_token::check_backchannel_uri(uri, true)?;
    }
    if let Some(scopes) = &msg.scope {
        client_rules::registered_scopes(scopes.iter().map(String::as_str))?;
    }
    if msg.jwks.as_ref().is_some_and(|j| !j["keys"].is_array()) {
        return Err("jwks must be a JWK Set: {\"keys\": [...]}".into());
    }
    match msg.id_token_signed_response_alg.as_deref() {
        None | Some("RS256") | Some("ES256") => Ok(()),
        Some(other) => Err(format!(
            "id_token_signed_response_alg `{other}` is not supported (RS256, ES256)"
        )),
    }
}

/// The record of a client to create (the one place it is built).
/// It carries the format its fields need (`state::version`).
fn client_record(msg: CreateClient, secret_hash: Option<String>) -> ClientRecord {
    let mut client = ClientRecord {
        v: FIRST_FORMAT,
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
        scope: msg.scope,
        resource_server: msg.resource_server,
        created_at: now(),
        backchannel_logout_uri: msg.backchannel_logout_uri,
        backchannel_logout_session_required: msg.backchannel_logout_session_required,
    };
    client.v = client.format();
    client
}

/// Hash the client's secret, then propose the client.
fn propose_client(
    act: &DirectoryActor,
    msg: CreateClient,
) -> ResponseActFuture<DirectoryActor, Result<ClientRecord, DirectoryError>> {
    let client_id = msg.client_id.clone();
    let secret = msg.secret.clone();
    hash_then_propose(
        act,
        secret,
        move |secret_hash| {
            let client = client_record(msg, secret_hash);
            let cmd = Command::CreateClient {
                client: client.clone(),
            };
            (cmd, client)
        },
        move || DirectoryError::Exists(format!("client `{client_id}`")),
    )
}

impl Handler<CreateClient> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<ClientRecord, DirectoryError>>;

    fn handle(&mut self, msg: CreateClient, _: &mut Context<Self>) -> Self::Result {
        if let Err(e) = validate_client(&msg) {
            return Box::pin(actix::fut::ready(Err(DirectoryError::Invalid(e))));
        }
        propose_client(self, msg)
    }
}

/// Refuses a claim name that is not a standard claim (OIDC Core §5.1).
fn standard_claims_only(claims: &BTreeMap<String, serde_json::Value>) -> Result<(), String> {
    match claims
        .keys()
        .find(|k| !crate::oidc::claims::STANDARD_CLAIMS.contains(&k.as_str()))
    {
        Some(k) => Err(format!("`{k}` is not a standard claim")),
        None => Ok(()),
    }
}

/// Why this user cannot be created, if it cannot.
fn validate_user(msg: &CreateUser) -> Result<(), String> {
    client_rules::validate_username(&msg.username)?;
    if msg.password.chars().count() < 8 {
        return Err("a password has at least 8 characters".into());
    }
    standard_claims_only(&msg.claims)
}

/// Why these claims cannot be set on this user, if they cannot.
fn validate_claims(msg: &SetClaims) -> Result<(), String> {
    client_rules::validate_username(&msg.username)?;
    standard_claims_only(&msg.claims)
}

impl Handler<SetClaims> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<UserRecord, DirectoryError>>;

    fn handle(&mut self, msg: SetClaims, ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = validate_claims(&msg) {
            return Box::pin(actix::fut::ready(Err(DirectoryError::Invalid(e))));
        }
        let cmd = Command::SetUserClaims {
            username: msg.username.clone(),
            claims: msg.claims,
        };
        change_user(self, ctx, msg.username, cmd)
    }
}

impl Handler<SetDisabled> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<UserRecord, DirectoryError>>;

    fn handle(&mut self, msg: SetDisabled, ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = client_rules::validate_username(&msg.username) {
            return Box::pin(actix::fut::ready(Err(DirectoryError::Invalid(e))));
        }
        let cmd = Command::SetUserDisabled {
            username: msg.username.clone(),
            disabled: msg.disabled,
        };
        change_user(self, ctx, msg.username, cmd)
    }
}

/// Propose a change to an existing user; the user as it is afterwards.
fn change_user(
    act: &mut DirectoryActor,
    ctx: &mut Context<DirectoryActor>,
    username: String,
    cmd: Command,
) -> ResponseActFuture<DirectoryActor, Result<UserRecord, DirectoryError>> {
    let rx = propose(act, ctx, cmd);
    let reads = act.reads.clone();
    Box::pin(
        async move {
            match super::result_of(rx).await? {
                CommandResult::Done => {}
                CommandResult::NotFound => {
                    return Err(DirectoryError::Invalid(format!("no user `{username}`")))
                }
                other => return Err(DirectoryError::Internal(format!("{other:?}"))),
            }
            reads
                .user_latest(&username)
                .await?
                .ok_or_else(|| DirectoryError::Internal("user vanished".into()))
        }
        .into_actor(act),
    )
}

/// A PHC string that no password matches, verified for unknown users so a
/// wrong username costs the same time as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2ldi4q2J2ehfyRRz9Ke1Yw1ZLlD0TUJnCk6YTmIdS4k";

impl Handler<CheckPassword> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<Option<UserRecord>, DirectoryError>>;

    fn handle(&mut self, msg: CheckPassword, _: &mut Context<Self>) -> Self::Result {
        let reads = self.reads.clone();
        let pool = self.passwords.clone();
        Box::pin(
            async move {
                // Always one read-index round, known user or not, so the
                // answer time does not tell which usernames exist (the
                // cache-miss path of `reads.user` costs a round only for
                // unknown names); an unknown name is checked against a
                // dummy hash for the same reason.
                let user = reads.user_latest(&msg.username).await?;
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
                if ok && user.as_ref().is_some_and(|u| u.disabled) {
                    // Answered like a wrong password; the operator sees why.
                    tracing::info!(target: "audit", event = "login_refused_disabled",
                        username = %msg.username, "sign-in of a disabled user refused");
                    return Ok(None);
                }
                Ok(user.filter(|_| ok))
            }
            .into_actor(self),
        )
    }
}

/// The client a dynamic registration creates: id, secret and registration
/// access token are chosen here; answers the secrets to show once.
fn registered_client(
    r: crate::oidc::registration::Registration,
) -> (CreateClient, Option<String>, String) {
    let client_secret = r.has_secret().then(crate::crypto::random_secret);
    let token = crate::crypto::random_secret();
    let client = CreateClient {
        client_id: crate::crypto::random_id(),
        secret: client_secret.clone(),
        redirect_uris: r.redirect_uris,
        post_logout_redirect_uris: r.post_logout_redirect_uris,
        grant_types: r.grant_types,
        first_party: false,
        jwks: r.jwks,
        id_token_signed_response_alg: r.id_token_signed_response_alg,
        jwks_uri: r.jwks_uri,
        token_endpoint_auth_method: Some(r.token_endpoint_auth_method),
        metadata: Some(serde_json::Value::Object(r.metadata)),
        registration_token_hash: Some(crate::crypto::sha256_hex(&token)),
        scope: r.scope,
        resource_server: false,
        backchannel_logout_uri: r.backchannel_logout_uri,
        backchannel_logout_session_required: r.backchannel_logout_session_required,
    };
    (client, client_secret, token)
}

impl Handler<Register> for DirectoryActor {
    type Result = ResponseActFuture<Self, Result<Registered, DirectoryError>>;

    fn handle(&mut self, msg: Register, _: &mut Context<Self>) -> Self::Result {
        let (client, client_secret, token) = registered_client(msg.0);
        Box::pin(propose_client(self, client).map(move |res, _, _| {
            res.map(|client| Registered {
                client,
                client_secret,
                registration_access_token: token,
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_refused_for_a_malformed_username_or_a_non_standard_claim() {
        let set = |username: &str, claim: &str| SetClaims {
            username: username.into(),
            claims: [(claim.to_string(), serde_json::Value::Null)].into(),
        };
        assert!(validate_claims(&set("alice", "given_name")).is_ok());
        for name in ["sub/123", "", "a\u{7}b", &"x".repeat(65)] {
            assert!(validate_claims(&set(name, "name")).is_err(), "{name:?}");
        }
        let refused = validate_claims(&set("alice", "is_admin")).unwrap_err();
        assert!(refused.contains("is_admin"));
        let user = CreateUser {
            username: "alice".into(),
            password: "long enough".into(),
            claims: [("is_admin".to_string(), true.into())].into(),
            ..Default::default()
        };
        assert!(
            validate_user(&user).is_err(),
            "non-standard claim at creation"
        );
        let short = CreateUser {
            password: "short".into(),
            claims: Default::default(),
            ..user.clone()
        };
        assert!(validate_user(&short).is_err());
        assert!(validate_user(&CreateUser {
            password: "long enough".into(),
            ..short
        })
        .is_ok());
    }

    #[test]
    fn clients_are_checked_before_anything_is_proposed() {
        let ok = CreateClient {
            client_id: "app".into(),
            secret: Some("a-client-secret-of-32-characters".into()),
            redirect_uris: vec!["https://rp.example/cb".into()],
            grant_types: vec!["authorization_code".into()],
            ..Default::default()
        };
        assert!(validate_client(&ok).is_ok());
        let no_redirect = CreateClient {
            redirect_uris: vec![],
            ..ok.clone()
        };
        let short_secret = CreateClient {
            secret: Some("a-client-secret-of-31-character".into()),
            ..ok.clone()
        };
        let demo_elsewhere = CreateClient {
            secret: Some("demo-secret".into()),
            ..ok.clone()
        };
        let demo = crate::node::demo_client();
        assert!(validate_client(&demo).is_ok(), "the demo client is exempt");
        let bad_alg = CreateClient {
            id_token_signed_response_alg: Some("none".into()),
            ..ok.clone()
        };
        for bad in [no_redirect, short_secret, demo_elsewhere, bad_alg] {
            assert!(validate_client(&bad).is_err(), "{bad:?}");
        }
    }
}
