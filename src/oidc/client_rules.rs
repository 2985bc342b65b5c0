//! Rules for client and user records created by operators, and the scopes
//! a client may be given without a user (`client_credentials`).
//!
//! Redirect URIs must be absolute, carry no fragment (RFC 6749 §3.1.2) and
//! are later compared by exact string match, so they are checked, not
//! normalized. Usernames are short and printable so they can be shown on
//! pages and logged safely.
//!
//! A client's registered scopes (RFC 7591 `scope` metadata, or the `scope`
//! list of an operator-created client) bound what `client_credentials`
//! issues: every requested scope must be registered, else `invalid_scope`.
//! A client with no registered scopes gets no scopes: a request without
//! `scope` still succeeds (an access token with no scope, as the demo client
//! and the benchmark use it), any requested scope is refused. `openid` and
//! `offline_access` mean nothing without a user and are dropped. Nothing here reads stored records: callers pass
//! plain values, so `oidc/` depends on no other layer.

/// The grant types this provider implements, and so the ones a client may
/// be registered for (operator-created or through dynamic registration).
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let parsed = url::Url::parse(uri)
        .map_err(|e| format!("redirect URI `{uri}` is not an absolute URI: {e}"))?;
    if parsed.fragment().is_some() {
        return Err(format!("redirect URI `{uri}` must not contain a fragment"));
    }
    if parsed.scheme() == "http" {
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if !loopback {
            return Err(format!(
                "redirect URI `{uri}` must use https (http is allowed on loopback only)"
            ));
        }
    }
    Ok(())
}

pub fn validate_grant_types(grant_types: &[String]) -> Result<(), String> {
    if grant_types.is_empty() {
        return Err("list at least one grant type".into());
    }
    for g in grant_types {
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err(format!(
                "unknown grant type `{g}` (known: {})",
                GRANT_TYPES.join(", ")
            ));
        }
    }
    Ok(())
}

pub fn validate_username(username: &str) -> Result<(), String> {
    if username.is_empty() || username.len() > 64 {
        return Err("a username has 1 to 64 characters".into());
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-@+".contains(c))
    {
        return Err("a username uses letters, digits and . _ - @ + only".into());
    }
    Ok(())
}

pub fn validate_client_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err("a client id has 1 to 128 printable ASCII characters".into());
    }
    Ok(())
}

/// Most scopes a client may register.
pub const MAX_SCOPES: usize = 50;

/// RFC 6749 §3.3 `scope-token`: 1*( %x21 / %x23-5B / %x5D-7E ), bounded.
pub fn validate_scope_token(token: &str) -> Result<(), String> {
    let ok = !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err("a scope is 1 to 128 printable ASCII characters without space, `\"` or `\\`".into())
    }
}

/// A list of scopes a client registers: each a valid scope token, at most
/// [`MAX_SCOPES`]; duplicates are dropped (linear time).
pub fn registered_scopes<'a>(
    scopes: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for s in scopes {
        validate_scope_token(s)?;
        if seen.insert(s) {
            if out.len() == MAX_SCOPES {
                return Err(format!("a client registers at most {MAX_SCOPES} scopes"));
            }
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// The scopes a `client_credentials` token gets: the requested ones minus
/// `openid` and `offline_access`, each of which must be registered; `Err`
/// names the first one that is not.
pub fn client_credentials_scopes(
    requested: Option<Vec<String>>,
    registered: Option<&[String]>,
) -> Result<Vec<String>, String> {
    let registered: std::collections::HashSet<&str> = registered
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let scopes: Vec<String> = requested
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s != "openid" && s != "offline_access")
        .collect();
    match scopes.iter().find(|s| !registered.contains(s.as_str())) {
        Some(s) => Err(format!("scope `{s}` is not registered for this client")),
        None => Ok(scopes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        assert!(validate_redirect_uri("https://rp.example/cb").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:8765/cb").is_ok());
        assert!(validate_redirect_uri("com.example.app:/cb").is_ok());
        assert!(validate_redirect_uri("http://rp.example/cb").is_err());
        assert!(validate_redirect_uri("https://rp.example/cb#x").is_err());
        assert!(validate_redirect_uri("/cb").is_err());
    }

    #[test]
    fn grant_types_and_names() {
        assert!(validate_grant_types(&["authorization_code".into()]).is_ok());
        assert!(validate_grant_types(&["password".into()]).is_err());
        assert!(validate_grant_types(&[]).is_err());
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("al ice").is_err());
        assert!(validate_client_id("demo").is_ok());
        assert!(validate_client_id("").is_err());
    }

    #[test]
    fn client_credentials_get_registered_scopes_only() {
        let reg = vec!["read".to_string(), "write".to_string()];
        let ask = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            client_credentials_scopes(ask(&["read", "openid"]), Some(&reg)),
            Ok(vec!["read".to_string()])
        );
        let e = client_credentials_scopes(ask(&["read", "admin"]), Some(&reg)).unwrap_err();
        assert!(e.contains("`admin`"), "{e}");
        // Nothing registered: no scope asked is fine, any scope is refused.
        assert_eq!(client_credentials_scopes(None, None), Ok(vec![]));
        assert_eq!(
            client_credentials_scopes(ask(&["offline_access"]), None),
            Ok(vec![])
        );
        assert!(client_credentials_scopes(ask(&["read"]), None).is_err());
    }

    #[test]
    fn registered_scope_lists_are_valid_tokens_and_bounded() {
        assert_eq!(
            registered_scopes(["a", "b", "a"]),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
        for bad in ["", "a b", "q\"x", "back\\slash", "é"] {
            assert!(registered_scopes([bad]).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
        assert!(registered_scopes(many.iter().map(String::as_str)).is_err());
        assert!(registered_scopes(many[..MAX_SCOPES].iter().map(String::as_str)).is_ok());
    }
}
