//! Client metadata rules for dynamic registration: RFC 7591 §2 and
//! OpenID Connect Dynamic Client Registration 1.0 §2.
//!
//! [`validate`] turns the JSON a client sends into [`Registration`] or an
//! `invalid_redirect_uri` / `invalid_client_metadata` error. Redirect URIs
//! must be absolute, without fragment, and https — except `http` on a
//! loopback host, or a private-use scheme (`com.example.app:/cb`) for native
//! applications. `jwks_uri` must be https: the provider fetches it, so the
//! operator's `allow_private_targets` switch (dev, tests) is the only way
//! to register an `http` one (see [`validate_with`]). `scope` (RFC 7591
//! §2) is the list of scopes `client_credentials` may issue to the client.
//! The request-object and PAR metadata (`request_uris`,
//! `request_object_signing_alg`, `require_pushed_authorization_requests`)
//! is checked by [`super::request_object::client_metadata`] and kept with
//! the descriptive metadata.

use serde_json::{Map, Value};

use super::client_rules::GRANT_TYPES;
use super::error::{ErrorCode, OAuthError};

/// The most items in one array of metadata (`redirect_uris`, `contacts`, ...).
pub const MAX_ARRAY_ITEMS: usize = 50;

/// Validated registration metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    /// `client_secret_basic` (default), `client_secret_post`, `private_key_jwt` or `none`.
    pub token_endpoint_auth_method: String,
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub id_token_signed_response_alg: Option<String>,
    /// `scope`: the scopes the client may be issued without a user.
    pub scope: Option<Vec<String>>,
    /// OpenID Connect Back-Channel Logout 1.0 §2.2.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// The descriptive metadata as accepted (client_name, logo_uri, ...,
    /// default_max_age, application_type), echoed back on read.
    pub metadata: Map<String, Value>,
}

impl Registration {
    /// Whether the client gets a secret.
    pub fn has_secret(&self) -> bool {
        matches!(
            self.token_endpoint_auth_method.as_str(),
            "client_secret_basic" | "client_secret_post"
        )
    }
}

pub const AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

fn meta_err(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, d)
}

fn uri_err(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRedirectUri, d)
}

