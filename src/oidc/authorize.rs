//! The authorization request: validation and the redirect back to the client.
//!
//! Owns OIDC Core §3.1.2.1 (request parameters), §3.1.2.2 (validation),
//! §3.1.2.5–§3.1.2.6 (success and error responses), RFC 6749 §3.1 (empty
//! and repeated parameters), §3.1.2 (redirection endpoint) and §4.1.2.1
//! (which errors are redirected and which are shown to the user), RFC 7636
//! (PKCE, S256 only), RFC 9207 (`iss` in the response) and the OAuth 2.0
//! Form Post Response Mode. An error is redirected only after the client
//! and the redirect URI have been verified by exact string match; before
//! that it is [`AuthorizeError::Fatal`] and must be shown as a 400 page.

use serde::{Deserialize, Serialize};

use super::claims::{self, parse_claims_param, ClaimsRequest};
use super::error::{ErrorCode, OAuthError};
use super::form::{append_query, split_list, Params, MAX_LIST_ITEMS};
use super::pkce;

/// What the authorization endpoint needs to know about a registered client.
#[derive(Debug, Clone, Copy)]
pub struct ClientView<'a> {
    pub client_id: &'a str,
    pub redirect_uris: &'a [String],
    pub public: bool,
    pub grant_types: &'a [String],
}

/// How the authorization response is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query (the default for `code`).
    Query,
    /// An auto-submitting HTML form POSTed to the redirect URI.
    FormPost,
}

/// The `prompt` parameter (OIDC Core §3.1.2.1). `select_account` counts as
/// `login`: there is one account per browser session, so choosing another
/// account means logging in again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request.
///
/// `scopes` is deduplicated, keeps the request's order and holds only
/// [`SUPPORTED_SCOPES`] (always including `openid`). `offline_access` is
/// kept even without `prompt=consent`: OIDC Core §11 says the OP MUST then
/// ignore it, but we relax that rule because the consent page always
/// shows `offline_access` explicitly when the user is asked.
/// `code_challenge_method` is `Some("S256")` exactly when `code_challenge`
/// is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub response_mode: ResponseMode,
    pub prompt: Prompt,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    pub acr_values: Vec<String>,
    pub ui_locales: Vec<String>,
    pub claims: Option<ClaimsRequest>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

impl AuthRequest {
    /// What the user consents to for this request, as stored in the
    /// consent record: the scopes, then `claim:NAME` for each claim that
    /// the `claims` parameter asks for beyond them
    /// ([`claims::consent_claims`], [`claims::CLAIM_CONSENT_PREFIX`]).
    /// Without it, `claims` would release data the user never agreed to
    /// (issue 10 #1).
    pub fn consent_items(&self) -> Vec<String> {
        let extra = claims::consent_claims(self.claims.as_ref(), &self.scopes);
        let extra = extra
            .into_iter()
            .map(|c| format!("{}{c}", claims::CLAIM_CONSENT_PREFIX));
        self.scopes.iter().cloned().chain(extra).collect()
    }

    /// What the consent page lists for the claims of [`Self::consent_items`].
    pub fn claim_texts(&self) -> Vec<&'static str> {
        let names = claims::consent_claims(self.claims.as_ref(), &self.scopes);
        names.into_iter().map(claims::claim_text).collect()
    }

    /// Whether `claims` asks for a `sub` value (OIDC Core §5.5.1) other
    /// than `sub`: the provider must then not answer for this user.
    pub fn wants_other_subject(&self, sub: &str) -> bool {
        claims::requested_sub(self.claims.as_ref()).is_some_and(|want| want != sub)
    }
}

/// The scopes this provider understands; others are dropped silently.
pub const SUPPORTED_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// Why an authorization request was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeError {
    /// Client or redirect URI cannot be trusted: show a 400 page, never
    /// redirect. The text may quote request values: HTML-escape it.
    Fatal(String),
    /// Send the error to the (validated) redirect URI.
    Redirect {
        redirect_uri: String,
        response_mode: ResponseMode,
        state: Option<String>,
        error: OAuthError,
    },
}

