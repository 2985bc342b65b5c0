//! Inbound node-to-node RPCs on the cluster port.
//!
//! `/raft/{vote,append,snapshot}` feed openraft; `/cluster/write` and
//! `/cluster/read-index` serve followers' forwarded writes and read-index
//! requests; `/cluster/info` answers bootstrap probes and version checks;
//! `/cluster/elect` lets a stopping leader hand over. Every route first
//! checks the cluster secret with a constant-time comparison: a request
//! without it gets 401 and reaches nothing.

use actix_web::{web, HttpRequest, HttpResponse};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::membership::NodeInfo;
use super::{ClusterHandle, NodeId, TypeConfig, SECRET_HEADER};
use crate::state::{Proposal, FORMAT_VERSION};

/// Shared state of the RPC handlers.
pub struct RpcState {
    pub handle: ClusterHandle,
    pub secret: String,
}

/// Register the routes on the cluster-port app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/raft/vote", web::post().to(vote))
        .route("/raft/append", web::post().to(append))
        .route("/raft/snapshot", web::post().to(snapshot))
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

fn authorized(req: &HttpRequest, state: &RpcState) -> bool {
    let given = req
        .headers()
        .get(SECRET_HEADER)
        .and_then(|v| v.to_str().ok());
    secret_matches(given, &state.secret)
}

fn unauthorized() -> HttpResponse {
    crate::metrics::METRICS.rpc_rejected.inc();
    HttpResponse::Unauthorized()
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
    })
}
