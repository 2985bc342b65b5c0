//! The login form (`POST /login`) and the consent form (`POST /consent`)
//! of the authorization flow, and how the pending request travels between
//! pages.
//!
//! The validated authorization request is sealed (encrypted and
//! authenticated with a key derived from the master key) into a hidden
//! field, so any node can continue a flow another node started without a
//! Raft write. Both forms are protected by a double-submit CSRF cookie. A
//! wrong password gets the same message whether the user exists or not.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::authorize::{
    after_login, current_session, field, form_pairs, issue_code, respond_error_for, unavailable,
    Pairs, BROWSER_STATE_COOKIE, SESSION_COOKIE,
};
use super::pages::{error_page, page_posting_to};
use super::AppState;
use crate::actors::directory::CheckPassword;
use crate::actors::now;
use crate::actors::session::{GrantConsent, StartSession};
use crate::oidc::authorize::AuthRequest;
use crate::oidc::error::ErrorCode;

const CSRF_COOKIE: &str = "tessera_csrf";
/// How long a user may take on the login and consent pages (seconds).
const PENDING_LIFETIME: u64 = 1800;

/// The authorization request while the user is on our pages.
#[derive(Serialize, Deserialize)]
struct Pending {
    req: AuthRequest,
    at: u64,
}

/// The CSRF token of this browser, and the cookie to set if it is new.
fn csrf_token(req: &HttpRequest, st: &AppState) -> (String, Option<Cookie<'static>>) {
    match req.cookie(CSRF_COOKIE) {
        Some(c) if c.value().len() >= 32 => (c.value().to_string(), None),
        _ => {
            let v = crate::crypto::random_secret();
            (v.clone(), Some(st.cookie(CSRF_COOKIE, v, None)))
        }
    }
}

fn csrf_ok(req: &HttpRequest, form: &Pairs) -> bool {
    match (req.cookie(CSRF_COOKIE), field(form, "csrf")) {
        (Some(c), Some(f)) => bool::from(c.value().as_bytes().ct_eq(f.as_bytes())),
        _ => false,
    }
}

pub(super) fn login_page(
    req: &HttpRequest,
    st: &AppState,
    areq: &AuthRequest,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    let (csrf, cookie) = csrf_token(req, st);
    let sealed = st.seal_pending(areq);
    let mut res = page_posting_to(
        StatusCode::OK,
        "login.html",
        minijinja::context! {
            lang => "en", client_id => areq.client_id, req => sealed, csrf => csrf,
            username => username, error => error,
        },
        Some(&areq.redirect_uri),
    );
    if let Some(c) = cookie {
        let _ = res.add_cookie(&c);
    }
    res
}

pub(super) fn consent_page(
    req: &HttpRequest,
    st: &AppState,
    areq: &AuthRequest,
    username: &str,
) -> HttpResponse {
    let (csrf, cookie) = csrf_token(req, st);
    let scopes: Vec<&str> = areq.scopes.iter().map(|s| scope_text(s)).collect();
    let mut res = page_posting_to(
        StatusCode::OK,
        "consent.html",
        minijinja::context! {
            lang => "en", client_id => areq.client_id, username => username,
            scopes => scopes, req => st.seal_pending(areq), csrf => csrf,
        },
        Some(&areq.redirect_uri),
    );
    if let Some(c) = cookie {
        let _ = res.add_cookie(&c);
    }
    res
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

/// Check CSRF and open the pending request of a login or consent form.
fn open_form(
    req: &HttpRequest,
    st: &AppState,
    body: &[u8],
) -> Result<(Pairs, AuthRequest), HttpResponse> {
    let form = form_pairs(req, body)?;
    if !csrf_ok(req, &form) {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "Form expired",
            "This form is no longer valid. Go back to the application and sign in again.",
        ));
    }
    let pending = field(&form, "req").and_then(|r| st.open_pending(r));
    match pending {
        Some(p) if p.at + PENDING_LIFETIME > now() => Ok((form, p.req)),
        _ => Err(error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in took too long or was altered. Go back to the application and start again.",
        )),
    }
}

pub(super) async fn login(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, areq) = match open_form(&req, &st, &body) {
        Ok(x) => x,
        Err(res) => return res,
    };
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
    let username = field(&form, "username").unwrap_or("").trim().to_string();
    let password = field(&form, "password").unwrap_or("").to_string();
    let check = CheckPassword {
        username: username.clone(),
        password,
    };
    let user = match st.directory.send(check).await {
        Ok(Ok(u)) => u,
        _ => return unavailable(),
    };
    let Some(user) = user else {
        crate::metrics::METRICS
            .logins
            .with_label_values(&["failure"])
            .inc();
        return login_page(
            &req,
            &st,
            &areq,
            &username,
            Some("Wrong username or password."),
        );
    };
    crate::metrics::METRICS
        .logins
        .with_label_values(&["success"])
        .inc();
    let start = StartSession {
        sub: user.sub.clone(),
        username: user.username.clone(),
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
    after_login(&req, &st, areq, client, session, &bs, cookies).await
}

pub(super) async fn consent(
    req: HttpRequest,
    st: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, areq) = match open_form(&req, &st, &body) {
        Ok(x) => x,
        Err(res) => return res,
    };
    let session = match current_session(&req, &st).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Some(session) = session else {
        return login_page(&req, &st, &areq, "", Some("Please sign in again."));
    };
    match field(&form, "decision") {
        Some("allow") => {
            let grant = GrantConsent {
                sub: session.sub.clone(),
                client_id: areq.client_id.clone(),
                scopes: areq.scopes.clone(),
            };
            if !matches!(st.sessions.send(grant).await, Ok(Ok(()))) {
                return unavailable();
            }
            crate::metrics::METRICS
                .consents
                .with_label_values(&["granted"])
                .inc();
            let bs = req
                .cookie(BROWSER_STATE_COOKIE)
                .map(|c| c.value().to_string())
                .unwrap_or_default();
            issue_code(&st, &areq, &session, &bs).await
        }
        Some("deny") => {
            crate::metrics::METRICS
                .consents
                .with_label_values(&["denied"])
                .inc();
            respond_error_for(
                &st,
                &areq,
                ErrorCode::AccessDenied,
                "the user denied access",
            )
        }
        _ => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "Choose Allow or Deny.",
        ),
    }
}

impl AppState {
    fn seal_pending(&self, areq: &AuthRequest) -> String {
        let p = Pending {
            req: areq.clone(),
            at: now(),
        };
        self.pending_seal
            .seal(&serde_json::to_vec(&p).expect("json"))
    }

    fn open_pending(&self, sealed: &str) -> Option<Pending> {
        let bytes = self.pending_seal.open(sealed)?;
        serde_json::from_slice(&bytes).ok()
    }

    /// A cookie page scripts may read (the browser state), otherwise like [`Self::cookie`].
    pub fn script_cookie(
        &self,
        name: &'static str,
        value: String,
        max_age: Option<u64>,
    ) -> Cookie<'static> {
        let mut c = self.cookie(name, value, max_age);
        c.set_http_only(false);
        c
    }

    /// A cookie with the attributes this issuer needs.
    pub fn cookie(
        &self,
        name: &'static str,
        value: String,
        max_age: Option<u64>,
    ) -> Cookie<'static> {
        let mut c = Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.config.issuer.scheme() == "https")
            .finish();
        if let Some(secs) = max_age {
            c.set_max_age(actix_web::cookie::time::Duration::seconds(secs as i64));
        }
        c
    }
}