fn strings(v: Option<&Value>, name: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() > MAX_ARRAY_ITEMS => Err(meta_err(format!(
            "{name} has more than {MAX_ARRAY_ITEMS} items"
        ))),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .ok_or_else(|| meta_err(format!("{name} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(meta_err(format!("{name} must be an array of strings"))),
    }
}

fn is_loopback(host: Option<&str>) -> bool {
    matches!(host, Some("127.0.0.1" | "localhost" | "[::1]"))
}

/// RFC 8252 and OIDC DCR rules for one redirect URI.
pub fn check_redirect_uri(uri: &str, native: bool) -> Result<(), String> {
    let u = url::Url::parse(uri).map_err(|_| format!("`{uri}` is not an absolute URI"))?;
    if u.fragment().is_some() {
        return Err(format!("`{uri}` must not contain a fragment"));
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(u.host_str()) => Ok(()),
        "http" => Err(format!("`{uri}` must use https (http only on a loopback host)")),
        s if native && s.contains('.') => Ok(()),
        _ => Err(format!(
            "`{uri}`: only https, loopback http, or (for native apps) a reverse-DNS private-use scheme"
        )),
    }
}

fn check_web_uri(v: &Value, name: &str) -> Result<(), OAuthError> {
    let s = v
        .as_str()
        .ok_or_else(|| meta_err(format!("{name} must be a string")))?;
    let u = url::Url::parse(s).map_err(|_| meta_err(format!("{name} is not an absolute URI")))?;
    if u.scheme() == "https" || (u.scheme() == "http" && is_loopback(u.host_str())) {
        Ok(())
    } else {
        Err(meta_err(format!("{name} must be an https URI")))
    }
}

/// `jwks_uri`: an absolute https URI; `http` only if the operator allows
/// private targets (the fetch itself then allows them too).
fn check_jwks_uri(v: &Value, allow_http: bool) -> Result<String, OAuthError> {
    let s = v
        .as_str()
        .ok_or_else(|| meta_err("jwks_uri must be a string"))?;
    let u = url::Url::parse(s).map_err(|_| meta_err("jwks_uri is not an absolute URI"))?;
    match u.scheme() {
        "https" => Ok(s.to_string()),
        "http" if allow_http => Ok(s.to_string()),
        _ => Err(meta_err("jwks_uri must be an https URI")),
    }
}

/// [`validate_with`] as a production provider runs it: `jwks_uri` https only.
pub fn validate(body: &Value) -> Result<Registration, OAuthError> {
    validate_with(body, false)
}

/// Validate a registration request body, one named step per group of
/// metadata; the first failing rule decides the error.
/// `allow_private_targets` is the operator's `[outbound]` switch.
pub fn validate_with(
    body: &Value,
    allow_private_targets: bool,
) -> Result<Registration, OAuthError> {
    let obj = body
        .as_object()
        .ok_or_else(|| meta_err("the body must be a JSON object"))?;
    let native = application_type(obj)?;
    let (redirect_uris, post_logout_redirect_uris) = redirect_uris(obj, native)?;
    let (response_types, grant_types) = response_and_grant_types(obj)?;
    let method = auth_method(obj)?;
    let (jwks, jwks_uri) = client_keys(obj, &method, &grant_types, allow_private_targets)?;
    let alg = id_token_alg(obj)?;
    let scope = scope(obj)?;
    let (backchannel_logout_uri, backchannel_logout_session_required) =
        backchannel(obj, allow_private_targets)?;
    let mut metadata = descriptive_metadata(obj, native)?;
    metadata.extend(super::request_object::client_metadata(
        obj,
        allow_private_targets,
    )?);
    if let Some(s) = &scope {
        metadata.insert("scope".into(), s.join(" ").into());
    }
    Ok(Registration {
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        response_types,
        token_endpoint_auth_method: method,
        jwks,
        jwks_uri,
        id_token_signed_response_alg: alg,
        scope,
        backchannel_logout_uri,
        backchannel_logout_session_required,
        metadata,
    })
}

/// `backchannel_logout_uri` (see `logout_token::check_backchannel_uri`)
/// and `backchannel_logout_session_required` (a boolean, default false).
fn backchannel(
    obj: &Map<String, Value>,
    allow_private_targets: bool,
) -> Result<(Option<String>, bool), OAuthError> {
    let uri = match obj.get("backchannel_logout_uri") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => {
            super::logout_token::check_backchannel_uri(u, allow_private_targets)
                .map_err(meta_err)?;
            Some(u.clone())
        }
        Some(_) => return Err(meta_err("backchannel_logout_uri must be a string")),
    };
    let required = match obj.get("backchannel_logout_session_required") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(meta_err(
                "backchannel_logout_session_required must be a boolean",
            ))
        }
    };
    Ok((uri, required))
}

/// `application_type`: `web` (the default) or `native`; true for native.
fn application_type(obj: &Map<String, Value>) -> Result<bool, OAuthError> {
    match obj.get("application_type") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(s)) if s == "web" => Ok(false),
        Some(Value::String(s)) if s == "native" => Ok(true),
        _ => Err(meta_err("application_type must be web or native")),
    }
}

/// `redirect_uris` (required, non-empty; errors are `invalid_redirect_uri`)
/// and `post_logout_redirect_uris`, each checked by [`check_redirect_uri`].
fn redirect_uris(
    obj: &Map<String, Value>,
    native: bool,
) -> Result<(Vec<String>, Vec<String>), OAuthError> {
    let redirect_uris = strings(obj.get("redirect_uris"), "redirect_uris")
        .map_err(|e| uri_err(e.description))?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| uri_err("redirect_uris is required"))?;
    for u in &redirect_uris {
        check_redirect_uri(u, native).map_err(uri_err)?;
    }
    let post_logout = strings(
        obj.get("post_logout_redirect_uris"),
        "post_logout_redirect_uris",
    )?
    .unwrap_or_default();
    for u in &post_logout {
        check_redirect_uri(u, native)
            .map_err(|e| meta_err(format!("post_logout_redirect_uris: {e}")))?;
    }
    Ok((redirect_uris, post_logout))
}

