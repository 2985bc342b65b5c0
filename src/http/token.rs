//! `POST /token`: RFC 6749 §4.1.3 (authorization_code, with RFC 7636 PKCE),
//! §6 (refresh_token, rotated on every use) and §4.4 (client_credentials).
//!
//! The handler parses the request, authenticates the client, sends one
//! message to the actor that owns the grant — [`ExchangeCode`] to the code
//! actor, [`ExchangeRefreshToken`] to the token actor — and renders the
//! [`Exchange`] it answers: tokens are signed here, on the HTTP worker, by
//! [`super::issue`]. `client_credentials` changes no state and needs no
//! actor, and issues only scopes the client registered. Every answer carries `Cache-Control: no-store`.
//!
//! DPoP (RFC 9449): a request with a valid proof ([`super::dpop::proof`],
//! checked before client authentication) gets a DPoP-bound access token.
//! The proof's `jti` travels in the exchange's own command, so spending it
//! cluster-wide costs no extra log entry (`client_credentials`, which has no
//! command, spends it alone); a public client's refresh token is bound to
//! the proof key, a confidential client's is not (§5). Every answer to a
//! request with a `DPoP` header carries a fresh `DPoP-Nonce`.

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::Value;

use super::client_auth::authenticate;
use super::dpop;
use super::error::{ask, TokenError};
use super::form::{authorization, form_body};
use super::issue::{client_token, issue, no_store, GrantType, TokenSet};
use super::AppState;
use crate::actors::code::ExchangeCode;
use crate::actors::directory::ClientRecord;
use crate::actors::exchange::{dpop_use, Exchange, Issued};
use crate::actors::token::{ExchangeRefreshToken, SpendDpopProof};
use crate::metrics::METRICS;
use crate::oidc::client_rules::client_credentials_scopes;
use crate::oidc::discovery::TOKEN_PATH;
use crate::oidc::dpop::Proof;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::token_request::{client_auth, parse_grant, Grant as GrantRequest};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/token", web::post().to(token));
}

fn bad(code: ErrorCode, d: &str) -> TokenError {
    TokenError(OAuthError::new(code, d))
}

async fn token(req: HttpRequest, st: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let res = match grant(&req, &st, &body).await {
        Ok(v) => no_store(v),
        Err(e) => e.error_response(),
    };
    if dpop::sent(&req) {
        dpop::with_nonce(&st, res)
    } else {
        res
    }
}

async fn grant(req: &HttpRequest, st: &AppState, body: &[u8]) -> Result<Value, TokenError> {
    let form = form_body(req, body)?;
    let auth = client_auth(authorization(req), &form)?;
    let grant_req = parse_grant(&form)?;
    let proof = dpop::proof(st, req, "POST", TOKEN_PATH, None)?;
    let client = authenticate(st, req, auth).await?;
    let grant_type = grant_type_of(&grant_req);
    require_grant_type(&client, grant_type)?;
    let spend = proof.as_ref().map(dpop_use);
    let exchange = match grant_req {
        GrantRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            let msg = ExchangeCode {
                code,
                client_id: client.client_id.clone(),
                redirect_uri,
                code_verifier,
                refreshable: client.allows_grant(GrantType::RefreshToken.as_str()),
                dpop: spend,
                bind_refresh: client.is_public(),
            };
            ask(st.codes.send(msg)).await?
        }
        GrantRequest::RefreshToken {
            refresh_token,
            scope,
        } => {
            let msg = ExchangeRefreshToken {
                refresh_token,
                client_id: client.client_id.clone(),
                scope,
                dpop: spend,
            };
            ask(st.tokens.send(msg)).await?
        }
        GrantRequest::ClientCredentials { scope } => {
            return client_credentials(st, &client, scope, proof.as_ref()).await
        }
    };
    exchanged(st, &client, grant_type, exchange, proof.as_ref())
}

fn grant_type_of(g: &GrantRequest) -> GrantType {
    match g {
        GrantRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
        GrantRequest::RefreshToken { .. } => GrantType::RefreshToken,
        GrantRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
    }
}

fn require_grant_type(client: &ClientRecord, grant_type: GrantType) -> Result<(), TokenError> {
    if client.allows_grant(grant_type.as_str()) {
        Ok(())
    } else {
        Err(bad(
            ErrorCode::UnauthorizedClient,
            &format!("this client may not use {}", grant_type.as_str()),
        ))
    }
}

