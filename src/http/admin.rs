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
use crate::actors::directory::{CreateClient, CreateUser, GetClient, GetUser, SetClaims};
use crate::cluster::rpc::secret_matches;
use crate::cluster::{membership, NodeAddr, NodeId};
use crate::state::{ClientRecord, UserRecord};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/users", web::post().to(create_user))
        .route("/admin/users/{username}", web::get().to(get_user))
        .route(
            "/admin/users/{username}/claims",
            web::patch().to(set_claims),
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

/// A user as the admin API shows it (no password hash).
#[derive(Debug, Serialize, Deserialize)]
pub struct UserView {
    pub sub: String,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub claims: std::collections::BTreeMap<String, serde_json::Value>,
    pub created_at: u64,
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
    let name = path.into_inner();
    match st.directory.send(GetUser(name.clone())).await?? {
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
    let username = path.into_inner();
    let user = st
        .directory
        .send(SetClaims {
            username,
            claims: body.into_inner(),
        })
        .await??;
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
    match st.directory.send(GetClient(id.clone())).await?? {
        Some(c) => Ok(HttpResponse::Ok().json(ClientView::from(c))),
        None => Err(AdminError::NotFound(format!("no client `{id}`"))),
    }
}

/// A signing key as `tessera keys list` shows it (never the private part).
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub created_at: u64,
    pub activated_at: Option<u64>,
    pub retired_at: Option<u64>,
    pub age_secs: u64,
}

async fn list_keys(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    st.cluster.read_index(crate::clock::READ_TIMEOUT).await?;
    let now = crate::actors::now();
    let mut keys: Vec<KeyView> =
        crate::state::keys::all(&st.cluster.sm.tree(crate::state::TreeId::Keys))
            .into_iter()
            .map(|k| KeyView {
                state: format!("{:?}", k.state).to_lowercase(),
                age_secs: now.saturating_sub(k.created_at),
                kid: k.kid,
                alg: k.alg,
                created_at: k.created_at,
                activated_at: k.activated_at,
                retired_at: k.retired_at,
            })
            .collect();
    keys.sort_by(|a, b| (&a.alg, a.created_at).cmp(&(&b.alg, b.created_at)));
    Ok(HttpResponse::Ok().json(keys))
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

/// `cluster status` as JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node_id: NodeId,
    pub version: String,
    pub state: String,
    pub term: u64,
    pub leader_id: Option<NodeId>,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub members: Vec<MemberStatus>,
    /// The lowest data format all members know: what may be proposed.
    #[serde(default)]
    pub cluster_format: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MemberStatus {
    pub id: NodeId,
    pub role: String,
    pub leader: bool,
    pub http_addr: String,
    pub rpc_addr: String,
    /// The member's release and data format, as it last reported them.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub format_version: Option<u32>,
}

async fn status(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, AdminError> {
    check(&req, &st)?;
    let m = st.cluster.metrics();
    let membership = m.membership_config.membership();
    let voters: std::collections::BTreeSet<NodeId> = membership.voter_ids().collect();
    let infos = st.cluster.member_info();
    let members = membership
        .nodes()
        .map(|(id, addr)| MemberStatus {
            id: *id,
            role: if voters.contains(id) {
                "voter"
            } else {
                "learner"
            }
            .into(),
            leader: m.current_leader == Some(*id),
            http_addr: addr.http_addr.clone(),
            rpc_addr: addr.rpc_addr.clone(),
            version: infos.get(id).map(|i| i.version.clone()),
            format_version: infos.get(id).map(|i| i.format_version),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ClusterStatus {
        node_id: m.id,
        version: crate::VERSION.into(),
        state: format!("{:?}", m.state),
        term: m.current_term,
        leader_id: m.current_leader,
        last_log_index: m.last_log_index,
        last_applied: m.last_applied.map(|l| l.index),
        members,
        cluster_format: st.cluster.cluster_format(),
    }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AddNode {
    pub id: NodeId,
    pub http_addr: String,
    pub rpc_addr: String,
}

/// Run a membership change here if leader, else replay the call on the leader.
async fn on_leader(
    req: &HttpRequest,
    st: &AppState,
    body: Option<&AddNode>,
) -> Result<Option<HttpResponse>, AdminError> {
    let m = st.cluster.metrics();
    if m.current_leader == Some(m.id) {
        return Ok(None);
    }
    let leader = st
        .cluster
        .leader_addr()
        .ok_or_else(|| AdminError::Unavailable("no leader is known".into()))?;
    let url = format!("http://{}{}", leader.rpc_addr, req.path());
    let client = reqwest::Client::new();
    let call = match body {
        Some(b) => client.post(url).json(b),
        None => client.delete(url),
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
    for (key, addr) in [("http_addr", &body.http_addr), ("rpc_addr", &body.rpc_addr)] {
        addr.parse::<std::net::SocketAddr>().map_err(|_| {
            AdminError::BadRequest(format!(
                "{key} `{addr}` is not an address like 10.0.0.4:9080"
            ))
        })?;
    }
    if body.id == 0 {
        return Err(AdminError::BadRequest("node id must be positive".into()));
    }
    if let Some(forwarded) = on_leader(&req, &st, Some(&body)).await? {
        return Ok(forwarded);
    }
    let addr = NodeAddr {
        http_addr: body.http_addr.clone(),
        rpc_addr: body.rpc_addr.clone(),
    };
    membership::add_node(&st.cluster, body.id, addr)
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
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
    membership::remove_node(&st.cluster, id)
        .await
        .map_err(|e| AdminError::BadRequest(e.to_string()))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"removed": id})))
}