/// `response_types` (only `code`, the default) and `grant_types` (those in
/// [`GRANT_TYPES`], default `authorization_code`), which must agree.
fn response_and_grant_types(
    obj: &Map<String, Value>,
) -> Result<(Vec<String>, Vec<String>), OAuthError> {
    let response_types = strings(obj.get("response_types"), "response_types")?
        .unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(meta_err("only the response type `code` is supported"));
    }
    let grant_types = strings(obj.get("grant_types"), "grant_types")?
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    if let Some(g) = grant_types
        .iter()
        .find(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(meta_err(format!("unsupported grant type `{g}`")));
    }
    let has_code = grant_types.iter().any(|g| g == "authorization_code");
    if has_code == response_types.is_empty() {
        return Err(meta_err(
            "response_types `code` and grant type authorization_code go together",
        ));
    }
    Ok((response_types, grant_types))
}

/// `token_endpoint_auth_method`: one of [`AUTH_METHODS`], default
/// `client_secret_basic`.
fn auth_method(obj: &Map<String, Value>) -> Result<String, OAuthError> {
    match obj.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => Ok("client_secret_basic".to_string()),
        Some(Value::String(m)) if AUTH_METHODS.contains(&m.as_str()) => Ok(m.clone()),
        Some(_) => Err(meta_err(format!(
            "token_endpoint_auth_method must be one of {}",
            AUTH_METHODS.join(", ")
        ))),
    }
}

/// `jwks` (a JWK Set) or `jwks_uri` (an https URI), not both; required by
/// `private_key_jwt`. A public client cannot use `client_credentials`.
fn client_keys(
    obj: &Map<String, Value>,
    method: &str,
    grant_types: &[String],
    allow_http_jwks_uri: bool,
) -> Result<(Option<Value>, Option<String>), OAuthError> {
    let jwks = match obj.get("jwks") {
        None | Some(Value::Null) => None,
        Some(j) if j.get("keys").is_some_and(Value::is_array) => Some(j.clone()),
        Some(_) => return Err(meta_err("jwks must be a JWK Set: {\"keys\": [...]}")),
    };
    let jwks_uri = match obj.get("jwks_uri") {
        None | Some(Value::Null) => None,
        Some(v) => Some(check_jwks_uri(v, allow_http_jwks_uri)?),
    };
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(meta_err("give jwks or jwks_uri, not both"));
    }
    if method == "private_key_jwt" && jwks.is_none() && jwks_uri.is_none() {
        return Err(meta_err("private_key_jwt needs jwks or jwks_uri"));
    }
    if method == "none" && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(meta_err(
            "a public client (auth method none) cannot use client_credentials",
        ));
    }
    Ok((jwks, jwks_uri))
}

/// `scope`: space-separated scope tokens (RFC 7591 §2), kept in order
/// without duplicates.
fn scope(obj: &Map<String, Value>) -> Result<Option<Vec<String>>, OAuthError> {
    match obj.get("scope") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => super::client_rules::registered_scopes(s.split(' '))
            .map(Some)
            .map_err(|e| meta_err(format!("scope: {e}"))),
        Some(_) => Err(meta_err("scope must be a space-separated string")),
    }
}

/// `id_token_signed_response_alg`: RS256 or ES256 when given.
fn id_token_alg(obj: &Map<String, Value>) -> Result<Option<String>, OAuthError> {
    match obj.get("id_token_signed_response_alg") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(a)) if a == "RS256" || a == "ES256" => Ok(Some(a.clone())),
        Some(_) => Err(meta_err(
            "id_token_signed_response_alg must be RS256 or ES256",
        )),
    }
}

