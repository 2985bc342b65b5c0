//! `tessera certs`: a development CA and one certificate per node for
//! `[cluster.tls]` (mutual TLS on the cluster port).
//!
//! Writes `ca.pem` and `ca.key`, then `nodeN.pem` and `nodeN.key` for
//! N = 1..=nodes into the output directory; private keys are mode 0600.
//! Each node certificate names every `--hosts` entry (DNS name or IP
//! address, as peers dial them in `rpc_addr`) and may serve and dial
//! (serverAuth and clientAuth). ECDSA P-256 keys (rcgen on ring). For
//! production, use certificates from your own CA the same way.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::config::write_private;

/// Create the CA and `nodes` node certificates in `out`.
pub fn generate(out: &Path, nodes: u64, hosts: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Tessera cluster CA (dev)");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;
    std::fs::write(out.join("ca.pem"), ca_cert.pem())?;
    write_private(&out.join("ca.key"), &ca_key.serialize_pem())?;
    for id in 1..=nodes {
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(hosts.to_vec())?;
        p.distinguished_name
            .push(DnType::CommonName, format!("tessera node {id}"));
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = p.signed_by(&key, &ca_cert, &ca_key)?;
        std::fs::write(out.join(format!("node{id}.pem")), cert.pem())?;
        write_private(&out.join(format!("node{id}.key")), &key.serialize_pem())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClusterTls;

    /// The generated files make a valid server and client configuration.
    #[test]
    fn generated_certificates_are_usable() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), 2, &["127.0.0.1".into(), "localhost".into()]).unwrap();
        let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
        let tls = ClusterTls::from_pem(&read("ca.pem"), &read("node2.pem"), &read("node2.key"));
        tls.server_config().unwrap();
        tls.client(reqwest::Client::builder())
            .unwrap()
            .build()
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |f: &str| {
                std::fs::metadata(dir.path().join(f))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777
            };
            assert_eq!(mode("node1.key"), 0o600);
            assert_eq!(mode("ca.key"), 0o600);
        }
    }
}
