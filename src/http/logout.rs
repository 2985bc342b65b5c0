//! `/end_session` (OpenID Connect RP-Initiated Logout 1.0) and
//! `/check_session` (OpenID Connect Session Management 1.0 §3.3).
//!
//! A logout request that proves which client sent it (a valid `id_token_hint`
//! for the current session; expired tokens are accepted) ends the session at
//! once; any other asks the user to confirm, with a CSRF-protected form.
//! Without a session, a request that names a `post_logout_redirect_uri` but
//! carries no valid hint asks too, so that `/end_session` is no open
//! redirector for whoever can register a client. The
//! session ends through Raft, so a later `prompt=none` on any node answers
//! `login_required`, and access tokens bound to the session (those without
//! `offline_access`) stop working everywhere. The user is sent to the
//! `post_logout_redirect_uri` only when it exactly matches one registered for
//! that client. Ending the session also queues a back-channel logout token
//! for every client that received a code in it and registered a
//! `backchannel_logout_uri` (`EndSession` proposes `LogoutSession`; the
//! leader's `actors::logout_delivery` sends them).
//!
//! The check-session page is the only page that may be framed: its
//! `frame-ancestors` lists the origins of registered redirect URIs.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::pages::{error_page, found, page};
use super::session_cookie::{
    csrf_matches, current_session, unavailable, with_csrf, BROWSER_STATE_COOKIE, SESSION_COOKIE,
};
use super::AppState;
use crate::actors::directory::ClientRecord;
use crate::actors::session::{EndSession, SessionRecord};
use crate::metrics::METRICS;
use crate::oidc::form::Params;

/// The claims of a verified `id_token_hint`.
type Claims = Map<String, Value>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/end_session", web::get().to(end_session_get))
        .route("/end_session", web::post().to(end_session_post))
        .route("/end_session/confirm", web::post().to(confirm))
        .route("/check_session", web::get().to(check_session));
}

/// A validated logout request; sealed into the confirmation form.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Logout {
    client_id: Option<String>,
    /// Only set when it exactly matches a registered one.
    redirect: Option<String>,
    state: Option<String>,
}

fn bad(message: &str) -> HttpResponse {
    error_page(StatusCode::BAD_REQUEST, "Invalid logout request", message)
}

async fn end_session_get(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    end_session(&req, &st, pairs).await
}

async fn end_session_post(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    match super::form::form_body(&req, &body) {
        Ok(pairs) => end_session(&req, &st, pairs).await,
        Err(e) => bad(&e.description),
    }
}

async fn end_session(
    req: &HttpRequest,
    st: &AppState,
    pairs: Vec<(String, String)>,
) -> HttpResponse {
    let (logout, hint) = match validate(st, &Params::new(&pairs)).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let session = match current_session(req, st).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    match session {
        // Nothing to end here; redirect at once only for a proven client.
        None if logout.redirect.is_some() && hint.is_none() => confirm_page(req, st, None, &logout),
        None => finish(st, &logout, false),
        Some(s) if proves_session(hint.as_ref(), &s) => end_and_finish(st, &s, &logout).await,
        Some(s) => confirm_page(req, st, Some(&s.username), &logout),
    }
}

/// The logout request's parameters checked against the client they name;
/// answers the request and the verified hint's claims.
async fn validate(
    st: &AppState,
    params: &Params<'_>,
) -> Result<(Logout, Option<Claims>), HttpResponse> {
    if let Some(p) = params.first_repeated() {
        return Err(bad(&format!(
            "the parameter `{p}` was given more than once"
        )));
    }
    let hint = hint_claims(st, params.get("id_token_hint"))?;
    let client_id = match (params.get("client_id"), hint.as_ref().and_then(audience)) {
        (Some(a), Some(b)) if a != b => {
            return Err(bad("client_id does not match the id_token_hint"))
        }
        (Some(a), _) => Some(a.to_string()),
        (None, b) => b,
    };
    let client: Option<ClientRecord> = match &client_id {
        Some(id) => match st.client(id).await {
            Ok(Some(c)) => Some(c),
            Ok(None) => return Err(bad("unknown client_id")),
            Err(_) => return Err(unavailable()),
        },
        None => None,
    };
    let redirect = registered_redirect(client.as_ref(), params.get("post_logout_redirect_uri"))?;
    let logout = Logout {
        client_id,
        redirect,
        state: params.get("state").map(String::from),
    };
    Ok((logout, hint))
}

/// The claims of an ID token hint: our signature, any age.
fn hint_claims(st: &AppState, hint: Option<&str>) -> Result<Option<Claims>, HttpResponse> {
    match hint.map(|h| st.keys.get().verify(h)) {
        None => Ok(None),
        Some(Ok((claims, typ))) if typ.as_deref() != Some("at+jwt") => Ok(Some(claims)),
        Some(_) => Err(bad("id_token_hint is not an ID token issued here")),
    }
}

