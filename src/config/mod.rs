//! `cluster.toml` → a validated [`Config`].
//!
//! Parsing happens in two steps: serde reads the TOML into `Raw*` structs that
//! mirror the file, then [`Config::from_raw`] checks every value and resolves
//! secrets (given inline, through an environment variable, or from a file).
//! Every failure is a [`ConfigError`] naming the file, the key and the reason,
//! so an operator can fix the file without reading code. The binary exits with
//! status 2 on any of them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod raw;
mod secrets;

use base64::Engine;

use raw::*;
pub use secrets::random_token;
use secrets::{decode_master_key, default_workers, secret, toml_error_key, DevSecrets};

/// A configuration problem: which file, which key, and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

/// One member of the cluster: its id and how peers and clients reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub http_addr: String,
    pub rpc_addr: String,
}

/// Raft timing and log-compaction settings.
#[derive(Debug, Clone)]
pub struct RaftSettings {
    pub heartbeat_interval: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// Build a snapshot after this many applied entries.
    pub snapshot_logs_since_last: u64,
    /// Entries kept in the log behind the last snapshot (for slow followers).
    pub max_in_snapshot_log_to_keep: u64,
}

/// Token and session lifetimes and the access-token algorithm.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub access_token_lifetime: u64,
    pub id_token_lifetime: u64,
    pub refresh_token_lifetime: u64,
    pub session_lifetime: u64,
    pub access_token_alg: String,
}

/// Signing-key rotation.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// Algorithms the cluster keeps a signing key for.
    pub algorithms: Vec<String>,
    /// Rotate a current key after this long.
    pub rotation_period: u64,
    /// A new key is published this long before it signs (> JWKS cache lifetime).
    pub publish_before_use: u64,
    /// Extra time a retired key stays published after the longest token lifetime.
    pub retired_grace: u64,
}

/// Who may use `/register` (RFC 7591).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationMode {
    /// Anyone.
    Open,
    /// Only with `Authorization: Bearer <initial access token>`.
    Token(String),
    /// Registration is off (the default).
    Closed,
}

/// A validated node configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where this configuration came from (a path, or `<dev>`).
    pub source: String,
    pub node_id: u64,
    pub http_listen: SocketAddr,
    pub rpc_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub issuer: url::Url,
    pub members: BTreeMap<u64, Member>,
    pub bootstrap_node: u64,
    pub cluster_secret: String,
    pub admin_token: String,
    /// 32 bytes that seal private keys at rest.
    pub master_key: [u8; 32],
    pub raft: RaftSettings,
    pub tokens: TokenSettings,
    pub registration: RegistrationMode,
    pub keys: KeySettings,
    /// How long in-flight requests may take to finish on SIGTERM.
    pub shutdown_timeout: u64,
    /// On SIGTERM, how long the node keeps serving with readiness off (ms).
    pub drain_millis: u64,
    pub http_workers: usize,
    /// `serve --dev`: seed the demo user and client on first start.
    pub dev_seed: bool,
}

/// Minimum length of the cluster secret and the admin token.
const MIN_SECRET_LEN: usize = 32;

