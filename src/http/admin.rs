//! The admin API on the cluster port, for the `tessera` CLI.
//!
//! Every route needs `Authorization: Bearer <admin token>` (compared in
//! constant time). Writes go to the `DirectoryActor` and so work on any
//! node; membership changes are forwarded to the leader. Responses never
//! contain password or secret hashes, except `/admin/backup`: the whole
//! state as it is at rest (hashes, keys sealed with the master key).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::error::AdminError;
use super::AppState;
use crate::actors::directory::{
    ClientRecord, CreateClient, CreateUser, SetClaims, SetDisabled, UserRecord,
};
use crate::actors::membership::{secret_matches, NodeId};
use crate::actors::session::{EndUserSessions, UserSessions};
use crate::oidc::client_rules::validate_username;

pub use crate::actors::keys::KeyView;
pub use crate::actors::membership::{AddNode, ClusterStatus, MemberStatus};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/users", web::post().to(create_user))
        .route("/admin/users/{username}", web::get().to(get_user))
        .route(
            "/admin/users/{username}/claims",
            web::patch().to(set_claims),
        )
        .route(
            "/admin/users/{username}/sessions",
            web::get().to(user_sessions),
        )
        .route(
            "/admin/users/{username}/logout",
            web::post().to(logout_user),
        )
        .route(
            "/admin/users/{username}/disable",
            web::post().to(|r, s, p| set_disabled(r, s, p, true)),
        )
        .route(
            "/admin/users/{username}/enable",
            web::post().to(|r, s, p| set_disabled(r, s, p, false)),
        )
        .route("/admin/clients", web::post().to(create_client))
        .route("/admin/clients/{client_id}", web::get().to(get_client))
        .route("/admin/keys", web::get().to(list_keys))
        .route("/admin/keys/rotate", web::post().to(rotate_keys))
        .route("/admin/cluster/status", web::get().to(status))
        .route("/admin/cluster/nodes", web::post().to(add_node))
        .route("/admin/cluster/nodes/{id}", web::delete().to(remove_node))
        .route("/admin/backup", web::get().to(backup));
}

fn check(req: &HttpRequest, st: &AppState) -> Result<(), AdminError> {
    if secret_matches(super::bearer_header(req), &st.config.admin_token) {
        Ok(())
    } else {
        Err(AdminError::Unauthorized)
    }
}

/// A username from the path, checked before it reaches an actor (a name
/// such as `sub/<sub>` names no user and is refused here with a 400).
fn username(path: web::Path<String>) -> Result<String, AdminError> {
    let name = path.into_inner();
    validate_username(&name).map_err(AdminError::BadRequest)?;
    Ok(name)
}

/// A user as the admin API shows it (no password hash).
#[derive(Debug, Serialize, Deserialize)]
pub struct UserView {
    pub sub: String,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub claims: std::collections::BTreeMap<String, serde_json::Value>,
    pub created_at: u64,
    /// Set by `tessera user disable`: the user cannot sign in.
    #[serde(default)]
    pub disabled: bool,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        UserView {
            sub: u.sub,
            email: u
                .claims
                .get("email")
                .and_then(|v| v.as_str())
                .map(String::from),
            name: u
                .claims
                .get("name")
                .and_then(|v| v.as_str())
                .map(String::from),
            username: u.username,
            claims: u.claims,
            created_at: u.created_at,
            disabled: u.disabled,
        }
    }
}

/// A client as the admin API shows it (no secret hash).
#[derive(Debug, Serialize, Deserialize)]
pub struct ClientView {
    pub client_id: String,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub first_party: bool,
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
}

impl From<ClientRecord> for ClientView {
    fn from(c: ClientRecord) -> Self {
        ClientView {
            public: c.is_public(),
            client_id: c.client_id,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c.grant_types,
            first_party: c.first_party,
            created_at: c.created_at,
            backchannel_logout_uri: c.backchannel_logout_uri,
        }
    }
}

async fn create_user(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    let user = st.directory.send(body.into_inner()).await??;
    tracing::info!(target: "audit", event = "user.create", outcome = "success", actor = "admin-token", sub = %user.sub, username = %user.username);
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

async fn get_user(
    req: HttpRequest,
    st: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    let name = username(path)?;
    match st.directory_reads.user_latest(&name).await? {
        Some(u) => Ok(HttpResponse::Ok().json(UserView::from(u))),
        None => Err(AdminError::NotFound(format!("no user `{name}`"))),
    }
}

async fn set_claims(
    req: HttpRequest,
    st: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<std::collections::BTreeMap<String, serde_json::Value>>,
) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    let username = username(path)?;
    let user = st
        .directory
        .send(SetClaims {
            username,
            claims: body.into_inner(),
        })
        .await??;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

/// A live login session as `tessera user sessions` lists it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionView {
    pub sid: String,
    /// When the user authenticated (Unix seconds).
    pub created: u64,
    pub expires_at: u64,
    /// Clients that received a code in this session.
    pub clients: Vec<String>,
}

/// What `tessera user logout` did.
pub use crate::actors::session::LogoutOutcome;

