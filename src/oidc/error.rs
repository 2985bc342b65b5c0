//! OAuth 2.0 / OpenID Connect error codes and the protocol error value.
//!
//! Owns the registered `error` strings: RFC 6749 §4.1.2.1 (authorization
//! endpoint) and §5.2 (token endpoint), OIDC Core §3.1.2.6 (`login_required`,
//! `consent_required`, …), RFC 6750 §3.1 (`invalid_token`,
//! `insufficient_scope`), RFC 7009 §2.2.1 (`unsupported_token_type`) and
//! RFC 7591 §3.2.2 (`invalid_redirect_uri`, `invalid_client_metadata`) and
//! RFC 9449 §12.2 (`invalid_dpop_proof`, `use_dpop_nonce`);
//! OIDC Core §3.1.2.6 / RFC 9101 (`invalid_request_object`, `invalid_request_uri`).
//! Mapping to HTTP status codes and headers is done by `http/`, not here.

use std::fmt;

/// A registered OAuth 2.0 / OIDC `error` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    AccountSelectionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
    InvalidToken,
    InsufficientScope,
    UnsupportedTokenType,
    InvalidRedirectUri,
    InvalidClientMetadata,
    InvalidDpopProof,
    UseDpopNonce,
    InvalidRequestObject,
    InvalidRequestUri,
}

impl ErrorCode {
    /// The exact string the RFCs register for this code.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidClient => "invalid_client",
            InvalidGrant => "invalid_grant",
            UnauthorizedClient => "unauthorized_client",
            UnsupportedGrantType => "unsupported_grant_type",
            InvalidScope => "invalid_scope",
            AccessDenied => "access_denied",
            UnsupportedResponseType => "unsupported_response_type",
            ServerError => "server_error",
            TemporarilyUnavailable => "temporarily_unavailable",
            LoginRequired => "login_required",
            ConsentRequired => "consent_required",
            InteractionRequired => "interaction_required",
            AccountSelectionRequired => "account_selection_required",
            RequestNotSupported => "request_not_supported",
            RequestUriNotSupported => "request_uri_not_supported",
            RegistrationNotSupported => "registration_not_supported",
            InvalidToken => "invalid_token",
            InsufficientScope => "insufficient_scope",
            UnsupportedTokenType => "unsupported_token_type",
            InvalidRedirectUri => "invalid_redirect_uri",
            InvalidClientMetadata => "invalid_client_metadata",
            InvalidDpopProof => "invalid_dpop_proof",
            UseDpopNonce => "use_dpop_nonce",
            InvalidRequestObject => "invalid_request_object",
            InvalidRequestUri => "invalid_request_uri",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error: the registered code plus a human-readable description.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// Seconds the caller must wait: set on a throttling refusal (HTTP
    /// maps it to 429 and `Retry-After`).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
        }
    }
    /// This error as a refusal to try again before `secs` seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnsupportedGrantType, d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn access_denied(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::AccessDenied, d)
    }
    pub fn server_error(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServerError, d)
    }
    pub fn temporarily_unavailable(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, d)
    }
    pub fn login_required(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::LoginRequired, d)
    }
    pub fn consent_required(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::ConsentRequired, d)
    }
    pub fn interaction_required(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InteractionRequired, d)
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidToken, d)
    }

    /// The description restricted to the characters RFC 6749 §4.1.2.1 and
    /// §5.2 allow in `error_description` (%x20-21 / %x23-5B / %x5D-7E):
    /// anything else (quotes, backslashes, non-ASCII, control) becomes `?`.
    pub fn wire_description(&self) -> String {
        sanitize_description(&self.description)
    }

    /// The JSON body of RFC 6749 §5.2:
    /// `{"error": …, "error_description": …}` (description omitted if empty,
    /// restricted to the RFC's characters by [`Self::wire_description`]).
    /// This is the one writer of OAuth error bodies: every endpoint that
    /// answers an error in JSON (token, introspection, revocation,
    /// registration, userinfo) sends `e.to_json()`, e.g.
    /// `HttpResponse::build(status).json(e.to_json())`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("error".into(), self.code.as_str().into());
        if !self.description.is_empty() {
            m.insert("error_description".into(), self.wire_description().into());
        }
        serde_json::Value::Object(m)
    }

    /// The `WWW-Authenticate` value of RFC 6750 §3 for this error:
    /// `Bearer realm="…", error="…", error_description="…"` (description
    /// omitted if empty). The description uses the RFC 6750 §3 characters,
    /// the same set as §5.2 of RFC 6749, so it never breaks the quoting.
    pub fn bearer_challenge(&self, realm: &str) -> String {
        let realm = sanitize_description(realm);
        let mut v = format!("Bearer realm=\"{realm}\", error=\"{}\"", self.code);
        if !self.description.is_empty() {
            v.push_str(&format!(
                ", error_description=\"{}\"",
                self.wire_description()
            ));
        }
        v
    }
}

