//! `/authorize` (GET and POST): OpenID Connect Core §3.1.2. Validates the
//! request, then decides between the login page, the consent page and
//! issuing a code; the forms themselves are in [`super::login`], the steps
//! both share in [`super::signin`].
//!
//! `request`, `request_uri` and pushed requests are first turned into the
//! parameters to validate by [`super::request_object`].
//!
//! Sessions, consents and codes are replicated records, so each step may be
//! served by another node. Errors go back to the client only once client and
//! redirect URI are known good; otherwise the user gets a 400 page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::pages::error_page;
use super::request_object::{client_view, refused, resolve, Unresolved};
use super::session_cookie::{signing_in_session, unavailable, BROWSER_STATE_COOKIE};
use super::signin::{after_login, form_pairs, login_page, respond_error, respond_error_for, Pairs};
use super::AppState;
use crate::actors::directory::ClientRecord;
use crate::actors::session::SessionRecord;
use crate::clock::now;
use crate::oidc::authorize::{self as authz, AuthRequest, AuthorizeError};
use crate::oidc::error::ErrorCode;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/authorize", web::get().to(authorize_get))
        .route("/authorize", web::post().to(authorize_post));
}

fn query_pairs(req: &HttpRequest) -> Pairs {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
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

async fn authorize(req: &HttpRequest, st: &AppState, query: Pairs) -> HttpResponse {
    let ids: Vec<&str> = query
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
    // `request` / `request_uri` (and PAR) need a known client; without one
    // validation below answers the 400 page.
    let pairs = match &client {
        Some(c) => match resolve(st, c, &query).await {
            Ok(pairs) => pairs,
            Err(Unresolved::Refused(e)) => return refused(st, c, &query, &e),
            Err(Unresolved::Unavailable) => return unavailable(),
        },
        None => query,
    };
    let lookup = |id: &str| {
        client
            .as_ref()
            .filter(|c| c.client_id == id)
            .map(client_view)
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

/// Decide between login, consent and issuing a code for a valid request.
async fn proceed(
    req: &HttpRequest,
    st: &AppState,
    areq: AuthRequest,
    client: ClientRecord,
) -> HttpResponse {
    let session = match signing_in_session(req, st).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let session = match session
        .map(|s| must_sign_in_again(st, &areq, &client, &s).map(|again| (s, again)))
    {
        Some(Err(res)) => return res,
        Some(Ok((s, false))) if !areq.prompt.login => s,
        _ if areq.prompt.none => {
            return respond_error_for(st, &areq, ErrorCode::LoginRequired, "the user must sign in")
        }
        _ => {
            let hint = areq.login_hint.clone().unwrap_or_default();
            return login_page(req, st, &areq, &hint, None);
        }
    };
    let bs = req
        .cookie(BROWSER_STATE_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    after_login(req, st, areq, client, session, &bs, vec![]).await
}

/// Whether the user of a live session must sign in again for this request:
/// the authentication is older than `max_age`, or `id_token_hint` or a
/// `claims` `sub` value (OIDC Core §5.5.1: never answer for another user,
/// even one with a session) names another user; with `prompt=none` that is
/// `login_required` (§3.1.2.6). `Err` answers a hint that is not our ID
/// token.
fn must_sign_in_again(
    st: &AppState,
    areq: &AuthRequest,
    client: &ClientRecord,
    session: &SessionRecord,
) -> Result<bool, HttpResponse> {
    let default_max_age = client
        .metadata
        .as_ref()
        .and_then(|m| m.get("default_max_age"))
        .and_then(|v| v.as_u64());
    // max_age=0 means "authenticate now", like prompt=login.
    let again = areq
        .max_age
        .or(default_max_age)
        .is_some_and(|max| max == 0 || now() > session.auth_time.saturating_add(max))
        || areq.wants_other_subject(&session.sub);
    let Some(hint) = &areq.id_token_hint else {
        return Ok(again);
    };
    match st.keys.get().verify(hint) {
        Ok((claims, _)) => {
            let other_user =
                claims.get("sub").and_then(|v| v.as_str()) != Some(session.sub.as_str());
            Ok(again || other_user)
        }
        Err(_) => Err(respond_error_for(
            st,
            areq,
            ErrorCode::InvalidRequest,
            "id_token_hint is not an ID token of this issuer",
        )),
    }
}
