//! Signing in, as the authorization endpoint and the login and consent
//! forms share it: the login and consent pages (the validated authorization
//! request travels sealed in a hidden field, so any node can continue a flow
//! another node started without a Raft write), asking for consent once the
//! user is signed in, issuing the code, and sending errors back to the
//! client's redirect URI.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::pages::{error_page, form_post, found, page_posting_to};
use super::session_cookie::{unavailable, with_csrf};
use super::AppState;
use crate::actors::code::{Authorization, IssueCode};
use crate::actors::directory::ClientRecord;
use crate::actors::session::{HasConsent, SessionRecord};
use crate::clock::now;
use crate::oidc::authorize::{self as authz, AuthRequest, ResponseMode};
use crate::oidc::error::{ErrorCode, OAuthError};

/// The authentication context of a password login.
pub const ACR_PASSWORD: &str = "urn:tessera:acr:password";
/// How long a user may take on the login and consent pages (seconds).
const PENDING_LIFETIME: u64 = 1800;

/// A request while the user is on our pages, and when it was sealed.
#[derive(Serialize, Deserialize)]
struct Pending<T> {
    req: T,
    at: u64,
}

pub(super) type Pairs = Vec<(String, String)>;

/// Form pairs of a POST body, or a 400 page for another content type.
pub(super) fn form_pairs(req: &HttpRequest, body: &[u8]) -> Result<Pairs, HttpResponse> {
    super::form::form_body(req, body)
        .map_err(|e| error_page(StatusCode::BAD_REQUEST, "Invalid request", &e.description))
}

/// The login form for a validated authorization request.
pub(super) fn login_page(
    req: &HttpRequest,
    st: &AppState,
    areq: &AuthRequest,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    with_csrf(req, st, |csrf| {
        page_posting_to(
            StatusCode::OK,
            "login.html",
            minijinja::context! {
                lang => "en", client_id => areq.client_id, req => st.seal_pending(areq),
                csrf => csrf, username => username, error => error,
            },
            Some(&areq.redirect_uri),
        )
    })
}

/// The consent form: which scopes, and which claims beyond them through
/// the `claims` parameter, the client asks for.
pub(super) fn consent_page(
    req: &HttpRequest,
    st: &AppState,
    areq: &AuthRequest,
    username: &str,
) -> HttpResponse {
    let scopes: Vec<&str> = areq.scopes.iter().map(|s| scope_text(s)).collect();
    with_csrf(req, st, |csrf| {
        page_posting_to(
            StatusCode::OK,
            "consent.html",
            minijinja::context! {
                lang => "en", client_id => areq.client_id, username => username,
                scopes => scopes, claims => areq.claim_texts(),
                req => st.seal_pending(areq), csrf => csrf,
            },
            Some(&areq.redirect_uri),
        )
    })
}

fn scope_text(scope: &str) -> &'static str {
    match scope {
        "openid" => "Sign you in with your account",
        "profile" => "See your name and profile",
        "email" => "See your email address",
        "address" => "See your postal address",
        "phone" => "See your phone number",
        "offline_access" => "Keep access while you are away",
        _ => "Other access",
    }
}

/// Send an authorization error to the (validated) redirect URI.
pub(super) fn respond_error(
    st: &AppState,
    redirect_uri: &str,
    mode: ResponseMode,
    state: Option<&str>,
    error: &OAuthError,
) -> HttpResponse {
    let iss = st.issuer();
    match mode {
        ResponseMode::Query => found(&authz::error_redirect_url(redirect_uri, error, state, &iss)),
        ResponseMode::FormPost => form_post(redirect_uri, &authz::error_params(error, state, &iss)),
    }
}

pub(super) fn respond_error_for(
    st: &AppState,
    areq: &AuthRequest,
    code: ErrorCode,
    desc: &str,
) -> HttpResponse {
    respond_error(
        st,
        &areq.redirect_uri,
        areq.response_mode,
        areq.state.as_deref(),
        &OAuthError::new(code, desc),
    )
}

/// Whether `sub` must consent before `client` gets a code for `areq`;
/// `Err` with the 503 page when the cluster cannot tell.
pub(super) async fn consent_needed(
    st: &AppState,
    areq: &AuthRequest,
    client: &ClientRecord,
    sub: &str,
) -> Result<bool, HttpResponse> {
    if client.first_party {
        return Ok(false);
    }
    if areq.prompt.consent {
        return Ok(true);
    }
    let asked = HasConsent {
        sub: sub.to_string(),
        client_id: client.client_id.clone(),
        scopes: areq.consent_items(),
    };
    match st.sessions.send(asked).await {
        Ok(Ok(has)) => Ok(!has),
        _ => Err(unavailable()),
    }
}

