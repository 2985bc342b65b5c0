//! `[cluster.tls]`: mutual TLS on the cluster port (docs/ARCHITECTURE.md
//! invariant 6).
//!
//! Three PEM files: the cluster CA (`ca_cert`), this node's certificate
//! (`cert`, signed by that CA) and its private key (`key`). They are read and
//! checked when the configuration is loaded, so a bad file is a
//! [`ConfigError`] naming the file, the key and the reason (exit 2), never a
//! failure at the first connection. [`ClusterTls::server_config`] is what the
//! cluster listener serves: TLS 1.3 only, a client certificate signed by the
//! cluster CA required ([`WebPkiClientVerifier`]). [`ClusterTls::client`] is
//! what every outbound node-to-node call (and the admin CLI) uses: this
//! node's certificate as client identity, the cluster CA as the only root.
//! The ring provider is used throughout (no native build step).
//!
//! `[http] tls_cert` / `tls_key`: TLS on the public listener
//! ([`PublicTls`]). The certificate is served through a resolver whose
//! certified key is swapped by [`PublicTls::reload`] (SIGHUP): handshakes
//! after the swap get the new certificate, connections already open keep
//! theirs. A bad file at start is a [`ConfigError`]; at reload it is
//! reported and the old certificate stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use super::raw::RawTls;
use super::ConfigError;

/// The cluster's TLS material, read and checked at load time.
#[derive(Clone)]
pub struct ClusterTls {
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterTls { .. }")
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(certs)
}

fn key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("not a PEM private key: {e}"))
}

impl ClusterTls {
    /// Read the three files of `[cluster.tls]` and check that they make a
    /// working server and client configuration.
    pub(super) fn load(file: &str, raw: &RawTls) -> Result<ClusterTls, ConfigError> {
        let err = |key: &str, path: &Path, reason: String| ConfigError {
            file: file.into(),
            key: format!("cluster.tls.{key}"),
            reason: format!("{}: {reason}", path.display()),
        };
        let read = |key: &str, path: &PathBuf| {
            std::fs::read(path).map_err(|e| err(key, path, format!("cannot read: {e}")))
        };
        let tls = ClusterTls {
            ca_pem: read("ca_cert", &raw.ca_cert)?,
            cert_pem: read("cert", &raw.cert)?,
            key_pem: read("key", &raw.key)?,
        };
        certs(&tls.ca_pem).map_err(|r| err("ca_cert", &raw.ca_cert, r))?;
        certs(&tls.cert_pem).map_err(|r| err("cert", &raw.cert, r))?;
        key(&tls.key_pem).map_err(|r| err("key", &raw.key, r))?;
        tls.server_config().map_err(|r| {
            err(
                "key",
                &raw.key,
                format!("does not fit the certificate: {r}"),
            )
        })?;
        tls.client(reqwest::Client::builder())
            .and_then(|b| b.build().map_err(|e| e.to_string()))
            .map_err(|r| {
                err(
                    "cert",
                    &raw.cert,
                    format!("unusable as client identity: {r}"),
                )
            })?;
        Ok(tls)
    }

    /// Build from PEM bytes already in memory (tests, `tessera certs`).
    pub fn from_pem(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> ClusterTls {
        ClusterTls {
            ca_pem: ca_pem.to_vec(),
            cert_pem: cert_pem.to_vec(),
            key_pem: key_pem.to_vec(),
        }
    }

    /// The cluster listener's configuration: TLS 1.3, client certificate
    /// signed by the cluster CA required.
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        let mut roots = RootCertStore::empty();
        for ca in certs(&self.ca_pem)? {
            roots
                .add(ca)
                .map_err(|e| format!("bad CA certificate: {e}"))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| e.to_string())?;
        ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs(&self.cert_pem)?, key(&self.key_pem)?)
            .map_err(|e| e.to_string())
    }

    /// Configure an HTTP client for the cluster port: TLS 1.3, this node's
    /// certificate as identity, the cluster CA as the only trusted root.
    pub fn client(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, String> {
        let mut builder = builder
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .min_tls_version(reqwest::tls::Version::TLS_1_3)
            .https_only(true);
        for ca in reqwest::Certificate::from_pem_bundle(&self.ca_pem).map_err(|e| e.to_string())? {
            builder = builder.add_root_certificate(ca);
        }
        let identity = [self.cert_pem.as_slice(), b"\n", self.key_pem.as_slice()].concat();
        let identity = reqwest::Identity::from_pem(&identity).map_err(|e| e.to_string())?;
        Ok(builder.identity(identity))
    }
}

/// TLS on the public listener: the PEM files of `[http]` and the
/// certificate being served, replaced by [`PublicTls::reload`].
#[derive(Clone)]
pub struct PublicTls {
    cert: PathBuf,
    key: PathBuf,
    serving: Arc<Serving>,
}

impl std::fmt::Debug for PublicTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicTls {{ cert: {:?}, .. }}", self.cert)
    }
}

/// The certified key new handshakes get.
#[derive(Debug)]
struct Serving(std::sync::RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Serving {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|k| k.clone())
    }
}

