//! Clients: the replicated relying-party record and its commands.
//!
//! Confidential clients have their secret stored as an argon2id PHC string;
//! public clients have none and must use PKCE. Redirect URIs are compared by
//! exact string match, so they are stored exactly as registered.

use super::result::CommandResult;
use super::trees::{read, Record, StateTxn, TreeId, TxResult};
use super::version::{Versioned, FIRST_FORMAT};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub v: u32,
    pub client_id: String,
    /// argon2id PHC string of the secret; `None` for a public client.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// First-party clients skip the consent page.
    pub first_party: bool,
    /// The client's public keys for `private_key_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// `RS256` (default) or `ES256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// Where to fetch the client's keys for `private_key_jwt` (RFC 7591).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// Other registered metadata (client_name, logo_uri, contacts, ...) as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// SHA-256 of the RFC 7592 registration access token, for dynamically
    /// registered clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_token_hash: Option<String>,
    /// Scopes the client registered (RFC 7591 `scope`); `client_credentials`
    /// issues only these. `None`: no scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// Set by the operator: this client is a resource server and may
    /// introspect any access token for this issuer, not only its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resource_server: bool,
    /// Unix seconds, from the proposer's clock.
    pub created_at: u64,
    /// Where back-channel logout tokens are POSTed (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// The client requires `sid` in logout tokens (always sent here).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_required: bool,
}

/// Grant types a client may be registered for.
pub const KNOWN_GRANT_TYPES: &[&str] =
    &["authorization_code", "refresh_token", "client_credentials"];

impl Record for ClientRecord {}

impl Versioned for ClientRecord {
    /// `scope`, `resource_server` and the back-channel logout fields came
    /// after format 1 (0.1.0 would drop them).
    fn format(&self) -> u32 {
        if self.scope.is_some()
            || self.resource_server
            || self.backchannel_logout_uri.is_some()
            || self.backchannel_logout_session_required
        {
            2
        } else {
            FIRST_FORMAT
        }
    }
}

impl ClientRecord {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none() && self.jwks.is_none() && self.jwks_uri.is_none()
    }

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    pub fn id_token_alg(&self) -> &str {
        self.id_token_signed_response_alg
            .as_deref()
            .unwrap_or("RS256")
    }
}

/// Whether `client_id` can be a key of the clients tree: not empty, no
/// control characters and no space (consent and assertion keys join a
/// client id to another value with a space).
fn storable_client_id(client_id: &str) -> bool {
    !client_id.is_empty() && !client_id.chars().any(|c| c.is_control() || c == ' ')
}

pub(super) fn create(txn: &StateTxn<'_>, client: &ClientRecord) -> TxResult<CommandResult> {
    if !storable_client_id(&client.client_id) {
        return Ok(CommandResult::invalid("malformed client id"));
    }
    if txn.exists(TreeId::Clients, &client.client_id)? {
        return Ok(CommandResult::ClientExists);
    }
    txn.put(TreeId::Clients, &client.client_id, client)?;
    Ok(CommandResult::Done)
}

/// Read view: a client by id.
pub fn get(clients: &sled::Tree, client_id: &str) -> Option<ClientRecord> {
    read(clients, client_id)
}
