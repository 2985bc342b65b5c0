//! Error enums mapped to HTTP, in one place: one per protocol.
//!
//! * [`AdminError`] — the admin API: JSON `{"error", "error_description"}`.
//! * [`TokenError`] — `/token`, `/introspect`, `/revoke`: RFC 6749 §5.2.
//! * [`BearerError`] — `/userinfo`: RFC 6750 §3 `WWW-Authenticate` challenges.
//!
//! OAuth error bodies are written by [`OAuthError::to_json`], which keeps
//! `error_description` to the characters RFC 6749 §5.2 allows.
//! Authorization-endpoint errors are redirects or pages, built in `authorize`.
//!
//! [`ask`] folds an actor's two failure layers (mailbox, actor error) into
//! one [`Unanswered`], which converts into each of these enums.

use std::future::Future;

use actix::MailboxError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::actors::directory::DirectoryError;
use crate::actors::ClusterError;
use crate::oidc::error::{ErrorCode, OAuthError};

/// Why an actor gave no answer: its mailbox failed (the actor stopped or
/// its queue is full) or it answered with its own error `E`.
#[derive(Debug, thiserror::Error)]
pub enum Unanswered<E> {
    #[error("the actor did not answer: {0}")]
    Mailbox(#[from] MailboxError),
    #[error("{0}")]
    Failed(E),
}

/// Await a message sent to an actor whose answer is a `Result`, flattening
/// `Result<Result<T, E>, MailboxError>` into `Result<T, Unanswered<E>>`:
///
/// ```ignore
/// let exchange = ask(st.codes.send(msg)).await?;          // into TokenError
/// let Ok(session) = ask(st.sessions.send(find)).await else {
///     return unavailable();                                 // one failure case
/// };
/// ```
pub async fn ask<T, E>(
    sent: impl Future<Output = Result<Result<T, E>, MailboxError>>,
) -> Result<T, Unanswered<E>> {
    sent.await?.map_err(Unanswered::Failed)
}

/// `From<Unanswered<E>>` for an error enum that has `From<E>` and
/// `From<MailboxError>`, so `ask(..).await?` works in its handlers.
macro_rules! from_unanswered {
    ($($target:ty),*) => {$(
        impl<E> From<Unanswered<E>> for $target
        where
            $target: From<E>,
        {
            fn from(e: Unanswered<E>) -> Self {
                match e {
                    Unanswered::Mailbox(m) => m.into(),
                    Unanswered::Failed(e) => e.into(),
                }
            }
        }
    )*};
}

from_unanswered!(AdminError, TokenError, BearerError);

/// The cluster or an actor cannot answer now: 503 with `Retry-After`.
fn unavailable(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::new(ErrorCode::TemporarilyUnavailable, e.to_string())
}

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
    /// A change the cluster's lowest data format cannot hold yet (409).
    #[error("{0}")]
    NotUpgraded(String),
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
        match e {
            ClusterError::NotUpgraded { .. } => AdminError::NotUpgraded(e.to_string()),
            e => AdminError::Unavailable(e.to_string()),
        }
    }
}

impl From<MailboxError> for AdminError {
    fn from(e: MailboxError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) | AdminError::NotUpgraded(_) => StatusCode::CONFLICT,
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
            AdminError::NotUpgraded(_) => "not_upgraded",
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
        TokenError(unavailable(e))
    }
}

impl From<MailboxError> for TokenError {
    fn from(e: MailboxError) -> Self {
        TokenError(unavailable(e))
    }
}

impl ResponseError for TokenError {
    fn status_code(&self) -> StatusCode {
        if self.0.retry_after.is_some() {
            return StatusCode::TOO_MANY_REQUESTS;
        }
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
        if let Some(secs) = self.0.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        } else if self.0.code == ErrorCode::TemporarilyUnavailable {
            res.insert_header((header::RETRY_AFTER, "1"));
        }
        res.json(self.0.to_json())
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
        BearerError(Some(unavailable(e)))
    }
}

impl From<MailboxError> for BearerError {
    fn from(e: MailboxError) -> Self {
        BearerError(Some(unavailable(e)))
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
                if e.code != ErrorCode::TemporarilyUnavailable {
                    res.insert_header((header::WWW_AUTHENTICATE, challenge(e)));
                } else {
                    res.insert_header((header::RETRY_AFTER, "1"));
                }
                res.json(e.to_json())
            }
        }
    }
}