/// The descriptive metadata kept and echoed back: `client_name`, the web
/// URIs, `contacts`, `default_max_age` and `application_type`.
fn descriptive_metadata(
    obj: &Map<String, Value>,
    native: bool,
) -> Result<Map<String, Value>, OAuthError> {
    let mut metadata = Map::new();
    if let Some(v) = obj.get("client_name").filter(|v| !v.is_null()) {
        if !v.is_string() {
            return Err(meta_err("client_name must be a string"));
        }
        metadata.insert("client_name".into(), v.clone());
    }
    for name in ["client_uri", "logo_uri", "policy_uri", "tos_uri"] {
        if let Some(v) = obj.get(name).filter(|v| !v.is_null()) {
            check_web_uri(v, name)?;
            metadata.insert(name.into(), v.clone());
        }
    }
    if let Some(c) = strings(obj.get("contacts"), "contacts")? {
        metadata.insert("contacts".into(), c.into());
    }
    match obj.get("default_max_age") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_u64().is_some() => {
            metadata.insert("default_max_age".into(), v.clone());
        }
        Some(_) => return Err(meta_err("default_max_age must be a non-negative integer")),
    }
    metadata.insert(
        "application_type".into(),
        if native { "native" } else { "web" }.into(),
    );
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(v: Value) -> ErrorCode {
        validate(&v).unwrap_err().code
    }

    #[test]
    fn backchannel_logout_metadata_is_checked() {
        let with = |v: Value, allow: bool| {
            let mut body = json!({"redirect_uris": ["https://rp.example/cb"]});
            for (k, x) in v.as_object().unwrap() {
                body[k] = x.clone();
            }
            validate_with(&body, allow)
        };
        let r = with(
            json!({"backchannel_logout_uri": "https://rp.example/bcl",
            "backchannel_logout_session_required": true}),
            false,
        )
        .unwrap();
        assert_eq!(
            r.backchannel_logout_uri.as_deref(),
            Some("https://rp.example/bcl")
        );
        assert!(r.backchannel_logout_session_required);
        let local = json!({"backchannel_logout_uri": "http://127.0.0.1:9/bcl"});
        assert!(with(local.clone(), true).is_ok());
        for (bad, allow) in [
            (local, false),
            (
                json!({"backchannel_logout_uri": "https://rp.example/bcl#x"}),
                true,
            ),
            (json!({"backchannel_logout_uri": 7}), true),
            (json!({"backchannel_logout_session_required": "yes"}), true),
        ] {
            let e = with(bad.clone(), allow).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidClientMetadata, "{bad}");
        }
    }

    #[test]
    fn accepts_a_minimal_web_client_with_defaults() {
        let r = validate(&json!({"redirect_uris": ["https://rp.example/cb"]})).unwrap();
        assert_eq!(r.grant_types, vec!["authorization_code"]);
        assert_eq!(r.token_endpoint_auth_method, "client_secret_basic");
        assert!(r.has_secret());
    }

    #[test]
    fn redirect_uri_rules() {
        use ErrorCode::InvalidRedirectUri as R;
        assert_eq!(code(json!({})), R);
        assert_eq!(code(json!({"redirect_uris": []})), R);
        assert_eq!(
            code(json!({"redirect_uris": ["https://rp.example/cb#f"]})),
            R
        );
        assert_eq!(code(json!({"redirect_uris": ["http://rp.example/cb"]})), R);
        assert_eq!(code(json!({"redirect_uris": ["/relative"]})), R);
        assert_eq!(code(json!({"redirect_uris": ["com.example.app:/cb"]})), R);
        assert!(validate(&json!({"redirect_uris": ["http://127.0.0.1:9/cb"]})).is_ok());
        assert!(validate(
            &json!({"application_type": "native", "redirect_uris": ["com.example.app:/cb"]})
        )
        .is_ok());
    }

    #[test]
    fn metadata_rules() {
        use ErrorCode::InvalidClientMetadata as M;
        let base = |extra: Value| {
            let mut v = json!({"redirect_uris": ["https://rp.example/cb"]});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        assert_eq!(code(base(json!({"response_types": ["token"]}))), M);
        assert_eq!(code(base(json!({"grant_types": ["password"]}))), M);
        assert_eq!(
            code(base(json!({"grant_types": ["client_credentials"]}))),
            M
        );
        assert_eq!(
            code(base(json!({"token_endpoint_auth_method": "magic"}))),
            M
        );
        assert_eq!(
            code(base(
                json!({"token_endpoint_auth_method": "private_key_jwt"})
            )),
            M
        );
        assert_eq!(
            code(base(
                json!({"jwks": {"keys": []}, "jwks_uri": "https://rp.example/jwks"})
            )),
            M
        );
        assert_eq!(code(base(json!({"logo_uri": "ftp://x"}))), M);
        assert_eq!(code(base(json!({"contacts": "a@b"}))), M);
        assert_eq!(code(base(json!({"default_max_age": -1}))), M);
        assert_eq!(
            code(base(json!({"id_token_signed_response_alg": "none"}))),
            M
        );
        assert_eq!(
            code(base(
                json!({"post_logout_redirect_uris": ["http://rp.example/bye"]})
            )),
            M
        );
        let ok = validate(&base(
            json!({"token_endpoint_auth_method": "none", "client_name": "SPA",
            "default_max_age": 60, "contacts": ["ops@rp.example"]}),
        ))
        .unwrap();
        assert!(!ok.has_secret());
        assert_eq!(ok.metadata["default_max_age"], 60);
    }

    #[test]
    fn arrays_are_bounded() {
        let uris: Vec<String> = (0..=MAX_ARRAY_ITEMS)
            .map(|i| format!("https://rp.example/cb{i}"))
            .collect();
        let e = validate(&json!({ "redirect_uris": uris })).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRedirectUri);
        assert!(e.description.contains("more than"), "{e}");
        let ok = validate(&json!({ "redirect_uris": uris[..MAX_ARRAY_ITEMS] })).unwrap();
        assert_eq!(ok.redirect_uris.len(), MAX_ARRAY_ITEMS);
        let contacts = vec!["a@rp.example"; MAX_ARRAY_ITEMS + 1];
        let body = json!({"redirect_uris": ["https://rp.example/cb"], "contacts": contacts});
        assert_eq!(code(body), ErrorCode::InvalidClientMetadata);
    }

    #[test]
    fn jwks_uri_is_https_unless_private_targets_are_allowed() {
        let body = |uri: &str| {
            json!({"redirect_uris": ["https://rp.example/cb"],
                "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri})
        };
        for uri in ["http://127.0.0.1:9/jwks", "http://rp.example/jwks"] {
            assert_eq!(code(body(uri)), ErrorCode::InvalidClientMetadata, "{uri}");
            let r = validate_with(&body(uri), true).unwrap();
            assert_eq!(r.jwks_uri.as_deref(), Some(uri));
        }
        assert!(validate(&body("https://localhost:9/jwks")).is_ok());
        assert_eq!(
            code(body("ftp://rp.example/jwks")),
            ErrorCode::InvalidClientMetadata
        );
    }

    #[test]
    fn scope_is_registered_and_echoed() {
        let r = validate(&json!({"redirect_uris": ["https://rp.example/cb"],
            "scope": "read write read"}))
        .unwrap();
        assert_eq!(r.scope, Some(vec!["read".to_string(), "write".to_string()]));
        assert_eq!(r.metadata["scope"], "read write");
        let base =
            |scope: Value| json!({"redirect_uris": ["https://rp.example/cb"], "scope": scope});
        assert_eq!(
            code(base(json!(["read"]))),
            ErrorCode::InvalidClientMetadata
        );
        assert_eq!(code(base(json!("a \"b"))), ErrorCode::InvalidClientMetadata);
    }
}
