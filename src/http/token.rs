//! `POST /token`: RFC 6749 §4.1.3 (authorization_code, with RFC 7636 PKCE),
//! §6 (refresh_token, rotated on every use) and §4.4 (client_credentials).
//!
//! Code redemption and refresh rotation are one Raft command each, decided in
//! `apply`; tokens are signed here, on the HTTP worker, with the shared key
//! set. `client_credentials` changes no state and needs no Raft round trip.
//! Every answer carries `Cache-Control: no-store`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::client_auth::authenticate;
use super::error::TokenError;
use super::AppState;
use crate::actors::code::RedeemCode;
use crate::actors::now;
use crate::actors::token::RotateRefresh;
use crate::crypto::{random_id, random_secret, sha256_hex};
use crate::metrics::METRICS;
use crate::oidc::claims::{self, ClaimsRequest, Target};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::token_request::{client_auth, parse_grant, Grant as GrantRequest};
use crate::oidc::tokens::{access_token_claims, id_token_claims, AccessTokenInput, IdTokenInput};
use crate::state::codes::{NewRefresh, Redeem};
use crate::state::tokens::Rotate;
use crate::state::{Authorization, ClientRecord, CommandResult};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/token", web::post().to(token));
}

fn bad(code: ErrorCode, d: &str) -> TokenError {
    TokenError(OAuthError::new(code, d))
}

/// Parse a form body, insisting on the form content type (RFC 6749 §3.2);
/// more than `oidc::form::MAX_PARAMS` pairs are refused before decoding.
pub fn form_body(req: &HttpRequest, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    crate::oidc::form::parse_pairs(body)
}

async fn token(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, TokenError> {
    let form = form_body(&req, &body)?;
    let authz = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let auth = client_auth(authz, &form)?;
    let grant_req = parse_grant(&form)?;
    let client = authenticate(&st, auth).await?;
    let res = match grant_req {
        GrantRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => authorization_code(&st, &client, code, redirect_uri, code_verifier).await,
        GrantRequest::RefreshToken {
            refresh_token,
            scope,
        } => refresh(&st, &client, refresh_token, scope).await,
        GrantRequest::ClientCredentials { scope } => client_credentials(&st, &client, scope),
    }?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(res))
}

fn require_grant_type(client: &ClientRecord, grant_type: &str) -> Result<(), TokenError> {
    if client.allows_grant(grant_type) {
        Ok(())
    } else {
        Err(bad(
            ErrorCode::UnauthorizedClient,
            &format!("this client may not use {grant_type}"),
        ))
    }
}

async fn authorization_code(
    st: &AppState,
    client: &ClientRecord,
    code: String,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
) -> Result<Value, TokenError> {
    require_grant_type(client, "authorization_code")?;
    let t = now();
    let access_jti = random_id();
    let access_exp = t + st.settings.access_token_lifetime;
    let refresh_value = random_secret();
    let refresh = client.allows_grant("refresh_token").then(|| NewRefresh {
        hash: sha256_hex(&refresh_value),
        family: random_id(),
        expires_at: t + st.settings.refresh_token_lifetime,
    });
    let redeem = Redeem {
        hash: RedeemCode::hash(&code),
        client_id: client.client_id.clone(),
        redirect_uri,
        code_verifier,
        now: t,
        access_jti: access_jti.clone(),
        access_exp,
        refresh,
    };
    match st.codes.send(RedeemCode(redeem)).await?? {
        CommandResult::Granted(grant) => {
            METRICS.codes_redeemed.with_label_values(&["ok"]).inc();
            let refresh = grant.family.as_ref().map(|_| refresh_value);
            issue(st, client, &grant, &access_jti, t, refresh, None, true)
        }
        CommandResult::CodeReplayed => {
            METRICS
                .codes_redeemed
                .with_label_values(&["replayed"])
                .inc();
            Err(bad(
                ErrorCode::InvalidGrant,
                "the authorization code was already used; the tokens issued for it are revoked",
            ))
        }
        CommandResult::Rejected(m) => {
            METRICS
                .codes_redeemed
                .with_label_values(&["rejected"])
                .inc();
            Err(bad(ErrorCode::InvalidGrant, &m))
        }
        other => Err(bad(
            ErrorCode::ServerError,
            &format!("unexpected result {other:?}"),
        )),
    }
}

