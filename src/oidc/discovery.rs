//! The OpenID Provider configuration document and the issuer string.
//!
//! Owns OIDC Discovery 1.0 §3 (provider metadata) and §4 (the document is
//! served at issuer + `/.well-known/openid-configuration`, any terminating
//! `/` of the issuer removed first), RFC 8414 §2 (`introspection_…`,
//! `revocation_…`, `code_challenge_methods_supported`) and RFC 9207
//! (`authorization_response_iss_parameter_supported`). The values listed
//! here are exactly what the other `oidc` modules implement.

use serde_json::{json, Value};

use super::authorize::SUPPORTED_SCOPES;
use super::claims::STANDARD_CLAIMS;

/// Endpoint paths, relative to the issuer.
pub const AUTHORIZE_PATH: &str = "/authorize";
pub const TOKEN_PATH: &str = "/token";
pub const USERINFO_PATH: &str = "/userinfo";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const INTROSPECT_PATH: &str = "/introspect";
pub const REVOKE_PATH: &str = "/revoke";
pub const END_SESSION_PATH: &str = "/end_session";
pub const CHECK_SESSION_PATH: &str = "/check_session";
pub const REGISTER_PATH: &str = "/register";
pub const PAR_PATH: &str = "/par";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The issuer as used everywhere as `iss`: exactly as configured, except
/// that the `/` the URL parser adds for an empty path is removed
/// (`https://id.example.com/` → `https://id.example.com`).
pub fn issuer_string(issuer: &url::Url) -> String {
    let s = issuer.as_str();
    if issuer.path() == "/" && issuer.query().is_none() && issuer.fragment().is_none() {
        s.strip_suffix('/').unwrap_or(s).to_string()
    } else {
        s.to_string()
    }
}

/// Checks an issuer for configuration (OIDC Discovery §3, RFC 8414 §2):
/// `https` (or `http` on a loopback host, for tests and a local cluster, or
/// on any host when `allow_http`, for development), a host, no query, no
/// fragment.
pub fn validate_issuer(issuer: &url::Url, allow_http: bool) -> Result<(), String> {
    let loopback = matches!(issuer.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match issuer.scheme() {
        "https" => {}
        "http" if loopback || allow_http => {}
        "http" => {
            return Err(
                "an http issuer must be on a loopback host (127.0.0.1, localhost, [::1]); \
                 use https (http elsewhere only with `serve --dev`)"
                    .into(),
            )
        }
        s => return Err(format!("issuer must use https (got `{s}`)")),
    }
    if issuer.query().is_some() || issuer.fragment().is_some() {
        return Err("issuer must not have a query or fragment".into());
    }
    if issuer.host_str().is_none() {
        return Err("issuer must have a host".into());
    }
    Ok(())
}

/// The full URL of an endpoint `path` (one of the `*_PATH` constants):
/// the issuer without a terminating `/`, then `path`.
pub fn endpoint(issuer: &url::Url, path: &str) -> String {
    format!("{}{path}", issuer_string(issuer).trim_end_matches('/'))
}

/// `claims_supported`: the ID token's own claims, then the standard ones.
fn claims_supported() -> Vec<&'static str> {
    let token_claims = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
        "at_hash",
        "azp",
    ];
    token_claims
        .into_iter()
        .chain(STANDARD_CLAIMS.iter().copied())
        .collect()
}

