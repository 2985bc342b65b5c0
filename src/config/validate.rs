//! The checks of [`super::Config::from_raw`], one named step per section of
//! `cluster.toml`. Each step turns raw values into validated ones or a
//! [`ConfigError`] naming the file, the dotted key and the reason.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::raw::*;
use super::secrets::{decode_master_key, default_workers, secret};
use super::{
    ConfigError, KeySettings, Member, OAuthSettings, RaftSettings, RegistrationMode, TokenSettings,
    MIN_SECRET_LEN,
};

/// The longest a pushed authorization request may wait (RFC 9126 §2.2:
/// short-lived; ten minutes at most).
const MAX_PUSHED_LIFETIME: u64 = 600;

/// The longest token or session lifetime accepted, in seconds (one year).
const MAX_LIFETIME: u64 = 365 * 24 * 3600;

/// The secrets of `[cluster]`, resolved.
pub(super) struct ClusterSecrets {
    pub(super) cluster_secret: String,
    pub(super) admin_token: String,
    pub(super) master_key: [u8; 32],
}

/// Validates the sections of one file; `file` only names it in errors.
pub(super) struct Checker<'f> {
    pub(super) file: &'f str,
}

impl Checker<'_> {
    fn err(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.into(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    fn addr(&self, key: &str, v: &str) -> Result<SocketAddr, ConfigError> {
        v.parse().map_err(|e| {
            self.err(
                key,
                format!("`{v}` is not an address like 127.0.0.1:8080 ({e})"),
            )
        })
    }

    fn long_enough(&self, key: &str, v: &str) -> Result<(), ConfigError> {
        match v.len() < MIN_SECRET_LEN {
            true => Err(self.err(key, format!("must be at least {MIN_SECRET_LEN} characters"))),
            false => Ok(()),
        }
    }

    /// `[node]`: a positive id, two distinct listen addresses, a data
    /// directory. Returns the HTTP and RPC listen addresses.
    pub(super) fn node(&self, n: &RawNode) -> Result<(SocketAddr, SocketAddr), ConfigError> {
        if n.id == 0 {
            return Err(self.err("node.id", "must be a positive integer"));
        }
        let http_listen = self.addr("node.http_addr", &n.http_addr)?;
        let rpc_listen = self.addr("node.rpc_addr", &n.rpc_addr)?;
        if http_listen == rpc_listen {
            return Err(self.err("node.rpc_addr", "must differ from node.http_addr"));
        }
        if n.data_dir.as_os_str().is_empty() {
            return Err(self.err("node.data_dir", "must not be empty"));
        }
        Ok((http_listen, rpc_listen))
    }

    /// `cluster.issuer`: a URL that [`crate::oidc::discovery::validate_issuer`]
    /// accepts; `http` on a host other than loopback only with `dev`.
    pub(super) fn issuer(&self, issuer: &str, dev: bool) -> Result<url::Url, ConfigError> {
        let url = url::Url::parse(issuer)
            .map_err(|e| self.err("cluster.issuer", format!("not a URL: {e}")))?;
        crate::oidc::discovery::validate_issuer(&url, dev)
            .map_err(|reason| self.err("cluster.issuer", reason))?;
        Ok(url)
    }

    /// `cluster.members` (ids positive and distinct, addresses valid, at
    /// least one) and `cluster.bootstrap_node` (one of them).
    pub(super) fn members(&self, c: &RawCluster) -> Result<BTreeMap<u64, Member>, ConfigError> {
        let mut members = BTreeMap::new();
        for (i, m) in c.members.iter().enumerate() {
            let key = format!("cluster.members[{i}]");
            if m.id == 0 {
                return Err(self.err(&format!("{key}.id"), "must be a positive integer"));
            }
            self.addr(&format!("{key}.http_addr"), &m.http_addr)?;
            self.addr(&format!("{key}.rpc_addr"), &m.rpc_addr)?;
            let member = Member {
                id: m.id,
                http_addr: m.http_addr.clone(),
                rpc_addr: m.rpc_addr.clone(),
            };
            if members.insert(m.id, member).is_some() {
                return Err(self.err(&format!("{key}.id"), format!("id {} is listed twice", m.id)));
            }
        }
        if members.is_empty() {
            return Err(self.err("cluster.members", "list at least one member"));
        }
        if !members.contains_key(&c.bootstrap_node) {
            return Err(self.err(
                "cluster.bootstrap_node",
                format!("node {} is not in cluster.members", c.bootstrap_node),
            ));
        }
        Ok(members)
    }

    /// The cluster secret and admin token (long enough) and the master key
    /// (32 bytes of base64), each given inline, by variable or by file.
    pub(super) fn secrets(&self, c: &RawCluster) -> Result<ClusterSecrets, ConfigError> {
        let file = self.file;
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
        self.long_enough("cluster.cluster_secret", &cluster_secret)?;
        self.long_enough("cluster.admin_token", &admin_token)?;
        let master_key_text = secret(
            file,
            "master_key",
            &c.master_key,
            &c.master_key_env,
            &c.master_key_file,
        )?;
        let master_key = decode_master_key(&master_key_text)
            .map_err(|reason| self.err("cluster.master_key", reason))?;
        Ok(ClusterSecrets {
            cluster_secret,
            admin_token,
            master_key,
        })
    }

    /// `[raft]`: heartbeat < election timeout min < max, snapshots enabled.
    pub(super) fn raft(&self, r: &RawRaft) -> Result<RaftSettings, ConfigError> {
        if r.heartbeat_interval_ms == 0 || r.election_timeout_min_ms <= r.heartbeat_interval_ms {
            return Err(self.err(
                "raft.election_timeout_min_ms",
                "must be greater than raft.heartbeat_interval_ms (> 0)",
            ));
        }
        if r.election_timeout_max_ms <= r.election_timeout_min_ms {
            return Err(self.err(
                "raft.election_timeout_max_ms",
                "must be greater than raft.election_timeout_min_ms",
            ));
        }
        if r.snapshot_logs_since_last == 0 {
            return Err(self.err("raft.snapshot_logs_since_last", "must be positive"));
        }
        Ok(RaftSettings {
            heartbeat_interval: Duration::from_millis(r.heartbeat_interval_ms),
            election_timeout_min: Duration::from_millis(r.election_timeout_min_ms),
            election_timeout_max: Duration::from_millis(r.election_timeout_max_ms),
            snapshot_logs_since_last: r.snapshot_logs_since_last,
            max_in_snapshot_log_to_keep: r.max_in_snapshot_log_to_keep,
        })
    }

    /// `[tokens]`: lifetimes between one second and one year, a supported
    /// access-token algorithm.
    pub(super) fn tokens(&self, t: &RawTokens) -> Result<TokenSettings, ConfigError> {
        for (key, v) in [
            ("access_token_lifetime_secs", t.access_token_lifetime_secs),
            ("id_token_lifetime_secs", t.id_token_lifetime_secs),
            ("refresh_token_lifetime_secs", t.refresh_token_lifetime_secs),
            ("session_lifetime_secs", t.session_lifetime_secs),
        ] {
            if v == 0 || v > MAX_LIFETIME {
                return Err(self.err(
                    &format!("tokens.{key}"),
                    "must be between 1 second and 1 year",
                ));
            }
        }
        if !matches!(t.access_token_alg.as_str(), "ES256" | "RS256") {
            return Err(self.err("tokens.access_token_alg", "must be ES256 or RS256"));
        }
        Ok(TokenSettings {
            access_token_lifetime: t.access_token_lifetime_secs,
            id_token_lifetime: t.id_token_lifetime_secs,
            refresh_token_lifetime: t.refresh_token_lifetime_secs,
            session_lifetime: t.session_lifetime_secs,
            access_token_alg: t.access_token_alg.clone(),
        })
    }

    /// `[registration]`: open, closed (the default) or token, the last with
    /// a long enough initial access token.
    pub(super) fn registration(
        &self,
        reg: &RawRegistration,
    ) -> Result<RegistrationMode, ConfigError> {
        match reg.mode.as_deref().unwrap_or("closed") {
            "open" => Ok(RegistrationMode::Open),
            "closed" => Ok(RegistrationMode::Closed),
            "token" => {
                let t = secret(
                    self.file,
                    "initial_access_token",
                    &reg.initial_access_token,
                    &reg.initial_access_token_env,
                    &reg.initial_access_token_file,
                )
                .map_err(|mut e| {
                    e.key = e.key.replace("cluster.", "registration.");
                    e
                })?;
                self.long_enough("registration.initial_access_token", &t)?;
                Ok(RegistrationMode::Token(t))
            }
            other => Err(self.err(
                "registration.mode",
                format!("`{other}` is not one of open, token, closed"),
            )),
        }
    }

    /// `[keys]`: known algorithms including the two ID tokens use, and a
    /// rotation period of at least a day.
    pub(super) fn keys(&self, k: &RawKeys) -> Result<KeySettings, ConfigError> {
        if let Some(alg) = k
            .algorithms
            .iter()
            .find(|a| !["RS256", "ES256", "EdDSA"].contains(&a.as_str()))
        {
            return Err(self.err(
                "keys.algorithms",
                format!("`{alg}` is not one of RS256, ES256, EdDSA"),
            ));
        }
        for required in ["RS256", "ES256"] {
            if !k.algorithms.iter().any(|a| a == required) {
                return Err(self.err(
                    "keys.algorithms",
                    format!("{required} is required (ID tokens use it)"),
                ));
            }
        }
        if k.rotation_period_days == 0 {
            return Err(self.err("keys.rotation_period_days", "must be at least 1"));
        }
        Ok(KeySettings {
            algorithms: k.algorithms.clone(),
            rotation_period: k.rotation_period_days * 24 * 3600,
            publish_before_use: k.publish_before_use_secs,
            retired_grace: k.retired_grace_secs,
        })
    }

    /// `http.workers`: positive; the number of CPUs when not given.
    pub(super) fn http_workers(&self, h: &RawHttp) -> Result<usize, ConfigError> {
        match h.workers.unwrap_or_else(default_workers) {
            0 => Err(self.err("http.workers", "must be positive")),
            n => Ok(n),
        }
    }

    /// `[oauth]`: the pushed-request lifetime between 1 second and
    /// [`MAX_PUSHED_LIFETIME`].
    pub(super) fn oauth(&self, o: &RawOAuth) -> Result<OAuthSettings, ConfigError> {
        let lifetime = o.pushed_request_lifetime_secs;
        if lifetime == 0 || lifetime > MAX_PUSHED_LIFETIME {
            return Err(self.err(
                "oauth.pushed_request_lifetime_secs",
                format!("must be between 1 and {MAX_PUSHED_LIFETIME} seconds"),
            ));
        }
        Ok(OAuthSettings {
            dpop_require_nonce: o.dpop_require_nonce,
            require_pushed_authorization_requests: o.require_pushed_authorization_requests,
            allow_unsigned_request_objects: o.allow_unsigned_request_objects,
            pushed_request_lifetime: lifetime,
        })
    }

    /// `[http] tls_cert` / `tls_key`: both or neither; with them the issuer
    /// must be `https` (discovery would otherwise advertise `http` URLs).
    /// The files themselves are read by [`super::PublicTls::load`].
    pub(super) fn public_tls(
        &self,
        h: &RawHttp,
        issuer: &url::Url,
    ) -> Result<Option<(std::path::PathBuf, std::path::PathBuf)>, ConfigError> {
        match (&h.tls_cert, &h.tls_key) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(self.err("http.tls_key", "required with http.tls_cert")),
            (None, Some(_)) => Err(self.err("http.tls_cert", "required with http.tls_key")),
            (Some(_), Some(_)) if issuer.scheme() != "https" => Err(self.err(
                "http.tls_cert",
                "TLS on the public listener needs an https cluster.issuer",
            )),
            (Some(c), Some(k)) => Ok(Some((c.clone(), k.clone()))),
        }
    }

    /// `[audit] file`: absent (standard error) or a file whose directory
    /// exists; the node opens it (append, owner-only) when it starts.
    pub(super) fn audit_file(
        &self,
        a: &RawAudit,
    ) -> Result<Option<std::path::PathBuf>, ConfigError> {
        let Some(path) = &a.file else { return Ok(None) };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if path.as_os_str().is_empty() || path.is_dir() {
            return Err(self.err("audit.file", "must name a file"));
        }
        if dir.is_some_and(|d| !d.is_dir()) {
            let reason = format!("{}: the directory does not exist", path.display());
            return Err(self.err("audit.file", reason));
        }
        Ok(Some(path.clone()))
    }
}
