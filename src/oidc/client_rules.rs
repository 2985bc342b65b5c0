//! Rules for client and user records created by operators.
//!
//! Redirect URIs must be absolute, carry no fragment (RFC 6749 §3.1.2) and
//! are later compared by exact string match, so they are checked, not
//! normalized. Usernames are short and printable so they can be shown on
//! pages and logged safely. Nothing here reads stored records: callers pass
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
}
