//! `/userinfo` (OIDC Core §5.3), GET and POST, with the access token in the
//! `Authorization: Bearer` header or (POST) the form body (RFC 6750 §2).
//!
//! The token is a JWT we signed; it is checked locally (signature, `typ`,
//! issuer, expiry) and then against the replicated revocation list through
//! read-index, so a token revoked on any node is refused here at once.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::error::{ask, BearerError};
use super::form::{authorization, is_form};
use super::AppState;
use crate::actors::token::AccessTokenLive;
use crate::clock::now;
use crate::oidc::claims::{self, ClaimSpec, ClaimsRequest, Target};
use crate::oidc::error::{ErrorCode, OAuthError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/userinfo", web::get().to(userinfo))
        .route("/userinfo", web::post().to(userinfo));
}

/// The bearer token of a request: header or form body, not both.
fn bearer(req: &HttpRequest, body: &[u8]) -> Result<String, BearerError> {
    let header_token = authorization(req)
        .map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    BearerError(Some(OAuthError::new(
                        ErrorCode::InvalidRequest,
                        "use the Bearer scheme",
                    )))
                })
        })
        .transpose()?;
    let form_token = if req.method() == actix_web::http::Method::POST && is_form(req) {
        url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    } else {
        None
    };
    match (header_token, form_token) {
        (Some(_), Some(_)) => Err(BearerError(Some(OAuthError::new(
            ErrorCode::InvalidRequest,
            "the token was sent in more than one way",
        )))),
        (Some(t), None) => Ok(t.to_string()),
        (None, Some(t)) => Ok(t),
        (None, None) => Err(BearerError(None)),
    }
}

async fn userinfo(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, BearerError> {
    let token = bearer(&req, &body)?;
    let claims = live_access_token(&st, &token).await?;
    let scopes: Vec<String> = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split(' ')
        .map(String::from)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(BearerError(Some(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the token was not issued for openid",
        ))));
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = st
        .user_by_sub(sub)
        .ok_or_else(|| BearerError::invalid_token("the user no longer exists"))?;
    let mut out = claims::select(
        &user.released_claims(),
        &scopes,
        userinfo_request(&claims).as_ref(),
        Target::UserInfo,
    );
    out.insert("sub".into(), Value::String(user.sub.clone()));
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(out))
}

/// The claims of `token` if it is one of our access tokens, unexpired and
/// neither revoked nor dead with its session on any node.
async fn live_access_token(st: &AppState, token: &str) -> Result<Map<String, Value>, BearerError> {
    let (claims, typ) =
        st.keys.get().verify(token).map_err(|e| {
            BearerError::invalid_token(format!("the access token is not valid: {e}"))
        })?;
    if typ.as_deref() != Some("at+jwt") {
        return Err(BearerError::invalid_token("not an access token"));
    }
    if claims.get("iss").and_then(Value::as_str) != Some(st.issuer().as_str()) {
        return Err(BearerError::invalid_token(
            "the token is from another issuer",
        ));
    }
    if claims
        .get("exp")
        .and_then(Value::as_u64)
        .is_none_or(|exp| exp <= now())
    {
        return Err(BearerError::invalid_token("the access token has expired"));
    }
    if !ask(st.tokens.send(AccessTokenLive::of(&claims))).await? {
        return Err(BearerError::invalid_token(
            "the access token has been revoked or its session has ended",
        ));
    }
    Ok(claims)
}

/// The userinfo claims the RP asked for through the `claims` parameter,
/// as the access token lists them.
fn userinfo_request(claims: &Map<String, Value>) -> Option<ClaimsRequest> {
    let names = claims.get("userinfo_claims").and_then(Value::as_array)?;
    Some(ClaimsRequest {
        userinfo: names
            .iter()
            .filter_map(Value::as_str)
            .map(|n| (n.to_string(), None::<ClaimSpec>))
            .collect(),
        id_token: Default::default(),
    })
}
