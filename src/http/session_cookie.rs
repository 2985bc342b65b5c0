//! The browser's sign-in state, shared by the authorization, login and
//! logout pages: the session cookie and the browser-state cookie the
//! check-session iframe reads, the double-submit CSRF cookie, how cookies
//! are built, and the live session behind a browser.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

use super::pages::error_page;
use super::AppState;
use crate::actors::session::{FindSession, SessionRecord};

pub const SESSION_COOKIE: &str = "tessera_session";
/// The browser-state cookie the check-session iframe reads (not HttpOnly).
pub const BROWSER_STATE_COOKIE: &str = "tessera_bs";

/// The double-submit CSRF cookie of the sign-in and sign-out forms.
pub const CSRF_COOKIE: &str = "tessera_csrf";

/// A form page rendered with this browser's CSRF token (`render` gets it),
/// setting the CSRF cookie if the browser has none yet.
pub(super) fn with_csrf(
    req: &HttpRequest,
    st: &AppState,
    render: impl FnOnce(&str) -> HttpResponse,
) -> HttpResponse {
    let (csrf, cookie) = csrf_token(req, st);
    let mut res = render(&csrf);
    if let Some(c) = cookie {
        let _ = res.add_cookie(&c);
    }
    res
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

/// Whether a form's `csrf` field matches this browser's CSRF cookie.
pub(super) fn csrf_matches(req: &HttpRequest, field: Option<&str>) -> bool {
    match (req.cookie(CSRF_COOKIE), field) {
        (Some(c), Some(f)) => bool::from(c.value().as_bytes().ct_eq(f.as_bytes())),
        _ => false,
    }
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

/// The live session behind this browser, if it can still sign its user in:
/// a session of a disabled user does not (`prompt=none` answers
/// `login_required`, and the user meets the login page).
pub(super) async fn signing_in_session(
    req: &HttpRequest,
    st: &AppState,
) -> Result<Option<SessionRecord>, HttpResponse> {
    let session = current_session(req, st).await?;
    Ok(session.filter(|s| !st.user_by_sub(&s.sub).is_some_and(|u| u.disabled)))
}

pub(super) fn unavailable() -> HttpResponse {
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The service cannot reach its cluster right now. Please try again in a moment.",
    )
}

impl AppState {
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
