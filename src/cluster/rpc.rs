//! Inbound node-to-node RPCs on the cluster port.
//!
//! `/raft/{vote,append,snapshot}` feed openraft; `/cluster/write` and
//! `/cluster/read-index` serve followers' forwarded writes and read-index
//! requests; `/cluster/info` answers bootstrap probes and version checks;
//! `/cluster/elect` lets a stopping leader hand over.
//!
//! [`authenticate`] wraps the whole cluster-port app: a `/raft/` or
//! `/cluster/` request without the cluster secret, or an `/admin/` request
//! without the admin token (constant-time comparisons), gets its 401 before
//! any handler runs, so its body is never read (an unauthenticated peer
//! cannot make the node buffer a large body). Authenticated bodies are then
//! capped per route: [`SNAPSHOT_BODY_LIMIT`] for snapshots,
//! [`APPEND_BODY_LIMIT`] for log replication, [`DEFAULT_BODY_LIMIT`] for the
//! rest. With `[cluster.tls]` the listener also requires a client
//! certificate from the cluster CA (see `crate::config::ClusterTls`), so the
//! secret is a second line of defence (docs/ARCHITECTURE.md invariant 6).
//!
//! The same middleware refuses, with 409 and a log line, an authenticated
//! `/raft/` or `/cluster/` call whose [`CLUSTER_ID_HEADER`] names another
//! cluster than the one this node has applied (a node of a second cluster
//! set up with the same secret and addresses, e.g. one bootstrapped by
//! mistake on wiped data). A call without the header, or to a node that
//! has no id yet, is taken: new and upgraded nodes learn the id from the
//! leader's log (see `super::membership`).

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::membership::{cluster_id, NodeInfo, CLUSTER_ID_HEADER};
use super::{ClusterHandle, NodeId, TypeConfig, SECRET_HEADER};
use crate::state::{Proposal, FORMAT_VERSION};

/// Body cap of a snapshot install (a whole state machine).
pub const SNAPSHOT_BODY_LIMIT: usize = 256 * 1024 * 1024;
/// Body cap of a log replication call: openraft sends up to 300 entries per
/// call and each can be a batch of commands, so it stays as large as the
/// snapshot's (only authenticated peers ever get this far).
pub const APPEND_BODY_LIMIT: usize = SNAPSHOT_BODY_LIMIT;
/// Body cap of every other route on the cluster port.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Shared state of the RPC handlers.
pub struct RpcState {
    pub handle: ClusterHandle,
    pub secret: String,
    /// The admin token the `/admin/` routes require.
    pub admin_token: String,
}

/// Register the routes on the cluster-port app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let limited = |path: &str, limit: usize| {
        web::resource(path.to_string()).app_data(web::PayloadConfig::new(limit))
    };
    cfg.service(limited("/raft/append", APPEND_BODY_LIMIT).route(web::post().to(append)))
        .service(limited("/raft/snapshot", SNAPSHOT_BODY_LIMIT).route(web::post().to(snapshot)))
        .route("/raft/vote", web::post().to(vote))
        .route("/cluster/write", web::post().to(write))
        .route("/cluster/read-index", web::post().to(read_index))
        .route("/cluster/info", web::post().to(info))
        .route("/cluster/elect", web::post().to(elect));
}

/// Constant-time check of a secret header or bearer token.
pub fn secret_matches(given: Option<&str>, expected: &str) -> bool {
    match given {
        Some(g) => bool::from(g.as_bytes().ct_eq(expected.as_bytes())),
        None => false,
    }
}

/// Middleware of the cluster-port app (`middleware::from_fn`): refuses a
/// request that lacks its credential before the handler (and so its body
/// extractor) runs.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let refused = req
        .app_data::<web::Data<RpcState>>()
        .and_then(|st| refusal(req.request(), st));
    match refused {
        Some(res) => Ok(req.into_response(res)),
        None => next.call(req).await,
    }
}

/// The 401 for a request without its credential, if it lacks one.
fn refusal(req: &HttpRequest, st: &RpcState) -> Option<HttpResponse> {
    let path = req.path();
    if path.starts_with("/raft/") || path.starts_with("/cluster/") {
        if !authorized(req, st) {
            return Some(unauthorized());
        }
        return foreign_cluster(req, st);
    }
    if path.starts_with("/admin/") {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !secret_matches(token, &st.admin_token) {
            let mut res = HttpResponse::Unauthorized();
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"tessera-admin\""));
            return Some(res.force_close().json(serde_json::json!({
                "error": "unauthorized",
                "error_description": "missing or wrong admin token",
            })));
        }
    }
    None
}

