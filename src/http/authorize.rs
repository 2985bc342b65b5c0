//! `/authorize` (GET and POST): OpenID Connect Core §3.1.2. Validates the
//! request, then decides between the login page, the consent page and
//! issuing a code; the forms themselves are in [`super::login`].
//!
//! Sessions, consents and codes are replicated records, so each step may be
//! served by another node. Errors go back to the client only once client and
//! redirect URI are known good; otherwise the user gets a 400 page.

use actix_web::cookie::Cookie;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::login::{consent_page, login_page};
use super::pages::{error_page, form_post};
use super::AppState;
use crate::actors::code::IssueCode;
use crate::actors::now;
use crate::actors::session::{FindSession, HasConsent};
use crate::oidc::authorize::{
    self as authz, AuthRequest, AuthorizeError, ClientView, ResponseMode,
};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::state::{Authorization, ClientRecord, SessionRecord};

pub const SESSION_COOKIE: &str = "tessera_session";
/// The browser-state cookie the check-session iframe reads (not HttpOnly).
pub const BROWSER_STATE_COOKIE: &str = "tessera_bs";
/// The authentication context of a password login.
pub const ACR_PASSWORD: &str = "urn:tessera:acr:password";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/authorize", web::get().to(authorize_get))
        .route("/authorize", web::post().to(authorize_post))
        .route("/login", web::post().to(super::login::login))
        .route("/consent", web::post().to(super::login::consent));
}

pub(super) type Pairs = Vec<(String, String)>;

fn query_pairs(req: &HttpRequest) -> Pairs {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

/// Form pairs of a POST body, or a 400 page for another content type.
pub(super) fn form_pairs(req: &HttpRequest, body: &[u8]) -> Result<Pairs, HttpResponse> {
    super::token::form_body(req, body)
        .map_err(|e| error_page(StatusCode::BAD_REQUEST, "Invalid request", &e.description))
}

/// The live session behind this browser's session cookie, if any.
pub(super) async fn current_session(
    req: &HttpRequest,
    st: &AppState,
) -> Result<Option<SessionRecord>, HttpResponse> {
    match req.cookie(SESSION_COOKIE) {
        Some(c) => match st.sessions.send(FindSession(c.value().to_string())).await {
            Ok(Ok(s)) => Ok(s),
            _ => Err(unavailable()),
        },
        None => Ok(None),
    }
}

pub(super) fn field<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(super) fn unavailable() -> HttpResponse {
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The service cannot reach its cluster right now. Please try again in a moment.",
    )
}

async fn authorize_get(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    let pairs = query_pairs(&req);
    authorize(&req, &st, pairs).await
}

async fn authorize_post(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    match form_pairs(&req, &body) {
        Ok(pairs) => authorize(&req, &st, pairs).await,
        Err(res) => res,
    }
}

async fn authorize(req: &HttpRequest, st: &AppState, pairs: Pairs) -> HttpResponse {
    let ids: Vec<&str> = pairs
        .iter()
        .filter(|(k, v)| k == "client_id" && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .collect();
    let client = match ids.as_slice() {
        [id] => match st.client(id).await {
            Ok(c) => c,
            Err(_) => return unavailable(),
        },
        _ => None,
    };
    let lookup = |id: &str| {
        client
            .as_ref()
            .filter(|c| c.client_id == id)
            .map(|c| ClientView {
                client_id: &c.client_id,
                redirect_uris: &c.redirect_uris,
                public: c.is_public(),
                grant_types: &c.grant_types,
            })
    };
    match authz::validate(&pairs, lookup) {
        Err(AuthorizeError::Fatal(m)) => {
            error_page(StatusCode::BAD_REQUEST, "Invalid authorization request", &m)
        }
        Err(AuthorizeError::Redirect {
            redirect_uri,
            response_mode,
            state,
            error,
        }) => respond_error(st, &redirect_uri, response_mode, state.as_deref(), &error),
        Ok(areq) => {
            let client = client.expect("validated client exists");
            proceed(req, st, areq, client).await
        }
    }
}

/// Send an authorization error to the (validated) redirect URI.
fn respond_error(
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

fn found(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Decide between login, consent and issuing a code for a valid request.
async fn proceed(
    req: &HttpRequest,
    st: &AppState,
    areq: AuthRequest,
    client: ClientRecord,
) -> HttpResponse {
    let session = match current_session(req, st).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let mut need_login = areq.prompt.login;
    match &session {
        None => need_login = true,
        Some(s) => {
            let default_max_age = client
                .metadata
                .as_ref()
                .and_then(|m| m.get("default_max_age"))
                .and_then(|v| v.as_u64());
            if areq
                .max_age
                .or(default_max_age)
                // max_age=0 means "authenticate now", like prompt=login.
                .is_some_and(|max| max == 0 || now() > s.auth_time.saturating_add(max))
            {
                need_login = true;
            }
            if let Some(hint) = &areq.id_token_hint {
                match st.keys.get().verify(hint) {
                    Ok((claims, _)) => {
                        if claims.get("sub").and_then(|v| v.as_str()) != Some(s.sub.as_str()) {
                            need_login = true;
                        }
                    }
                    Err(_) => {
                        return respond_error_for(
                            st,
                            &areq,
                            ErrorCode::InvalidRequest,
                            "id_token_hint is not an ID token of this issuer",
                        )
                    }
                }
            }
        }
    }
    if need_login {
        if areq.prompt.none {
            return respond_error_for(st, &areq, ErrorCode::LoginRequired, "the user must sign in");
        }
        let hint = areq.login_hint.clone().unwrap_or_default();
        return login_page(req, st, &areq, &hint, None);
    }
    let bs = req
        .cookie(BROWSER_STATE_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    after_login(
        req,
        st,
        areq,
        client,
        session.expect("checked above"),
        &bs,
        vec![],
    )
    .await
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
    let needs_consent = if client.first_party {
        false
    } else if areq.prompt.consent {
        true
    } else {
        let asked = HasConsent {
            sub: session.sub.clone(),
            client_id: client.client_id.clone(),
            scopes: areq.scopes.clone(),
        };
        match st.sessions.send(asked).await {
            Ok(Ok(has)) => !has,
            _ => return unavailable(),
        }
    };
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