/// The RFC 6750 §3 challenge naming `e`; its description keeps to the
/// RFC 6749 §5.2 characters, so it has no quote or backslash to escape.
fn challenge(e: &OAuthError) -> String {
    format!(
        "Bearer realm=\"tessera\", error=\"{}\", error_description=\"{}\"",
        e.code.as_str(),
        e.wire_description()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    /// Status, a header and the JSON body of an error response.
    fn render(e: &impl ResponseError, name: header::HeaderName) -> (u16, Option<String>, String) {
        let res = e.error_response();
        let h = res
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string());
        let body = res.into_body().try_into_bytes().unwrap_or_default();
        (res_status(e), h, String::from_utf8(body.to_vec()).unwrap())
    }

    fn res_status(e: &impl ResponseError) -> u16 {
        e.status_code().as_u16()
    }

    fn token_error(code: ErrorCode, d: &str) -> TokenError {
        TokenError(OAuthError::new(code, d))
    }

    #[test]
    fn token_errors_map_to_rfc_6749_statuses_and_headers() {
        let (s, h, body) = render(
            &token_error(ErrorCode::InvalidClient, "unknown client"),
            header::WWW_AUTHENTICATE,
        );
        assert_eq!((s, h.as_deref()), (401, Some("Basic realm=\"tessera\"")));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"error": "invalid_client", "error_description": "unknown client"})
        );
        let (s, h, _) = render(
            &TokenError::from(ClusterError::NoLeader),
            header::RETRY_AFTER,
        );
        assert_eq!((s, h.as_deref()), (503, Some("1")));
        let throttled = token_error(
            ErrorCode::TemporarilyUnavailable,
            "too many failed attempts",
        );
        let throttled = TokenError(throttled.0.with_retry_after(7));
        let (s, h, body) = render(&throttled, header::RETRY_AFTER);
        assert_eq!((s, h.as_deref()), (429, Some("7")));
        assert!(body.contains("\"temporarily_unavailable\""), "{body}");
        assert_eq!(res_status(&token_error(ErrorCode::ServerError, "x")), 500);
        assert_eq!(res_status(&token_error(ErrorCode::InvalidGrant, "x")), 400);
        let (_, cache, _) = render(
            &token_error(ErrorCode::InvalidGrant, "x"),
            header::CACHE_CONTROL,
        );
        assert_eq!(cache.as_deref(), Some("no-store"));
    }

    #[test]
    fn descriptions_keep_to_the_rfc_characters() {
        let e = token_error(ErrorCode::InvalidGrant, "bad \"code\" \\ é");
        let (_, _, body) = render(&e, header::CACHE_CONTROL);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error_description"], "bad ?code? ? ?");
        let b = BearerError::invalid_token("no \"quotes\" here");
        let (s, challenge, _) = render(&b, header::WWW_AUTHENTICATE);
        assert_eq!(s, 401);
        assert_eq!(
            challenge.as_deref(),
            Some(
                "Bearer realm=\"tessera\", error=\"invalid_token\", \
                 error_description=\"no ?quotes? here\""
            )
        );
    }

    #[test]
    fn bearer_errors_map_to_rfc_6750_statuses() {
        let (s, challenge, body) = render(&BearerError(None), header::WWW_AUTHENTICATE);
        assert_eq!(
            (s, challenge.as_deref()),
            (401, Some("Bearer realm=\"tessera\""))
        );
        assert!(body.is_empty());
        let scope = BearerError(Some(OAuthError::new(ErrorCode::InsufficientScope, "x")));
        assert_eq!(res_status(&scope), 403);
        let down = BearerError::from(ClusterError::Timeout);
        let (s, challenge, _) = render(&down, header::WWW_AUTHENTICATE);
        assert_eq!((s, challenge), (503, None));
        assert_eq!(render(&down, header::RETRY_AFTER).1.as_deref(), Some("1"));
    }

    #[actix_web::test]
    async fn ask_flattens_both_failure_layers() {
        let answered: Result<Result<u8, ClusterError>, MailboxError> = Ok(Ok(7));
        assert_eq!(ask(async { answered }).await.unwrap(), 7);
        let failed: Result<Result<u8, ClusterError>, MailboxError> =
            Ok(Err(ClusterError::NoLeader));
        let e = ask(async { failed }).await.unwrap_err();
        assert!(matches!(e, Unanswered::Failed(ClusterError::NoLeader)));
        assert_eq!(res_status(&TokenError::from(e)), 503);
        let gone: Result<Result<u8, ClusterError>, MailboxError> = Err(MailboxError::Closed);
        let e = ask(async { gone }).await.unwrap_err();
        assert!(matches!(e, Unanswered::Mailbox(MailboxError::Closed)));
        assert_eq!(res_status(&BearerError::from(e)), 503);
        let dir: Result<Result<u8, DirectoryError>, MailboxError> =
            Ok(Err(DirectoryError::Invalid("bad name".into())));
        let admin = AdminError::from(ask(async { dir }).await.unwrap_err());
        assert_eq!(res_status(&admin), 400);
    }
}