/// The provider metadata document (OIDC Discovery 1.0 §3).
pub fn discovery_document(issuer: &url::Url) -> Value {
    let e = |p| endpoint(issuer, p);
    let auth_methods = json!([
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none"
    ]);
    let auth_algs = json!(["RS256", "ES256"]);
    json!({
        "issuer": issuer_string(issuer),
        "authorization_endpoint": e(AUTHORIZE_PATH),
        "token_endpoint": e(TOKEN_PATH),
        "userinfo_endpoint": e(USERINFO_PATH),
        "jwks_uri": e(JWKS_PATH),
        "registration_endpoint": e(REGISTER_PATH),
        "introspection_endpoint": e(INTROSPECT_PATH),
        "revocation_endpoint": e(REVOKE_PATH),
        "end_session_endpoint": e(END_SESSION_PATH),
        "check_session_iframe": e(CHECK_SESSION_PATH),
        "scopes_supported": SUPPORTED_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": auth_algs,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": auth_algs,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": auth_algs,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims_supported(),
        "claims_parameter_supported": true,
        "frontchannel_logout_supported": false,
        // OpenID Connect Back-Channel Logout 1.0 §2.1 (actors::logout_delivery).
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "display_values_supported": ["page"],
        "ui_locales_supported": ["en"],
        "claim_types_supported": ["normal"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn issuer_string_trims_only_the_root_slash() {
        assert_eq!(
            issuer_string(&url("https://id.example.com")),
            "https://id.example.com"
        );
        assert_eq!(
            issuer_string(&url("https://id.example.com/")),
            "https://id.example.com"
        );
        assert_eq!(
            issuer_string(&url("https://id.example.com:8443/")),
            "https://id.example.com:8443"
        );
        assert_eq!(
            issuer_string(&url("https://id.example.com/tenant")),
            "https://id.example.com/tenant"
        );
        assert_eq!(
            issuer_string(&url("https://id.example.com/tenant/")),
            "https://id.example.com/tenant/"
        );
    }

    #[test]
    fn root_issuer_document() {
        let d = discovery_document(&url("https://id.example.com/"));
        assert_eq!(d["issuer"], "https://id.example.com");
        assert_eq!(
            d["authorization_endpoint"],
            "https://id.example.com/authorize"
        );
        assert_eq!(d["token_endpoint"], "https://id.example.com/token");
        assert_eq!(d["userinfo_endpoint"], "https://id.example.com/userinfo");
        assert_eq!(
            d["jwks_uri"],
            "https://id.example.com/.well-known/jwks.json"
        );
        assert_eq!(
            d["registration_endpoint"],
            "https://id.example.com/register"
        );
        assert_eq!(
            d["introspection_endpoint"],
            "https://id.example.com/introspect"
        );
        assert_eq!(d["revocation_endpoint"], "https://id.example.com/revoke");
        assert_eq!(
            d["end_session_endpoint"],
            "https://id.example.com/end_session"
        );
        assert_eq!(
            d["check_session_iframe"],
            "https://id.example.com/check_session"
        );
    }

    #[test]
    fn path_issuer_document() {
        let d = discovery_document(&url("https://id.example.com/tenant"));
        assert_eq!(d["issuer"], "https://id.example.com/tenant");
        assert_eq!(d["token_endpoint"], "https://id.example.com/tenant/token");
        assert_eq!(
            d["jwks_uri"],
            "https://id.example.com/tenant/.well-known/jwks.json"
        );
        // A terminating slash is removed before appending (Discovery §4).
        let d = discovery_document(&url("https://id.example.com/tenant/"));
        assert_eq!(d["issuer"], "https://id.example.com/tenant/");
        assert_eq!(
            d["authorization_endpoint"],
            "https://id.example.com/tenant/authorize"
        );
        assert_eq!(
            endpoint(&url("https://id.example.com/tenant/"), DISCOVERY_PATH),
            "https://id.example.com/tenant/.well-known/openid-configuration"
        );
    }

    #[test]
    fn metadata_values() {
        let d = discovery_document(&url("https://id.example.com"));
        assert_eq!(d["response_types_supported"], json!(["code"]));
        assert_eq!(d["response_modes_supported"], json!(["query", "form_post"]));
        assert_eq!(
            d["grant_types_supported"],
            json!(["authorization_code", "refresh_token", "client_credentials"])
        );
        assert_eq!(d["subject_types_supported"], json!(["public"]));
        assert_eq!(
            d["id_token_signing_alg_values_supported"],
            json!(["RS256", "ES256"])
        );
        assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(d["scopes_supported"], json!(SUPPORTED_SCOPES));
        let methods = json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ]);
        for k in ["token", "introspection", "revocation"] {
            assert_eq!(
                d[format!("{k}_endpoint_auth_methods_supported")],
                methods,
                "{k}"
            );
            assert_eq!(
                d[format!("{k}_endpoint_auth_signing_alg_values_supported")],
                json!(["RS256", "ES256"])
            );
        }
        for (k, v) in [
            ("claims_parameter_supported", true),
            ("frontchannel_logout_supported", false),
            ("backchannel_logout_supported", true),
            ("backchannel_logout_session_supported", true),
            ("authorization_response_iss_parameter_supported", true),
        ] {
            assert_eq!(d[k], json!(v), "{k}");
        }
        assert_eq!(
            d["prompt_values_supported"],
            json!(["none", "login", "consent", "select_account"])
        );
        assert_eq!(d["display_values_supported"], json!(["page"]));
        assert_eq!(d["ui_locales_supported"], json!(["en"]));
        assert_eq!(d["claim_types_supported"], json!(["normal"]));
        assert!(d.get("userinfo_signing_alg_values_supported").is_none());
        let claims = d["claims_supported"].as_array().unwrap();
        assert_eq!(claims.len(), 12 + STANDARD_CLAIMS.len());
        for c in ["sub", "sid", "at_hash", "azp", "email", "updated_at"] {
            assert!(claims.contains(&json!(c)), "{c}");
        }
    }

    #[test]
    fn issuer_validation() {
        let check = |s: &str, dev| validate_issuer(&url(s), dev);
        assert!(check("https://id.example.com", false).is_ok());
        assert!(check("https://id.example.com/tenant", false).is_ok());
        assert!(check("http://localhost:8080", false).is_ok());
        assert!(check("http://127.0.0.1:8080", false).is_ok());
        assert!(check("http://[::1]:8080", false).is_ok());
        assert!(check("http://id.example.com", false).is_err());
        assert!(check("http://id.example.com", true).is_ok());
        assert!(check("ftp://id.example.com", true).is_err());
        assert!(check("https://id.example.com/?a=b", false).is_err());
        assert!(check("https://id.example.com/#x", false).is_err());
        assert!(check("unix:/run/x", true).is_err());
    }
}
