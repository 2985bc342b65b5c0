//! [`Authorization`]: what a user granted a client, carried from the
//! authorization code to the tokens and on to every refresh.
//!
//! It is recorded in a code (`CodeRecord`'s `grant` field) and in
//! each refresh token (`RefreshRecord`), and answered by a
//! successful redemption or rotation (`CommandResult::Granted`).
//! Not to be confused with `oidc::token_request::Grant`, the grant type of a
//! token request. Field names are part of format 1 and never change.

use serde::{Deserialize, Serialize};

/// What an authorization grants; carried from code to tokens to refreshes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorization {
    pub client_id: String,
    pub sub: String,
    #[serde(default)]
    pub sid: Option<String>,
    pub scopes: Vec<String>,
    pub auth_time: u64,
    #[serde(default)]
    pub nonce: Option<String>,
    /// The OIDC `claims` request parameter, as JSON.
    #[serde(default)]
    pub claims: Option<serde_json::Value>,
    #[serde(default)]
    pub acr: Option<String>,
    /// The refresh-token family issued with this authorization, if any.
    #[serde(default)]
    pub family: Option<String>,
}

impl Authorization {
    /// Whether the user granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}
