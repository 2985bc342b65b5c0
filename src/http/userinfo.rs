//! `/userinfo` (OIDC Core §5.3), GET and POST, with the access token in the
//! `Authorization: Bearer` header or (POST) the form body (RFC 6750 §2).
//!
//! The token is a JWT we signed; it is checked locally (signature, `typ`,
//! issuer, expiry) and then against the replicated revocation list through
//! read-index, so a token revoked on any node is refused here at once.
//!
//! A DPoP-bound token (`cnf.jkt`, RFC 9449 §7) must come as
//! `Authorization: DPoP <token>` with a proof by that key whose `ath` is the
//! token's hash; the proof is then spent cluster-wide (`SpendDpopProof`, one
//! log entry) before the claims are released, so it works once. A bound
//! token sent as Bearer, without a proof, or with another key's proof is
//! refused with a `WWW-Authenticate: DPoP` challenge; every answer to the
//! DPoP scheme carries a fresh `DPoP-Nonce`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::dpop::{self, Refusal};
use super::error::{ask, BearerError};
use super::form::{authorization, is_form};
use super::AppState;
use crate::actors::exchange::dpop_use;
use crate::actors::token::{AccessTokenLive, SpendDpopProof};
use crate::clock::now;
use crate::oidc::claims::{self, ClaimSpec, ClaimsRequest, Target};
use crate::oidc::discovery::USERINFO_PATH;
use crate::oidc::dpop::Proof;
use crate::oidc::error::{ErrorCode, OAuthError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/userinfo", web::get().to(userinfo))
        .route("/userinfo", web::post().to(userinfo));
}

/// The access token of a request (header or form body, not both), and
/// whether it came with the DPoP scheme.
fn presented(req: &HttpRequest, body: &[u8]) -> Result<(String, bool), BearerError> {
    let scheme = |v: &str, name: &str| {
        v.get(..name.len() + 1)
            .is_some_and(|p| p.eq_ignore_ascii_case(&format!("{name} ")))
    };
    let header_token = authorization(req)
        .map(|v| match v {
            v if scheme(v, "Bearer") => Ok((v[7..].trim().to_string(), false)),
            v if scheme(v, "DPoP") => Ok((v[5..].trim().to_string(), true)),
            _ => Err(BearerError(Some(OAuthError::new(
                ErrorCode::InvalidRequest,
                "use the Bearer or the DPoP scheme",
            )))),
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
        (Some(t), None) => Ok(t),
        (None, Some(t)) => Ok((t, false)),
        (None, None) => Err(BearerError(None)),
    }
}

async fn userinfo(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Refusal> {
    let (token, dpop_scheme) = presented(&req, &body)?;
    if !dpop_scheme {
        return answer(&st, &req, &token, false).await;
    }
    match answer(&st, &req, &token, true).await {
        Ok(res) => Ok(dpop::with_nonce(&st, res)),
        Err(mut r) => {
            r.nonce.get_or_insert_with(|| dpop::fresh_nonce(&st));
            Err(r)
        }
    }
}

/// The request's proof for `token` (DPoP scheme): required, valid.
fn required_proof(st: &AppState, req: &HttpRequest, token: &str) -> Result<Proof, Refusal> {
    let refuse = |e| Refusal::dpop(st, e);
    dpop::proof(st, req, req.method().as_str(), USERINFO_PATH, Some(token))
        .map_err(refuse)?
        .ok_or_else(|| {
            refuse(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "the DPoP scheme needs a DPoP proof",
            ))
        })
}

/// Refuse a token whose binding (`cnf.jkt`) does not match how it came.
fn check_binding(
    st: &AppState,
    claims: &Map<String, Value>,
    proof: Option<&Proof>,
) -> Result<(), Refusal> {
    let refuse = |m: &str| {
        Err(Refusal::dpop(
            st,
            OAuthError::new(ErrorCode::InvalidToken, m),
        ))
    };
    match (dpop::bound_key(claims), proof) {
        (None, None) => Ok(()),
        (Some(jkt), Some(p)) if jkt == p.jkt => Ok(()),
        (Some(_), Some(_)) => refuse("the access token is bound to another DPoP key"),
        (Some(_), None) => {
            refuse("the access token is DPoP-bound: use the DPoP scheme and a proof")
        }
        (None, Some(_)) => refuse("the access token is not DPoP-bound: use the Bearer scheme"),
    }
}

async fn answer(
    st: &AppState,
    req: &HttpRequest,
    token: &str,
    dpop_scheme: bool,
) -> Result<HttpResponse, Refusal> {
    let proof = match dpop_scheme {
        true => Some(required_proof(st, req, token)?),
        false => None,
    };
    let claims = live_access_token(st, token).await?;
    check_binding(st, &claims, proof.as_ref())?;
    if let Some(p) = &proof {
        if !ask(st.tokens.send(SpendDpopProof(dpop_use(p)))).await? {
            return Err(Refusal::dpop(st, dpop::replayed(USERINFO_PATH, &p.jkt)));
        }
    }
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
        )))
        .into());
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
    if !st
        .token_reads
        .access_token_live(AccessTokenLive::of(&claims))
        .await?
    {
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
