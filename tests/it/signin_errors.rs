//! The sign-in flow's error cases and the code-replay race, on three-node
//! clusters (issue 3, "What it must show"; docs/ARCHITECTURE.md invariants 1 and 7).
//!
//! * A code sent to two nodes at the same instant is redeemed exactly once;
//!   the loser gets `invalid_grant` and the winner's tokens are revoked.
//! * `/token` and `/userinfo` errors carry the exact RFC 6749 / 6750 / 7636
//!   code and status; refresh-token reuse revokes the whole family.
//!
//! `/authorize` errors are in `authorize_errors.rs`.
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

use crate::flow::{authorize_url, pkce, Browser};
use crate::harness::REDIRECT;
use crate::rp::{
    jwt_claims, redeem, redeem_form, refresh, token, userinfo, Answer, Seeded, DEMO, RP,
};
use crate::session::{browse, checked, code_for, expect_code, params, sign_in, with};

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
    // Once every member reports format 3, access tokens carry their
    // family's tag and are revoked by the family's one marker.
    fx.c.wait_cluster_format(3).await;
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
    // A format-2 cluster hands out tokens that name their family, and
    // forgets a rotated one: the reuse below is caught by the family alone.
    let family = rt2.split_once('.').map(|(f, _)| f);
    assert!(
        family.is_some_and(|f| f.len() == 22),
        "a rotated refresh token names its family: {rt2}"
    );
    for at in [at1, at2] {
        let jti = jwt_claims(at)["jti"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            jti.split_once('.').is_some_and(|(tag, _)| tag.len() == 22),
            "a format-3 family's access token carries its tag: {jti}"
        );
    }
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
