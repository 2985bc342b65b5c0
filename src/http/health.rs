//! `/healthz` (the process answers), `/readyz` on the public port, and
//! `/metrics` (Prometheus text) on the cluster port.
//!
//! `/readyz` answers 200 only when the node can serve every public endpoint
//! at once, so a load balancer or a script that waits for it never sends a
//! request that fails for want of setup: the node is a `member` of the
//! cluster, `caught_up` (read-index: a quorum confirms the leader and this
//! node applied everything committed before), has `signing_keys` (a current
//! key of every configured algorithm applied here *and* loaded into the set
//! that signs and that `/.well-known/jwks.json` publishes), has its page
//! `templates` loaded, and with `serve --dev` has the `dev_data` (client
//! `demo`, user alice). Every check is reported by name, `"ok"` or what is
//! wrong, and `failed` names the first that failed.

use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use super::AppState;
use crate::actors::session::CountLive;
use crate::metrics::{KeyAge, Scrape};

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// One named readiness check and what is wrong, if anything.
type Check = (&'static str, Result<(), String>);

/// Whether the node is ready, with every check, as JSON.
pub async fn readyz(st: web::Data<AppState>) -> HttpResponse {
    if st.stopping.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().json(json!({
            "ready": false, "failed": "running", "reason": "shutting down",
        }));
    }
    let cluster = st.membership.readiness().await;
    let mut checks: Vec<Check> = cluster.checks;
    checks.push(("signing_keys", signing_keys(&st)));
    checks.push((
        "templates",
        super::pages::templates_ready()
            .then_some(())
            .ok_or_else(|| "the page templates are not loaded".to_string()),
    ));
    if st.config.dev_seed {
        checks.push(("dev_data", dev_data(&st).await));
    }
    let failed = checks
        .iter()
        .find_map(|(name, r)| r.as_ref().err().map(|reason| (*name, reason.clone())));
    let report: Map<String, Value> = checks
        .into_iter()
        .map(|(name, r)| {
            (
                name.to_string(),
                json!(r.err().unwrap_or_else(|| "ok".into())),
            )
        })
        .collect();
    let mut body = json!({
        "ready": failed.is_none(),
        "node_id": cluster.node_id,
        "leader_id": cluster.leader_id,
        "last_applied": cluster.last_applied,
        "cluster_id": cluster.cluster_id,
        "checks": report,
    });
    match failed {
        None => HttpResponse::Ok().json(body),
        Some((name, reason)) => {
            body["failed"] = json!(name);
            body["reason"] = json!(reason);
            HttpResponse::ServiceUnavailable().json(body)
        }
    }
}

/// A current key of every configured algorithm, applied on this node and
/// loaded into the published set (what signing and the JWKS use).
fn signing_keys(st: &AppState) -> Result<(), String> {
    let applied = st.keys.list_local();
    let published = st.keys.get();
    for alg in &st.config.keys.algorithms {
        let applied = applied
            .iter()
            .any(|k| &k.alg == alg && k.state == "current");
        if !applied {
            return Err(format!("no current {alg} signing key on this node yet"));
        }
        if !published.can_sign(alg) {
            return Err(format!("the current {alg} signing key is not loaded yet"));
        }
    }
    Ok(())
}

/// `serve --dev`: the demo client and user exist.
async fn dev_data(st: &AppState) -> Result<(), String> {
    use crate::config::{DEV_CLIENT, DEV_USER};
    match st.directory_reads.client(DEV_CLIENT).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(format!("the demo client {DEV_CLIENT} is not created yet")),
        Err(e) => return Err(e.to_string()),
    }
    match st.directory_reads.user(DEV_USER).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("the demo user {DEV_USER} is not created yet")),
        Err(e) => Err(e.to_string()),
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
