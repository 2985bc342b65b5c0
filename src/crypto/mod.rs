//! Cryptographic primitives behind small, typed functions.
//!
//! * [`password`] — argon2id hashing and verification (OWASP parameters).
//! * [`random_id`] — identifiers chosen by proposers.

pub mod password;

use base64::Engine;

/// A random, URL-safe identifier with 128 bits of entropy.
pub fn random_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}