/// Render the outcome of a code or refresh-token exchange.
fn exchanged(
    st: &AppState,
    client: &ClientRecord,
    grant_type: GrantType,
    exchange: Exchange,
    proof: Option<&Proof>,
) -> Result<Value, TokenError> {
    count_exchange(grant_type, &exchange);
    audit_exchange(client, grant_type, &exchange);
    let issued: Issued = match exchange {
        Exchange::Issued(issued) => *issued,
        Exchange::Replayed => return Err(bad(ErrorCode::InvalidGrant, replayed(grant_type))),
        Exchange::Rejected(m) => return Err(bad(ErrorCode::InvalidGrant, &m)),
        Exchange::ScopeNotGranted(extra) => {
            return Err(bad(
                ErrorCode::InvalidScope,
                &format!("scope `{extra}` was not granted originally"),
            ))
        }
        Exchange::ProofReplayed => {
            let jkt = proof.map_or("", |p| p.jkt.as_str());
            return Err(TokenError(dpop::replayed(TOKEN_PATH, jkt)));
        }
        Exchange::KeyMismatch if proof.is_none() => {
            return Err(bad(
                ErrorCode::InvalidDpopProof,
                "the refresh token is bound to a DPoP key: send a DPoP proof signed with it",
            ))
        }
        Exchange::KeyMismatch => {
            return Err(bad(
                ErrorCode::InvalidGrant,
                "the refresh token is bound to another DPoP key",
            ))
        }
    };
    let set = TokenSet {
        client,
        issued: &issued,
        grant_type,
        jkt: proof.map(|p| p.jkt.as_str()),
    };
    issue(st, &set)
}

fn replayed(grant_type: GrantType) -> &'static str {
    match grant_type {
        GrantType::AuthorizationCode => {
            "the authorization code was already used; the tokens issued for it are revoked"
        }
        _ => "the refresh token was already used; its whole family is now revoked",
    }
}

/// `tessera_oidc_codes_redeemed_total` / `tessera_oidc_refreshes_total`.
fn count_exchange(grant_type: GrantType, exchange: &Exchange) {
    let (counter, replay) = match grant_type {
        GrantType::AuthorizationCode => (&METRICS.codes_redeemed, "replayed"),
        _ => (&METRICS.refreshes, "reused"),
    };
    let label = match exchange {
        Exchange::Issued(_) => "ok",
        Exchange::Replayed => replay,
        Exchange::Rejected(_) | Exchange::ProofReplayed | Exchange::KeyMismatch => "rejected",
        Exchange::ScopeNotGranted(_) => return,
    };
    counter.with_label_values(&[label]).inc();
}

/// The audit line of an exchange: tokens issued, refused, or a replayed
/// code / reused refresh token (whose whole grant is then revoked).
fn audit_exchange(client: &ClientRecord, grant_type: GrantType, exchange: &Exchange) {
    let (client_id, grant_type) = (client.client_id.as_str(), grant_type.as_str());
    match exchange {
        Exchange::Issued(i) => {
            tracing::info!(target: "audit", event = "token.issue", outcome = "success", client_id, grant_type, sub = %i.grant.sub)
        }
        Exchange::Replayed => {
            let event = match grant_type {
                "authorization_code" => "code.replay",
                _ => "refresh.reuse",
            };
            tracing::info!(target: "audit", event, outcome = "refused", client_id, grant_type, reason = "already used; the grant's tokens are revoked")
        }
        Exchange::Rejected(reason) => {
            tracing::info!(target: "audit", event = "token.issue", outcome = "failure", client_id, grant_type, reason = %reason)
        }
        Exchange::ScopeNotGranted(_) => {
            tracing::info!(target: "audit", event = "token.issue", outcome = "failure", client_id, grant_type, reason = "scope not granted")
        }
        Exchange::ProofReplayed => {
            tracing::info!(target: "audit", event = "dpop.replay", outcome = "refused", client_id, grant_type, reason = "DPoP proof already used")
        }
        Exchange::KeyMismatch => {
            tracing::info!(target: "audit", event = "token.issue", outcome = "failure", client_id, grant_type, reason = "refresh token bound to another DPoP key")
        }
    }
}

/// `client_credentials`: an access token for the client itself, with only
/// scopes it registered (`invalid_scope` otherwise; see
/// [`client_credentials_scopes`]). With a DPoP proof, the proof is spent
/// (its own log entry: nothing else is written) and the token bound to it.
async fn client_credentials(
    st: &AppState,
    client: &ClientRecord,
    scope: Option<Vec<String>>,
    proof: Option<&Proof>,
) -> Result<Value, TokenError> {
    if client.is_public() {
        return Err(bad(
            ErrorCode::UnauthorizedClient,
            "public clients cannot use client_credentials",
        ));
    }
    let scopes = client_credentials_scopes(scope, client.scope.as_deref())
        .map_err(|e| bad(ErrorCode::InvalidScope, &e))?;
    if let Some(p) = proof {
        if !ask(st.tokens.send(SpendDpopProof(dpop_use(p)))).await? {
            return Err(TokenError(dpop::replayed(TOKEN_PATH, &p.jkt)));
        }
    }
    tracing::info!(target: "audit", event = "token.issue", outcome = "success", client_id = %client.client_id, grant_type = "client_credentials", scope = %scopes.join(" "));
    client_token(st, client, &scopes, proof.map(|p| p.jkt.as_str()))
}
