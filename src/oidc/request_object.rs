//! Request objects: OpenID Connect Core §6 and RFC 9101 (JWT-Secured
//! Authorization Request), and the client metadata that governs them.
//!
//! A request object is a JWT whose claims are the authorization request's
//! parameters, passed by value (`request`) or by reference (`request_uri`).
//! This module holds the rules that need neither network nor keys: the size
//! cap ([`MAX_REQUEST_OBJECT_BYTES`]), which `alg` is acceptable
//! ([`check_alg`]: RS256, ES256 or EdDSA, the one the client registered if
//! it did; `none` only when the operator allows unsigned objects), the
//! claim checks once the signature verified ([`object_params`]: `iss` is the
//! client, `aud` names the issuer when present, `exp`/`nbf`, `client_id`
//! inside equals the request's, no nested `request`/`request_uri`) and how
//! the object's parameters replace the query's ([`merge`]). The signature is
//! checked by `http/` with the client's registered keys (`jwks`, or
//! `jwks_uri` through the SSRF-safe cache).
//!
//! Precedence: RFC 9101 §5 says only the object's parameters are used; OIDC
//! Core §6.1 additionally requires `response_type` and `client_id` in the
//! query. Both hold here: the query's other parameters are dropped, and
//! `client_id`/`response_type` given in both places must be equal (a
//! mismatch is `invalid_request_object`); one given only in the query is
//! carried over.
//!
//! Registration metadata ([`client_metadata`], kept in the client record's
//! metadata): `request_uris` (when registered, a `request_uri` must be one
//! of them), `request_object_signing_alg` and
//! `require_pushed_authorization_requests` (RFC 9126 §6).

use serde_json::{Map, Value};

use super::error::{ErrorCode, OAuthError};
use super::form::{Params, MAX_PARAMS};
use super::registration::MAX_ARRAY_ITEMS;
use super::token_request::{numeric_date, CLOCK_SKEW};

/// The largest request object accepted, by value or fetched.
pub const MAX_REQUEST_OBJECT_BYTES: usize = 16 * 1024;
/// Signature algorithms accepted for request objects.
pub const SIGNING_ALGS: &[&str] = &["RS256", "ES256", "EdDSA"];
/// Claims of the JWT itself, not authorization request parameters.
const JWT_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti"];

/// `invalid_request_object` (OIDC Core §3.1.2.6).
pub fn invalid_object(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestObject, d)
}

/// `invalid_request_uri` (OIDC Core §3.1.2.6).
pub fn invalid_uri(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestUri, d)
}

/// What a client registered about request objects and PAR.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientPolicy {
    pub request_uris: Vec<String>,
    pub signing_alg: Option<String>,
    pub require_par: bool,
}

impl ClientPolicy {
    /// The policy in a client record's metadata (absent fields: none).
    pub fn of(metadata: Option<&Value>) -> ClientPolicy {
        let get = |k: &str| metadata.and_then(|m| m.get(k));
        ClientPolicy {
            request_uris: get("request_uris")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            signing_alg: get("request_object_signing_alg")
                .and_then(Value::as_str)
                .map(String::from),
            require_par: get("require_pushed_authorization_requests")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// Whether `uri` may be fetched for this client: any URI if it
    /// registered none, else one of them (compared without fragment, OIDC
    /// Core §6.2).
    pub fn allows_request_uri(&self, uri: &str) -> bool {
        let bare = |u: &str| u.split('#').next().unwrap_or(u).to_string();
        self.request_uris.is_empty() || self.request_uris.iter().any(|r| bare(r) == bare(uri))
    }
}

/// Validate the request-object registration metadata of `obj`; the entries
/// to keep in the client's metadata. `allow_http` is the operator's
/// `[outbound] allow_private_targets` switch (the provider fetches these).
pub fn client_metadata(
    obj: &Map<String, Value>,
    allow_http: bool,
) -> Result<Map<String, Value>, OAuthError> {
    let meta = |d: &str| OAuthError::new(ErrorCode::InvalidClientMetadata, d);
    let mut out = Map::new();
    match obj.get("request_uris") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.len() <= MAX_ARRAY_ITEMS => {
            for u in a {
                let ok = u
                    .as_str()
                    .and_then(|s| url::Url::parse(s).ok())
                    .is_some_and(|u| u.scheme() == "https" || (allow_http && u.scheme() == "http"));
                if !ok {
                    return Err(meta("request_uris must be https URIs"));
                }
            }
            out.insert("request_uris".into(), Value::Array(a.clone()));
        }
        Some(_) => {
            return Err(meta(&format!(
                "request_uris must be an array of at most {MAX_ARRAY_ITEMS} URIs"
            )))
        }
    }
    match obj.get("request_object_signing_alg") {
        None | Some(Value::Null) => {}
        Some(Value::String(a)) if SIGNING_ALGS.contains(&a.as_str()) || a == "none" => {
            out.insert("request_object_signing_alg".into(), a.clone().into());
        }
        Some(_) => {
            return Err(meta(
                "request_object_signing_alg must be RS256, ES256, EdDSA or none",
            ))
        }
    }
    match obj.get("require_pushed_authorization_requests") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => {
            out.insert("require_pushed_authorization_requests".into(), (*b).into());
        }
        Some(_) => {
            return Err(meta(
                "require_pushed_authorization_requests must be a boolean",
            ))
        }
    }
    Ok(out)
}

