//! The login form (`POST /login`) and the consent form (`POST /consent`)
//! of the authorization flow.
//!
//! Both forms carry the sealed authorization request (see [`super::signin`])
//! and are protected by a double-submit CSRF cookie. A wrong password gets
//! the same message whether the user exists or not.
//!
//! Password guesses are throttled per account and per source address
//! ([`crate::throttle`], per node): a refused attempt gets the login page
//! with 429 and `Retry-After` before any hash is computed, and when the
//! login hashing queue is full the page comes with 503 and `Retry-After: 1`.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::pages::error_page;
use super::session_cookie::{
    csrf_matches, signing_in_session, unavailable, BROWSER_STATE_COOKIE, SESSION_COOKIE,
};
use super::signin::{
    consent_needed, continue_signed_in, form_pairs, issue_code, login_page, respond_error_for,
    Pairs,
};
use super::AppState;
use crate::actors::directory::CheckPassword;
use crate::actors::session::{GrantConsent, StartSession};
use crate::oidc::authorize::AuthRequest;
use crate::oidc::error::ErrorCode;
use crate::oidc::form::Params;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::post().to(login))
        .route("/consent", web::post().to(consent));
}

/// Check CSRF and open the pending request of a login or consent form.
fn open_form(
    req: &HttpRequest,
    st: &AppState,
    body: &[u8],
) -> Result<(Pairs, AuthRequest), HttpResponse> {
    let form = form_pairs(req, body)?;
    let params = Params::new(&form);
    if !csrf_matches(req, params.get("csrf")) {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "Form expired",
            "This form is no longer valid. Go back to the application and sign in again.",
        ));
    }
    match params.get("req").and_then(|r| st.open_pending(r)) {
        Some(areq) => Ok((form, areq)),
        None => Err(error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in took too long or was altered. Go back to the application and start again.",
        )),
    }
}

fn count_login(outcome: &str) {
    crate::metrics::METRICS
        .logins
        .with_label_values(&[outcome])
        .inc();
}

fn count_consent(decision: &str) {
    crate::metrics::METRICS
        .consents
        .with_label_values(&[decision])
        .inc();
}

pub(super) async fn login(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    match open_form(&req, &st, &body) {
        Ok((form, areq)) => sign_in(&req, &st, &form, areq).await,
        Err(res) => res,
    }
}

pub(super) async fn consent(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    match open_form(&req, &st, &body) {
        Ok((form, areq)) => decide(&req, &st, &form, areq).await,
        Err(res) => res,
    }
}

/// The address a request's guesses are counted against: the TCP peer, or
/// the client a loopback proxy names (see [`crate::throttle::source_address`]).
pub(super) fn source_ip(req: &HttpRequest) -> IpAddr {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    crate::throttle::source_address(req.peer_addr().map(|a| a.ip()), forwarded)
}

