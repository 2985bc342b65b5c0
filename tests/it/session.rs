//! Browser sessions of alice, shared by every test file: authorization
//! request parameters, signing in through the login page (each step on any
//! node), more codes from an existing session, and the checks on where the
//! provider sends the browser back. Every step goes through [`checked`],
//! which refuses a 500 (docs/ARCHITECTURE.md invariant 7).

#![allow(dead_code)]

use reqwest::Client;

use crate::flow::{authorize_url, pkce, Browser, Step};
use crate::harness::{ALICE, REDIRECT};
use crate::rp::{redeem, Tokens, DEMO};

/// The `state` of the requests [`pkce_params`] builds.
pub const STATE: &str = "st-1";

/// A browser step, refused if it is a 500.
pub fn checked(what: &str, step: Step) -> Step {
    let status = match &step {
        Step::Page { status, .. } | Step::Redirect { status, .. } => *status,
    };
    assert_ne!(status, 500, "{what}: 500 Internal Server Error: {step:?}");
    step
}

/// GET `url` in `browser`, refused if it is a 500.
pub async fn browse(browser: &Browser, url: &str) -> Step {
    checked(&format!("GET {url}"), browser.get(url).await)
}

/// GET the authorization request `p` on `base` in `browser`.
pub async fn authorize(browser: &Browser, base: &str, p: &[(&str, &str)]) -> Step {
    browse(browser, &authorize_url(base, p)).await
}

/// Authorization-request parameters for `client` (redirect URI [`REDIRECT`]).
pub fn params<'a>(client: &'a str, scope: &'a str, state: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", state),
    ]
}

/// `p` with `extra` appended.
pub fn with<'a>(
    mut p: Vec<(&'a str, &'a str)>,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    p.extend_from_slice(extra);
    p
}

/// [`params`] with `state` [`STATE`] and a PKCE S256 `challenge`.
pub fn pkce_params<'a>(
    client: &'a str,
    scope: &'a str,
    challenge: &'a str,
) -> Vec<(&'a str, &'a str)> {
    with(
        params(client, scope, STATE),
        &[
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ],
    )
}

/// The login page: 200 HTML with the username/password form.
#[track_caller]
pub fn assert_login_page(what: &str, step: &Step) {
    match step {
        Step::Page { status: 200, body }
            if body.contains("name=\"password\"") && body.contains("action=\"/login\"") => {}
        other => panic!("{what}: expected the login page, got {other:?}"),
    }
}

/// The location of a redirect back to the registered redirect URI
/// carrying `state` (`expected` names what the redirect should carry).
#[track_caller]
pub fn back_to_client<'s>(
    what: &str,
    step: &'s Step,
    expected: &str,
    state: Option<&str>,
) -> &'s str {
    let location = match step {
        Step::Redirect { location, .. } => location,
        other => panic!("{what}: expected a redirect with {expected}, got {other:?}"),
    };
    assert!(
        location.starts_with(&format!("{REDIRECT}?")),
        "{what}: redirected elsewhere: {location}"
    );
    assert_eq!(step.param("state").as_deref(), state, "{what}: {location}");
    location
}

/// A redirect to the registered redirect URI carrying `error` and `state`.
#[track_caller]
pub fn assert_redirect_error(what: &str, step: &Step, error: &str, state: Option<&str>) {
    let expected = format!("error={error}");
    let location = back_to_client(what, step, &expected, state);
    assert_eq!(
        step.param("error").as_deref(),
        Some(error),
        "{what}: {location}"
    );
    assert_eq!(step.param("code"), None, "{what}: {location}");
}

/// A redirect to the registered redirect URI with a code and `state`; the code.
#[track_caller]
pub fn expect_code(what: &str, step: &Step, state: &str) -> String {
    let location = back_to_client(what, step, "a code", Some(state));
    assert_eq!(step.param("error"), None, "{what}: {location}");
    step.param("code")
        .unwrap_or_else(|| panic!("{what}: no code in {location}"))
}

/// A fresh code for a browser that already has a session (and consent):
/// the authorize request `p` on `base` goes straight back with a code.
pub async fn code_for(browser: &Browser, base: &str, p: &[(&str, &str)]) -> String {
    let state = p
        .iter()
        .find(|(k, _)| *k == "state")
        .map(|(_, v)| *v)
        .expect("state");
    let url = authorize_url(base, p);
    expect_code(&url, &browse(browser, &url).await, state)
}

/// Sign alice in with `browser`: the authorize request `p` on `base` must
/// show the login page; the form is posted to `login_base`. Returns what
/// the login answered.
pub async fn sign_in(browser: &Browser, base: &str, login_base: &str, p: &[(&str, &str)]) -> Step {
    let url = authorize_url(base, p);
    let page = browse(browser, &url).await;
    assert_login_page(&url, &page);
    checked(
        "POST /login",
        browser.login(login_base, &page, ALICE.0, ALICE.1).await,
    )
}

/// Sign alice in to `demo` (first-party: no consent) in `browser`, with
/// authorize and login on `base`; returns the code and its PKCE verifier.
pub async fn demo_sign_in(browser: &Browser, base: &str, scope: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let back = sign_in(browser, base, base, &pkce_params("demo", scope, &challenge)).await;
    (expect_code("login", &back, STATE), verifier)
}

/// Another code for `demo` from `browser`'s session, authorized on `base`
/// without any page; the code and its PKCE verifier.
pub async fn demo_code(browser: &Browser, base: &str, scope: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let code = code_for(browser, base, &pkce_params("demo", scope, &challenge)).await;
    (code, verifier)
}

/// How [`demo_tokens`] gets its code.
#[derive(Clone, Copy)]
pub enum Via {
    /// Through the login page ([`demo_sign_in`]).
    Login,
    /// From the browser's session, without any page ([`demo_code`]).
    Session,
}

/// A token set for `demo` in `browser`: a code authorized on `auth_base`
/// (`via` the login page or the session), redeemed on `token_base`.
pub async fn demo_tokens(
    browser: &Browser,
    http: &Client,
    via: Via,
    (auth_base, token_base): (&str, &str),
    scope: &str,
) -> Tokens {
    let (code, verifier) = match via {
        Via::Login => demo_sign_in(browser, auth_base, scope).await,
        Via::Session => demo_code(browser, auth_base, scope).await,
    };
    redeem(http, token_base, DEMO, &code, Some(&verifier))
        .await
        .tokens()
}
