//! `request` and `request_uri` (OIDC Core §6, RFC 9101, RFC 9126 §4): turning
//! what the browser brought to `/authorize` into the parameters to validate.
//!
//! * A `request_uri` of ours (`urn:ietf:params:oauth:request_uri:…`) names a
//!   pushed request: it is consumed through the code actor, once
//!   cluster-wide, and its stored parameters — validated, a request object
//!   already resolved, when `/par` took them — are the request (RFC 9126
//!   §4: the query's other parameters are ignored).
//! * Otherwise, when the operator (`[oauth]`) or the client
//!   (`require_pushed_authorization_requests`) demands PAR, the request is
//!   refused.
//! * Another `request_uri` is fetched through [`crate::outbound`] (SSRF
//!   rules, no redirects, a 16 KiB cap, a timeout), only if the client
//!   registered it when it registered any `request_uris`.
//! * A request object (by value or fetched) is verified with the client's
//!   keys (`jwks`, or `jwks_uri` through the JWK Set cache), or accepted
//!   unsigned only if the operator allows it, and its claims checked and
//!   merged as [`crate::oidc::request_object`] says.
//!
//! **Where the single use happens.** A pushed request is consumed at the
//! first `/authorize` that names it, not when the code is issued: from then
//! on the validated request travels sealed through the login and consent
//! pages like every other request (see [`super::signin`]), so the URN is
//! spent before the page a user may leave open, and a URN that leaked from
//! the front channel (history, referrer, logs) is worthless afterwards.
//! Consuming only at code issue would need the URN, not the parameters,
//! carried through the pages and a second Raft round on the last step, for
//! no gain: the sealed request (encrypted and authenticated with a key
//! derived from the master key, valid 30 minutes) is posted back only
//! with the page's double-submit CSRF token and leads to a code only after
//! the user signs in or consents — exactly what any unpushed request gets,
//! so it grants nothing a second use of the URN would.
//!
//! Errors are redirected only to a redirect URI registered for the client
//! (the query's, with the query's `state`); otherwise a 400 page.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use super::client_auth::client_keys;
use super::error::ask;
use super::pages::error_page;
use super::signin::{respond_error, Pairs};
use super::AppState;
use crate::actors::directory::ClientRecord;
use crate::actors::par::ConsumePushed;
use crate::clock::now;
use crate::config::Config;
use crate::crypto::jwt::verify_with_jwks;
use crate::oidc::authorize::{ClientView, ResponseMode};
use crate::oidc::error::OAuthError;
use crate::oidc::form::Params;
use crate::oidc::par;
use crate::oidc::request_object::{self as ro, ClientPolicy, Expect};
use crate::outbound::{FetchSettings, Fetcher};

/// The fetcher of request objects by reference.
pub fn fetcher(config: &Config) -> anyhow::Result<Fetcher> {
    Fetcher::new(FetchSettings {
        allow_private_targets: config.outbound.allow_private_targets,
        max_body: ro::MAX_REQUEST_OBJECT_BYTES,
        ..FetchSettings::default()
    })
}

/// What authorization-request validation needs of a client record.
pub fn client_view(c: &ClientRecord) -> ClientView<'_> {
    ClientView {
        client_id: &c.client_id,
        redirect_uris: &c.redirect_uris,
        public: c.is_public(),
        grant_types: &c.grant_types,
    }
}

/// Why the parameters of a request could not be resolved.
pub enum Unresolved {
    /// The protocol error to answer.
    Refused(OAuthError),
    /// The cluster could not decide (consuming a pushed request): 503.
    Unavailable,
}

impl From<OAuthError> for Unresolved {
    fn from(e: OAuthError) -> Self {
        Unresolved::Refused(e)
    }
}

fn once<'p>(p: &Params<'p>, name: &str) -> Result<Option<&'p str>, OAuthError> {
    match p.count(name) {
        0 | 1 => Ok(p.get(name)),
        _ => Err(OAuthError::invalid_request(format!(
            "parameter `{name}` is given more than once"
        ))),
    }
}

