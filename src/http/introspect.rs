//! `/introspect` (RFC 7662) and `/revoke` (RFC 7009).
//!
//! Both need client authentication (the same methods as `/token`).
//! Introspection answers from this node's state after read-index, so it
//! reflects every revocation and logout that finished before the request
//! began, whichever node handled it; without a quorum it answers 503 rather
//! than a possibly stale `active: true` (docs/ARCHITECTURE.md invariant 2).
//! An access token is shown (`active: true`) only to the client it was
//! issued to or to a client the operator marked `resource_server` (every
//! access token's audience is this issuer); any other caller gets
//! `{"active": false}`, as for an unknown token, so a client learns nothing
//! about another client's tokens or users. Refresh tokens are shown to their
//! own client only. Revocation answers only once the revocation is committed by a quorum.
//! A DPoP-bound access token is answered with its `cnf` (the key's
//! thumbprint) and `token_type: DPoP` (RFC 9449 §6.2).
//! Each asks one question with the token as the client sent it: liveness
//! ([`AccessTokenLive`], [`RefreshTokenLive`]) through the token read handle,
//! revocation ([`RevokeAccessToken`], [`RevokeRefreshToken`]) through the
//! token actor.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::client_auth::authenticate;
use super::error::{ask, TokenError};
use super::form::{authorization, form_body};
use super::issue::no_store;
use super::AppState;
use crate::actors::directory::ClientRecord;
use crate::actors::token::{
    AccessTokenLive, RefreshTokenLive, RevokeAccessToken, RevokeRefreshToken,
};
use crate::clock::now;
use crate::metrics::METRICS;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::form::Params;
use crate::oidc::token_request::client_auth;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/introspect", web::post().to(introspect))
        .route("/revoke", web::post().to(revoke));
}

/// Authenticate the caller and read `token` / `token_type_hint`.
async fn admit(
    req: &HttpRequest,
    st: &AppState,
    body: &[u8],
) -> Result<(ClientRecord, String, Option<String>), TokenError> {
    let form = form_body(req, body)?;
    let auth = client_auth(authorization(req), &form)?;
    let params = Params::new(&form);
    params.reject_repeated()?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "token is required"))?
        .to_string();
    let hint = params.get("token_type_hint").map(String::from);
    let client = authenticate(st, req, auth).await?;
    Ok((client, token, hint))
}

/// A JWT this issuer signed, with its `typ`, if `token` is one.
fn our_jwt(st: &AppState, token: &str) -> Option<(Map<String, Value>, Option<String>)> {
    let (claims, typ) = st.keys.get().verify(token).ok()?;
    (claims.get("iss").and_then(Value::as_str) == Some(st.issuer().as_str()))
        .then_some((claims, typ))
}

fn inactive() -> HttpResponse {
    METRICS
        .introspections
        .with_label_values(&["inactive"])
        .inc();
    no_store(json!({"active": false}))
}

/// An `active: true` answer, with the subject's username if it still exists.
fn active(st: &AppState, sub: &str, mut out: Value) -> HttpResponse {
    if let Some(u) = st.user_by_sub(sub) {
        out["username"] = u.username.into();
    }
    METRICS.introspections.with_label_values(&["active"]).inc();
    no_store(out)
}

async fn introspect(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, TokenError> {
    let (client, token, hint) = admit(&req, &st, &body).await?;
    if client.is_public() {
        return Err(TokenError(OAuthError::new(
            ErrorCode::InvalidClient,
            "introspection needs a confidential client",
        )));
    }
    let as_refresh = hint.as_deref() == Some("refresh_token");
    if !as_refresh {
        if let Some(res) = introspect_access(&st, &client, &token).await? {
            return Ok(res);
        }
    }
    if let Some(res) = introspect_refresh(&st, &client, &token).await? {
        return Ok(res);
    }
    if as_refresh {
        if let Some(res) = introspect_access(&st, &client, &token).await? {
            return Ok(res);
        }
    }
    Ok(inactive())
}

/// Whether `caller` may see the access token with these claims: its own
/// client, or a resource server for its audience (this issuer).
fn may_see(st: &AppState, caller: &ClientRecord, claims: &Map<String, Value>) -> bool {
    let owner = claims.get("client_id").and_then(Value::as_str);
    let issuer = st.issuer();
    let for_us = match claims.get("aud") {
        Some(Value::String(a)) => *a == issuer,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(issuer.as_str())),
        _ => false,
    };
    owner == Some(caller.client_id.as_str()) || (caller.resource_server && for_us)
}