impl From<&OAuthError> for serde_json::Value {
    /// [`OAuthError::to_json`].
    fn from(e: &OAuthError) -> Self {
        e.to_json()
    }
}

/// See [`OAuthError::wire_description`].
pub fn sanitize_description(d: &str) -> String {
    d.chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_registered_strings() {
        use ErrorCode::*;
        let all = [
            (InvalidRequest, "invalid_request"),
            (InvalidClient, "invalid_client"),
            (InvalidGrant, "invalid_grant"),
            (UnauthorizedClient, "unauthorized_client"),
            (UnsupportedGrantType, "unsupported_grant_type"),
            (InvalidScope, "invalid_scope"),
            (AccessDenied, "access_denied"),
            (UnsupportedResponseType, "unsupported_response_type"),
            (ServerError, "server_error"),
            (TemporarilyUnavailable, "temporarily_unavailable"),
            (LoginRequired, "login_required"),
            (ConsentRequired, "consent_required"),
            (InteractionRequired, "interaction_required"),
            (AccountSelectionRequired, "account_selection_required"),
            (RequestNotSupported, "request_not_supported"),
            (RequestUriNotSupported, "request_uri_not_supported"),
            (RegistrationNotSupported, "registration_not_supported"),
            (InvalidToken, "invalid_token"),
            (InsufficientScope, "insufficient_scope"),
            (UnsupportedTokenType, "unsupported_token_type"),
            (InvalidRedirectUri, "invalid_redirect_uri"),
            (InvalidClientMetadata, "invalid_client_metadata"),
            (InvalidDpopProof, "invalid_dpop_proof"),
            (UseDpopNonce, "use_dpop_nonce"),
            (InvalidRequestObject, "invalid_request_object"),
            (InvalidRequestUri, "invalid_request_uri"),
        ];
        for (code, s) in all {
            assert_eq!(code.as_str(), s);
            assert_eq!(code.to_string(), s);
        }
    }

    #[test]
    fn shorthands_and_display() {
        let e = OAuthError::invalid_grant("code already used");
        assert_eq!(e.code, ErrorCode::InvalidGrant);
        assert_eq!(e.to_string(), "invalid_grant: code already used");
        assert_eq!(
            OAuthError::invalid_request("x").code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            OAuthError::invalid_client("x").code,
            ErrorCode::InvalidClient
        );
        assert_eq!(
            OAuthError::login_required("x").code,
            ErrorCode::LoginRequired
        );
    }

    #[test]
    fn description_is_restricted_to_the_rfc_charset() {
        let e = OAuthError::invalid_request("bad \"scope\" \\ é\n ok!#[]~");
        assert_eq!(e.wire_description(), "bad ?scope? ? ?? ok!#[]~");
    }

    #[test]
    fn json_body() {
        let e = OAuthError::invalid_scope("nope");
        assert_eq!(
            e.to_json(),
            serde_json::json!({"error": "invalid_scope", "error_description": "nope"})
        );
        let e = OAuthError::server_error("");
        assert_eq!(e.to_json(), serde_json::json!({"error": "server_error"}));
        let e = OAuthError::invalid_request("a \"quoted\" \\ é");
        assert_eq!(
            serde_json::Value::from(&e),
            serde_json::json!({"error": "invalid_request", "error_description": "a ?quoted? ? ?"})
        );
    }

    #[test]
    fn bearer_challenge() {
        let e = OAuthError::invalid_token("the \"token\" expired");
        assert_eq!(
            e.bearer_challenge("tessera"),
            r#"Bearer realm="tessera", error="invalid_token", error_description="the ?token? expired""#
        );
        let e = OAuthError::new(ErrorCode::InsufficientScope, "");
        assert_eq!(
            e.bearer_challenge("x\"y"),
            r#"Bearer realm="x?y", error="insufficient_scope""#
        );
    }
}