/// The authorization request parameters of `query`, a request to
/// `/authorize` by `client` (the client its `client_id` names).
pub async fn resolve(
    st: &AppState,
    client: &ClientRecord,
    query: &Pairs,
) -> Result<Pairs, Unresolved> {
    let p = Params::new(query);
    let request = once(&p, "request")?;
    let uri = once(&p, "request_uri")?;
    if request.is_some() && uri.is_some() {
        let both = "request and request_uri cannot both be given";
        return Err(OAuthError::invalid_request(both).into());
    }
    if let Some(uri) = uri.filter(|u| par::is_pushed(u)) {
        return consume(st, client, uri).await;
    }
    let policy = ClientPolicy::of(client.metadata.as_ref());
    if st.config.oauth.require_pushed_authorization_requests || policy.require_par {
        let e = "authorization requests must be pushed to /par first (RFC 9126)";
        return Err(OAuthError::invalid_request(e).into());
    }
    let jwt = match (request, uri) {
        (Some(jwt), _) => jwt.to_string(),
        (None, Some(uri)) => fetch(st, &policy, uri).await?,
        (None, None) => return Ok(query.clone()),
    };
    from_object(st, client, &policy, &jwt, query).await
}

/// The parameters of a `/par` form: a `request` object in it resolved,
/// as at `/authorize`.
pub async fn pushed(
    st: &AppState,
    client: &ClientRecord,
    form: Pairs,
) -> Result<Pairs, Unresolved> {
    let p = Params::new(&form);
    match once(&p, "request")? {
        Some(jwt) => {
            let policy = ClientPolicy::of(client.metadata.as_ref());
            from_object(st, client, &policy, jwt, &form).await
        }
        None => Ok(form),
    }
}

/// Use the pushed request `uri` names, once.
async fn consume(st: &AppState, client: &ClientRecord, uri: &str) -> Result<Pairs, Unresolved> {
    let Some(reference) = par::reference(uri) else {
        return Err(ro::invalid_uri("malformed request_uri").into());
    };
    let msg = ConsumePushed {
        reference: reference.to_string(),
        client_id: client.client_id.clone(),
    };
    match ask(st.codes.send(msg)).await {
        Ok(Ok(params)) => Ok(params),
        Ok(Err(reason)) => {
            tracing::info!(target: "audit", event = "pushed_request_refused",
                client_id = %client.client_id, reason = %reason);
            Err(ro::invalid_uri(reason).into())
        }
        Err(_) => Err(Unresolved::Unavailable),
    }
}

/// The request object at a client's `request_uri`.
async fn fetch(st: &AppState, policy: &ClientPolicy, uri: &str) -> Result<String, Unresolved> {
    if !policy.allows_request_uri(uri) {
        return Err(ro::invalid_uri("the request_uri is not registered for this client").into());
    }
    let body = st
        .request_uris
        .get(uri, "request_uri")
        .await
        .map_err(|e| ro::invalid_uri(e.to_string()))?;
    String::from_utf8(body)
        .map(|s| s.trim().to_string())
        .map_err(|_| ro::invalid_uri("the request_uri did not return a request object").into())
}

/// Verify `jwt` as a request object of `client` and merge it with `query`.
async fn from_object(
    st: &AppState,
    client: &ClientRecord,
    policy: &ClientPolicy,
    jwt: &str,
    query: &Pairs,
) -> Result<Pairs, Unresolved> {
    let alg = ro::object_alg(jwt)?;
    let issuer = st.issuer();
    let e = Expect {
        client_id: &client.client_id,
        issuer: &issuer,
        now: now(),
        registered_alg: policy.signing_alg.as_deref(),
        allow_unsigned: st.config.oauth.allow_unsigned_request_objects,
    };
    ro::check_alg(&alg, &e)?;
    let signed = alg != "none";
    let claims = if signed {
        let keys = client_keys(st, client, jwt).await.map_err(|e| {
            ro::invalid_object(e.unwrap_or_else(|| {
                "this client registered no keys to verify request objects with".into()
            }))
        })?;
        verify_with_jwks(jwt, &keys)
            .map_err(|_| ro::invalid_object("the request object's signature does not verify"))?
    } else {
        ro::unsigned_claims(jwt)?
    };
    let params = ro::object_params(&claims, &e, signed)?;
    Ok(ro::merge(query, params)?)
}

/// The answer to a request whose parameters could not be resolved: the
/// error at the query's redirect URI if it is registered for `client`,
/// else a 400 page.
pub fn refused(
    st: &AppState,
    client: &ClientRecord,
    query: &Pairs,
    e: &OAuthError,
) -> HttpResponse {
    let p = Params::new(query);
    let registered = |r: &&str| client.redirect_uris.iter().any(|x| x == r);
    match p.once("redirect_uri").filter(registered) {
        Some(redirect_uri) => {
            let mode = match p.once("response_mode") {
                Some("form_post") => ResponseMode::FormPost,
                _ => ResponseMode::Query,
            };
            respond_error(st, redirect_uri, mode, p.once("state"), e)
        }
        None => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid authorization request",
            &format!("{}: {}", e.code, e.description),
        ),
    }
}
