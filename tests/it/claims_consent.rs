//! The `claims` parameter (OIDC Core §5.5) on a three-node cluster (issue
//! 10 #1):
//!
//! * claims asked for through `claims` by a third-party client are shown on
//!   the consent page and need their own consent: a consent for `openid`
//!   alone does not release them, and after consent the ID token and
//!   UserInfo carry them;
//! * a `sub` value request (§5.5.1) is never answered for another user:
//!   `login_required` with `prompt=none`, else a new login, and
//!   `access_denied` if the user who signs in is still someone else.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::flow::{Browser, Step};
use crate::harness::ALICE;
use crate::rp::{jwt_claims, redeem, userinfo, Seeded, RP};
use crate::session::{
    assert_login_page, assert_redirect_error, authorize, checked, code_for, demo_sign_in,
    expect_code, params, sign_in, with,
};

const PHONE: &str = "+44 20 7946 0000";
const EMAIL_AND_PHONE: &str = r#"{"id_token":{"email":null,"phone_number":null},
    "userinfo":{"email":null,"phone_number":{"essential":true}}}"#;

/// The consent page, listing `items`.
#[track_caller]
fn assert_consent_page(what: &str, step: &Step, items: &[&str]) {
    let body = match step {
        Step::Page { status: 200, body } if body.contains("action=\"/consent\"") => body,
        other => panic!("{what}: expected the consent page, got {other:?}"),
    };
    for item in items {
        assert!(
            body.contains(item),
            "{what}: the page does not list {item:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_are_released_only_after_their_consent() {
    let fx = Seeded::start(3, Duration::from_secs(10)).await;
    let (http, on) = (&fx.http, |n: u64| fx.on(n));
    let phone = BTreeMap::from([("phone_number".to_string(), json!(PHONE))]);
    fx.c.node(1)
        .admin()
        .set_claims(ALICE.0, &phone)
        .await
        .expect("alice's phone number");

    // Alice consents to rp for `openid` alone.
    let browser = Browser::new();
    let consent = sign_in(&browser, on(1), on(2), &params("rp", "openid", "s-0")).await;
    assert_consent_page("rp, openid", &consent, &["Sign you in"]);
    let back = checked("consent", browser.consent(on(2), &consent, true).await);
    expect_code("consent to openid", &back, "s-0");

    // The same client now asks for email and phone number through
    // `claims`: that consent does not cover them, so no code, silent or not.
    let ask = |state| {
        with(
            params("rp", "openid", state),
            &[("claims", EMAIL_AND_PHONE)],
        )
    };
    let silent = with(ask("s-1"), &[("prompt", "none")]);
    let step = authorize(&browser, on(3), &silent).await;
    assert_redirect_error(
        "claims, prompt=none",
        &step,
        "consent_required",
        Some("s-1"),
    );
    let page = authorize(&browser, on(3), &ask("s-2")).await;
    let listed = ["See your email address", "See your phone number"];
    assert_consent_page("claims beyond the openid consent", &page, &listed);

    // After consent (given on another node) both are released.
    let back = checked("consent", browser.consent(on(1), &page, true).await);
    let code = expect_code("consent to the claims", &back, "s-2");
    let tokens = redeem(http, on(2), RP, &code, None).await.tokens();
    let id = jwt_claims(tokens.id_token.as_deref().expect("id_token"));
    let info = userinfo(http, on(3), Some(&tokens.access)).await.ok();
    for (what, got) in [("ID token", &id), ("UserInfo", &info)] {
        assert_eq!(got["email"], json!("alice@example.com"), "{what}: {got}");
        assert_eq!(got["phone_number"], json!(PHONE), "{what}: {got}");
        assert_eq!(got["given_name"], Value::Null, "{what}: not asked: {got}");
    }

    // The consent is remembered: the next request gets a code at once.
    code_for(&browser, on(2), &ask("s-3")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sub_value_request_is_never_answered_for_another_user() {
    let fx = Seeded::start(3, Duration::from_secs(10)).await;
    let on = |n: u64| fx.on(n);
    let alice = fx.c.node(2).admin().get_user(ALICE.0).await.expect("alice");
    let alice = alice.sub;
    // Alice signs in to demo (first-party: no consent page).
    let browser = Browser::new();
    demo_sign_in(&browser, on(1), "openid").await;

    let for_sub = |sub: &str| json!({"id_token": {"sub": {"value": sub}}}).to_string();
    let (other, own) = (for_sub("someone-else"), for_sub(&alice));
    let ask = |claims, state| with(params("demo", "openid", state), &[("claims", claims)]);

    // Alice's session must not answer for another subject.
    let silent = with(ask(&other, "u-0"), &[("prompt", "none")]);
    let step = authorize(&browser, on(2), &silent).await;
    assert_redirect_error(
        "sub of another, prompt=none",
        &step,
        "login_required",
        Some("u-0"),
    );
    let page = authorize(&browser, on(3), &ask(&other, "u-1")).await;
    assert_login_page("sub of another, with a session", &page);
    // Signing in again as alice is still not the requested subject.
    let back = checked("login", browser.login(on(1), &page, ALICE.0, ALICE.1).await);
    assert_redirect_error(
        "alice signed in for another sub",
        &back,
        "access_denied",
        Some("u-1"),
    );

    // Her own sub is answered from the session.
    code_for(&browser, on(1), &ask(&own, "u-2")).await;
}