async fn refresh(
    st: &AppState,
    client: &ClientRecord,
    token: String,
    scope: Option<Vec<String>>,
) -> Result<Value, TokenError> {
    require_grant_type(client, "refresh_token")?;
    let t = now();
    let access_jti = random_id();
    let next = random_secret();
    let rotate = Rotate {
        hash: sha256_hex(&token),
        client_id: client.client_id.clone(),
        now: t,
        new_hash: sha256_hex(&next),
        new_expires_at: t + st.settings.refresh_token_lifetime,
        access_jti: access_jti.clone(),
        access_exp: t + st.settings.access_token_lifetime,
    };
    match st.tokens.send(RotateRefresh(rotate)).await?? {
        CommandResult::Granted(grant) => {
            let narrowed = match scope {
                Some(asked) => {
                    if let Some(extra) = asked.iter().find(|s| !grant.scopes.contains(s)) {
                        return Err(bad(
                            ErrorCode::InvalidScope,
                            &format!("scope `{extra}` was not granted originally"),
                        ));
                    }
                    Some(asked)
                }
                None => None,
            };
            METRICS.refreshes.with_label_values(&["ok"]).inc();
            issue(
                st,
                client,
                &grant,
                &access_jti,
                t,
                Some(next),
                narrowed,
                false,
            )
        }
        CommandResult::RefreshReused => {
            METRICS.refreshes.with_label_values(&["reused"]).inc();
            Err(bad(
                ErrorCode::InvalidGrant,
                "the refresh token was already used; its whole family is now revoked",
            ))
        }
        CommandResult::Rejected(m) => {
            METRICS.refreshes.with_label_values(&["rejected"]).inc();
            Err(bad(ErrorCode::InvalidGrant, &m))
        }
        other => Err(bad(
            ErrorCode::ServerError,
            &format!("unexpected result {other:?}"),
        )),
    }
}

fn client_credentials(
    st: &AppState,
    client: &ClientRecord,
    scope: Option<Vec<String>>,
) -> Result<Value, TokenError> {
    require_grant_type(client, "client_credentials")?;
    if client.secret_hash.is_none() && client.jwks.is_none() {
        return Err(bad(
            ErrorCode::UnauthorizedClient,
            "public clients cannot use client_credentials",
        ));
    }
    let scopes: Vec<String> = scope
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s != "openid" && s != "offline_access")
        .collect();
    let t = now();
    let jti = random_id();
    let keys = st.keys.get();
    let issuer = st.issuer();
    let claims = access_token_claims(&AccessTokenInput {
        issuer: &issuer,
        sub: &client.client_id,
        client_id: &client.client_id,
        audience: &issuer,
        now: t,
        lifetime: st.settings.access_token_lifetime,
        jti: &jti,
        scopes: &scopes,
        auth_time: None,
        sid: None,
    });
    let at = keys
        .sign(&st.settings.access_token_alg, "at+jwt", claims)
        .map_err(|e| {
            bad(
                ErrorCode::TemporarilyUnavailable,
                &format!("signing keys not ready: {e}"),
            )
        })?;
    METRICS
        .tokens_issued
        .with_label_values(&["client_credentials", "access_token"])
        .inc();
    let mut res = json!({
        "access_token": at,
        "token_type": "Bearer",
        "expires_in": st.settings.access_token_lifetime,
    });
    if !scopes.is_empty() {
        res["scope"] = scopes.join(" ").into();
    }
    Ok(res)
}

