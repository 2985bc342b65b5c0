//! HTTP: the public server (OIDC endpoints, health, metrics) and the cluster
//! port's admin API. Handlers are thin: extract, send one actor message, map
//! the result. Every status code, header and page is decided in this module;
//! errors are mapped to HTTP in [`error`] only.
//!
//! * [`health`] — `/healthz`, `/readyz`, `/metrics`.
//! * [`admin`] — `/admin/*` on the cluster port (bearer admin token).
//! * [`error`] — error enums → HTTP responses.

pub mod admin;
pub mod error;
pub mod health;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use actix::Addr;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::web;

use crate::actors::directory::DirectoryActor;
use crate::cluster::ClusterHandle;
use crate::config::Config;
use crate::metrics::METRICS;

/// Shared by every handler of both servers.
pub struct AppState {
    pub cluster: ClusterHandle,
    pub directory: Addr<DirectoryActor>,
    pub config: Arc<Config>,
    /// Set when the node starts shutting down; `/readyz` then fails.
    pub stopping: Arc<AtomicBool>,
}

/// Routes of the public server.
pub fn public_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics));
}

/// Count and time a request by route pattern, method and status.
pub fn observe<S>(
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse, actix_web::Error>> + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
    S::Future: 'static,
{
    let started = Instant::now();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let fut = srv.call(req);
    async move {
        let res = fut.await?;
        let status = res.status().as_u16().to_string();
        let labels = [route.as_str(), method.as_str(), status.as_str()];
        METRICS.http_requests.with_label_values(&labels).inc();
        METRICS
            .http_duration
            .with_label_values(&labels)
            .observe(started.elapsed().as_secs_f64());
        Ok(res)
    }
}

/// JSON bodies that fail to parse get a 400 with a JSON error, not a 500.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _| {
            let msg = err.to_string();
            error::AdminError::BadRequest(msg).into()
        })
}
