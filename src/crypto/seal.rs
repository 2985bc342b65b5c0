//! Sealing secrets at rest and in transit with keys derived from the
//! cluster master key.
//!
//! A sealed value is a compact JWE (`alg: dir`, `enc: A256GCM`): authenticated
//! encryption, so a tampered value fails to open. Each purpose (private signing
//! keys, pending authorization requests, ...) uses its own key, derived as
//! SHA-256(purpose ‖ 0x00 ‖ master key), so a value sealed for one purpose
//! cannot be replayed as another.

use josekit::jwe::{self, Dir, JweHeader};
use sha2::{Digest, Sha256};

/// A 256-bit key for one purpose.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl SealKey {
    pub fn derive(master_key: &[u8; 32], purpose: &str) -> SealKey {
        let mut h = Sha256::new();
        h.update(purpose.as_bytes());
        h.update([0u8]);
        h.update(master_key);
        SealKey(h.finalize().into())
    }

    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        let encrypter = Dir.encrypter_from_bytes(self.0).expect("32-byte key");
        jwe::serialize_compact(plaintext, &header, &encrypter).expect("A256GCM encryption")
    }

    /// `None` if the value was not sealed with this key or was altered.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        let decrypter = Dir.decrypter_from_bytes(self.0).ok()?;
        jwe::deserialize_compact(sealed, &decrypter)
            .ok()
            .map(|(p, _)| p)
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_purposes_and_tampering() {
        let master = [7u8; 32];
        let a = SealKey::derive(&master, "signing-keys");
        let b = SealKey::derive(&master, "auth-requests");
        let sealed = a.seal(b"secret");
        assert_eq!(a.open(&sealed).as_deref(), Some(&b"secret"[..]));
        assert!(b.open(&sealed).is_none());
        let mut tampered = sealed.clone().into_bytes();
        let n = tampered.len() - 5;
        tampered[n] = if tampered[n] == b'A' { b'B' } else { b'A' };
        assert!(a.open(std::str::from_utf8(&tampered).unwrap()).is_none());
        assert!(!sealed.contains("secret"));
    }
}
