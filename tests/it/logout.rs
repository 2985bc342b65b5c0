//! A session ended on one node is ended on every node (issue 4, "What it
//! must show"; docs/ARCHITECTURE.md invariant 2): `prompt=none` on B answers
//! `login_required`, with the browser's cookies and with the old cookie
//! replayed; its session-bound access tokens die on C. An unregistered
//! `post_logout_redirect_uri` is never redirected to, and a logout without
//! `id_token_hint` asks for confirmation first.

use std::time::Duration;

use reqwest::Client;

use crate::flow::{authorize_url, hidden, pkce, Browser, Step};
use crate::harness::others;
use crate::rp::{introspect, jwt_claims, urlencode, userinfo, Seeded, DEMO, LOGGED_OUT};
use crate::session::{checked, demo_sign_in, demo_tokens, pkce_params, with, Via};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_ended_on_one_node_is_ended_on_every_node() {
    let fx = Seeded::start(3, Duration::from_secs(15)).await;
    let (http, on) = (&fx.http, |n: u64| fx.on(n));

    let browser = Browser::new();
    let tokens = demo_tokens(&browser, http, Via::Login, (on(1), on(2)), "openid").await;
    let id_token = tokens.id_token.clone().expect("id_token");
    assert!(jwt_claims(&id_token)["sid"].is_string(), "ID token has sid");
    let cookies = cookie_header(&browser, on(1));
    introspect(http, on(3), DEMO, &tokens.access).await.active();

    // An unregistered post_logout_redirect_uri: a 400 page, no redirect,
    // and the session lives on.
    for url in [
        format!(
            "{}/end_session?client_id=demo&post_logout_redirect_uri={}&state=x",
            on(2),
            urlencode("http://127.0.0.1:8765/elsewhere")
        ),
        format!(
            "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri={}&state=x",
            on(3),
            urlencode("https://evil.example/logged-out")
        ),
    ] {
        match checked(&url, browser.get(&url).await) {
            Step::Page { status, body } => {
                assert_eq!(status, 400, "{url}: {body}");
                assert!(body.contains("<html") || body.contains("<!"), "{body}");
            }
            other => panic!("{url}: an unregistered URI must not be redirected to: {other:?}"),
        }
    }
    let still = silent(&browser, on(3)).await;
    assert!(
        still.param("code").is_some(),
        "session must live: {still:?}"
    );

    // No id_token_hint: a confirmation page, and nothing ended yet.
    let ask_url = format!(
        "{}/end_session?client_id=demo&post_logout_redirect_uri={}&state=s2",
        on(2),
        urlencode(LOGGED_OUT)
    );
    for url in [format!("{}/end_session", on(1)), ask_url] {
        let ask = checked(&url, browser.get(&url).await);
        let body = match &ask {
            Step::Page { status: 200, body } => body.clone(),
            other => panic!("{url}: a confirmation page expected: {other:?}"),
        };
        assert!(
            body.contains("<form") && body.contains("/end_session/confirm"),
            "{body}"
        );
        assert!(hidden(&body, "req").is_some() && hidden(&body, "csrf").is_some());
        let still = silent(&browser, on(3)).await;
        assert!(
            still.param("code").is_some(),
            "an unconfirmed logout ended the session: {still:?}"
        );
    }
    introspect(http, on(1), DEMO, &tokens.access).await.active();

    // "Stay signed in" keeps the session; a forged form is refused.
    let ask = checked("ask", browser.get(&format!("{}/end_session", on(3))).await);
    let form = |decision: &str, csrf: Option<String>| {
        vec![
            ("req".to_string(), hidden(ask.body(), "req").unwrap()),
            (
                "csrf".to_string(),
                csrf.unwrap_or_else(|| hidden(ask.body(), "csrf").unwrap()),
            ),
            ("decision".to_string(), decision.to_string()),
        ]
    };
    let stay = browser
        .http
        .post(format!("{}/end_session/confirm", on(1)))
        .form(&form("stay", None))
        .send()
        .await
        .unwrap();
    assert_eq!(stay.status(), 200);
    let forged = browser
        .http
        .post(format!("{}/end_session/confirm", on(2)))
        .form(&form("logout", Some("forged-csrf-value".into())))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400, "a forged confirmation");
    let still = silent(&browser, on(2)).await;
    assert!(
        still.param("code").is_some(),
        "session must live: {still:?}"
    );

    // A second browser confirms its logout on another node: ended everywhere.
    let other = Browser::new();
    demo_sign_in(&other, on(2), "openid").await;
    let ask = checked("ask", other.get(&format!("{}/end_session", on(2))).await);
    let res = other
        .http
        .post(format!("{}/end_session/confirm", on(3)))
        .form(&[
            ("req", hidden(ask.body(), "req").unwrap()),
            ("csrf", hidden(ask.body(), "csrf").unwrap()),
            ("decision", "logout".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let gone = silent(&other, on(1)).await;
    assert_eq!(
        gone.param("error").as_deref(),
        Some("login_required"),
        "{gone:?}"
    );
    // ...and the first browser's session was not touched.
    let still = silent(&browser, on(1)).await;
    assert!(still.param("code").is_some(), "{still:?}");

    // RP-initiated logout with a valid hint on node A, then at once on B
    // and C: prompt=none → login_required (with the browser's cookies, and
    // with the old cookie replayed, since the logout clears the browser's),
    // and the session-bound access token is dead. The first round uses the
    // browser above; the others sign in afresh, with A rotating.
    let mut session = (browser, tokens, id_token, cookies);
    const ROUNDS: u64 = 12;
    for i in 0..ROUNDS {
        let a = i % 3 + 1;
        let (b, cc) = others(a);
        if i > 0 {
            let browser = Browser::new();
            let tokens = demo_tokens(&browser, http, Via::Login, (on(cc), on(b)), "openid").await;
            let id_token = tokens.id_token.clone().expect("id_token");
            let cookies = cookie_header(&browser, on(a));
            session = (browser, tokens, id_token, cookies);
        }
        let (browser, tokens, id_token, cookies) = &session;
        let state = format!("bye-{i}");
        let url = format!(
            "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri={}&state={state}",
            on(a),
            urlencode(LOGGED_OUT)
        );
        let out = checked(&url, browser.get(&url).await);
        match &out {
            Step::Redirect { status, location } => {
                assert!(matches!(status, 302 | 303), "{out:?}");
                let l = url::Url::parse(location).unwrap();
                assert_eq!(
                    format!("{}://{}{}", l.scheme(), l.authority(), l.path()),
                    LOGGED_OUT
                );
                assert_eq!(out.param("state"), Some(state), "{out:?}");
            }
            other => panic!("a redirect to the registered URI expected: {other:?}"),
        }
        let (sb, rb, rc, x, u) = tokio::join!(
            silent(browser, on(b)),
            silent_with_cookie(http, on(b), cookies),
            silent_with_cookie(http, on(cc), cookies),
            introspect(http, on(cc), DEMO, &tokens.access),
            userinfo(http, on(b), Some(&tokens.access))
        );
        assert_eq!(
            sb.param("error").as_deref(),
            Some("login_required"),
            "round {i}: {sb:?}"
        );
        for (n, r) in [(b, rb), (cc, rc)] {
            assert!(
                r.contains("error=login_required") && !r.contains("code="),
                "round {i}: the session ended on node {a} still works on node {n}: {r}"
            );
        }
        x.inactive();
        u.oauth_error(401, "invalid_token");
    }
    eprintln!("logout test took {:?}", fx.started.elapsed());
}

/// The `Cookie` header `browser` sends to `base`, with a session.
fn cookie_header(browser: &Browser, base: &str) -> String {
    let url = url::Url::parse(base).unwrap();
    let cookies = reqwest::cookie::CookieStore::cookies(&*browser.jar, &url)
        .expect("session cookies")
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookies.contains("tessera_session="), "{cookies}");
    cookies
}

/// `prompt=none` for `demo` on `base` with a replayed `Cookie` header; the
/// redirect location.
async fn silent_with_cookie(http: &Client, base: &str, cookies: &str) -> String {
    let (_, challenge) = pkce();
    let url = authorize_url(base, &prompt_none(&challenge));
    let res = http
        .get(&url)
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_redirection(),
        "prompt=none on {base}: {res:?}"
    );
    res.headers()["location"].to_str().unwrap().to_string()
}

/// `prompt=none` for `demo` on `base` with `browser`'s cookies.
async fn silent(browser: &Browser, base: &str) -> Step {
    let (_, challenge) = pkce();
    let url = authorize_url(base, &prompt_none(&challenge));
    checked("prompt=none", browser.get(&url).await)
}

/// `prompt=none` for `demo` with PKCE.
fn prompt_none(challenge: &str) -> Vec<(&str, &str)> {
    with(
        pkce_params("demo", "openid", challenge),
        &[("prompt", "none")],
    )
}