/// The user is signed in: ask for consent if needed, else issue a code.
pub(super) async fn after_login(
    req: &HttpRequest,
    st: &AppState,
    areq: AuthRequest,
    client: ClientRecord,
    session: SessionRecord,
    browser_state: &str,
    set_cookies: Vec<Cookie<'static>>,
) -> HttpResponse {
    match consent_needed(st, &areq, &client, &session.sub).await {
        Ok(needs) => {
            let signed_in = (session, browser_state, set_cookies);
            continue_signed_in(req, st, areq, needs, signed_in).await
        }
        Err(res) => res,
    }
}

/// The user is signed in and whether consent is needed is known: the
/// consent page, `consent_required`, or a code.
pub(super) async fn continue_signed_in(
    req: &HttpRequest,
    st: &AppState,
    areq: AuthRequest,
    needs_consent: bool,
    (session, browser_state, set_cookies): (SessionRecord, &str, Vec<Cookie<'static>>),
) -> HttpResponse {
    let mut res = if needs_consent && areq.prompt.none {
        respond_error_for(
            st,
            &areq,
            ErrorCode::ConsentRequired,
            "the user must consent",
        )
    } else if needs_consent {
        consent_page(req, st, &areq, &session.username)
    } else {
        issue_code(st, &areq, &session, browser_state).await
    };
    for c in set_cookies {
        let _ = res.add_cookie(&c);
    }
    res
}

pub(super) async fn issue_code(
    st: &AppState,
    areq: &AuthRequest,
    session: &SessionRecord,
    browser_state: &str,
) -> HttpResponse {
    if areq.wants_other_subject(&session.sub) {
        // OIDC Core §5.5.1: no code for a user other than the requested one.
        let other = "the signed-in user is not the requested subject";
        return respond_error_for(st, areq, ErrorCode::AccessDenied, other);
    }
    let grant = Authorization {
        client_id: areq.client_id.clone(),
        sub: session.sub.clone(),
        sid: Some(session.sid.clone()),
        scopes: areq.scopes.clone(),
        auth_time: session.auth_time,
        nonce: areq.nonce.clone(),
        claims: areq
            .claims
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok()),
        acr: Some(ACR_PASSWORD.into()),
        family: None,
    };
    let msg = IssueCode {
        grant,
        redirect_uri: areq.redirect_uri.clone(),
        code_challenge: areq.code_challenge.clone(),
        listed: session.clients.contains(&areq.client_id),
    };
    let code = match st.codes.send(msg).await {
        Ok(Ok(code)) => code,
        _ => return unavailable(),
    };
    crate::metrics::METRICS.codes_issued.inc();
    let iss = st.issuer();
    let state = areq.state.as_deref();
    let ss = crate::oidc::session::origin_of(&areq.redirect_uri).map(|origin| {
        let salt = crate::crypto::random_id();
        crate::oidc::session::session_state(&areq.client_id, &origin, browser_state, &salt)
    });
    let ss = ss.as_deref();
    match areq.response_mode {
        ResponseMode::Query => found(&authz::success_redirect_url(
            &areq.redirect_uri,
            &code,
            state,
            &iss,
            ss,
        )),
        ResponseMode::FormPost => form_post(
            &areq.redirect_uri,
            &authz::success_params(&code, state, &iss, ss),
        ),
    }
}

impl AppState {
    /// Seal a validated request into a form field (encrypted and
    /// authenticated with a key derived from the master key).
    pub(super) fn seal_pending<T: Serialize>(&self, req: &T) -> String {
        let p = Pending { req, at: now() };
        self.pending_seal
            .seal(&serde_json::to_vec(&p).expect("json"))
    }

    /// The request sealed by [`Self::seal_pending`], unless it was altered or
    /// is older than the time a user may take on our pages.
    pub(super) fn open_pending<T: DeserializeOwned>(&self, sealed: &str) -> Option<T> {
        let bytes = self.pending_seal.open(sealed)?;
        let p: Pending<T> = serde_json::from_slice(&bytes).ok()?;
        (p.at + PENDING_LIFETIME > now()).then_some(p.req)
    }
}
