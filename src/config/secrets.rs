//! Secrets in configuration: given inline, as `<name>_env` (an environment
//! variable) or `<name>_file` (a file, trimmed) — exactly one of the three —
//! and the master key's base64 form. Also the random secrets `serve --dev`
//! keeps in its data directory (written readable by its owner only), and
//! error-key extraction for TOML errors.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use super::ConfigError;

#[derive(serde::Serialize, Deserialize)]
pub(super) struct DevSecrets {
    pub(super) cluster_secret: String,
    pub(super) admin_token: String,
    pub(super) master_key: String,
}

/// A random URL-safe token of 256 bits.
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub(super) fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Creates (or replaces) `path` with `text`, readable and writable by its
/// owner only (mode 0600 on Unix), for files that hold secrets.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// Resolve a secret given as `name`, `name_env` or `name_file` (exactly one).
pub(super) fn secret(
    file: &str,
    name: &str,
    inline: &Option<String>,
    env: &Option<String>,
    path: &Option<PathBuf>,
) -> Result<String, ConfigError> {
    let err = |key: String, reason: String| ConfigError {
        file: file.into(),
        key,
        reason,
    };
    let given = [inline.is_some(), env.is_some(), path.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given != 1 {
        return Err(err(
            format!("cluster.{name}"),
            format!("give exactly one of `{name}`, `{name}_env` or `{name}_file`"),
        ));
    }
    let value = if let Some(v) = inline {
        v.clone()
    } else if let Some(var) = env {
        std::env::var(var).map_err(|_| {
            err(
                format!("cluster.{name}_env"),
                format!("environment variable {var} is not set"),
            )
        })?
    } else {
        let p = path.as_ref().expect("one source is set");
        std::fs::read_to_string(p)
            .map_err(|e| {
                err(
                    format!("cluster.{name}_file"),
                    format!("cannot read {}: {e}", p.display()),
                )
            })?
            .trim()
            .to_string()
    };
    Ok(value)
}

pub(super) fn decode_master_key(text: &str) -> Result<[u8; 32], String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e} (generate one with `openssl rand -base64 32`)"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("must decode to 32 bytes, got {}", b.len()))
}

/// The dotted key a TOML error points at, when it can be told.
pub(super) fn toml_error_key(e: &toml::de::Error) -> String {
    let msg = e.message();
    for marker in ["unknown field `", "missing field `"] {
        if let Some(rest) = msg.split(marker).nth(1) {
            if let Some(name) = rest.split('`').next() {
                return name.to_string();
            }
        }
    }
    match e.span() {
        Some(span) => format!("at byte {}", span.start),
        None => "-".into(),
    }
}