/// What a request object is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The `client_id` of the authorization request.
    pub client_id: &'a str,
    pub issuer: &'a str,
    pub now: u64,
    /// The client's `request_object_signing_alg`, if registered.
    pub registered_alg: Option<&'a str>,
    /// The operator allows unsigned (`alg: none`) request objects.
    pub allow_unsigned: bool,
}

fn b64_json(part: &str) -> Option<Map<String, Value>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The header `alg` of a request object, read before anything is verified;
/// refuses an oversized object, an encrypted one and anything that is not a
/// compact JWS.
pub fn object_alg(jwt: &str) -> Result<String, OAuthError> {
    if jwt.len() > MAX_REQUEST_OBJECT_BYTES {
        return Err(invalid_object(format!(
            "the request object is larger than {MAX_REQUEST_OBJECT_BYTES} bytes"
        )));
    }
    let parts: Vec<&str> = jwt.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(invalid_object(
                "encrypted request objects are not supported",
            ))
        }
        _ => return Err(invalid_object("the request object is not a JWT")),
    }
    b64_json(parts[0])
        .and_then(|h| h.get("alg").and_then(Value::as_str).map(String::from))
        .ok_or_else(|| invalid_object("the request object has no readable header alg"))
}

/// Whether `alg` is acceptable for this client and operator.
pub fn check_alg(alg: &str, e: &Expect<'_>) -> Result<(), OAuthError> {
    if let Some(reg) = e.registered_alg.filter(|r| *r != alg) {
        return Err(invalid_object(format!(
            "the client registered request_object_signing_alg {reg}"
        )));
    }
    if alg == "none" {
        return match e.allow_unsigned {
            true => Ok(()),
            false => Err(invalid_object("unsigned request objects are not accepted")),
        };
    }
    match SIGNING_ALGS.contains(&alg) {
        true => Ok(()),
        false => Err(invalid_object(format!(
            "request objects must be signed with one of {}",
            SIGNING_ALGS.join(", ")
        ))),
    }
}

/// The claims of an unsigned (`alg: none`) object: its signature part must
/// be empty. Call only after [`check_alg`] accepted `none`.
pub fn unsigned_claims(jwt: &str) -> Result<Map<String, Value>, OAuthError> {
    match jwt.split('.').collect::<Vec<_>>().as_slice() {
        [_, payload, ""] => {
            b64_json(payload).ok_or_else(|| invalid_object("the request object is not a JWT"))
        }
        _ => Err(invalid_object("an unsigned request object has a signature")),
    }
}

/// The authorization request parameters of a verified object's claims,
/// after the JWT checks. `signed`: the signature was verified (then `iss`
/// is required).
pub fn object_params(
    claims: &Map<String, Value>,
    e: &Expect<'_>,
    signed: bool,
) -> Result<Vec<(String, String)>, OAuthError> {
    match claims.get("iss").map(Value::as_str) {
        None if !signed => {}
        Some(Some(iss)) if iss == e.client_id => {}
        _ => return Err(invalid_object("iss must be the client_id")),
    }
    let aud_ok = match claims.get("aud") {
        None => true,
        Some(Value::String(a)) => a == e.issuer,
        Some(Value::Array(l)) => l.iter().any(|a| a.as_str() == Some(e.issuer)),
        Some(_) => false,
    };
    if !aud_ok {
        return Err(invalid_object("aud must be the issuer"));
    }
    let time = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(v) => numeric_date(v)
            .map(Some)
            .ok_or_else(|| invalid_object(format!("{name} is not a NumericDate"))),
    };
    if time("exp")?.is_some_and(|exp| exp <= e.now) {
        return Err(invalid_object("the request object has expired"));
    }
    if time("nbf")?.is_some_and(|nbf| nbf > e.now.saturating_add(CLOCK_SKEW)) {
        return Err(invalid_object("the request object is not valid yet"));
    }
    if claims.len() > MAX_PARAMS {
        return Err(invalid_object("the request object has too many claims"));
    }
    let mut out = Vec::new();
    for (k, v) in claims {
        if JWT_CLAIMS.contains(&k.as_str()) {
            continue;
        }
        if k == "request" || k == "request_uri" {
            return Err(invalid_object(format!(
                "a request object cannot contain {k}"
            )));
        }
        let value = match v {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Object(_) => v.to_string(),
            Value::Array(_) => return Err(invalid_object(format!("{k} must not be an array"))),
        };
        out.push((k.clone(), value));
    }
    match out.iter().find(|(k, _)| k == "client_id") {
        Some((_, id)) if id != e.client_id => Err(invalid_object(
            "client_id in the request object differs from the request's",
        )),
        _ => Ok(out),
    }
}

/// The parameters to validate: the object's, with `client_id` and
/// `response_type` from the query when the object lacks them; each given
/// in both places must be equal.
pub fn merge(
    query: &[(String, String)],
    mut object: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, OAuthError> {
    let q = Params::new(query);
    for name in ["client_id", "response_type"] {
        let inside = object
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        match (q.once(name), inside) {
            (Some(a), Some(b)) if a != b => {
                return Err(invalid_object(format!(
                    "{name} in the request object differs from the query"
                )))
            }
            (Some(a), None) => object.push((name.into(), a.into())),
            _ => {}
        }
    }
    Ok(object)
}

#[cfg(test)]
#[path = "request_object_tests.rs"]
mod tests;
