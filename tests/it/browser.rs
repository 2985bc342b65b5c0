//! A real browser signs in: headless Chromium, driven over WebDriver
//! (`fantoccini` talking to `chromedriver`), opens `/authorize` on a
//! three-node cluster, fails once with a wrong password, signs in, allows
//! the third-party client on the consent page and lands on the client's
//! redirect URI with a code, which another node then exchanges for tokens.
//!
//! The browser is Debian's `chromium` with its `chromedriver`
//! (`.ci/run` installs both); nothing is downloaded. Without them the test
//! fails and says what to install. Screenshots of the login, login-error
//! and consent pages are written to `target/test-artifacts/`.
//!
//! Nothing listens on the redirect URI, so Chromium ends on its own
//! "connection refused" page; WebDriver still reports the URL it navigated
//! to, which is all a relying party would read from it.

use fantoccini::Locator;
use url::Url;

use crate::chrome::{click, fill, screenshot, wait_for, Chromedriver};
use crate::harness::{Cluster, ALICE, REDIRECT};
use crate::rp::jwt_claims;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_through_login_and_consent() {
    let driver = Chromedriver::start();
    let c = Cluster::start(3).await;
    c.seed().await;
    let profile = tempfile::tempdir().unwrap();
    let b = driver.browser(profile.path()).await;

    let state = "browser-state-8f2c";
    let nonce = "browser-nonce-51d7";
    let mut authorize = Url::parse(&format!("{}/authorize", c.node(1).http_url())).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "rp")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile")
        .append_pair("state", state)
        .append_pair("nonce", nonce);

    // The login page.
    b.goto(authorize.as_str()).await.expect("open /authorize");
    let (_, html) = wait_for(&b, "the login page", |_, h| h.contains("name=\"password\"")).await;
    assert!(html.contains("Sign in"), "{html}");
    assert!(
        html.contains("<strong>rp</strong>"),
        "names the client: {html}"
    );
    screenshot(&b, "login.png").await;

    // A wrong password: the same page again, with a neutral error.
    fill(&b, "username", ALICE.0).await;
    fill(&b, "password", "not-the-password").await;
    click(&b, "button[type=submit]").await;
    let (_, html) = wait_for(&b, "the login error", |_, h| h.contains("role=\"alert\"")).await;
    let error = b
        .find(Locator::Css("p.error"))
        .await
        .expect("error text")
        .text()
        .await
        .unwrap();
    assert_eq!(error.trim(), "Wrong username or password.", "{html}");
    screenshot(&b, "login-error.png").await;

    // The right password: rp is a third-party client, so consent is asked.
    fill(&b, "username", ALICE.0).await;
    fill(&b, "password", ALICE.1).await;
    click(&b, "button[type=submit]").await;
    let (_, html) = wait_for(&b, "the consent page", |_, h| h.contains("Allow access?")).await;
    assert!(html.contains("See your name and profile"), "{html}");
    screenshot(&b, "consent.png").await;

    // Allow: the browser goes to the redirect URI with a code and our state.
    click(&b, "button[name=decision][value=allow]").await;
    let (back, _) = wait_for(&b, "the redirect URI", |u, _| {
        u.as_str().starts_with(REDIRECT)
    })
    .await;
    let param = |k: &str| {
        back.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some(state), "{back}");
    assert_eq!(
        param("iss").as_deref(),
        Some(c.node(1).http_url().as_str()),
        "{back}"
    );
    let code = param("code").unwrap_or_else(|| panic!("no code in {back}"));
    let _ = b.close().await;

    // Another node redeems the code.
    let res = c
        .http
        .post(format!("{}/token", c.node(2).http_url()))
        .basic_auth("rp", Some("rp-secret-123-of-at-least-32-chars"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let id_token = body["id_token"].as_str().expect("id_token");
    let claims = jwt_claims(id_token);
    let aud = &claims["aud"];
    assert!(
        aud == "rp" || aud.as_array().is_some_and(|a| a.iter().any(|x| x == "rp")),
        "{claims}"
    );
    assert_eq!(claims["nonce"], nonce, "{claims}");
    assert_eq!(claims["iss"], c.node(1).http_url(), "{claims}");
}
