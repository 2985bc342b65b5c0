//! `cluster.toml` → a validated [`Config`].
//!
//! Parsing happens in two steps: serde reads the TOML into `Raw*` structs that
//! mirror the file, then [`Config::from_raw`] checks every value and resolves
//! secrets (given inline, through an environment variable, or from a file).
//! Every failure is a [`ConfigError`] naming the file, the key and the reason,
//! so an operator can fix the file without reading code. The binary exits with
//! status 2 on any of them. The issuer must be `https`, or `http` on a
//! loopback host (tests, the local cluster); `serve --dev` relaxes that.
//! `[outbound] allow_private_targets` (off by default; on for `serve --dev`)
//! lets client-registered URLs such as `jwks_uri` use `http` and reach
//! loopback and private addresses (see [`crate::outbound`]).
//! `[http] tls_cert`/`tls_key` put TLS on the public listener
//! ([`PublicTls`]); `[audit] file` is where the audit trail goes
//! ([`crate::audit`]; standard error without it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod raw;
mod secrets;
mod tls;
mod validate;

use base64::Engine;

use raw::RawConfig;
pub use secrets::{random_token, write_private};
use secrets::{toml_error_key, DevSecrets};
pub use tls::{ClusterTls, PublicTls};
use validate::Checker;

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

/// `[outbound]`: how far client-registered URLs may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundSettings {
    /// Allow `http` and loopback, private and link-local targets (a dev
    /// cluster talking to RPs on the same machine); never in production.
    pub allow_private_targets: bool,
}

/// `[oauth]`: protocol options — DPoP nonces (RFC 9449), request objects
/// (RFC 9101) and pushed authorization requests (RFC 9126).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// Every DPoP proof must carry a nonce this cluster issued (RFC 9449
    /// §8); otherwise `use_dpop_nonce`. Off by default.
    pub dpop_require_nonce: bool,
    /// Every client must use `/par` (discovery
    /// `require_pushed_authorization_requests`).
    pub require_pushed_authorization_requests: bool,
    /// Accept unsigned (`alg: none`) request objects; off by default.
    pub allow_unsigned_request_objects: bool,
    /// How long a pushed request waits for `/authorize` (seconds).
    pub pushed_request_lifetime: u64,
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
    /// `[cluster.tls]`: mutual TLS on the cluster port (none: plain HTTP).
    pub cluster_tls: Option<ClusterTls>,
    /// `[http] tls_cert`/`tls_key`: TLS on the public listener (none: plain HTTP).
    pub public_tls: Option<PublicTls>,
    /// `[audit] file`: the audit trail's file (none: standard error).
    pub audit_file: Option<PathBuf>,
    pub raft: RaftSettings,
    pub tokens: TokenSettings,
    pub registration: RegistrationMode,
    pub keys: KeySettings,
    /// Fetches of client-registered URLs (`jwks_uri`).
    pub outbound: OutboundSettings,
    /// DPoP nonces, request objects and pushed authorization requests.
    pub oauth: OAuthSettings,
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

