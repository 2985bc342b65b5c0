//! `/healthz` (the process answers), `/readyz` (a member, caught up with the
//! leader's commit index, quorum reachable) and `/metrics` (Prometheus text).

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::{web, HttpResponse};

use super::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Why a node is or is not ready, as JSON.
pub async fn readyz(st: web::Data<AppState>) -> HttpResponse {
    let not_ready = |reason: String| {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"ready": false, "reason": reason}))
    };
    if st.stopping.load(Ordering::SeqCst) {
        return not_ready("shutting down".into());
    }
    let m = st.cluster.metrics();
    if m.membership_config.membership().get_node(&m.id).is_none() {
        return not_ready("not a member of the cluster (yet)".into());
    }
    // Read-index proves a quorum confirms the leader and that this node has
    // applied everything the leader had committed when asked.
    if let Err(e) = st.cluster.read_index(Duration::from_secs(1)).await {
        return not_ready(format!("not caught up with a quorum: {e}"));
    }
    HttpResponse::Ok().json(serde_json::json!({
        "ready": true,
        "node_id": m.id,
        "leader_id": m.current_leader,
        "last_applied": m.last_applied.map(|l| l.index),
    }))
}

pub async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render(&st.cluster))
}
