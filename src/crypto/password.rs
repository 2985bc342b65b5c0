//! argon2id for user passwords and client secrets.
//!
//! `Argon2::default()` is argon2id, version 0x13, m=19456 KiB, t=2, p=1 —
//! the OWASP recommendation. A hash costs about 20 ms of one core, so these
//! functions only run on the `PasswordActor`'s `SyncArbiter` threads, never on
//! an HTTP worker.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn hasher() -> Argon2<'static> {
    let params = Params::new(19456, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash a secret into a PHC string with a fresh random salt.
pub fn hash(secret: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Check a secret against a PHC string; a malformed hash never verifies.
pub fn verify(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher().verify_password(secret.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let h = super::hash("wonderland-42").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(super::verify("wonderland-42", &h));
        assert!(!super::verify("wonderland-43", &h));
        assert!(!super::verify("x", "not a hash"));
    }
}