/// Read a certificate chain and its key; on error, which of the two
/// (`"tls_cert"` or `"tls_key"`) and why.
fn certified_key(cert: &Path, key_file: &Path) -> Result<CertifiedKey, (&'static str, String)> {
    let read = |which, path: &Path| {
        std::fs::read(path).map_err(|e| (which, format!("{}: cannot read: {e}", path.display())))
    };
    let chain = certs(&read("tls_cert", cert)?)
        .map_err(|r| ("tls_cert", format!("{}: {r}", cert.display())))?;
    let private = key(&read("tls_key", key_file)?)
        .map_err(|r| ("tls_key", format!("{}: {r}", key_file.display())))?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|e| {
        let reason = format!("{}: does not fit the certificate: {e}", key_file.display());
        ("tls_key", reason)
    })
}

impl PublicTls {
    /// Read and check `[http] tls_cert` and `tls_key`.
    pub(super) fn load(file: &str, cert: &Path, key: &Path) -> Result<PublicTls, ConfigError> {
        let served = certified_key(cert, key).map_err(|(which, reason)| ConfigError {
            file: file.into(),
            key: format!("http.{which}"),
            reason,
        })?;
        Ok(PublicTls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            serving: Arc::new(Serving(std::sync::RwLock::new(Arc::new(served)))),
        })
    }

    /// The public listener's configuration: TLS 1.2 and 1.3, no client
    /// certificate, the certificate of the last successful (re)load.
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        Ok(ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(self.serving.clone()))
    }

    /// Read the files again and serve them to new handshakes; on error the
    /// certificate served so far stays, and the reason is returned.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = certified_key(&self.cert, &self.key)
            .map_err(|(which, r)| format!("http.{which}: {r}"))?;
        let mut serving = self.serving.0.write().map_err(|e| e.to_string())?;
        *serving = Arc::new(fresh);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(dir: &Path) -> RawTls {
        RawTls {
            ca_cert: dir.join("ca.pem"),
            cert: dir.join("node1.pem"),
            key: dir.join("node1.key"),
        }
    }

    /// A missing, malformed or mismatched file is a config error naming the
    /// key and the file; the files of `tessera certs` load.
    #[test]
    fn bad_tls_files_are_config_errors_naming_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = ["127.0.0.1".to_string()];
        crate::cli::certs::generate(dir.path(), 2, &hosts).unwrap();
        let r = raw(dir.path());
        ClusterTls::load("t.toml", &r).unwrap();

        let missing = RawTls {
            cert: dir.path().join("nope.pem"),
            ..raw(dir.path())
        };
        let e = ClusterTls::load("t.toml", &missing).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.key.as_str()),
            ("t.toml", "cluster.tls.cert")
        );
        assert!(e.reason.contains("nope.pem"), "{e}");

        std::fs::write(dir.path().join("garbage.pem"), "not pem").unwrap();
        let garbage = RawTls {
            ca_cert: dir.path().join("garbage.pem"),
            ..raw(dir.path())
        };
        let e = ClusterTls::load("t.toml", &garbage).unwrap_err();
        assert_eq!(e.key, "cluster.tls.ca_cert", "{e}");

        let mismatched = RawTls {
            key: dir.path().join("node2.key"),
            ..raw(dir.path())
        };
        let e = ClusterTls::load("t.toml", &mismatched).unwrap_err();
        assert_eq!(e.key, "cluster.tls.key", "{e}");
    }

    /// `[http] tls_cert`/`tls_key`: bad files are config errors naming the
    /// key; a reload with a bad file keeps the served certificate, a good
    /// one replaces it.
    #[test]
    fn public_tls_loads_checks_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = ["127.0.0.1".to_string()];
        crate::cli::certs::generate(dir.path(), 2, &hosts).unwrap();
        let (cert, key) = (dir.path().join("node1.pem"), dir.path().join("node1.key"));
        let tls = PublicTls::load("t.toml", &cert, &key).unwrap();
        tls.server_config().unwrap();
        let served = || tls.serving.0.read().unwrap().cert[0].clone();
        let first = served();

        let e = PublicTls::load("t.toml", &dir.path().join("nope.pem"), &key).unwrap_err();
        assert_eq!(e.key, "http.tls_cert", "{e}");
        assert!(e.reason.contains("nope.pem"), "{e}");
        let other_key = dir.path().join("node2.key");
        let e = PublicTls::load("t.toml", &cert, &other_key).unwrap_err();
        assert_eq!(e.key, "http.tls_key", "{e}");
        assert!(e.reason.contains("does not fit"), "{e}");

        std::fs::write(&cert, "not pem").unwrap();
        let e = tls.reload().unwrap_err();
        assert!(e.starts_with("http.tls_cert: "), "{e}");
        assert_eq!(served(), first, "a failed reload keeps the certificate");
        std::fs::copy(dir.path().join("node2.pem"), &cert).unwrap();
        std::fs::copy(&other_key, &key).unwrap();
        tls.reload().unwrap();
        assert_ne!(served(), first, "a good reload replaces it");
    }
}
