//! OpenID Connect Back-Channel Logout 1.0: the `backchannel_logout_uri`
//! rule and the claims of a Logout Token.
//!
//! A Logout Token (§2.4) is a JWT of type `logout+jwt` with `iss`, `aud`
//! (the client id), `iat`, a short `exp`, a unique `jti`, the `events`
//! member naming the back-channel logout event, and `sid` and `sub` (this
//! provider always sends both, so a client that registered
//! `backchannel_logout_session_required` gets its `sid`). It never carries a
//! `nonce` (§2.4: that would let it pass as an ID token). The URI rule
//! (§2.2): absolute, no fragment, `https`; `http` only to a loopback host
//! and only when the operator allows private outbound targets.

use serde_json::{json, Map, Value};

/// The `typ` header of a Logout Token (§2.4).
pub const TYP: &str = "logout+jwt";
/// The event a Logout Token announces.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a Logout Token is valid (seconds).
pub const LIFETIME: u64 = 120;
/// Longest `backchannel_logout_uri` accepted (the outbound fetch's own bound).
pub const MAX_URI_LEN: usize = 2048;

/// Why `uri` cannot be a `backchannel_logout_uri`, if it cannot.
/// `allow_private` is the operator's `[outbound] allow_private_targets`.
pub fn check_backchannel_uri(uri: &str, allow_private: bool) -> Result<(), String> {
    if uri.len() > MAX_URI_LEN {
        return Err(format!(
            "backchannel_logout_uri is longer than {MAX_URI_LEN}"
        ));
    }
    let u = url::Url::parse(uri)
        .map_err(|_| "backchannel_logout_uri is not an absolute URI".to_string())?;
    if u.fragment().is_some() {
        return Err("backchannel_logout_uri must not contain a fragment".into());
    }
    if !u.username().is_empty() || u.password().is_some() || u.host_str().is_none() {
        return Err("backchannel_logout_uri must name a host and no user".into());
    }
    let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match u.scheme() {
        "https" => Ok(()),
        "http" if allow_private && loopback => Ok(()),
        _ => Err("backchannel_logout_uri must be an https URI".into()),
    }
}

/// The claims of a Logout Token for the end of session `sid` of `sub`,
/// issued at `now` to `client_id`.
pub fn claims(
    issuer: &str,
    client_id: &str,
    sub: &str,
    sid: &str,
    now: u64,
    jti: &str,
) -> Map<String, Value> {
    let v = json!({
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + LIFETIME,
        "jti": jti,
        "events": { EVENT: {} },
        "sub": sub,
        "sid": sid,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_https_without_fragment_http_only_to_loopback_when_allowed() {
        assert!(check_backchannel_uri("https://rp.example/bcl", false).is_ok());
        assert!(check_backchannel_uri("http://127.0.0.1:9/bcl", true).is_ok());
        for (uri, allow) in [
            ("http://127.0.0.1:9/bcl", false),
            ("http://rp.example/bcl", true),
            ("https://rp.example/bcl#f", true),
            ("/bcl", true),
            ("https://u:p@rp.example/bcl", true),
            ("ftp://rp.example/bcl", true),
        ] {
            assert!(check_backchannel_uri(uri, allow).is_err(), "{uri} {allow}");
        }
        let long = format!("https://rp.example/{}", "a".repeat(MAX_URI_LEN));
        assert!(check_backchannel_uri(&long, true).is_err());
    }

    #[test]
    fn a_logout_token_names_the_event_sid_and_sub_and_never_a_nonce() {
        let c = claims("https://op.example", "rp", "sub-1", "sid-1", 1000, "j-1");
        assert_eq!(c["iss"], "https://op.example");
        assert_eq!(c["aud"], "rp");
        assert_eq!(c["iat"], 1000);
        assert_eq!(c["exp"], 1000 + LIFETIME);
        assert_eq!(c["jti"], "j-1");
        assert_eq!(c["sid"], "sid-1");
        assert_eq!(c["sub"], "sub-1");
        assert_eq!(c["events"][EVENT], json!({}));
        assert!(!c.contains_key("nonce"));
    }
}
