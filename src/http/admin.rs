//! The admin API on the cluster port, for the `tessera` CLI.
//!
//! Every route needs `Authorization: Bearer <admin token>` (compared in
//! constant time). Writes go to the `DirectoryActor` and so work on any
//! node; membership changes are forwarded to the leader. Responses never
//! contain password or secret hashes.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::error::AdminError;
use super::AppState;
use crate::actors::directory::{
    ClientRecord, CreateClient, CreateUser, SetClaims, SetDisabled, UserRecord,
};
use crate::actors::membership::{secret_matches, NodeId};
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
        .route("/admin/cluster/nodes/{id}", web::delete().to(remove_node));
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
    let client = st.directory.send(body.into_inner()).await??;
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
