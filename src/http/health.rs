//! `/healthz` (the process answers), `/readyz` (a member, caught up with the
//! leader's commit index, quorum reachable) on the public port, and
//! `/metrics` (Prometheus text) on the cluster port.

use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};

use super::AppState;
use crate::actors::session::CountLive;
use crate::metrics::{KeyAge, Scrape};

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
    match st.membership.readiness().await {
        Ok(ready) => HttpResponse::Ok().json(ready),
        Err(reason) => not_ready(reason),
    }
}

/// Prometheus text: the actors hand over the scrape-time values.
pub async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    let keys = st.keys.list_local();
    let scrape = Scrape {
        raft: st.membership.raft_gauges(),
        storage_bytes: st.membership.storage_bytes(),
        keys: keys
            .iter()
            .map(|k| KeyAge {
                alg: &k.alg,
                state: &k.state,
                kid: &k.kid,
                age_secs: k.age_secs,
            })
            .collect(),
        live_sessions: st.sessions.send(CountLive).await.unwrap_or(0),
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render(&scrape))
}