/// The demo client `serve --dev` creates (and its readiness waits for).
pub const DEV_CLIENT: &str = "demo";
/// The demo user `serve --dev` creates (and its readiness waits for).
pub const DEV_USER: &str = "alice";

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
        Self::parse_as(file, text, false)
    }

    /// [`Self::parse`], for `serve --dev` when `dev` is set.
    fn parse_as(file: &str, text: &str, dev: bool) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            file: file.into(),
            key: toml_error_key(&e),
            reason: e.message().to_string(),
        })?;
        Self::from_raw(file, raw, dev)
    }

    /// Validates the raw sections, one step each (see [`validate::Checker`]).
    /// `dev` allows an `http` issuer on a host other than loopback.
    fn from_raw(file: &str, raw: RawConfig, dev: bool) -> Result<Config, ConfigError> {
        let check = Checker { file };
        let (http_listen, rpc_listen) = check.node(&raw.node)?;
        let issuer = check.issuer(&raw.cluster.issuer, dev)?;
        let members = check.members(&raw.cluster)?;
        let secrets = check.secrets(&raw.cluster)?;
        let raft = check.raft(&raw.raft)?;
        let tokens = check.tokens(&raw.tokens)?;
        let registration = check.registration(&raw.registration)?;
        let keys = check.keys(&raw.keys)?;
        let http_workers = check.http_workers(&raw.http)?;
        let oauth = check.oauth(&raw.oauth)?;
        let cluster_tls = match &raw.cluster.tls {
            Some(t) => Some(ClusterTls::load(file, t)?),
            None => None,
        };
        let public_tls = match check.public_tls(&raw.http, &issuer)? {
            Some((cert, key)) => Some(PublicTls::load(file, &cert, &key)?),
            None => None,
        };
        let audit_file = check.audit_file(&raw.audit)?;
        Ok(Config {
            source: file.into(),
            node_id: raw.node.id,
            http_listen,
            rpc_listen,
            data_dir: raw.node.data_dir,
            issuer,
            members,
            bootstrap_node: raw.cluster.bootstrap_node,
            cluster_secret: secrets.cluster_secret,
            admin_token: secrets.admin_token,
            master_key: secrets.master_key,
            cluster_tls,
            public_tls,
            audit_file,
            raft,
            tokens,
            registration,
            keys,
            outbound: OutboundSettings {
                allow_private_targets: raw.outbound.allow_private_targets,
            },
            oauth,
            shutdown_timeout: raw.http.shutdown_timeout_secs.unwrap_or(30),
            drain_millis: raw.http.drain_millis.unwrap_or(1000),
            http_workers,
            dev_seed: dev,
        })
    }

    /// The single-node configuration of `tessera serve --dev`.
    ///
    /// Secrets are generated on first start and kept in `<data_dir>/dev-secrets.toml`
    /// (readable by its owner only), so a restart keeps the same admin token
    /// and master key.
    pub fn dev(data_dir: &Path) -> anyhow::Result<Config> {
        Self::dev_on(data_dir, "127.0.0.1:8080", "127.0.0.1:9080")
    }

    /// [`Config::dev`] listening on `http` (the issuer's address) and `rpc`.
    pub fn dev_on(data_dir: &Path, http: &str, rpc: &str) -> anyhow::Result<Config> {
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
                secrets::write_private(&secrets_path, &toml::to_string(&s)?)?;
                s
            }
        };
        let text = format!(
            r#"
[node]
id = 1
http_addr = {http:?}
rpc_addr = {rpc:?}
data_dir = {data_dir:?}

[cluster]
issuer = "http://{http}"
bootstrap_node = 1
cluster_secret = {cs:?}
admin_token = {at:?}
master_key = {mk:?}
members = [{{ id = 1, http_addr = {http:?}, rpc_addr = {rpc:?} }}]

[registration]
mode = "open"

[outbound]
allow_private_targets = true
"#,
            data_dir = data_dir.display().to_string(),
            cs = secrets.cluster_secret,
            at = secrets.admin_token,
            mk = secrets.master_key,
        );
        Ok(Config::parse_as("<dev>", &text, true)?)
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
    fn oauth_defaults_switches_and_lifetime_bounds() {
        let c = Config::parse("t.toml", &valid()).unwrap();
        assert!(!c.oauth.require_pushed_authorization_requests);
        assert!(!c.oauth.allow_unsigned_request_objects);
        assert_eq!(c.oauth.pushed_request_lifetime, 60);
        let on = format!(
            "{}[oauth]\nrequire_pushed_authorization_requests = true\n\
             allow_unsigned_request_objects = true\npushed_request_lifetime_secs = 5\n",
            valid()
        );
        let c = Config::parse("t.toml", &on).unwrap();
        assert!(c.oauth.require_pushed_authorization_requests);
        assert!(c.oauth.allow_unsigned_request_objects);
        assert_eq!(c.oauth.pushed_request_lifetime, 5);
        for bad in ["0", "601"] {
            let text = format!("{}[oauth]\npushed_request_lifetime_secs = {bad}\n", valid());
            let e = Config::parse("t.toml", &text).unwrap_err();
            assert_eq!(e.key, "oauth.pushed_request_lifetime_secs", "{e}");
        }
        let unknown = format!("{}[oauth]\nrequire_par = true\n", valid());
        assert!(Config::parse("t.toml", &unknown).is_err());
    }

    #[test]
    fn outbound_private_targets_are_off_unless_switched_on() {
        let c = Config::parse("t.toml", &valid()).unwrap();
        assert!(!c.outbound.allow_private_targets);
        let on = format!("{}[outbound]\nallow_private_targets = true\n", valid());
        assert!(
            Config::parse("t.toml", &on)
                .unwrap()
                .outbound
                .allow_private_targets
        );
        let bad = format!("{}[outbound]\nallow_private_targets = \"yes\"\n", valid());
        let e = Config::parse("t.toml", &bad).unwrap_err();
        assert!(e.reason.contains("bool"), "{e}");
    }

    /// The issuer rules, as config_errors checks the others: the file, the
    /// key and the reason (`serve` exits with 2 on any `ConfigError`).
    #[test]
    fn issuer_is_https_or_loopback_http_outside_dev() {
        let with = |issuer: &str| valid().replace("http://127.0.0.1:8080", issuer);
        for ok in [
            "https://id.example.com",
            "https://id.example.com/tenant",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            let c = Config::parse("t.toml", &with(ok)).unwrap();
            assert_eq!(c.issuer.as_str().trim_end_matches('/'), ok);
        }
        let e = Config::parse("t.toml", &with("http://id.example.com")).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.key.as_str()),
            ("t.toml", "cluster.issuer")
        );
        assert!(
            e.reason.contains("loopback") && e.reason.contains("https"),
            "{e}"
        );
        assert!(e.to_string().starts_with("t.toml: cluster.issuer: "), "{e}");
        let dev = Config::parse_as("<dev>", &with("http://id.example.com"), true).unwrap();
        assert!(dev.dev_seed);
        for bad in [
            "https://id.example.com/?a=b",
            "https://id.example.com/#f",
            "ftp://x.example",
        ] {
            let e = Config::parse("t.toml", &with(bad)).unwrap_err();
            assert_eq!(e.key, "cluster.issuer", "{bad}");
        }
    }

    #[test]
    fn node_and_member_errors_name_their_key() {
        let cases = [
            ("id = 1\nhttp", "id = 0\nhttp", "node.id"),
            (
                "rpc_addr = \"127.0.0.1:9081\"\ndata",
                "rpc_addr = \"127.0.0.1:8081\"\ndata",
                "node.rpc_addr",
            ),
            (
                "members = [{ id = 1,",
                "members = [{ id = 0,",
                "cluster.members[0].id",
            ),
        ];
        for (from, to, key) in cases {
            let text = valid().replacen(from, to, 1);
            assert_ne!(text, valid(), "{from}");
            assert_eq!(Config::parse("t.toml", &text).unwrap_err().key, key);
        }
    }

    #[test]
    fn every_optional_section_names_its_key() {
        let sections = [
            (
                "[raft]\nheartbeat_interval_ms = 0",
                "raft.election_timeout_min_ms",
            ),
            (
                "[raft]\nelection_timeout_max_ms = 10",
                "raft.election_timeout_max_ms",
            ),
            (
                "[raft]\nsnapshot_logs_since_last = 0",
                "raft.snapshot_logs_since_last",
            ),
            (
                "[tokens]\nid_token_lifetime_secs = 0",
                "tokens.id_token_lifetime_secs",
            ),
            (
                "[tokens]\naccess_token_alg = \"HS256\"",
                "tokens.access_token_alg",
            ),
            ("[registration]\nmode = \"maybe\"", "registration.mode"),
            (
                "[registration]\nmode = \"token\"",
                "registration.initial_access_token",
            ),
            (
                "[registration]\nmode = \"token\"\ninitial_access_token = \"x\"",
                "registration.initial_access_token",
            ),
            ("[keys]\nalgorithms = [\"ES256\"]", "keys.algorithms"),
            (
                "[keys]\nalgorithms = [\"RS256\", \"ES256\", \"HS256\"]",
                "keys.algorithms",
            ),
            (
                "[keys]\nrotation_period_days = 0",
                "keys.rotation_period_days",
            ),
            ("[http]\nworkers = 0", "http.workers"),
            ("[http]\ntls_cert = \"/c.pem\"", "http.tls_key"),
            ("[http]\ntls_key = \"/k.pem\"", "http.tls_cert"),
            (
                "[http]\ntls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"",
                "http.tls_cert",
            ),
            ("[audit]\nfile = \"/no/such/dir/a.jsonl\"", "audit.file"),
            ("[audit]\nfile = \"/\"", "audit.file"),
            ("[audit]\npath = \"/tmp/a\"", "path"),
            ("[outbound]\nallow_private = true", "allow_private"),
        ];
        for (section, key) in sections {
            let e = Config::parse("t.toml", &format!("{}{section}\n", valid())).unwrap_err();
            assert_eq!(e.key, key, "{section}: {e}");
            assert_eq!(e.file, "t.toml");
        }
    }

    #[test]
    fn dev_config_keeps_its_secrets_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = Config::dev(dir.path()).unwrap();
        assert!(first.dev_seed);
        assert!(
            first.outbound.allow_private_targets,
            "a dev node talks to local RPs"
        );
        assert_eq!(first.issuer.as_str(), "http://127.0.0.1:8080/");
        let path = dir.path().join("dev-secrets.toml");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        let again = Config::dev(dir.path()).unwrap();
        assert_eq!(again.admin_token, first.admin_token);
        assert_eq!(again.master_key, first.master_key);
    }

    #[test]
    fn names_unknown_and_missing_keys() {
        let e =
            Config::parse("t.toml", &valid().replace("id = 1\nhttp", "idd = 1\nhttp")).unwrap_err();
        assert_eq!(e.key, "idd");
        assert!(e.to_string().starts_with("t.toml: "));
    }
}
