//! Error enums mapped to HTTP, in one place.
//!
//! [`AdminError`] is the admin API's error: JSON `{"error", "error_description"}`
//! with the matching status. Protocol error enums of later endpoints are
//! mapped here too.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::actors::directory::DirectoryError;
use crate::cluster::ClusterError;

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
