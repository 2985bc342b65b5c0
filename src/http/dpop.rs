//! The `DPoP` request header at `/token` and `/userinfo` (RFC 9449): finding
//! the proof, checking it with [`crate::oidc::dpop::check`] for the endpoint
//! URL the issuer publishes, nonces in `DPoP-Nonce`, and DPoP challenges.
//!
//! Checking a proof is bounded work done before client authentication or
//! any actor message: one header of at most `MAX_PROOF_LEN` bytes, one
//! signature check. A valid proof is not yet accepted: its `jti` is spent
//! through the Raft log by the command the request proposes anyway (code
//! redemption, refresh rotation) or by `SpendDpopProof` (see
//! `actors::token` and `oidc::dpop` for why and what a partition does).
//! Every response to a request that used DPoP carries a fresh nonce.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::error::{BearerError, Unanswered};
use super::AppState;
use crate::oidc::discovery::endpoint;
use crate::oidc::dpop::{check, Expected, NonceKey, Proof, ProofError, ALGS};
use crate::oidc::error::{ErrorCode, OAuthError};

/// The request header that carries a proof.
pub const DPOP: &str = "DPoP";
/// The response header that carries a fresh server nonce.
pub const DPOP_NONCE: &str = "DPoP-Nonce";

fn invalid(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, d)
}

/// Whether the request sent any `DPoP` header.
pub fn sent(req: &HttpRequest) -> bool {
    req.headers().contains_key(DPOP)
}

/// The cluster's nonce key (derived from the master key: one hash).
fn nonce_key(st: &AppState) -> NonceKey {
    NonceKey::derive(&st.config.master_key)
}

/// A fresh nonce, valid on every node.
pub fn fresh_nonce(st: &AppState) -> String {
    nonce_key(st).issue(crate::clock::now())
}

/// Add a fresh `DPoP-Nonce` to a response.
pub fn with_nonce(st: &AppState, mut res: HttpResponse) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(&fresh_nonce(st)) {
        res.headers_mut()
            .insert(HeaderName::from_static("dpop-nonce"), v);
    }
    res
}

/// The request's proof for endpoint `path` with method `htm`, checked; `None`
/// without a `DPoP` header. `access_token` is the token presented with it
/// (its hash must be the proof's `ath`). More than one `DPoP` header, or one
/// that is not a valid proof, is `invalid_dpop_proof`; a proof without a
/// current nonce when nonces are required is `use_dpop_nonce`.
pub fn proof(
    st: &AppState,
    req: &HttpRequest,
    htm: &str,
    path: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, OAuthError> {
    let mut values = req.headers().get_all(DPOP);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid("send one DPoP header"));
    }
    let text = value
        .to_str()
        .map_err(|_| invalid("the DPoP header is not a JWT"))?;
    let key = st.config.oauth.dpop_require_nonce.then(|| nonce_key(st));
    let htu = endpoint(&st.config.issuer, path);
    let expected = Expected {
        htm,
        htu: &htu,
        now: crate::clock::now(),
        access_token,
        nonce: key.as_ref(),
    };
    match check(text, &expected) {
        Ok(p) => Ok(Some(p)),
        Err(ProofError::Invalid(m)) => Err(invalid(m)),
        Err(ProofError::UseNonce(m)) => Err(OAuthError::new(ErrorCode::UseDpopNonce, m)),
    }
}

/// `invalid_dpop_proof` for a proof whose `jti` was already used at some
/// node; an audit event names the endpoint and the key (never the proof).
pub fn replayed(endpoint: &str, jkt: &str) -> OAuthError {
    tracing::info!(target: "audit", event = "dpop_proof_replayed", endpoint, jkt);
    invalid("the DPoP proof was already used")
}

/// The `cnf.jkt` of access token claims: the key the token is bound to.
pub fn bound_key(claims: &serde_json::Map<String, serde_json::Value>) -> Option<&str> {
    claims.get("cnf")?.get("jkt")?.as_str()
}

/// A refusal at a resource endpoint that accepts DPoP. With `nonce` (the
/// request used DPoP, or presented a DPoP-bound token), it is a DPoP
/// challenge (RFC 9449 §7.1): 401 for token and proof errors,
/// `WWW-Authenticate: DPoP`, and the nonce in `DPoP-Nonce`; without, the
/// RFC 6750 Bearer answer.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Refusal {
    pub error: BearerError,
    pub nonce: Option<String>,
}

impl Refusal {
    pub fn dpop(st: &AppState, e: OAuthError) -> Refusal {
        Refusal {
            error: BearerError(Some(e)),
            nonce: Some(fresh_nonce(st)),
        }
    }
}

impl From<BearerError> for Refusal {
    fn from(error: BearerError) -> Self {
        Refusal { error, nonce: None }
    }
}

impl<E> From<Unanswered<E>> for Refusal
where
    BearerError: From<Unanswered<E>>,
{
    fn from(e: Unanswered<E>) -> Self {
        BearerError::from(e).into()
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        match (&self.nonce, self.error.0.as_ref().map(|e| e.code)) {
            (Some(_), Some(ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce)) => {
                StatusCode::UNAUTHORIZED
            }
            _ => self.error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = self.error.error_response();
        let Some(nonce) = &self.nonce else {
            return res;
        };
        *res.status_mut() = self.status_code();
        let headers = res.headers_mut();
        if headers.contains_key(header::WWW_AUTHENTICATE) {
            let algs = ALGS.join(" ");
            let challenge = match &self.error.0 {
                Some(e) => format!(
                    "DPoP algs=\"{algs}\", error=\"{}\", error_description=\"{}\"",
                    e.code.as_str(),
                    e.wire_description()
                ),
                None => format!("DPoP algs=\"{algs}\""),
            };
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(nonce) {
            headers.insert(HeaderName::from_static("dpop-nonce"), v);
        }
        res
    }
}
