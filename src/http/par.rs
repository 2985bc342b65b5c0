//! `POST /par`: pushed authorization requests (RFC 9126).
//!
//! The client authenticates exactly as at `/token` ([`super::client_auth`]);
//! the rest of the form is its authorization request, a `request` object in
//! it resolved ([`super::request_object::pushed`]) and then validated as
//! `/authorize` validates it, so a bad request is refused here, to the
//! client, with a JSON error (§2.3). A valid one is stored as a replicated,
//! single-use record through the code actor ([`PushRequest`]) and answered
//! `201 {"request_uri": "urn:ietf:params:oauth:request_uri:…", "expires_in"}`
//! (§2.2); `/authorize` consumes it once, on any node.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::client_auth::authenticate;
use super::error::{ask, TokenError};
use super::form::{authorization, form_body};
use super::request_object::{client_view, pushed, Unresolved};
use super::AppState;
use crate::actors::directory::ClientRecord;
use crate::actors::par::PushRequest;
use crate::oidc::authorize::{self as authz, AuthorizeError};
use crate::oidc::error::OAuthError;
use crate::oidc::par::pushed_params;
use crate::oidc::token_request::client_auth;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/par", web::post().to(par));
}

async fn par(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, TokenError> {
    let form = form_body(&req, &body)?;
    let auth = client_auth(authorization(&req), &form)?;
    let client = authenticate(&st, &req, auth).await?;
    let params = pushed_params(&form, &client.client_id)?;
    let params = match pushed(&st, &client, params).await {
        Ok(p) => p,
        Err(Unresolved::Refused(e)) => return Err(e.into()),
        Err(Unresolved::Unavailable) => {
            return Err(OAuthError::temporarily_unavailable("try again in a moment").into())
        }
    };
    validate(&client, &params)?;
    let lifetime = st.config.oauth.pushed_request_lifetime;
    let msg = PushRequest {
        client_id: client.client_id.clone(),
        params,
        lifetime,
    };
    let request_uri = ask(st.codes.send(msg)).await?;
    tracing::info!(target: "audit", event = "pushed_request_stored", client_id = %client.client_id);
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "request_uri": request_uri, "expires_in": lifetime })))
}

/// The pushed parameters validated as `/authorize` would (§2.1); every
/// refusal is the client's JSON error here, never a redirect.
fn validate(client: &ClientRecord, params: &[(String, String)]) -> Result<(), OAuthError> {
    let lookup = |id: &str| (id == client.client_id).then(|| client_view(client));
    match authz::validate(params, lookup) {
        Ok(_) => Ok(()),
        Err(AuthorizeError::Fatal(m)) => Err(OAuthError::invalid_request(m)),
        Err(AuthorizeError::Redirect { error, .. }) => Err(error),
    }
}