/// Validates an authorization request. `params` are the raw query or form
/// pairs in order (GET or POST); `lookup` finds a registered client.
///
/// Rules, in order: `client_id` then `redirect_uri` must each be given once
/// and match a registered client / one of its redirect URIs exactly (else
/// `Fatal`); from then on errors are redirected with `state` (if given
/// once) and `response_mode` (if given once and valid, else query). Empty
/// parameters count as absent; unknown parameters are ignored.
pub fn validate<'a>(
    params: &[(String, String)],
    lookup: impl Fn(&str) -> Option<ClientView<'a>>,
) -> Result<AuthRequest, AuthorizeError> {
    let p = Params::new(params);
    p.reject_too_many()
        .map_err(|e| AuthorizeError::Fatal(e.description))?;
    let client_id = fatal_single(&p, "client_id")?;
    let client = lookup(client_id).ok_or_else(|| {
        AuthorizeError::Fatal(format!(
            "client_id `{client_id}` is not a registered client"
        ))
    })?;
    let redirect_uri = fatal_single(&p, "redirect_uri")?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(AuthorizeError::Fatal(format!(
            "redirect_uri `{redirect_uri}` is not registered for client `{client_id}` \
             (it must match a registered URI exactly)"
        )));
    }
    let state = p.once("state").map(str::to_string);
    let response_mode = parse_response_mode(p.once("response_mode")).unwrap_or(ResponseMode::Query);
    validate_trusted(&p, &client, client_id, redirect_uri, state.clone()).map_err(|error| {
        AuthorizeError::Redirect {
            redirect_uri: redirect_uri.to_string(),
            response_mode,
            state,
            error,
        }
    })
}

fn fatal_single<'p>(p: &Params<'p>, name: &str) -> Result<&'p str, AuthorizeError> {
    match (p.count(name), p.get(name)) {
        (1, Some(v)) => Ok(v),
        (0, _) => Err(AuthorizeError::Fatal(format!("{name} is missing"))),
        _ => Err(AuthorizeError::Fatal(format!(
            "{name} is given more than once"
        ))),
    }
}

fn parse_response_mode(v: Option<&str>) -> Result<ResponseMode, Option<&str>> {
    match v {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(other) => Err(Some(other)),
    }
}

/// The checks after the client and redirect URI are trusted.
fn validate_trusted(
    p: &Params<'_>,
    client: &ClientView<'_>,
    client_id: &str,
    redirect_uri: &str,
    state: Option<String>,
) -> Result<AuthRequest, OAuthError> {
    p.reject_repeated()?;
    reject_unsupported(p)?;
    check_response_type(p, client)?;
    let response_mode = parse_response_mode(p.get("response_mode"))
        .map_err(|_| OAuthError::invalid_request("response_mode must be query or form_post"))?;
    let scopes = parse_scopes(p.get("scope"))?;
    let prompt = parse_prompt(list(p, "prompt")?)?;
    let max_age = parse_max_age(p.get("max_age"))?;
    let (code_challenge, code_challenge_method) = parse_pkce(p, client.public)?;
    let claims = p
        .get("claims")
        .map(parse_claims_param)
        .transpose()
        .map_err(|e| OAuthError::invalid_request(format!("claims parameter: {e}")))?;
    Ok(AuthRequest {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        scopes,
        state,
        nonce: p.get("nonce").map(str::to_string),
        response_mode,
        prompt,
        max_age,
        login_hint: p.get("login_hint").map(str::to_string),
        id_token_hint: p.get("id_token_hint").map(str::to_string),
        acr_values: owned(list(p, "acr_values")?),
        ui_locales: owned(list(p, "ui_locales")?),
        claims,
        code_challenge,
        code_challenge_method,
    })
}

/// `registration` (OIDC Core §7.2.1) is not supported. `request` and
/// `request_uri` (OIDC Core §6, RFC 9101, RFC 9126) are resolved into
/// parameters before validation (`http::request_object`); one still here
/// came from inside a request object or a pushed request, where neither
/// may be nested.
fn reject_unsupported(p: &Params<'_>) -> Result<(), OAuthError> {
    let unsupported = [
        ("request", ErrorCode::InvalidRequestObject),
        ("request_uri", ErrorCode::InvalidRequestUri),
        ("registration", ErrorCode::RegistrationNotSupported),
    ];
    match unsupported.iter().find(|(name, _)| p.get(name).is_some()) {
        Some((name, code)) => Err(OAuthError::new(
            *code,
            format!("the {name} parameter is not supported here"),
        )),
        None => Ok(()),
    }
}

/// `response_type=code`, for a client allowed the authorization code grant.
fn check_response_type(p: &Params<'_>, client: &ClientView<'_>) -> Result<(), OAuthError> {
    match p.get("response_type") {
        None => return Err(OAuthError::invalid_request("response_type is missing")),
        Some("code") => {}
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
    }
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the authorization code grant",
        ));
    }
    Ok(())
}

/// `max_age`: decimal digits only, fitting in a `u64`.
fn parse_max_age(v: Option<&str>) -> Result<Option<u64>, OAuthError> {
    match v {
        None => Ok(None),
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| OAuthError::invalid_request("max_age is too large")),
        Some(_) => Err(OAuthError::invalid_request(
            "max_age must be a non-negative integer",
        )),
    }
}

