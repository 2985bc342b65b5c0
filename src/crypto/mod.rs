//! Cryptographic primitives behind small, typed functions.
//!
//! * [`password`] — argon2id hashing and verification (OWASP parameters).
//! * [`jwt`] — JWS signing/verification with josekit (the only JWS importer).
//! * [`seal`] — authenticated encryption with keys derived from the master key.
//! * [`random_id`], [`random_secret`], [`sha256_hex`] — ids, secrets, lookups.

pub mod jwt;
pub mod password;
pub mod seal;

use base64::Engine;
use sha2::{Digest, Sha256};

/// A random, URL-safe identifier with 128 bits of entropy.
pub fn random_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// A random, URL-safe bearer secret with 256 bits of entropy (codes, tokens, cookies).
pub fn random_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Hex SHA-256: how bearer secrets are stored and looked up (never in clear).
pub fn sha256_hex(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}
