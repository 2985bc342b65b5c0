//! The sign-in flow's error cases and the code-replay race, on three-node
//! clusters (issue 3, "What it must show"; docs/ARCHITECTURE.md invariants 1 and 7).
//!
//! * A code sent to two nodes at the same instant is redeemed exactly once;
//!   the loser gets `invalid_grant` and the winner's tokens are revoked.
//! * `/token` and `/userinfo` errors carry the exact RFC 6749 / 6750 / 7636
//!   code and status; refresh-token reuse revokes the whole family.
//! * `/authorize` errors are redirected (with `state`) only to a registered
//!   redirect URI, else shown as a 400 page; `prompt` and `max_age` decide
//!   between login page, consent page, error and code.
//!
//! Every response any of these tests receives is checked to be no 500.
//!
//! Not covered: code expiry. Codes live a fixed 60 s (`CODE_LIFETIME` in
//! `actors/code.rs`, not configurable) and both issue and redemption read the
//! node's wall clock, so an expired code cannot be produced without waiting
//! a minute; the checks that bind a code to its client and redirect URI are
//! here instead.

use std::time::Duration;

use reqwest::Client;

use crate::flow::{authorize_url, hidden, html_unescape, pkce, Browser, Step};
use crate::harness::{ALICE, REDIRECT};
use crate::rp::{redeem, redeem_form, refresh, token, userinfo, Answer, Seeded, DEMO, RP};
use crate::session::{
    assert_login_page, assert_redirect_error, authorize, browse, checked, code_for, expect_code,
    params, sign_in, with,
};

/// Redeem a code of the public client `spa` (no client authentication).
async fn spa_redeem(http: &Client, base: &str, code: &str, verifier: Option<&str>) -> Answer {
    let mut form = redeem_form(code, verifier);
    form.push(("client_id", "spa"));
    token(http, base, None, &form).await
}