/// Sign the access token (and the ID token for `openid` grants) for a grant.
#[allow(clippy::too_many_arguments)]
fn issue(
    st: &AppState,
    client: &ClientRecord,
    grant: &Authorization,
    access_jti: &str,
    t: u64,
    refresh: Option<String>,
    narrowed: Option<Vec<String>>,
    with_nonce: bool,
) -> Result<Value, TokenError> {
    let keys = st.keys.get();
    let issuer = st.issuer();
    let scopes = narrowed.unwrap_or_else(|| grant.scopes.clone());
    let claims_req: Option<ClaimsRequest> = grant
        .claims
        .as_ref()
        .and_then(|c| serde_json::from_value(c.clone()).ok());
    let mut at_claims = access_token_claims(&AccessTokenInput {
        issuer: &issuer,
        sub: &grant.sub,
        client_id: &client.client_id,
        audience: &issuer,
        now: t,
        lifetime: st.settings.access_token_lifetime,
        jti: access_jti,
        scopes: &scopes,
        auth_time: Some(grant.auth_time),
        sid: grant.sid.as_deref(),
    });
    // Claims the RP asked for at userinfo through the `claims` parameter.
    if let Some(c) = &claims_req {
        if !c.userinfo.is_empty() {
            let names: Vec<Value> = c
                .userinfo
                .keys()
                .map(|k| Value::String(k.clone()))
                .collect();
            at_claims.insert("userinfo_claims".into(), Value::Array(names));
        }
    }
    let signing_unavailable = |e: crate::crypto::jwt::JwtError| {
        bad(
            ErrorCode::TemporarilyUnavailable,
            &format!("signing keys not ready: {e}"),
        )
    };
    let access_token = keys
        .sign(&st.settings.access_token_alg, "at+jwt", at_claims)
        .map_err(signing_unavailable)?;
    let grant_type = if with_nonce {
        "authorization_code"
    } else {
        "refresh_token"
    };
    METRICS
        .tokens_issued
        .with_label_values(&[grant_type, "access_token"])
        .inc();
    let mut res = Map::new();
    res.insert("access_token".into(), access_token.clone().into());
    res.insert("token_type".into(), "Bearer".into());
    res.insert(
        "expires_in".into(),
        st.settings.access_token_lifetime.into(),
    );
    res.insert("scope".into(), scopes.join(" ").into());
    if scopes.iter().any(|s| s == "openid") {
        let user = st
            .user_by_sub(&grant.sub)
            .ok_or_else(|| bad(ErrorCode::InvalidGrant, "the user no longer exists"))?;
        let extra = claims::select(
            &user.released_claims(),
            &scopes,
            claims_req.as_ref(),
            Target::IdToken,
        );
        let alg = client.id_token_alg().to_string();
        let amr = ["pwd"];
        let id_claims = id_token_claims(&IdTokenInput {
            issuer: &issuer,
            sub: &grant.sub,
            client_id: &client.client_id,
            now: t,
            lifetime: st.settings.id_token_lifetime,
            auth_time: grant.auth_time,
            nonce: if with_nonce {
                grant.nonce.as_deref()
            } else {
                None
            },
            access_token: Some(&access_token),
            alg: &alg,
            sid: grant.sid.as_deref(),
            acr: grant.acr.as_deref(),
            amr: &amr,
            extra,
        });
        let id_token = keys
            .sign(&alg, "JWT", id_claims)
            .map_err(signing_unavailable)?;
        METRICS
            .tokens_issued
            .with_label_values(&[grant_type, "id_token"])
            .inc();
        res.insert("id_token".into(), id_token.into());
    }
    if let Some(r) = refresh {
        METRICS
            .tokens_issued
            .with_label_values(&[grant_type, "refresh_token"])
            .inc();
        res.insert("refresh_token".into(), r.into());
    }
    Ok(Value::Object(res))
}
