//! The token request: client authentication and grant parameters.
//!
//! Owns RFC 6749 §2.3.1 (client_secret_basic / client_secret_post, and the
//! rule that a client uses one authentication method per request), §3.2
//! (empty and repeated parameters), §4.1.3 (authorization_code), §4.4.2
//! (client_credentials), §6 (refresh_token) and §5.2 (error codes); RFC
//! 7636 §4.5 (`code_verifier` syntax); RFC 7523 §2.2 / §3 and OIDC Core §9
//! (private_key_jwt: assertion type and the claims of the assertion, whose
//! signature is verified by `crypto/`). Secrets are only parsed here, never
//! compared.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::{Map, Value};

use super::error::OAuthError;
use super::form::{decode_component, split_list, Params, MAX_LIST_ITEMS};
use super::pkce;

/// RFC 7523 §2.2 `client_assertion_type` for a JWT client assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest-lived client assertion accepted, in seconds (exp − now).
pub const MAX_ASSERTION_LIFETIME: u64 = 600;
/// How far in the future an assertion's `iat` / `nbf` may be, in seconds.
pub const CLOCK_SKEW: u64 = 60;

/// How the client authenticated (or identified itself, for `None`).
#[derive(Debug, Clone, PartialEq)]
pub enum ClientAuth {
    Basic {
        client_id: String,
        secret: String,
    },
    Post {
        client_id: String,
        secret: String,
    },
    JwtAssertion {
        client_id: Option<String>,
        assertion: String,
    },
    None {
        client_id: String,
    },
}

impl ClientAuth {
    /// The client_id the request claims, before any verification. For a
    /// JWT assertion without a `client_id` parameter this is `None`; use
    /// [`unverified_claims`] on the assertion to read its `sub`.
    pub fn client_id_hint(&self) -> Option<&str> {
        match self {
            ClientAuth::Basic { client_id, .. }
            | ClientAuth::Post { client_id, .. }
            | ClientAuth::None { client_id } => Some(client_id),
            ClientAuth::JwtAssertion { client_id, .. } => client_id.as_deref(),
        }
    }
}

const B64_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const B64_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Works out how the client authenticated. `authorization` is the
/// Authorization header value if any; `form` the body pairs in order.
///
/// Basic is `base64(urlencoded(id) ":" urlencoded(secret))`, both parts
/// decoded with form-urlencoding rules; a header with another scheme is
/// ignored. More than one method → `invalid_request`; no method at all →
/// `invalid_client`. A `client_id` in the body next to Basic must agree
/// with it. A client assertion needs `client_assertion_type` (missing →
/// `invalid_request`, not jwt-bearer → `invalid_client`, RFC 7523 §2.2).
pub fn client_auth(
    authorization: Option<&str>,
    form: &[(String, String)],
) -> Result<ClientAuth, OAuthError> {
    let p = Params::new(form);
    p.reject_too_many()?;
    if let Some(name) = AUTH_PARAMS.iter().find(|n| p.count(n) > 1) {
        return Err(OAuthError::invalid_request(format!(
            "parameter `{name}` is given more than once"
        )));
    }
    let basic = authorization.map(parse_basic).transpose()?.flatten();
    let form_id = p.get("client_id");
    let secret = p.get("client_secret");
    let assertion = p.get("client_assertion");
    let methods = usize::from(basic.is_some())
        + usize::from(secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "more than one client authentication method is used",
        ));
    }
    if let Some((client_id, secret)) = basic {
        if form_id.is_some_and(|f| f != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the Authorization header",
            ));
        }
        return Ok(ClientAuth::Basic { client_id, secret });
    }
    if let Some(secret) = secret {
        let client_id = form_id.ok_or_else(|| {
            OAuthError::invalid_request("client_secret is given without client_id")
        })?;
        return Ok(ClientAuth::Post {
            client_id: client_id.to_string(),
            secret: secret.to_string(),
        });
    }
    assertion_or_none(form_id, assertion, p.get("client_assertion_type"))
}

/// The client authentication parameters of the body, each allowed once.
const AUTH_PARAMS: [&str; 4] = [
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

/// Without Basic or a secret: a JWT assertion (RFC 7523 §2.2) or just a
/// `client_id` (a public client).
fn assertion_or_none(
    form_id: Option<&str>,
    assertion: Option<&str>,
    assertion_type: Option<&str>,
) -> Result<ClientAuth, OAuthError> {
    match (assertion, assertion_type) {
        (Some(_), None) => Err(OAuthError::invalid_request(
            "client_assertion_type is missing",
        )),
        (Some(assertion), Some(JWT_BEARER)) => Ok(ClientAuth::JwtAssertion {
            client_id: form_id.map(str::to_string),
            assertion: assertion.to_string(),
        }),
        (Some(_), Some(_)) => Err(OAuthError::invalid_client(format!(
            "unsupported client_assertion_type (only {JWT_BEARER})"
        ))),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "client_assertion_type is given without client_assertion",
        )),
        (None, None) => match form_id {
            Some(id) => Ok(ClientAuth::None {
                client_id: id.to_string(),
            }),
            None => Err(OAuthError::invalid_client("client authentication required")),
        },
    }
}

/// `Ok(None)` for a non-Basic scheme; `invalid_client` for a malformed one.
fn parse_basic(header: &str) -> Result<Option<(String, String)>, OAuthError> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let bad = || OAuthError::invalid_client("malformed Basic credentials");
    let raw = B64_STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let (id, secret) = (decode_component(id), decode_component(secret));
    if id.is_empty() || secret.is_empty() {
        return Err(bad());
    }
    Ok(Some((id, secret)))
}