fn pairs(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

// ---------------------------------------------------------------------------
// 1. The code-replay race (docs/ARCHITECTURE.md invariant 1).

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_raced_to_two_nodes_is_redeemed_once_and_the_winner_revoked() {
    let fx = Seeded::start(3, Duration::from_secs(10)).await;
    let (http, on) = (&fx.http, |n: u64| fx.on(n));
    let browser = Browser::new();
    let scope = "openid offline_access";

    // Log in once; demo is first-party, so no consent.
    let back = sign_in(&browser, on(1), on(2), &params("demo", scope, "s-0")).await;
    let code = expect_code("login", &back, "s-0");

    // Sequential control: the tokens work until the code is replayed.
    let first = redeem(http, on(2), DEMO, &code, None).await.ok();
    let at = first["access_token"].as_str().expect("access_token");
    let rt = first["refresh_token"].as_str().expect("refresh_token");
    userinfo(http, on(3), Some(at)).await.ok();
    redeem(http, on(3), DEMO, &code, None)
        .await
        .oauth_error(400, "invalid_grant");
    userinfo(http, on(1), Some(at)).await.invalid_token();
    refresh(http, on(2), DEMO, rt)
        .await
        .oauth_error(400, "invalid_grant");
    // An unknown refresh token on every node (this also warms each node's
    // client-secret cache, so neither racer pays argon2 below).
    for n in 1..=3 {
        refresh(http, on(n), DEMO, "no-such-refresh-token")
            .await
            .oauth_error(400, "invalid_grant");
    }

    let rounds = 30;
    let mut wins = [0u32; 4];
    for round in 0..rounds {
        let (a, b, third) = [(1, 2, 3), (2, 3, 1), (3, 1, 2)][round % 3];
        let state = format!("race-{round}");
        let code = code_for(&browser, on(third), &params("demo", scope, &state)).await;

        let (base_a, base_b) = (on(a), on(b));
        let (ra, rb) = tokio::join!(
            redeem(http, base_a, DEMO, &code, None),
            redeem(http, base_b, DEMO, &code, None)
        );
        let (winner, loser, won_at) = match (ra.status, rb.status) {
            (200, _) => (ra, rb, a),
            (_, 200) => (rb, ra, b),
            _ => panic!("round {round}: no redemption succeeded: {ra:?} / {rb:?}"),
        };
        assert_eq!(
            (loser.status, loser.json()["error"].as_str()),
            (400, Some("invalid_grant")),
            "round {round}: the code was redeemed twice (nodes {a} and {b}): {winner:?} / {loser:?}"
        );
        wins[won_at as usize] += 1;
        let tokens = winner.ok();
        let at = tokens["access_token"].as_str().expect("access_token");
        let rt = tokens["refresh_token"].as_str().expect("refresh_token");

        // The winner's tokens are revoked, as seen from the third node...
        let info = userinfo(http, on(third), Some(at)).await;
        assert_eq!(
            info.status, 401,
            "round {round}: the winner's access token still works on node {third} \
             after the replay: {info:?}"
        );
        info.invalid_token();
        // ...and the refresh token is dead on any node.
        let again = refresh(http, on((round % 3) as u64 + 1), DEMO, rt).await;
        assert_eq!(
            (again.status, again.json()["error"].as_str()),
            (400, Some("invalid_grant")),
            "round {round}: the winner's refresh token still works after the replay: {again:?}"
        );
    }
    eprintln!("code race: wins per node {:?}", &wins[1..]);
}

// ---------------------------------------------------------------------------
// 2. /token and /userinfo errors.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_and_userinfo_errors_carry_the_rfc_codes() {
    let fx = Seeded::start(3, Duration::from_secs(10)).await;
    let (http, on) = (&fx.http, |n: u64| fx.on(n));
    let cc = [("grant_type", "client_credentials")];

    // Wrong client secret, client_secret_basic: before and after the right
    // secret is cached on the node.
    let wrong_basic = Some(("demo", "not-the-secret"));
    token(http, on(1), wrong_basic, &cc).await.invalid_client();
    token(http, on(1), DEMO, &cc).await.ok();
    token(http, on(1), wrong_basic, &cc).await.invalid_client();
    // Wrong client secret, client_secret_post.
    let post = |secret: &'static str| {
        [
            ("grant_type", "client_credentials"),
            ("client_id", "demo"),
            ("client_secret", secret),
        ]
    };
    token(http, on(2), None, &post("not-the-secret"))
        .await
        .invalid_client();
    token(http, on(2), None, &post("demo-secret")).await.ok();
    token(http, on(2), None, &post("demo-secret-"))
        .await
        .invalid_client();
    // Unknown client; a confidential client without its secret.
    token(http, on(3), Some(("nobody", "x")), &cc)
        .await
        .invalid_client();
    token(
        http,
        on(3),
        None,
        &[("grant_type", "client_credentials"), ("client_id", "demo")],
    )
    .await
    .invalid_client();

    // Grant types and request syntax.
    token(http, on(1), DEMO, &[("grant_type", "password")])
        .await
        .oauth_error(400, "unsupported_grant_type");
    token(http, on(1), DEMO, &[("scope", "openid")])
        .await
        .oauth_error(400, "invalid_request");
    for (ct, body) in [
        (
            Some("application/json"),
            r#"{"grant_type":"client_credentials"}"#,
        ),
        (Some("text/plain"), "grant_type=client_credentials"),
        (None, "grant_type=client_credentials"),
    ] {
        let mut req = http
            .post(format!("{}/token", on(2)))
            .basic_auth("demo", Some("demo-secret"))
            .body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        Answer::read(format!("POST /token as {ct:?}"), req.send().await)
            .await
            .oauth_error(400, "invalid_request");
    }
    // Duplicate parameters at /token.
    for form in [
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ][..],
        &[
            ("grant_type", "authorization_code"),
            ("code", "a"),
            ("code", "b"),
            ("redirect_uri", REDIRECT),
        ][..],
        &[
            ("grant_type", "client_credentials"),
            ("scope", "a"),
            ("scope", "b"),
        ][..],
    ] {
        token(http, on(3), DEMO, form)
            .await
            .oauth_error(400, "invalid_request");
    }
    token(
        http,
        on(3),
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "demo"),
            ("client_id", "demo"),
            ("client_secret", "demo-secret"),
        ],
    )
    .await
    .oauth_error(400, "invalid_request");
    // An oversized body: refused (413, or 400), never a 500.
    let mut big = String::from("grant_type=client_credentials&pad=");
    big.push_str(&"a".repeat(1 << 20));
    let res = http
        .post(format!("{}/token", on(1)))
        .basic_auth("demo", Some("demo-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await;
    let big = Answer::read("POST /token with 1 MiB".into(), res).await;
    assert!(
        big.status == 413 || big.status == 400,
        "1 MiB to /token: {} {}",
        big.status,
        big.body
    );

    // Sign in once (demo: first-party), then collect codes with the session.
    let browser = Browser::new();
    let back = sign_in(&browser, on(1), on(1), &params("demo", "openid", "t-0")).await;
    let code = expect_code("login", &back, "t-0");

    // A code is bound to its client and redirect URI (expiry: see the
    // module docs). Each check uses a fresh code.
    redeem(http, on(2), DEMO, "no-such-code", None)
        .await
        .oauth_error(400, "invalid_grant");
    redeem(http, on(2), RP, &code, None)
        .await
        .oauth_error(400, "invalid_grant");
    let code = code_for(&browser, on(3), &params("demo", "openid", "t-1")).await;
    let mut other_uri = redeem_form(&code, None);
    other_uri[2] = ("redirect_uri", "http://127.0.0.1:8765/other");
    token(http, on(1), DEMO, &other_uri)
        .await
        .oauth_error(400, "invalid_grant");
    let code = code_for(&browser, on(2), &params("demo", "openid", "t-2")).await;
    let no_uri = &redeem_form(&code, None)[..2];
    token(http, on(3), DEMO, no_uri)
        .await
        .oauth_error(400, "invalid_grant");
    // A code_verifier for a code issued without a challenge.
    let code = code_for(&browser, on(1), &params("demo", "openid", "t-3")).await;
    let (verifier, _) = pkce();
    redeem(http, on(2), DEMO, &code, Some(&verifier))
        .await
        .oauth_error(400, "invalid_grant");
    // ...while a plain code redeems fine (the control for all of the above).
    let code = code_for(&browser, on(1), &params("demo", "openid", "t-4")).await;
    let tokens = redeem(http, on(2), DEMO, &code, None).await.ok();
    let id_token = tokens["id_token"].as_str().expect("id_token").to_string();

    // PKCE with the public client `spa` (third-party: consent once).
    let (verifier, challenge) = pkce();
    let spa = |state: &'static str, challenge: &str| -> Vec<(String, String)> {
        with(
            params("spa", "openid", state),
            &[
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let url = authorize_url(on(2), &pairs(&spa("p-0", &challenge)));
    let consent = browse(&browser, &url).await;
    assert!(
        consent.body().contains("Allow access?"),
        "spa is third-party: consent page expected: {consent:?}"
    );
    let back = checked(
        "POST /consent",
        browser.consent(on(3), &consent, true).await,
    );
    let code = expect_code("consent", &back, "p-0");
    // Wrong verifier (well-formed, but another one).
    let (other_verifier, _) = pkce();
    spa_redeem(http, on(1), &code, Some(&other_verifier))
        .await
        .oauth_error(400, "invalid_grant");
    // No verifier although a challenge was sent.
    let code = code_for(&browser, on(3), &pairs(&spa("p-1", &challenge))).await;
    spa_redeem(http, on(2), &code, None)
        .await
        .oauth_error(400, "invalid_grant");
    // The right verifier works.
    let code = code_for(&browser, on(2), &pairs(&spa("p-2", &challenge))).await;
    spa_redeem(http, on(3), &code, Some(&verifier)).await.ok();

    // Refresh-token reuse revokes the family, the rotated token included.
    let code = code_for(
        &browser,
        on(3),
        &params("demo", "openid offline_access", "r-0"),
    )
    .await;
    let t1 = redeem(http, on(1), DEMO, &code, None).await.ok();
    let rt1 = t1["refresh_token"].as_str().expect("refresh_token");
    let at1 = t1["access_token"].as_str().expect("access_token");
    let t2 = refresh(http, on(2), DEMO, rt1).await.ok();
    let rt2 = t2["refresh_token"].as_str().expect("rotated refresh_token");
    let at2 = t2["access_token"].as_str().expect("access_token");
    assert_ne!(rt1, rt2, "the refresh token must rotate");
    userinfo(http, on(3), Some(at2)).await.ok();
    refresh(http, on(3), DEMO, rt1)
        .await
        .oauth_error(400, "invalid_grant");
    refresh(http, on(1), DEMO, rt2)
        .await
        .oauth_error(400, "invalid_grant");
    userinfo(http, on(2), Some(at2)).await.invalid_token();
    userinfo(http, on(1), Some(at1)).await.invalid_token();

    // /userinfo: RFC 6750 errors.
    userinfo(http, on(1), Some("garbage.not.a-jwt"))
        .await
        .invalid_token();
    userinfo(http, on(2), Some(&id_token)).await.invalid_token();
    let form_token = http
        .post(format!("{}/userinfo", on(3)))
        .form(&[("access_token", "garbage")])
        .send()
        .await;
    Answer::read("POST /userinfo garbage".into(), form_token)
        .await
        .invalid_token();
    let none = userinfo(http, on(3), None).await;
    assert_eq!(none.status, 401, "no token: {none:?}");
    let challenge = none.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "no token: a bare Bearer challenge expected, got {challenge:?}"
    );
}

// ---------------------------------------------------------------------------
// 3. /authorize errors, prompt, max_age, form_post, consent denial.

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
