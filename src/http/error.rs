//! Error enums mapped to HTTP, in one place.
//!
//! * [`AdminError`] — the admin API: JSON `{"error", "error_description"}`.
//! * [`TokenError`] — `/token` (and later `/introspect`, `/revoke`): RFC 6749 §5.2.
//! * [`BearerError`] — `/userinfo`: RFC 6750 §3 `WWW-Authenticate` challenges.
//!
//! Authorization-endpoint errors are redirects or pages, built in `authorize`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::actors::directory::DirectoryError;
use crate::cluster::ClusterError;
use crate::oidc::error::{ErrorCode, OAuthError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("missing or wrong admin token")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<DirectoryError> for AdminError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(m) => AdminError::BadRequest(m),
            DirectoryError::Exists(m) => AdminError::Conflict(format!("{m} already exists")),
            DirectoryError::Cluster(c) => c.into(),
            DirectoryError::Internal(m) => AdminError::Internal(m),
        }
    }
}

impl From<ClusterError> for AdminError {
    fn from(e: ClusterError) -> Self {
        AdminError::Unavailable(e.to_string())
    }
}

impl From<actix::MailboxError> for AdminError {
    fn from(e: actix::MailboxError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            AdminError::Unauthorized => "unauthorized",
            AdminError::BadRequest(_) => "invalid_request",
            AdminError::NotFound(_) => "not_found",
            AdminError::Conflict(_) => "already_exists",
            AdminError::Unavailable(_) => "unavailable",
            AdminError::Internal(_) => "internal_error",
        };
        let mut res = HttpResponse::build(self.status_code());
        if let AdminError::Unauthorized = self {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"tessera-admin\""));
        }
        if let AdminError::Unavailable(_) = self {
            res.insert_header((header::RETRY_AFTER, "1"));
        }
        res.json(serde_json::json!({"error": code, "error_description": self.to_string()}))
    }
}

/// An OAuth error from the token, introspection or revocation endpoint:
/// JSON per RFC 6749 §5.2; `invalid_client` is 401 with `WWW-Authenticate`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub OAuthError);

impl From<OAuthError> for TokenError {
    fn from(e: OAuthError) -> Self {
        TokenError(e)
    }
}

impl From<ClusterError> for TokenError {
    fn from(e: ClusterError) -> Self {
        TokenError(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            e.to_string(),
        ))
    }
}

impl From<actix::MailboxError> for TokenError {
    fn from(e: actix::MailboxError) -> Self {
        TokenError(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            e.to_string(),
        ))
    }
}

fn oauth_json(e: &OAuthError) -> serde_json::Value {
    serde_json::json!({"error": e.code.as_str(), "error_description": e.description})
}

impl ResponseError for TokenError {
    fn status_code(&self) -> StatusCode {
        match self.0.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if self.0.code == ErrorCode::InvalidClient {
            res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"tessera\""));
        }
        if self.0.code == ErrorCode::TemporarilyUnavailable {
            res.insert_header((header::RETRY_AFTER, "1"));
        }
        res.json(oauth_json(&self.0))
    }
}

/// An error of a resource protected by a bearer token (RFC 6750 §3).
/// `None` is the "no token at all" case: 401 with a bare challenge.
#[derive(Debug, thiserror::Error)]
#[error("{0:?}")]
pub struct BearerError(pub Option<OAuthError>);

impl BearerError {
    pub fn invalid_token(d: impl Into<String>) -> Self {
        BearerError(Some(OAuthError::new(ErrorCode::InvalidToken, d)))
    }
}

impl From<ClusterError> for BearerError {
    fn from(e: ClusterError) -> Self {
        BearerError(Some(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            e.to_string(),
        )))
    }
}

impl From<actix::MailboxError> for BearerError {
    fn from(e: actix::MailboxError) -> Self {
        BearerError(Some(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            e.to_string(),
        )))
    }
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self.0.as_ref().map(|e| e.code) {
            None | Some(ErrorCode::InvalidToken) => StatusCode::UNAUTHORIZED,
            Some(ErrorCode::InsufficientScope) => StatusCode::FORBIDDEN,
            Some(ErrorCode::TemporarilyUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        match &self.0 {
            None => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"tessera\""));
                res.finish()
            }
            Some(e) => {
                let desc = e.description.replace(['"', '\\'], "'");
                if e.code != ErrorCode::TemporarilyUnavailable {
                    res.insert_header((
                        header::WWW_AUTHENTICATE,
                        format!(
                            "Bearer realm=\"tessera\", error=\"{}\", error_description=\"{desc}\"",
                            e.code.as_str()
                        ),
                    ));
                } else {
                    res.insert_header((header::RETRY_AFTER, "1"));
                }
                res.json(oauth_json(e))
            }
        }
    }
}
