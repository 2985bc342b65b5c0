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

use serde_json::{json, Value};

use super::discovery::{endpoint, PAR_PATH};
use super::error::OAuthError;
use super::request_object::SIGNING_ALGS;

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

/// The provider metadata of request objects (OIDC Discovery §3, RFC 9101
/// §10.5) and PAR (RFC 9126 §5), added to the discovery document.
/// `require_request_uri_registration` is false: a client that registered
/// no `request_uris` may use any (fetched under the SSRF rules).
pub fn discovery_fields(issuer: &url::Url, require_par: bool, allow_unsigned: bool) -> Value {
    let mut algs: Vec<&str> = SIGNING_ALGS.to_vec();
    if allow_unsigned {
        algs.push("none");
    }
    json!({
        "request_parameter_supported": true,
        "request_uri_parameter_supported": true,
        "require_request_uri_registration": false,
        "request_object_signing_alg_values_supported": algs,
        "pushed_authorization_request_endpoint": endpoint(issuer, PAR_PATH),
        "require_pushed_authorization_requests": require_par,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_what_works() {
        let issuer = url::Url::parse("https://id.example.com").unwrap();
        let d = discovery_fields(&issuer, false, false);
        assert_eq!(d["request_parameter_supported"], true);
        assert_eq!(d["request_uri_parameter_supported"], true);
        assert_eq!(d["require_request_uri_registration"], false);
        assert_eq!(
            d["request_object_signing_alg_values_supported"],
            json!(["RS256", "ES256", "EdDSA"])
        );
        assert_eq!(
            d["pushed_authorization_request_endpoint"],
            "https://id.example.com/par"
        );
        assert_eq!(d["require_pushed_authorization_requests"], false);
        let d = discovery_fields(&issuer, true, true);
        assert_eq!(d["require_pushed_authorization_requests"], true);
        assert_eq!(
            d["request_object_signing_alg_values_supported"],
            json!(["RS256", "ES256", "EdDSA", "none"])
        );
    }

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