/// `None` if `token` is not one of our access tokens.
async fn introspect_access(
    st: &AppState,
    caller: &ClientRecord,
    token: &str,
) -> Result<Option<HttpResponse>, TokenError> {
    let Some((claims, typ)) = our_jwt(st, token) else {
        return Ok(None);
    };
    if typ.as_deref() != Some("at+jwt") || !may_see(st, caller, &claims) {
        return Ok(Some(inactive()));
    }
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    if exp <= now() {
        return Ok(Some(inactive()));
    }
    if !st
        .token_reads
        .access_token_live(AccessTokenLive::of(&claims))
        .await?
    {
        return Ok(Some(inactive()));
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // A DPoP-bound token (RFC 9449 §6.2): its key and token type.
    let token_type = match claims.get("cnf") {
        Some(_) => "DPoP",
        None => "Bearer",
    };
    let mut out = json!({ "active": true, "token_type": token_type });
    for k in [
        "scope",
        "client_id",
        "sub",
        "aud",
        "iss",
        "exp",
        "iat",
        "jti",
        "sid",
        "cnf",
    ] {
        if let Some(v) = claims.get(k) {
            out[k] = v.clone();
        }
    }
    if let Some(iat) = claims.get("iat") {
        out["nbf"] = iat.clone();
    }
    Ok(Some(active(st, sub, out)))
}

/// `None` if `token` is not a live refresh token of this client.
async fn introspect_refresh(
    st: &AppState,
    client: &ClientRecord,
    token: &str,
) -> Result<Option<HttpResponse>, TokenError> {
    let live = RefreshTokenLive {
        refresh_token: token.to_string(),
        client_id: client.client_id.clone(),
    };
    let Some(rec) = st.token_reads.refresh_token_live(live).await? else {
        return Ok(None);
    };
    let mut out = json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": rec.grant.scopes.join(" "),
        "client_id": rec.grant.client_id,
        "sub": rec.grant.sub,
        "aud": rec.grant.client_id,
        "iss": st.issuer(),
        "exp": rec.expires_at,
        "jti": rec.jti,
    });
    if let Some(iat) = rec.issued_at {
        out["iat"] = iat.into();
    }
    if let Some(sid) = &rec.grant.sid {
        out["sid"] = sid.clone().into();
    }
    Ok(Some(active(st, &rec.grant.sub, out)))
}

async fn revoke(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, TokenError> {
    let (client, token, _hint) = admit(&req, &st, &body).await?;
    if let Some((claims, typ)) = our_jwt(&st, &token) {
        if typ.as_deref() != Some("at+jwt") {
            return Err(TokenError(OAuthError::new(
                ErrorCode::UnsupportedTokenType,
                "only access and refresh tokens can be revoked",
            )));
        }
        let owner = claims.get("client_id").and_then(Value::as_str);
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // Another client's token, or one already expired: nothing to do
        // (RFC 7009 §2.2: answer 200 all the same).
        if owner == Some(client.client_id.as_str()) && exp > now() && !jti.is_empty() {
            let revoke = RevokeAccessToken {
                jti: jti.to_string(),
                exp,
            };
            ask(st.tokens.send(revoke)).await?;
            let sub = claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default();
            tracing::info!(target: "audit", event = "token.revoke", outcome = "success", kind = "access", client_id = %client.client_id, sub);
            METRICS
                .revocations
                .with_label_values(&["access_token"])
                .inc();
        }
        return Ok(no_store(json!({})));
    }
    let revoke = RevokeRefreshToken {
        refresh_token: token,
        client_id: client.client_id.clone(),
    };
    let revoked = ask(st.tokens.send(revoke)).await?;
    let outcome = if revoked { "success" } else { "unknown" };
    tracing::info!(target: "audit", event = "token.revoke", outcome, kind = "refresh", client_id = %client.client_id);
    if revoked {
        METRICS
            .revocations
            .with_label_values(&["refresh_token"])
            .inc();
    }
    Ok(no_store(json!({})))
}
