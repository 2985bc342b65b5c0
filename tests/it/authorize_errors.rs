//! `/authorize` errors, `prompt`, `max_age`, `response_mode=form_post` and
//! consent denial on a three-node cluster (issue 3, "What it must show";
//! docs/ARCHITECTURE.md invariant 7).
//!
//! * Errors are redirected (with `state`) only to a registered redirect
//!   URI, else shown as a 400 page, never a 500.
//! * `prompt` and `max_age` decide between login page, consent page, error
//!   and code.

use std::time::Duration;

use crate::flow::{authorize_url, hidden, html_unescape, Browser, Step};
use crate::harness::{ALICE, REDIRECT};
use crate::rp::{redeem, Answer, Seeded, DEMO};
use crate::session::{
    assert_login_page, assert_redirect_error, authorize, browse, checked, expect_code, params,
    sign_in, with,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authorize_errors_prompts_and_max_age() {
    let fx = Seeded::start(3, Duration::from_secs(10)).await;
    let (http, on) = (&fx.http, |n: u64| fx.on(n));

    // Client or redirect URI not trusted: a 400 page, never a redirect.
    let fatal = |p: Vec<(&str, &str)>| {
        let url = authorize_url(on(1), &p);
        let http = http.clone();
        async move {
            let a = Answer::read(format!("GET {url}"), http.get(&url).send().await).await;
            assert_eq!(a.status, 400, "{url}: {a:?}");
            assert!(a.header("location").is_none(), "{url} redirected: {a:?}");
            assert!(
                a.header("content-type")
                    .is_some_and(|c| c.starts_with("text/html")),
                "{url}: an HTML page expected: {a:?}"
            );
        }
    };
    let evil = "http://evil.example/cb";
    let base = params("demo", "openid", "f");
    let swap = |p: &[(&'static str, &'static str)], k: &str, v: &'static str| {
        p.iter()
            .map(|&(pk, pv)| if pk == k { (pk, v) } else { (pk, pv) })
            .collect::<Vec<_>>()
    };
    fatal(swap(&base, "redirect_uri", evil)).await;
    fatal(swap(&base, "redirect_uri", "http://127.0.0.1:8765/cb/")).await;
    fatal(swap(&base, "redirect_uri", "http://127.0.0.1:8765/cb?x=1")).await;
    // ...even when the request has another error too.
    fatal(swap(&swap(&base, "redirect_uri", evil), "scope", "profile")).await;
    let without = |k: &str| base.iter().copied().filter(|(pk, _)| *pk != k).collect();
    fatal(without("redirect_uri")).await;
    fatal(without("client_id")).await;
    fatal(swap(&base, "client_id", "no-such-client")).await;
    fatal(with(base.clone(), &[("client_id", "demo")])).await;

    // Errors redirected to the registered URI, with the state.
    let anon = Browser::new();
    let redirected = |p: Vec<(&'static str, &'static str)>, error: &'static str, node: u64| {
        let url = authorize_url(on(node), &p);
        let anon = &anon;
        async move {
            let step = browse(anon, &url).await;
            assert_redirect_error(&url, &step, error, Some("e-1"));
        }
    };
    let e = params("demo", "openid", "e-1");
    redirected(swap(&e, "scope", "profile email"), "invalid_scope", 1).await;
    let twice = |k, v| with(e.clone(), &[(k, v)]);
    redirected(twice("scope", "openid"), "invalid_request", 2).await;
    redirected(twice("response_type", "code"), "invalid_request", 3).await;
    let token = swap(&e, "response_type", "token");
    redirected(token, "unsupported_response_type", 1).await;
    redirected(params("spa", "openid", "e-1"), "invalid_request", 2).await;
    // POST /authorize applies the same rules.
    let posted = Answer::read(
        "POST /authorize with two scopes".into(),
        http.post(format!("{}/authorize", on(3)))
            .form(&with(e.clone(), &[("scope", "openid profile")]))
            .send()
            .await,
    )
    .await;
    assert_eq!(posted.status, 302, "{posted:?}");
    let location = posted.header("location").unwrap_or_default();
    let step = Step::Redirect {
        status: 302,
        location: location.to_string(),
    };
    assert_redirect_error("POST /authorize", &step, "invalid_request", Some("e-1"));
    let wrong_ct = Answer::read(
        "POST /authorize as JSON".into(),
        http.post(format!("{}/authorize", on(3)))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await,
    )
    .await;
    assert_eq!(wrong_ct.status, 400, "{wrong_ct:?}");
    assert!(wrong_ct.header("location").is_none(), "{wrong_ct:?}");

    // prompt=none without a session: login_required (on node 3; nobody has
    // logged in anywhere yet).
    let none = with(params("demo", "openid", "n-0"), &[("prompt", "none")]);
    let step = browse(&anon, &authorize_url(on(3), &none)).await;
    assert_redirect_error(
        "prompt=none, no session",
        &step,
        "login_required",
        Some("n-0"),
    );

    // Sign in (page on node 1, form to node 2).
    let browser = Browser::new();
    let back = sign_in(&browser, on(1), on(2), &params("demo", "openid", "l-0")).await;
    expect_code("login", &back, "l-0");
    // prompt=none with a session: a code for first-party demo; for
    // third-party rp, which has no consent, consent_required.
    let silent = |client, state| with(params(client, "openid", state), &[("prompt", "none")]);
    let step = authorize(&browser, on(1), &silent("demo", "n-1")).await;
    expect_code("prompt=none with a session", &step, "n-1");
    let step = authorize(&browser, on(2), &silent("rp", "n-2")).await;
    let what = "prompt=none for rp without consent";
    assert_redirect_error(what, &step, "consent_required", Some("n-2"));

    // response_mode=form_post: a page posting code and state to the client.
    let url = authorize_url(
        on(2),
        &with(
            params("demo", "openid", "fp-0"),
            &[("response_mode", "form_post")],
        ),
    );
    let page = browse(&browser, &url).await;
    let body = match &page {
        Step::Page { status: 200, body } => body.clone(),
        other => panic!("form_post: a 200 page expected, got {other:?}"),
    };
    let action = body
        .split("action=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(html_unescape);
    assert_eq!(action.as_deref(), Some(REDIRECT), "form_post page: {body}");
    assert!(
        body.contains("method=\"post\""),
        "form_post page must POST: {body}"
    );
    assert_eq!(hidden(&body, "state").as_deref(), Some("fp-0"), "{body}");
    let code = hidden(&body, "code").unwrap_or_else(|| panic!("form_post without code: {body}"));
    redeem(http, on(3), DEMO, &code, None).await.ok();

    // rp asks for consent; the user denies: access_denied, state kept.
    let url = authorize_url(on(3), &params("rp", "openid profile", "d-0"));
    let consent = browse(&browser, &url).await;
    assert!(
        matches!(&consent, Step::Page { status: 200, body } if body.contains("value=\"deny\"")),
        "rp: consent page expected: {consent:?}"
    );
    let denied = checked(
        "POST /consent deny",
        browser.consent(on(1), &consent, false).await,
    );
    assert_redirect_error("consent denied", &denied, "access_denied", Some("d-0"));

    // max_age: after 2 s, max_age=1 forces a new login, a large one does not.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let old = |state: &'static str, max_age: &'static str| {
        with(params("demo", "openid", state), &[("max_age", max_age)])
    };
    let url = authorize_url(on(2), &old("m-1", "1"));
    let page = browse(&browser, &url).await;
    assert_login_page("max_age=1 two seconds after login", &page);
    let url = authorize_url(on(1), &with(old("m-2", "1"), &[("prompt", "none")]));
    assert_redirect_error(
        "prompt=none with max_age exceeded",
        &browse(&browser, &url).await,
        "login_required",
        Some("m-2"),
    );
    let url = authorize_url(on(3), &old("m-3", "3600"));
    expect_code("max_age=3600", &browse(&browser, &url).await, "m-3");
    // Logging in again renews auth_time: max_age=1 is then satisfied. The
    // login starts just after a second boundary, so the checks below run
    // within the second of the new auth_time (a whole-second clock).
    let into_second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1020 - into_second))).await;
    let back = checked(
        "POST /login again",
        browser.login(on(3), &page, ALICE.0, ALICE.1).await,
    );
    expect_code("login after max_age", &back, "m-1");
    let url = authorize_url(on(1), &old("m-4", "1"));
    expect_code(
        "max_age=1 right after a new login",
        &browse(&browser, &url).await,
        "m-4",
    );
    // max_age=0 within the very second of the login still asks for a login:
    // OIDC Core §3.1.2.1 (errata set 2) "max_age=0 is equivalent to
    // prompt=login". Last, so that a failure here masks no other check.
    let url = authorize_url(on(2), &old("m-5", "0"));
    assert_login_page(
        "max_age=0 right after a login",
        &browse(&browser, &url).await,
    );
}
