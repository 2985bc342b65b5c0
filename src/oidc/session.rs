//! OpenID Connect Session Management 1.0 §4.1: the `session_state` value.
//!
//! `session_state = hex(SHA-256(client_id ‖ " " ‖ origin ‖ " " ‖ browser_state ‖ " " ‖ salt)) ‖ "." ‖ salt`
//! The OP's check-session iframe recomputes it from the browser-state cookie
//! and the message's origin; any change of the browser state (logout, a new
//! login) changes the value, and the iframe answers `changed`.

use sha2::{Digest, Sha256};

pub fn session_state(client_id: &str, origin: &str, browser_state: &str, salt: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("{client_id} {origin} {browser_state} {salt}").as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.{salt}")
}

/// The origin (scheme://host[:port]) of a redirect URI, as a browser reports it.
pub fn origin_of(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_with_any_input_and_keeps_the_salt() {
        let a = session_state("c", "http://127.0.0.1:9000", "bs1", "salt");
        assert!(a.ends_with(".salt"));
        assert_eq!(a.len(), 64 + 5);
        assert_ne!(
            a,
            session_state("c", "http://127.0.0.1:9000", "bs2", "salt")
        );
        assert_ne!(
            a,
            session_state("c", "http://127.0.0.1:9001", "bs1", "salt")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8765/cb?x=1").as_deref(),
            Some("http://127.0.0.1:8765")
        );
        assert_eq!(
            origin_of("https://rp.example/cb").as_deref(),
            Some("https://rp.example")
        );
    }
}
