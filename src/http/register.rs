//! `/register`: OAuth 2.0 Dynamic Client Registration (RFC 7591), OpenID
//! Connect Dynamic Client Registration 1.0, and the RFC 7592 read operation
//! (`GET /register/{client_id}` with the registration access token).
//!
//! Who may register is set in configuration (`[registration] mode`): open,
//! with an initial access token, or closed. A registered client is a
//! replicated record, usable on every node as soon as this call answers.
//! Secrets and the registration access token are returned once and stored
//! only as hashes.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::error::{BearerError, TokenError};
use super::AppState;
use crate::actors::directory::ClientRecord;
use crate::actors::directory::{DirectoryError, Register};
use crate::config::RegistrationMode;
use crate::metrics::METRICS;
use crate::oidc::error::{ErrorCode, OAuthError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/register", web::post().to(register))
        .route("/register/{client_id}", web::get().to(read));
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    super::bearer_header(req).map(str::trim)
}

/// The metadata of a client as RFC 7591 §3.2.1 returns it.
fn metadata(st: &AppState, c: &ClientRecord) -> Value {
    let mut out = json!({
        "client_id": c.client_id,
        "client_id_issued_at": c.created_at,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grant_types": c.grant_types,
        "response_types": if c.allows_grant("authorization_code") { vec!["code"] } else { vec![] },
        "token_endpoint_auth_method": c.token_endpoint_auth_method.clone().unwrap_or_else(|| "client_secret_basic".into()),
        "id_token_signed_response_alg": c.id_token_alg(),
        "registration_client_uri": format!("{}/register/{}", st.issuer(), c.client_id),
    });
    if let Some(j) = &c.jwks {
        out["jwks"] = j.clone();
    }
    if let Some(u) = &c.jwks_uri {
        out["jwks_uri"] = u.clone().into();
    }
    if let Some(u) = &c.backchannel_logout_uri {
        out["backchannel_logout_uri"] = u.clone().into();
        out["backchannel_logout_session_required"] = c.backchannel_logout_session_required.into();
    }
    if let Some(Value::Object(m)) = &c.metadata {
        for (k, v) in m {
            out[k] = v.clone();
        }
    }
    out
}

/// Whether this request may register a client (`Err` is the refusal).
fn may_register(req: &HttpRequest, st: &AppState) -> Result<(), HttpResponse> {
    match &st.config.registration {
        RegistrationMode::Open => Ok(()),
        RegistrationMode::Closed => Err(HttpResponse::Forbidden().json(json!({
            "error": "access_denied",
            "error_description": "dynamic registration is disabled on this provider",
        }))),
        RegistrationMode::Token(expected) => {
            let ok =
                bearer(req).is_some_and(|t| bool::from(t.as_bytes().ct_eq(expected.as_bytes())));
            if ok {
                Ok(())
            } else {
                Err(actix_web::ResponseError::error_response(
                    &BearerError::invalid_token("a valid initial access token is required"),
                ))
            }
        }
    }
}

/// The JSON body of a registration request.
fn json_body(req: &HttpRequest, body: &[u8]) -> Result<Value, TokenError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !is_json {
        return Err(TokenError(OAuthError::new(
            ErrorCode::InvalidRequest,
            "the body must be application/json",
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        TokenError(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            format!("malformed JSON: {e}"),
        ))
    })
}

async fn register(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, TokenError> {
    if let Err(refused) = may_register(&req, &st) {
        return Ok(refused);
    }
    let allow_private = st.config.outbound.allow_private_targets;
    let reg = crate::oidc::registration::validate_with(&json_body(&req, &body)?, allow_private)?;
    let done = st
        .directory
        .send(Register(reg))
        .await?
        .map_err(|e| match e {
            DirectoryError::Cluster(c) => TokenError::from(c),
            other => TokenError(OAuthError::new(
                ErrorCode::InvalidClientMetadata,
                other.to_string(),
            )),
        })?;
    METRICS.registrations.inc();
    tracing::info!(target: "audit", event = "client.register", outcome = "success", actor = "dynamic registration", client_id = %done.client.client_id);
    let mut out = metadata(&st, &done.client);
    out["registration_access_token"] = done.registration_access_token.into();
    if let Some(s) = done.client_secret {
        out["client_secret"] = s.into();
        out["client_secret_expires_at"] = 0.into();
    }
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(out))
}

async fn read(
    req: HttpRequest,
    st: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, BearerError> {
    let token = bearer(&req).ok_or(BearerError(None))?;
    let client = st.client(&path.into_inner()).await?;
    let expected = client
        .as_ref()
        .and_then(|c| c.registration_token_hash.clone());
    let given = crate::crypto::sha256_hex(token);
    // Unknown client and wrong token answer alike (RFC 7592 §2.1).
    match (client, expected) {
        (Some(c), Some(h)) if bool::from(h.as_bytes().ct_eq(given.as_bytes())) => {
            Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(metadata(&st, &c)))
        }
        _ => Err(BearerError::invalid_token(
            "unknown client or wrong registration access token",
        )),
    }
}
