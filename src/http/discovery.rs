//! `/.well-known/openid-configuration` (OIDC Discovery 1.0) and
//! `/.well-known/jwks.json` (RFC 7517). Both are computed from replicated or
//! configured data only, so every node answers the same. Both bodies are
//! serialized once, not per request: the discovery document when the node
//! starts (it depends on the configuration alone) and the JWK Set when a key
//! set is loaded (`KeySet::jwks_json`); serializing them per request was most
//! of the node's own work on these endpoints.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::AppState;
use crate::config::Config;

/// How long relying parties may cache the JWKS (seconds).
pub const JWKS_MAX_AGE: u64 = 300;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(configuration),
    )
    .route("/.well-known/jwks.json", web::get().to(jwks));
}

async fn configuration(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .content_type("application/json")
        .body(st.discovery.clone())
}

/// The discovery document of this configuration, serialized.
pub fn document(config: &Config) -> web::Bytes {
    let mut doc = crate::oidc::discovery::discovery_document(&config.issuer);
    // DPoP (RFC 9449 §5.1).
    doc["dpop_signing_alg_values_supported"] = serde_json::json!(crate::oidc::dpop::ALGS);
    // Request objects and PAR (RFC 9101, RFC 9126).
    let oauth = &config.oauth;
    let par = crate::oidc::par::discovery_fields(
        &config.issuer,
        oauth.require_pushed_authorization_requests,
        oauth.allow_unsigned_request_objects,
    );
    if let (Some(d), serde_json::Value::Object(extra)) = (doc.as_object_mut(), par) {
        d.extend(extra);
    }
    web::Bytes::from(serde_json::to_vec(&doc).expect("the discovery document serializes"))
}

async fn jwks(st: web::Data<AppState>) -> HttpResponse {
    let keys = st.keys.get();
    if keys.is_empty() {
        return HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "1"))
            .json(serde_json::json!({"error": "temporarily_unavailable", "error_description": "signing keys are being created"}));
    }
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE}"),
        ))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .content_type("application/jwk-set+json")
        .body(keys.jwks_json().to_owned())
}