impl Config {
    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: "-".into(),
            reason: format!("cannot read the file: {e}"),
        })?;
        Self::parse(&file, &text)
    }

    /// Validate configuration text; `file` is only used in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            file: file.into(),
            key: toml_error_key(&e),
            reason: e.message().to_string(),
        })?;
        Self::from_raw(file, raw)
    }

    fn from_raw(file: &str, raw: RawConfig) -> Result<Config, ConfigError> {
        let err = |key: &str, reason: String| ConfigError {
            file: file.into(),
            key: key.into(),
            reason,
        };
        let addr = |key: &str, v: &str| -> Result<SocketAddr, ConfigError> {
            v.parse().map_err(|e| {
                err(
                    key,
                    format!("`{v}` is not an address like 127.0.0.1:8080 ({e})"),
                )
            })
        };
        if raw.node.id == 0 {
            return Err(err("node.id", "must be a positive integer".into()));
        }
        let http_listen = addr("node.http_addr", &raw.node.http_addr)?;
        let rpc_listen = addr("node.rpc_addr", &raw.node.rpc_addr)?;
        if http_listen == rpc_listen {
            return Err(err(
                "node.rpc_addr",
                "must differ from node.http_addr".into(),
            ));
        }
        if raw.node.data_dir.as_os_str().is_empty() {
            return Err(err("node.data_dir", "must not be empty".into()));
        }
        let issuer = url::Url::parse(&raw.cluster.issuer)
            .map_err(|e| err("cluster.issuer", format!("not a URL: {e}")))?;
        if !matches!(issuer.scheme(), "https" | "http")
            || issuer.query().is_some()
            || issuer.fragment().is_some()
        {
            return Err(err(
                "cluster.issuer",
                "must be an http(s) URL without query or fragment".into(),
            ));
        }
        let mut members = BTreeMap::new();
        for (i, m) in raw.cluster.members.iter().enumerate() {
            let key = format!("cluster.members[{i}]");
            if m.id == 0 {
                return Err(err(
                    &format!("{key}.id"),
                    "must be a positive integer".into(),
                ));
            }
            addr(&format!("{key}.http_addr"), &m.http_addr)?;
            addr(&format!("{key}.rpc_addr"), &m.rpc_addr)?;
            let member = Member {
                id: m.id,
                http_addr: m.http_addr.clone(),
                rpc_addr: m.rpc_addr.clone(),
            };
            if members.insert(m.id, member).is_some() {
                return Err(err(
                    &format!("{key}.id"),
                    format!("id {} is listed twice", m.id),
                ));
            }
        }
        if members.is_empty() {
            return Err(err("cluster.members", "list at least one member".into()));
        }
        if !members.contains_key(&raw.cluster.bootstrap_node) {
            return Err(err(
                "cluster.bootstrap_node",
                format!(
                    "node {} is not in cluster.members",
                    raw.cluster.bootstrap_node
                ),
            ));
        }
        let c = &raw.cluster;
        let cluster_secret = secret(
            file,
            "cluster_secret",
            &c.cluster_secret,
            &c.cluster_secret_env,
            &c.cluster_secret_file,
        )?;
        let admin_token = secret(
            file,
            "admin_token",
            &c.admin_token,
            &c.admin_token_env,
            &c.admin_token_file,
        )?;
        for (key, v) in [
            ("cluster.cluster_secret", &cluster_secret),
            ("cluster.admin_token", &admin_token),
        ] {
            if v.len() < MIN_SECRET_LEN {
                return Err(err(
                    key,
                    format!("must be at least {MIN_SECRET_LEN} characters"),
                ));
            }
        }
        let master_key_text = secret(
            file,
            "master_key",
            &c.master_key,
            &c.master_key_env,
            &c.master_key_file,
        )?;
        let master_key = decode_master_key(&master_key_text)
            .map_err(|reason| err("cluster.master_key", reason))?;

        let r = &raw.raft;
        if r.heartbeat_interval_ms == 0 || r.election_timeout_min_ms <= r.heartbeat_interval_ms {
            return Err(err(
                "raft.election_timeout_min_ms",
                "must be greater than raft.heartbeat_interval_ms (> 0)".into(),
            ));
        }
        if r.election_timeout_max_ms <= r.election_timeout_min_ms {
            return Err(err(
                "raft.election_timeout_max_ms",
                "must be greater than raft.election_timeout_min_ms".into(),
            ));
        }
        if r.snapshot_logs_since_last == 0 {
            return Err(err(
                "raft.snapshot_logs_since_last",
                "must be positive".into(),
            ));
        }
        let t = &raw.tokens;
        for (key, v) in [
            (
                "tokens.access_token_lifetime_secs",
                t.access_token_lifetime_secs,
            ),
            ("tokens.id_token_lifetime_secs", t.id_token_lifetime_secs),
            (
                "tokens.refresh_token_lifetime_secs",
                t.refresh_token_lifetime_secs,
            ),
            ("tokens.session_lifetime_secs", t.session_lifetime_secs),
        ] {
            if v == 0 || v > 365 * 24 * 3600 {
                return Err(err(key, "must be between 1 second and 1 year".into()));
            }
        }
        if !matches!(t.access_token_alg.as_str(), "ES256" | "RS256") {
            return Err(err(
                "tokens.access_token_alg",
                "must be ES256 or RS256".into(),
            ));
        }
        let reg = &raw.registration;
        let registration = match reg.mode.as_deref().unwrap_or("closed") {
            "open" => RegistrationMode::Open,
            "closed" => RegistrationMode::Closed,
            "token" => {
                let t = secret(
                    file,
                    "initial_access_token",
                    &reg.initial_access_token,
                    &reg.initial_access_token_env,
                    &reg.initial_access_token_file,
                )
                .map_err(|mut e| {
                    e.key = e.key.replace("cluster.", "registration.");
                    e
                })?;
                if t.len() < MIN_SECRET_LEN {
                    return Err(err(
                        "registration.initial_access_token",
                        format!("must be at least {MIN_SECRET_LEN} characters"),
                    ));
                }
                RegistrationMode::Token(t)
            }
            other => {
                return Err(err(
                    "registration.mode",
                    format!("`{other}` is not one of open, token, closed"),
                ))
            }
        };
        let k = &raw.keys;
        for alg in &k.algorithms {
            if !["RS256", "ES256", "EdDSA"].contains(&alg.as_str()) {
                return Err(err(
                    "keys.algorithms",
                    format!("`{alg}` is not one of RS256, ES256, EdDSA"),
                ));
            }
        }
        for required in ["RS256", "ES256"] {
            if !k.algorithms.iter().any(|a| a == required) {
                return Err(err(
                    "keys.algorithms",
                    format!("{required} is required (ID tokens use it)"),
                ));
            }
        }
        if k.rotation_period_days == 0 {
            return Err(err(
                "keys.rotation_period_days",
                "must be at least 1".into(),
            ));
        }
        let http_workers = raw.http.workers.unwrap_or_else(default_workers);
        if http_workers == 0 {
            return Err(err("http.workers", "must be positive".into()));
        }
        Ok(Config {
            source: file.into(),
            node_id: raw.node.id,
            http_listen,
            rpc_listen,
            data_dir: raw.node.data_dir,
            issuer,
            members,
            bootstrap_node: raw.cluster.bootstrap_node,
            cluster_secret,
            admin_token,
            master_key,
            raft: RaftSettings {
                heartbeat_interval: Duration::from_millis(r.heartbeat_interval_ms),
                election_timeout_min: Duration::from_millis(r.election_timeout_min_ms),
                election_timeout_max: Duration::from_millis(r.election_timeout_max_ms),
                snapshot_logs_since_last: r.snapshot_logs_since_last,
                max_in_snapshot_log_to_keep: r.max_in_snapshot_log_to_keep,
            },
            tokens: TokenSettings {
                access_token_lifetime: t.access_token_lifetime_secs,
                id_token_lifetime: t.id_token_lifetime_secs,
                refresh_token_lifetime: t.refresh_token_lifetime_secs,
                session_lifetime: t.session_lifetime_secs,
                access_token_alg: t.access_token_alg.clone(),
            },
            registration,
            keys: KeySettings {
                algorithms: k.algorithms.clone(),
                rotation_period: k.rotation_period_days * 24 * 3600,
                publish_before_use: k.publish_before_use_secs,
                retired_grace: k.retired_grace_secs,
            },
            shutdown_timeout: raw.http.shutdown_timeout_secs.unwrap_or(30),
            drain_millis: raw.http.drain_millis.unwrap_or(1000),
            http_workers,
            dev_seed: false,
        })
    }

    /// The single-node configuration of `tessera serve --dev`.
    ///
    /// Secrets are generated on first start and kept in `<data_dir>/dev-secrets.toml`,
    /// so a restart keeps the same admin token and master key.
    pub fn dev(data_dir: &Path) -> anyhow::Result<Config> {
        std::fs::create_dir_all(data_dir)?;
        let secrets_path = data_dir.join("dev-secrets.toml");
        let secrets: DevSecrets = match std::fs::read_to_string(&secrets_path) {
            Ok(text) => toml::from_str(&text)?,
            Err(_) => {
                let s = DevSecrets {
                    cluster_secret: random_token(),
                    admin_token: random_token(),
                    master_key: base64::engine::general_purpose::STANDARD
                        .encode(rand::random::<[u8; 32]>()),
                };
                std::fs::write(&secrets_path, toml::to_string(&s)?)?;
                s
            }
        };
        let text = format!(
            r#"
[node]
id = 1
http_addr = "127.0.0.1:8080"
rpc_addr = "127.0.0.1:9080"
data_dir = {data_dir:?}

[cluster]
issuer = "http://127.0.0.1:8080"
bootstrap_node = 1
cluster_secret = {cs:?}
admin_token = {at:?}
master_key = {mk:?}
members = [{{ id = 1, http_addr = "127.0.0.1:8080", rpc_addr = "127.0.0.1:9080" }}]

[registration]
mode = "open"
"#,
            data_dir = data_dir.display().to_string(),
            cs = secrets.cluster_secret,
            at = secrets.admin_token,
            mk = secrets.master_key,
        );
        let mut config = Config::parse("<dev>", &text)?;
        config.dev_seed = true;
        Ok(config)
    }

    /// The members as this node sees them, including itself.
    pub fn self_member(&self) -> Option<&Member> {
        self.members.get(&self.node_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> String {
        r#"
[node]
id = 1
http_addr = "127.0.0.1:8081"
rpc_addr = "127.0.0.1:9081"
data_dir = "/tmp/x"
[cluster]
issuer = "http://127.0.0.1:8080"
bootstrap_node = 1
cluster_secret = "0123456789abcdef0123456789abcdef"
admin_token = "0123456789abcdef0123456789abcdef"
master_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
members = [{ id = 1, http_addr = "127.0.0.1:8081", rpc_addr = "127.0.0.1:9081" }]
"#
        .into()
    }

    #[test]
    fn accepts_valid() {
        let c = Config::parse("t.toml", &valid()).unwrap();
        assert_eq!(c.node_id, 1);
        assert_eq!(c.members.len(), 1);
    }

    #[test]
    fn rejects_short_secret() {
        let text = valid().replace(
            "cluster_secret = \"0123456789abcdef0123456789abcdef\"",
            "cluster_secret = \"short\"",
        );
        let e = Config::parse("t.toml", &text).unwrap_err();
        assert_eq!(e.key, "cluster.cluster_secret");
    }

    #[test]
    fn rejects_bad_master_key_and_unknown_bootstrap() {
        let e = Config::parse("t.toml", &valid().replace("AAAA=", "A=")).unwrap_err();
        assert_eq!(e.key, "cluster.master_key");
        let e = Config::parse(
            "t.toml",
            &valid().replace("bootstrap_node = 1", "bootstrap_node = 7"),
        )
        .unwrap_err();
        assert_eq!(e.key, "cluster.bootstrap_node");
    }

    #[test]
    fn names_unknown_and_missing_keys() {
        let e =
            Config::parse("t.toml", &valid().replace("id = 1\nhttp", "idd = 1\nhttp")).unwrap_err();
        assert_eq!(e.key, "idd");
        assert!(e.to_string().starts_with("t.toml: "));
    }
}
