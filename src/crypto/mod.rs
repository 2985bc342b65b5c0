//! Cryptographic primitives behind small, typed functions.
//!
//! * [`password`] — argon2id hashing and verification (OWASP parameters).
//! * [`jwt`] — JWS signing/verification with josekit (the only JWS importer).
//! * [`seal`] — authenticated encryption with keys derived from the master key.
//! * [`random_id`], [`random_secret`], [`sha256_hex`] — ids, secrets, lookups.
//! * [`s256`], [`s256_matches`] — the PKCE `S256` transform and its
//!   constant-time check (RFC 7636 §4.2, §4.6); the syntax of verifiers and
//!   challenges is protocol, in `oidc::pkce`.

pub mod jwt;
pub mod password;
pub mod seal;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A random, URL-safe identifier with 128 bits of entropy.
pub fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// A random, URL-safe bearer secret with 256 bits of entropy (codes, tokens, cookies).
pub fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Hex SHA-256: how bearer secrets are stored and looked up (never in clear).
pub fn sha256_hex(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// `BASE64URL-ENCODE(SHA256(ASCII(input)))`: the PKCE `S256` transform
/// (RFC 7636 §4.2).
pub fn s256(input: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes()))
}

/// Does `input` transform to `expected` under [`s256`]? Constant-time in the
/// compared bytes, so a mismatch leaks nothing about `expected`.
pub fn s256_matches(input: &str, expected: &str) -> bool {
    s256(input).as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_the_rfc7636_appendix_b_vector_and_nothing_else() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256(verifier), challenge);
        assert!(s256_matches(verifier, challenge));
        assert!(!s256_matches(verifier, &challenge[..42]));
        assert!(!s256_matches(verifier, ""));
        assert!(!s256_matches(challenge, challenge));
    }
}