/// A parsed grant.
#[derive(Debug, Clone, PartialEq)]
pub enum Grant {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<Vec<String>>,
    },
    ClientCredentials {
        scope: Option<Vec<String>>,
    },
}

/// Parses the grant. Any parameter twice → `invalid_request`; `grant_type`
/// missing → `invalid_request`, unknown → `unsupported_grant_type`; a
/// required parameter missing → `invalid_request`; a malformed
/// `code_verifier` → `invalid_request` (a well-formed one that does not
/// match is `invalid_grant`, decided where the code is redeemed); a scope
/// token outside RFC 6749 §3.3's charset → `invalid_scope`. `scope` is
/// deduplicated, order kept; a blank scope counts as absent.
pub fn parse_grant(form: &[(String, String)]) -> Result<Grant, OAuthError> {
    let p = Params::new(form);
    p.reject_repeated()?;
    let required = |name: &str| {
        p.get(name)
            .map(str::to_string)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is missing")))
    };
    let grant_type = p
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    match grant_type {
        "authorization_code" => {
            let code = required("code")?;
            let code_verifier = p.get("code_verifier");
            if code_verifier.is_some_and(|v| !pkce::valid_verifier(v)) {
                return Err(OAuthError::invalid_request(
                    "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]",
                ));
            }
            Ok(Grant::AuthorizationCode {
                code,
                redirect_uri: p.get("redirect_uri").map(str::to_string),
                code_verifier: code_verifier.map(str::to_string),
            })
        }
        "refresh_token" => Ok(Grant::RefreshToken {
            refresh_token: required("refresh_token")?,
            scope: parse_scope(p.get("scope"))?,
        }),
        "client_credentials" => Ok(Grant::ClientCredentials {
            scope: parse_scope(p.get("scope"))?,
        }),
        other => Err(OAuthError::unsupported_grant_type(format!(
            "grant_type `{other}` is not supported"
        ))),
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`; at most
/// [`MAX_LIST_ITEMS`] tokens.
fn parse_scope(v: Option<&str>) -> Result<Option<Vec<String>>, OAuthError> {
    let tokens = split_list(v.unwrap_or("")).ok_or_else(|| {
        OAuthError::invalid_scope(format!(
            "scope has too many values (at most {MAX_LIST_ITEMS})"
        ))
    })?;
    let valid = |tok: &str| {
        tok.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
    };
    if !tokens.iter().all(|t| valid(t)) {
        return Err(OAuthError::invalid_scope(
            "scope contains an invalid character",
        ));
    }
    let out: Vec<String> = tokens.into_iter().map(str::to_string).collect();
    Ok((!out.is_empty()).then_some(out))
}

/// private_key_jwt claim checks (RFC 7523 §3, OIDC Core §9); the signature
/// is verified elsewhere. `iss` == `sub` == `client_id`; `aud` (string or
/// array) contains `token_endpoint` or `issuer`; `exp` present, > `now` and
/// at most `now` + [`MAX_ASSERTION_LIFETIME`]; `iat` and `nbf`, if present,
/// at most [`CLOCK_SKEW`] in the future; `jti` present and non-empty.
/// Every failure is `invalid_client` (RFC 7523 §3.2). Returns `(jti, exp)`
/// so the caller can refuse a replayed `jti` until `exp`.
pub fn check_assertion_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    token_endpoint: &str,
    issuer: &str,
    now: u64,
) -> Result<(String, u64), OAuthError> {
    let bad = |m: &str| OAuthError::invalid_client(format!("client assertion: {m}"));
    for name in ["iss", "sub"] {
        if claims.get(name).and_then(Value::as_str) != Some(client_id) {
            return Err(bad(&format!("{name} must be the client_id")));
        }
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == token_endpoint || a == issuer,
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| a == token_endpoint || a == issuer),
        _ => false,
    };
    if !aud_ok {
        return Err(bad("aud must contain the token endpoint or the issuer"));
    }
    let exp = claims
        .get("exp")
        .and_then(numeric_date)
        .ok_or_else(|| bad("exp is missing or not a NumericDate"))?;
    if exp <= now {
        return Err(bad("expired"));
    }
    if exp > now.saturating_add(MAX_ASSERTION_LIFETIME) {
        return Err(bad("exp is too far in the future"));
    }
    for name in ["iat", "nbf"] {
        if let Some(v) = claims.get(name) {
            let t = numeric_date(v).ok_or_else(|| bad(&format!("{name} is not a NumericDate")))?;
            if t > now.saturating_add(CLOCK_SKEW) {
                return Err(bad(&format!("{name} is in the future")));
            }
        }
    }
    let jti = match claims.get("jti").and_then(Value::as_str) {
        Some(j) if !j.is_empty() => j.to_string(),
        _ => return Err(bad("jti is missing")),
    };
    Ok((jti, exp))
}

/// RFC 7519 §2 NumericDate: non-negative seconds, fractions truncated.
pub(crate) fn numeric_date(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64)
    })
}

/// The payload of a compact JWS, NOT verified: only for choosing which
/// client's keys to verify an assertion with (its `sub`/`iss`).
pub fn unverified_claims(jwt: &str) -> Option<Map<String, Value>> {
    let mut parts = jwt.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = B64_URL.decode(payload).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
#[path = "token_request_tests.rs"]
mod tests;
