//! Proof Key for Code Exchange (RFC 7636).
//!
//! Owns the syntax of `code_verifier` (§4.1) and `code_challenge` (§4.2)
//! and the server-side check (§4.6) on top of the `S256` primitive, which
//! lives in `crypto` ([`crate::crypto::s256`], constant-time
//! [`crate::crypto::s256_matches`]). Only `S256` is supported; `plain` is
//! refused by the authorization endpoint.

pub use crate::crypto::s256;

/// The only supported `code_challenge_method`.
pub const S256: &str = "S256";

/// `code-verifier = 43*128unreserved` (RFC 7636 §4.1), where
/// `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(is_unreserved)
}

/// `code-challenge = 43*128unreserved` (RFC 7636 §4.2). An S256 challenge is
/// always exactly 43 characters, but the grammar allows up to 128.
pub fn valid_challenge(c: &str) -> bool {
    valid_verifier(c)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 7636 §4.6: does `verifier` hash to `challenge`? A malformed verifier
/// never matches. Constant-time in the compared bytes.
pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    valid_verifier(verifier) && crate::crypto::s256_matches(verifier, challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(s256(VERIFIER), CHALLENGE);
        assert!(verify_s256(VERIFIER, CHALLENGE));
    }

    #[test]
    fn mismatch_is_rejected() {
        let other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK";
        assert!(!verify_s256(other, CHALLENGE));
        assert!(!verify_s256(
            VERIFIER,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cm"
        ));
        assert!(!verify_s256(VERIFIER, ""));
        assert!(!verify_s256(VERIFIER, &CHALLENGE[..42]));
        // The challenge itself is not a valid verifier for itself.
        assert!(!verify_s256(CHALLENGE, CHALLENGE));
    }

    #[test]
    fn malformed_verifier_never_matches() {
        let short = "abc";
        assert!(!verify_s256(short, &s256(short)));
        let bad = format!("{}+", &VERIFIER[..42]);
        assert!(!verify_s256(&bad, &s256(&bad)));
    }

    #[test]
    fn verifier_length_bounds() {
        assert!(!valid_verifier(&"a".repeat(42)));
        assert!(valid_verifier(&"a".repeat(43)));
        assert!(valid_verifier(&"a".repeat(128)));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(""));
    }

    #[test]
    fn verifier_charset() {
        let base = "a".repeat(42);
        for ok in ['-', '.', '_', '~', 'Z', '0', 'z'] {
            assert!(valid_verifier(&format!("{base}{ok}")), "{ok}");
        }
        for bad in ['+', '/', '=', ' ', '%', '!', '*'] {
            assert!(!valid_verifier(&format!("{base}{bad}")), "{bad}");
        }
        // Non-ASCII: 42 ASCII + 'é' is 44 bytes but must still be refused.
        assert!(!valid_verifier(&format!("{base}é")));
    }

    #[test]
    fn challenge_rules_match_verifier_rules() {
        assert!(valid_challenge(CHALLENGE));
        assert!(!valid_challenge(&CHALLENGE[..42]));
        assert!(!valid_challenge(&format!("{}=", &CHALLENGE[..42])));
        assert!(valid_challenge(&"~".repeat(128)));
        assert!(!valid_challenge(&"~".repeat(129)));
    }
}