fn authorized(req: &HttpRequest, state: &RpcState) -> bool {
    let given = req
        .headers()
        .get(SECRET_HEADER)
        .and_then(|v| v.to_str().ok());
    secret_matches(given, &state.secret)
}

/// The 409 for a call from a node of another cluster (both ids known and
/// different), logged; `None` for every other call.
fn foreign_cluster(req: &HttpRequest, st: &RpcState) -> Option<HttpResponse> {
    let theirs = req.headers().get(CLUSTER_ID_HEADER)?.to_str().ok()?;
    let ours = cluster_id(&st.handle.sm)?;
    if theirs == ours {
        return None;
    }
    let caller = req
        .peer_addr()
        .map_or_else(|| "unknown".to_string(), |a| a.to_string());
    // Only the first characters of the caller's id: it is not a secret, but
    // the header is caller-chosen text.
    let theirs: String = theirs.chars().take(32).collect();
    tracing::warn!(
        caller,
        path = req.path(),
        ours,
        theirs,
        "refused a call from a node of another cluster"
    );
    crate::metrics::METRICS.rpc_rejected.inc();
    Some(
        HttpResponse::Conflict()
            .force_close()
            .json(serde_json::json!({
                "error": "cluster_id_mismatch",
                "error_description": format!(
                    "this node belongs to cluster {ours}, the caller to cluster {theirs}; \
                     a node is in one cluster only (wipe its data to let it join this one)"
                ),
            })),
    )
}

fn unauthorized() -> HttpResponse {
    crate::metrics::METRICS.rpc_rejected.inc();
    HttpResponse::Unauthorized()
        .force_close()
        .json(serde_json::json!({"error": "missing or wrong cluster secret"}))
}

/// Check the secret, then parse the body: an unauthenticated caller learns
/// nothing, not even whether its body would parse.
fn admit<T: DeserializeOwned>(
    req: &HttpRequest,
    st: &RpcState,
    body: &[u8],
) -> Result<T, HttpResponse> {
    if !authorized(req, st) {
        return Err(unauthorized());
    }
    serde_json::from_slice(body).map_err(|e| {
        HttpResponse::BadRequest()
            .json(serde_json::json!({"error": format!("malformed request: {e}")}))
    })
}

async fn vote(req: HttpRequest, st: web::Data<RpcState>, body: web::Bytes) -> HttpResponse {
    match admit::<VoteRequest<NodeId>>(&req, &st, &body) {
        Ok(rpc) => HttpResponse::Ok().json(st.handle.raft.vote(rpc).await),
        Err(res) => res,
    }
}

async fn append(req: HttpRequest, st: web::Data<RpcState>, body: web::Bytes) -> HttpResponse {
    match admit::<AppendEntriesRequest<TypeConfig>>(&req, &st, &body) {
        Ok(rpc) => HttpResponse::Ok().json(st.handle.raft.append_entries(rpc).await),
        Err(res) => res,
    }
}

async fn snapshot(req: HttpRequest, st: web::Data<RpcState>, body: web::Bytes) -> HttpResponse {
    match admit::<InstallSnapshotRequest<TypeConfig>>(&req, &st, &body) {
        Ok(rpc) => HttpResponse::Ok().json(st.handle.raft.install_snapshot(rpc).await),
        Err(res) => res,
    }
}

async fn write(
    req: HttpRequest,
    st: web::Data<RpcState>,
    body: web::Json<Proposal>,
) -> HttpResponse {
    if !authorized(&req, &st) {
        return unauthorized();
    }
    HttpResponse::Ok().json(st.handle.write_as_leader(body.into_inner()).await)
}

async fn read_index(req: HttpRequest, st: web::Data<RpcState>) -> HttpResponse {
    if !authorized(&req, &st) {
        return unauthorized();
    }
    HttpResponse::Ok().json(st.handle.read_index_as_leader().await)
}

/// A stopping leader asks this node to take over: start an election now.
async fn elect(req: HttpRequest, st: web::Data<RpcState>) -> HttpResponse {
    if !authorized(&req, &st) {
        return unauthorized();
    }
    match st.handle.raft.trigger().elect().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"electing": true})),
        Err(e) => {
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"error": e.to_string()}))
        }
    }
}

async fn info(req: HttpRequest, st: web::Data<RpcState>) -> HttpResponse {
    if !authorized(&req, &st) {
        return unauthorized();
    }
    let initialized = st.handle.raft.is_initialized().await.unwrap_or(false);
    HttpResponse::Ok().json(NodeInfo {
        id: st.handle.node_id,
        version: crate::VERSION.to_string(),
        format_version: FORMAT_VERSION,
        initialized,
        cluster_id: cluster_id(&st.handle.sm),
    })
}
