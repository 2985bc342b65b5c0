//! The TOML shape of `cluster.toml`, read by serde with unknown keys
//! refused, and the defaults of its optional sections. [`super::Config`]
//! validates these raw values.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) node: RawNode,
    pub(super) cluster: RawCluster,
    #[serde(default)]
    pub(super) raft: RawRaft,
    #[serde(default)]
    pub(super) http: RawHttp,
    #[serde(default)]
    pub(super) tokens: RawTokens,
    #[serde(default)]
    pub(super) registration: RawRegistration,
    #[serde(default)]
    pub(super) keys: RawKeys,
    #[serde(default)]
    pub(super) outbound: RawOutbound,
    #[serde(default)]
    pub(super) oauth: RawOAuth,
    #[serde(default)]
    pub(super) audit: RawAudit,
}

/// `[oauth]`: DPoP nonces, request objects and pushed authorization requests.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawOAuth {
    /// Demand a server-issued `nonce` in every DPoP proof (RFC 9449 §8).
    pub(super) dpop_require_nonce: bool,
    pub(super) require_pushed_authorization_requests: bool,
    pub(super) allow_unsigned_request_objects: bool,
    pub(super) pushed_request_lifetime_secs: u64,
}

impl Default for RawOAuth {
    fn default() -> Self {
        RawOAuth {
            dpop_require_nonce: false,
            require_pushed_authorization_requests: false,
            allow_unsigned_request_objects: false,
            pushed_request_lifetime_secs: crate::oidc::par::DEFAULT_LIFETIME,
        }
    }
}

/// `[audit]`: where the audit trail goes (see [`crate::audit`]).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAudit {
    /// A JSON-lines file, appended to; none: standard error.
    pub(super) file: Option<PathBuf>,
}

/// `[outbound]`: requests to URLs that clients register (`jwks_uri`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawOutbound {
    /// Allow `http` and loopback/private/link-local targets (dev and tests).
    pub(super) allow_private_targets: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawKeys {
    pub(super) algorithms: Vec<String>,
    pub(super) rotation_period_days: u64,
    pub(super) publish_before_use_secs: u64,
    pub(super) retired_grace_secs: u64,
}

impl Default for RawKeys {
    fn default() -> Self {
        RawKeys {
            algorithms: vec!["RS256".into(), "ES256".into()],
            rotation_period_days: 30,
            publish_before_use_secs: 600,
            retired_grace_secs: 300,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegistration {
    /// "open", "token" or "closed".
    pub(super) mode: Option<String>,
    pub(super) initial_access_token: Option<String>,
    pub(super) initial_access_token_env: Option<String>,
    pub(super) initial_access_token_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTokens {
    pub(super) access_token_lifetime_secs: u64,
    pub(super) id_token_lifetime_secs: u64,
    pub(super) refresh_token_lifetime_secs: u64,
    pub(super) session_lifetime_secs: u64,
    pub(super) access_token_alg: String,
}

impl Default for RawTokens {
    fn default() -> Self {
        RawTokens {
            access_token_lifetime_secs: 300,
            id_token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: 30 * 24 * 3600,
            session_lifetime_secs: 24 * 3600,
            access_token_alg: "ES256".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub(super) id: u64,
    pub(super) http_addr: String,
    pub(super) rpc_addr: String,
    pub(super) data_dir: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub(super) issuer: String,
    pub(super) bootstrap_node: u64,
    #[serde(default)]
    pub(super) members: Vec<RawMember>,
    pub(super) cluster_secret: Option<String>,
    pub(super) cluster_secret_env: Option<String>,
    pub(super) cluster_secret_file: Option<PathBuf>,
    pub(super) admin_token: Option<String>,
    pub(super) admin_token_env: Option<String>,
    pub(super) admin_token_file: Option<PathBuf>,
    pub(super) master_key: Option<String>,
    pub(super) master_key_env: Option<String>,
    pub(super) master_key_file: Option<PathBuf>,
    /// Mutual TLS on the cluster port (see [`super::tls`]).
    pub(super) tls: Option<RawTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) ca_cert: PathBuf,
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMember {
    pub(super) id: u64,
    pub(super) http_addr: String,
    pub(super) rpc_addr: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRaft {
    pub(super) heartbeat_interval_ms: u64,
    pub(super) election_timeout_min_ms: u64,
    pub(super) election_timeout_max_ms: u64,
    pub(super) snapshot_logs_since_last: u64,
    pub(super) max_in_snapshot_log_to_keep: u64,
}

impl Default for RawRaft {
    fn default() -> Self {
        RawRaft {
            heartbeat_interval_ms: 150,
            election_timeout_min_ms: 200,
            election_timeout_max_ms: 350,
            snapshot_logs_since_last: 1000,
            max_in_snapshot_log_to_keep: 200,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttp {
    pub(super) workers: Option<usize>,
    pub(super) shutdown_timeout_secs: Option<u64>,
    pub(super) drain_millis: Option<u64>,
    /// TLS on the public listener: the certificate chain and its key (PEM).
    pub(super) tls_cert: Option<PathBuf>,
    pub(super) tls_key: Option<PathBuf>,
}