/// The login page again, with `status` and `Retry-After: retry` seconds.
fn login_page_retry(
    req: &HttpRequest,
    st: &AppState,
    areq: &AuthRequest,
    username: &str,
    (status, retry, message): (StatusCode, u64, &str),
) -> HttpResponse {
    let mut res = login_page(req, st, areq, username, Some(message));
    *res.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(&retry.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// Check the password, start a session, go on with the authorization.
async fn sign_in(
    req: &HttpRequest,
    st: &AppState,
    form: &Pairs,
    areq: AuthRequest,
) -> HttpResponse {
    let client = match st.client(&areq.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Unknown client",
                "The application is no longer registered.",
            )
        }
        Err(_) => return unavailable(),
    };
    let params = Params::new(form);
    let username = params.get("username").unwrap_or("").trim().to_string();
    let (guards, ip) = (&st.guards, source_ip(req));
    if let Err(wait) = guards.logins.check(&username, ip, Instant::now()) {
        count_login("throttled");
        tracing::info!(target: "audit", event = "login", outcome = "throttled", actor = %username, client_id = %areq.client_id, reason = "too many failed attempts");
        let secs = wait.secs();
        let text = format!("Too many failed sign-in attempts. Try again in {secs} seconds.");
        let refusal = (StatusCode::TOO_MANY_REQUESTS, secs, text.as_str());
        return login_page_retry(req, st, &areq, &username, refusal);
    }
    let Ok(permit) = guards.login_hashes.try_acquire() else {
        count_login("busy");
        tracing::info!(target: "audit", event = "login", outcome = "busy", actor = %username, client_id = %areq.client_id, reason = "password checks queue full");
        let busy = "Too many sign-ins are being checked right now. Try again in a moment.";
        let refusal = (StatusCode::SERVICE_UNAVAILABLE, 1, busy);
        return login_page_retry(req, st, &areq, &username, refusal);
    };
    let check = CheckPassword {
        username: username.clone(),
        password: params.get("password").unwrap_or("").to_string(),
    };
    let user = match st.directory.send(check).await {
        Ok(Ok(u)) => u,
        _ => return unavailable(),
    };
    drop(permit);
    let Some(user) = user else {
        count_login("failure");
        tracing::info!(target: "audit", event = "login", outcome = "failure", actor = %username, client_id = %areq.client_id, reason = "wrong username or password");
        guards.logins.record_failure(&username, ip, Instant::now());
        let wrong = Some("Wrong username or password.");
        return login_page(req, st, &areq, &username, wrong);
    };
    count_login("success");
    tracing::info!(target: "audit", event = "login", outcome = "success", actor = %user.username, sub = %user.sub, client_id = %areq.client_id);
    guards.logins.record_success(&username);
    // Decided before the session exists, so that a login that goes straight
    // on to a code creates the session listing its client (one write, not
    // two). A client the user has not consented to is never listed: it
    // would learn the user's `sub` from a back-channel logout.
    let needs_consent = match consent_needed(st, &areq, &client, &user.sub).await {
        Ok(needs) => needs,
        Err(res) => return res,
    };
    let gets_code = !needs_consent && !areq.wants_other_subject(&user.sub);
    let start = StartSession {
        sub: user.sub.clone(),
        username: user.username.clone(),
        first_client: gets_code.then(|| areq.client_id.clone()),
    };
    let (cookie, session) = match st.sessions.send(start).await {
        Ok(Ok(x)) => x,
        _ => return unavailable(),
    };
    let lifetime = Some(st.settings.session_lifetime);
    let bs = crate::crypto::random_id();
    let cookies = vec![
        st.cookie(SESSION_COOKIE, cookie, lifetime),
        st.script_cookie(BROWSER_STATE_COOKIE, bs.clone(), lifetime),
    ];
    continue_signed_in(req, st, areq, needs_consent, (session, &bs, cookies)).await
}

/// Record the consent and issue the code, or send `access_denied`.
async fn decide(req: &HttpRequest, st: &AppState, form: &Pairs, areq: AuthRequest) -> HttpResponse {
    let session = match signing_in_session(req, st).await {
        Ok(Some(s)) => s,
        Ok(None) => return login_page(req, st, &areq, "", Some("Please sign in again.")),
        Err(res) => return res,
    };
    match Params::new(form).get("decision") {
        Some("allow") => {
            let grant = GrantConsent {
                sub: session.sub.clone(),
                client_id: areq.client_id.clone(),
                scopes: areq.consent_items(),
            };
            if !matches!(st.sessions.send(grant).await, Ok(Ok(()))) {
                return unavailable();
            }
            count_consent("granted");
            tracing::info!(target: "audit", event = "consent", outcome = "granted", sub = %session.sub, client_id = %areq.client_id, scope = %areq.consent_items().join(" "));
            let bs = req
                .cookie(BROWSER_STATE_COOKIE)
                .map(|c| c.value().to_string())
                .unwrap_or_default();
            issue_code(st, &areq, &session, &bs).await
        }
        Some("deny") => {
            count_consent("denied");
            tracing::info!(target: "audit", event = "consent", outcome = "denied", sub = %session.sub, client_id = %areq.client_id);
            let denied = "the user denied access";
            respond_error_for(st, &areq, ErrorCode::AccessDenied, denied)
        }
        _ => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "Choose Allow or Deny.",
        ),
    }
}