async fn user_sessions(
    req: HttpRequest,
    st: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    let name = username(path)?;
    let sessions = st.sessions.send(UserSessions(name)).await??;
    let views: Vec<SessionView> = sessions
        .into_iter()
        .map(|s| SessionView {
            sid: s.sid,
            created: s.auth_time,
            expires_at: s.expires_at,
            clients: s.clients,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

async fn logout_user(
    req: HttpRequest,
    st: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    let name = username(path)?;
    let done = st.sessions.send(EndUserSessions(name.clone())).await??;
    tracing::info!(target: "audit", event = "admin_user_logout", username = %name,
        sessions = done.sessions, "admin ended a user's sessions");
    Ok(HttpResponse::Ok().json(done))
}

/// `POST /admin/users/{username}/disable` and `/enable` (format 2: a 409
/// `not_upgraded` while a member still runs format 1).
async fn set_disabled(
    req: HttpRequest,
    st: web::Data<AppState>,
    path: web::Path<String>,
    disabled: bool,
) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    let username = username(path)?;
    let msg = SetDisabled { username, disabled };
    let user = st.directory.send(msg).await??;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

async fn create_client(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Json<CreateClient>,
) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    if let Some(uri) = &body.backchannel_logout_uri {
        let allow = st.config.outbound.allow_private_targets;
        crate::oidc::logout_token::check_backchannel_uri(uri, allow)
            .map_err(AdminError::BadRequest)?;
    }
    let client = st.directory.send(body.into_inner()).await??;
    tracing::info!(target: "audit", event = "client.register", outcome = "success", actor = "admin-token", client_id = %client.client_id);
    Ok(HttpResponse::Created().json(ClientView::from(client)))
}

async fn get_client(
    req: HttpRequest,
    st: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    let id = path.into_inner();
    match st.directory_reads.client_latest(&id).await? {
        Some(c) => Ok(HttpResponse::Ok().json(ClientView::from(c))),
        None => Err(AdminError::NotFound(format!("no client `{id}`"))),
    }
}

async fn list_keys(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    Ok(HttpResponse::Ok().json(st.keys.list().await?))
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RotateKeys {
    /// One algorithm, or every configured one.
    pub alg: Option<String>,
}

async fn rotate_keys(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Json<RotateKeys>,
) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    if let Some(alg) = &body.alg {
        if !st.config.keys.algorithms.contains(alg) {
            return Err(AdminError::BadRequest(format!(
                "`{alg}` is not a configured algorithm ({})",
                st.config.keys.algorithms.join(", ")
            )));
        }
    }
    let kids = st
        .key_actor
        .send(crate::actors::keys::Rotate(body.into_inner().alg))
        .await??;
    tracing::info!(target: "audit", event = "key.rotate", outcome = "success", actor = "admin-token", reason = "requested", kids = %kids.join(" "));
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "next": kids,
        "promoted_after_secs": st.config.keys.publish_before_use,
    })))
}

async fn status(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    Ok(HttpResponse::Ok().json(st.membership.status()))
}

/// Run a membership change here if leader, else replay the call on the leader.
async fn on_leader(
    req: &HttpRequest,
    st: &AppState,
    body: Option<&AddNode>,
) -> Result<Option<HttpResponse>, AdminError> {
    if st.membership.is_leader() {
        return Ok(None);
    }
    let method = match body {
        Some(_) => reqwest::Method::POST,
        None => reqwest::Method::DELETE,
    };
    let call = st
        .membership
        .leader_request(method, req.path())
        .ok_or_else(|| AdminError::Unavailable("no leader is known".into()))?;
    let call = match body {
        Some(b) => call.json(b),
        None => call,
    };
    // The leader's audit lines carry this request's id.
    let id = actix_web::HttpMessage::extensions(req)
        .get::<super::request_id::RequestId>()
        .map(|r| r.0.clone());
    let call = match id {
        Some(id) => call.header(super::request_id::HEADER.as_str(), id),
        None => call,
    };
    let res = call
        .bearer_auth(&st.config.admin_token)
        .send()
        .await
        .map_err(|e| AdminError::Unavailable(format!("cannot reach the leader: {e}")))?;
    let status = actix_web::http::StatusCode::from_u16(res.status().as_u16())
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    let bytes = res
        .bytes()
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    Ok(Some(
        HttpResponse::build(status)
            .content_type("application/json")
            .body(bytes),
    ))
}

async fn add_node(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Json<AddNode>,
) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    body.validate().map_err(AdminError::BadRequest)?;
    if let Some(forwarded) = on_leader(&req, &st, Some(&body)).await? {
        return Ok(forwarded);
    }
    st.membership
        .add_node(&body)
        .await
        .map_err(AdminError::Unavailable)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"added": body.id})))
}

async fn remove_node(
    req: HttpRequest,
    st: web::Data<AppState>,
    path: web::Path<NodeId>,
) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    if let Some(forwarded) = on_leader(&req, &st, None).await? {
        return Ok(forwarded);
    }
    let id = path.into_inner();
    st.membership
        .remove_node(id)
        .await
        .map_err(AdminError::BadRequest)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"removed": id})))
}

/// `tessera backup`: the backup file of this node's state after a
/// read-index (503 without a quorum).
async fn backup(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    let issuer = crate::oidc::discovery::issuer_string(&st.config.issuer);
    let file = st.membership.backup(issuer).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(file))
}
