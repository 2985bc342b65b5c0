//! Pushed authorization requests: RFC 9126, the rules that need neither
//! network nor state.
//!
//! A client POSTs its authorization request to `/par` (authenticated as at
//! `/token`) and gets back `request_uri =
//! urn:ietf:params:oauth:request_uri:<random>` ([`request_uri`]), which it
//! then sends to `/authorize` with its `client_id`. [`pushed_params`] takes
//! the client-authentication parameters out of the pushed form and refuses a
//! `request_uri` inside it (§2.1); [`reference`] recognises our URNs at
//! `/authorize`. Storing and single use are in `state::pushed`.

use super::error::OAuthError;

/// The prefix of the `request_uri` values `/par` issues (RFC 9126 §2.2).
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request may wait for `/authorize` by default (seconds).
pub const DEFAULT_LIFETIME: u64 = 60;
/// Form parameters that authenticate the client, not part of the request.
const CLIENT_AUTH_PARAMS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];
/// Longest random part accepted in a URN (ours are 43 characters).
const MAX_REFERENCE: usize = 128;

/// The `request_uri` for a pushed request's random reference.
pub fn request_uri(reference: &str) -> String {
    format!("{URN_PREFIX}{reference}")
}

/// The random part of a `request_uri` that names a pushed request (any
/// other URN or URL: `None`). Only base64url characters, bounded length.
pub fn reference(request_uri: &str) -> Option<&str> {
    let r = request_uri.strip_prefix(URN_PREFIX)?;
    let ok = !r.is_empty()
        && r.len() <= MAX_REFERENCE
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(r)
}

/// Whether `request_uri` claims to be a pushed request (our URN prefix),
/// well-formed or not.
pub fn is_pushed(request_uri: &str) -> bool {
    request_uri.starts_with(URN_PREFIX)
}

/// The authorization request in a `/par` form: the form without its
/// client-authentication parameters. `request_uri` is refused (RFC 9126
/// §2.1); `client_id`, if given, must be the authenticated client's, and is
/// added if absent.
pub fn pushed_params(
    form: &[(String, String)],
    client_id: &str,
) -> Result<Vec<(String, String)>, OAuthError> {
    if form.iter().any(|(k, _)| k == "request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be pushed (RFC 9126 §2.1)",
        ));
    }
    if form.iter().any(|(k, v)| k == "client_id" && v != client_id) {
        return Err(OAuthError::invalid_request(
            "client_id differs from the authenticated client",
        ));
    }
    let mut out: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| !CLIENT_AUTH_PARAMS.contains(&k.as_str()))
        .cloned()
        .collect();
    if !out.iter().any(|(k, _)| k == "client_id") {
        out.push(("client_id".into(), client_id.into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn our_urns_name_a_reference() {
        let uri = request_uri("abc-DEF_123");
        assert_eq!(uri, "urn:ietf:params:oauth:request_uri:abc-DEF_123");
        assert_eq!(reference(&uri), Some("abc-DEF_123"));
        assert!(is_pushed(&uri));
        for other in [
            "https://rp.example/req.jwt",
            "urn:ietf:params:oauth:request_uri:",
            "urn:ietf:params:oauth:request_uri:a/b",
            "urn:ietf:params:oauth:request_uri:a%20b",
            "urn:example:other",
        ] {
            assert_eq!(reference(other), None, "{other}");
        }
        assert_eq!(
            reference(&request_uri(&"a".repeat(MAX_REFERENCE + 1))),
            None
        );
        assert!(!is_pushed("https://rp.example/req.jwt"));
    }

    #[test]
    fn pushed_params_drop_client_authentication() {
        let form = pairs(&[
            ("response_type", "code"),
            ("client_secret", "s3cret"),
            ("client_assertion_type", "jwt-bearer"),
            ("client_assertion", "a.b.c"),
            ("state", "x"),
        ]);
        let p = pushed_params(&form, "rp").unwrap();
        assert_eq!(
            p,
            pairs(&[
                ("response_type", "code"),
                ("state", "x"),
                ("client_id", "rp")
            ])
        );
        let with_id = pairs(&[("client_id", "rp"), ("scope", "openid")]);
        assert_eq!(pushed_params(&with_id, "rp").unwrap(), with_id);
    }

    #[test]
    fn a_pushed_request_uri_or_another_client_id_is_refused() {
        let e = pushed_params(&pairs(&[("request_uri", "urn:x")]), "rp").unwrap_err();
        assert_eq!(e.code, super::super::error::ErrorCode::InvalidRequest);
        let e = pushed_params(&pairs(&[("client_id", "other")]), "rp").unwrap_err();
        assert!(e.description.contains("client_id"), "{e}");
    }
}
