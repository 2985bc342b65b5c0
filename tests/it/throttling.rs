//! Brute-force protection on a three-node cluster (issue 10 #4; the
//! throttle is per node, see `src/throttle.rs`):
//!
//! * 30 wrong passwords for alice, spread over the nodes, are refused with
//!   429 and `Retry-After`, and her right password works again within a
//!   minute (waiting on `Retry-After`);
//! * 200 concurrent wrong client secrets spread over the nodes do not push a
//!   real sign-in (authorize, login, code) beyond 2 s: throttled guesses and
//!   guesses beyond the client-secret permits cost no argon2;
//! * one address guessing one password each for many accounts is throttled
//!   by the address limit, while alice from another address still signs in.
//!
//! The sources are told apart with `X-Forwarded-For`, which the nodes honour
//! because the test connects from loopback, the trusted proxy.

use std::time::{Duration, Instant};

use futures::future::join_all;

use crate::flow::{hidden, Browser, Step};
use crate::harness::ALICE;
use crate::rp::{client_credentials, Seeded};
use crate::session::{authorize, expect_code, params};

/// What a POST /login answered: status, `Retry-After` seconds, redirect.
struct LoginAnswer {
    status: u16,
    retry_after: Option<u64>,
    location: Option<String>,
}

/// Post the login form of `page` to `base` as if from address `from`.
async fn login_from(
    b: &Browser,
    base: &str,
    page: &Step,
    from: &str,
    user: &str,
    pw: &str,
) -> LoginAnswer {
    let field = |name| hidden(page.body(), name).expect("login page field");
    let form = [
        ("req", field("req")),
        ("csrf", field("csrf")),
        ("username", user.to_string()),
        ("password", pw.to_string()),
    ];
    let url = format!("{base}/login");
    let res = b
        .http
        .post(&url)
        .header("x-forwarded-for", from)
        .form(&form);
    let res = res.send().await.expect("POST /login");
    let header = |name| res.headers().get(name).and_then(|v| v.to_str().ok());
    let answer = LoginAnswer {
        status: res.status().as_u16(),
        retry_after: header("retry-after").and_then(|v| v.parse().ok()),
        location: header("location").map(String::from),
    };
    assert_ne!(answer.status, 500, "POST {url} as {user}: 500");
    if answer.status == 429 {
        let body = res.text().await.unwrap_or_default();
        assert!(body.contains("Too many failed sign-in attempts"), "{body}");
        assert!(answer.retry_after.is_some(), "429 without Retry-After");
    }
    answer
}

/// The login page of a `demo` authorization request on node 1.
async fn login_page(fx: &Seeded, b: &Browser, state: &str) -> Step {
    authorize(b, fx.on(1), &params("demo", "openid", state)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_wrong_passwords_are_throttled_and_the_right_one_works_within_a_minute() {
    let fx = Seeded::start(3, Duration::from_secs(30)).await;
    let b = Browser::new();
    let page = login_page(&fx, &b, "s-1").await;
    let from = "203.0.113.1";
    let mut refused = 0;
    for i in 0..30u64 {
        let a = login_from(&b, fx.on(1 + i % 3), &page, from, ALICE.0, "wrong-password").await;
        assert!(
            matches!(a.status, 200 | 429),
            "wrong password {i}: {}",
            a.status
        );
        refused += u32::from(a.status == 429);
    }
    assert!(refused > 0, "30 wrong passwords and none throttled");

    let last_wrong = Instant::now();
    let mut n = 0u64;
    let back = loop {
        n += 1;
        let a = login_from(&b, fx.on(1 + n % 3), &page, from, ALICE.0, ALICE.1).await;
        if a.status != 429 {
            break a;
        }
        let wait = a.retry_after.expect("Retry-After");
        assert!(wait <= 60, "Retry-After {wait} s: longer than a minute");
        assert!(
            last_wrong.elapsed() < Duration::from_secs(60),
            "still refused after a minute"
        );
        tokio::time::sleep(Duration::from_secs(wait)).await;
    };
    assert!(last_wrong.elapsed() < Duration::from_secs(60));
    let location = back
        .location
        .unwrap_or_else(|| panic!("no redirect: {}", back.status));
    let step = Step::Redirect {
        status: back.status,
        location,
    };
    expect_code("right password after the throttle", &step, "s-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_wrong_client_secrets_do_not_slow_a_real_login_beyond_two_seconds() {
    let fx = Seeded::start(3, Duration::from_secs(60)).await;
    let b = Browser::new();
    let flood = join_all((0..200u64).map(|i| {
        let (http, base) = (fx.http.clone(), fx.on(1 + i % 3).to_string());
        tokio::spawn(async move {
            client_credentials(&http, &base, Some(("demo", "not-the-secret")))
                .await
                .status
        })
    }));
    let flood = tokio::spawn(flood);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    let page2 = login_page(&fx, &b, "s-3").await;
    let a = login_from(&b, fx.on(1), &page2, "198.51.100.9", ALICE.0, ALICE.1).await;
    let took = started.elapsed();
    let statuses = flood.await.unwrap();
    let location = a
        .location
        .unwrap_or_else(|| panic!("no redirect: {}", a.status));
    expect_code(
        "login",
        &Step::Redirect {
            status: a.status,
            location,
        },
        "s-3",
    );
    for s in statuses {
        let s = s.unwrap();
        assert!(matches!(s, 401 | 429 | 503), "a wrong secret got {s}");
    }
    assert!(
        took < Duration::from_secs(2),
        "login took {took:?} under the flood"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_address_guessing_at_many_accounts_is_throttled() {
    let fx = Seeded::start(3, Duration::from_secs(30)).await;
    let b = Browser::new();
    let page = login_page(&fx, &b, "s-4").await;
    let from = "192.0.2.66";
    let mut first_refusal = None;
    for i in 0..40 {
        let user = format!("user-{i}");
        let a = login_from(&b, fx.on(1), &page, from, &user, "guess-123").await;
        if a.status == 429 {
            first_refusal = Some(i);
            break;
        }
        assert_eq!(a.status, 200, "guess {i}");
    }
    // Each account was tried once: only the address limit can refuse.
    let i = first_refusal.expect("40 accounts from one address and none throttled");
    assert!(
        i >= 5,
        "refused after {i} guesses: before the address limit"
    );

    let a = login_from(&b, fx.on(1), &page, "192.0.2.67", ALICE.0, ALICE.1).await;
    let location = a
        .location
        .unwrap_or_else(|| panic!("other address: {}", a.status));
    expect_code(
        "other address",
        &Step::Redirect {
            status: a.status,
            location,
        },
        "s-4",
    );
}