/// The client an ID token was issued to.
fn audience(claims: &Claims) -> Option<String> {
    match claims.get("aud") {
        Some(Value::String(a)) => Some(a.clone()),
        Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

/// The post-logout redirect URI, only if registered for the client.
fn registered_redirect(
    client: Option<&ClientRecord>,
    uri: Option<&str>,
) -> Result<Option<String>, HttpResponse> {
    let Some(uri) = uri else { return Ok(None) };
    match client {
        Some(c) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => Ok(Some(uri.into())),
        Some(_) => Err(bad(
            "post_logout_redirect_uri is not registered for this client",
        )),
        None => Err(bad(
            "post_logout_redirect_uri needs client_id or id_token_hint",
        )),
    }
}

/// Whether the hint proves the request comes from the session's relying party.
fn proves_session(hint: Option<&Claims>, session: &SessionRecord) -> bool {
    hint.is_some_and(|c| {
        let sid_ok = c.get("sid").and_then(Value::as_str) == Some(session.sid.as_str());
        let sub_ok = c.get("sub").and_then(Value::as_str) == Some(session.sub.as_str());
        sid_ok || (sub_ok && c.get("sid").is_none())
    })
}

/// Ask the user to confirm (a CSRF-protected form carrying the sealed
/// request); `username` is the signed-in user's, if any.
fn confirm_page(
    req: &HttpRequest,
    st: &AppState,
    username: Option<&str>,
    logout: &Logout,
) -> HttpResponse {
    with_csrf(req, st, |csrf| {
        super::pages::page_posting_to(
            StatusCode::OK,
            "logout.html",
            minijinja::context! {
                lang => "en", username => username, client_id => logout.client_id,
                req => st.seal_pending(logout), csrf => csrf,
            },
            logout.redirect.as_deref(),
        )
    })
}

async fn confirm(req: HttpRequest, st: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let form = match super::form::form_body(&req, &body) {
        Ok(f) => f,
        Err(e) => return bad(&e.description),
    };
    let params = Params::new(&form);
    if !csrf_matches(&req, params.get("csrf")) {
        return bad("This form is no longer valid. Go back and try again.");
    }
    let logout: Option<Logout> = params.get("req").and_then(|r| st.open_pending(r));
    let Some(logout) = logout else {
        return bad("This sign-out request expired or was altered.");
    };
    if params.get("decision") != Some("logout") {
        return page(
            StatusCode::OK,
            "logged_out.html",
            minijinja::context! { lang => "en", title => "Still signed in", message => "You stayed signed in." },
        );
    }
    match current_session(&req, &st).await {
        Ok(Some(session)) => end_and_finish(&st, &session, &logout).await,
        Ok(None) => finish(&st, &logout, false),
        Err(res) => res,
    }
}

async fn end_and_finish(st: &AppState, session: &SessionRecord, logout: &Logout) -> HttpResponse {
    match st.sessions.send(EndSession(session.sid.clone())).await {
        Ok(Ok(())) => {
            METRICS.logouts.inc();
            tracing::info!(target: "audit", event = "logout", outcome = "success", sub = %session.sub, client_id = logout.client_id.as_deref());
            finish(st, logout, true)
        }
        _ => unavailable(),
    }
}

/// Clear the cookies and go back to the client, or show the signed-out page.
fn finish(st: &AppState, logout: &Logout, ended: bool) -> HttpResponse {
    let mut res = match &logout.redirect {
        Some(uri) => {
            let mut pairs = vec![];
            if let Some(s) = &logout.state {
                pairs.push(("state".to_string(), s.clone()));
            }
            found(&crate::oidc::form::append_query(uri, &pairs))
        }
        None => page(
            StatusCode::OK,
            "logged_out.html",
            minijinja::context! {
                lang => "en", title => "Signed out",
                message => if ended { "You are signed out." } else { "You were not signed in." },
            },
        ),
    };
    let _ = res.add_cookie(&st.cookie(SESSION_COOKIE, String::new(), Some(0)));
    let _ = res.add_cookie(&st.script_cookie(BROWSER_STATE_COOKIE, String::new(), Some(0)));
    res
}

async fn check_session(st: web::Data<AppState>) -> HttpResponse {
    let nonce = crate::crypto::random_id();
    let origins = st.directory_reads.client_origins();
    let ancestors = if origins.is_empty() {
        "'none'".to_string()
    } else {
        origins.join(" ")
    };
    let body = super::pages::render_raw(
        "check_session.html",
        minijinja::context! { nonce => nonce, cookie => BROWSER_STATE_COOKIE },
    );
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!("default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors {ancestors}; base-uri 'none'"),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}