/// The items of the list parameter `name` (see [`split_list`]); too many
/// items → `invalid_request`.
fn list<'p>(p: &Params<'p>, name: &str) -> Result<Vec<&'p str>, OAuthError> {
    split_list(p.get(name).unwrap_or("")).ok_or_else(|| {
        OAuthError::invalid_request(format!(
            "{name} has too many values (at most {MAX_LIST_ITEMS})"
        ))
    })
}

fn owned(items: Vec<&str>) -> Vec<String> {
    items.into_iter().map(str::to_string).collect()
}

fn parse_scopes(v: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let all = split_list(v.unwrap_or("")).ok_or_else(|| {
        OAuthError::invalid_scope(format!(
            "scope has too many values (at most {MAX_LIST_ITEMS})"
        ))
    })?;
    if !all.contains(&"openid") {
        return Err(OAuthError::invalid_scope(
            "scope must include openid (this is an OpenID Provider)",
        ));
    }
    Ok(owned(
        all.into_iter()
            .filter(|s| SUPPORTED_SCOPES.contains(s))
            .collect(),
    ))
}

fn parse_prompt(items: Vec<&str>) -> Result<Prompt, OAuthError> {
    let mut prompt = Prompt::default();
    let count = items.len();
    for item in items {
        match item {
            "none" => prompt.none = true,
            "login" | "select_account" => prompt.login = true,
            "consent" => prompt.consent = true,
            other => {
                return Err(OAuthError::invalid_request(format!(
                    "unknown prompt value `{other}`"
                )))
            }
        }
    }
    if prompt.none && count > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other prompt values",
        ));
    }
    Ok(prompt)
}

fn parse_pkce(
    p: &Params<'_>,
    public: bool,
) -> Result<(Option<String>, Option<String>), OAuthError> {
    let challenge = p.get("code_challenge");
    let method = p.get("code_challenge_method");
    match (challenge, method) {
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge_method is given without code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_request(
            "code_challenge_method defaults to plain; only S256 is supported",
        )),
        (Some(_), Some(m)) if m != pkce::S256 => Err(OAuthError::invalid_request(
            "code_challenge_method: only S256 is supported",
        )),
        (Some(c), Some(_)) if !pkce::valid_challenge(c) => Err(OAuthError::invalid_request(
            "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]",
        )),
        (Some(c), Some(m)) => Ok((Some(c.to_string()), Some(m.to_string()))),
        (None, None) if public => Err(OAuthError::invalid_request(
            "PKCE required for public clients (send code_challenge with S256)",
        )),
        (None, None) => Ok((None, None)),
    }
}

/// Response parameters for an error (OIDC Core §3.1.2.6, RFC 9207 `iss`),
/// for the query string or a form_post page.
pub fn error_params(
    error: &OAuthError,
    state: Option<&str>,
    issuer: &str,
) -> Vec<(String, String)> {
    let mut v = vec![("error".to_string(), error.code.as_str().to_string())];
    if !error.description.is_empty() {
        v.push(("error_description".into(), error.wire_description()));
    }
    if let Some(s) = state {
        v.push(("state".into(), s.to_string()));
    }
    v.push(("iss".into(), issuer.to_string()));
    v
}

/// Response parameters for a success (OIDC Core §3.1.2.5, OIDC Session
/// Management §3 `session_state`, RFC 9207 `iss`).
pub fn success_params(
    code: &str,
    state: Option<&str>,
    issuer: &str,
    session_state: Option<&str>,
) -> Vec<(String, String)> {
    let mut v = vec![("code".to_string(), code.to_string())];
    if let Some(s) = state {
        v.push(("state".into(), s.to_string()));
    }
    if let Some(s) = session_state {
        v.push(("session_state".into(), s.to_string()));
    }
    v.push(("iss".into(), issuer.to_string()));
    v
}

/// The redirect URI with the error appended to its query (query mode),
/// keeping any query it already has.
pub fn error_redirect_url(
    redirect_uri: &str,
    error: &OAuthError,
    state: Option<&str>,
    issuer: &str,
) -> String {
    append_query(redirect_uri, &error_params(error, state, issuer))
}

/// The redirect URI with the code appended to its query (query mode),
/// keeping any query it already has.
pub fn success_redirect_url(
    redirect_uri: &str,
    code: &str,
    state: Option<&str>,
    issuer: &str,
    session_state: Option<&str>,
) -> String {
    append_query(
        redirect_uri,
        &success_params(code, state, issuer, session_state),
    )
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;
