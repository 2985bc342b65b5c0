//! Bad input on the endpoints of issue 4 (`/register` when closed,
//! `/introspect`, `/revoke`, `/end_session`): the RFC error, never a 500
//! (docs/ARCHITECTURE.md invariant 7).
//!
//! * With registration closed (the default), `/register` answers 403.
//! * `/introspect` and `/revoke` refuse missing or wrong client
//!   authentication (401 `invalid_client` with `WWW-Authenticate`), wrong
//!   content types, missing or repeated parameters and oversized bodies;
//!   garbage and forged tokens are inactive; an ID token is not revocable.

use std::time::Duration;

use serde_json::json;

use crate::flow::{authorize_url, pkce, Browser, Step};
use crate::harness::REDIRECT;
use crate::rp::{
    introspect, jwt_claims, post_form, post_raw, register, revoke, urlencode, Answer, Basic,
    Seeded, DEMO, LOGGED_OUT, RP,
};
use crate::session::{demo_tokens, pkce_params, with, Via};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_on_introspect_revoke_end_session_and_closed_register() {
    let fx = Seeded::start(3, Duration::from_secs(15)).await;
    let (http, on) = (&fx.http, |n: u64| fx.on(n));

    // Registration is closed by default.
    let meta = json!({"redirect_uris": [REDIRECT], "client_name": "Nope"});
    for n in 1..=3 {
        let a = register(http, on(n), &meta).await;
        assert_eq!(a.status, 403, "{}: {}", a.what, a.body);
        let a = Answer::read(
            "register with a bearer token".into(),
            http.post(format!("{}/register", on(n)))
                .bearer_auth("some-initial-access-token")
                .json(&meta)
                .send()
                .await,
        )
        .await;
        assert_eq!(a.status, 403, "{}: {}", a.what, a.body);
    }

    let browser = Browser::new();
    let tokens = demo_tokens(
        &browser,
        http,
        Via::Login,
        (on(1), on(2)),
        "openid offline_access",
    )
    .await;
    let id_token = tokens.id_token.clone().expect("id_token");

    let at = tokens.access.as_str();
    for n in 1..=3 {
        let base = on(n);
        for path in ["/introspect", "/revoke"] {
            let form: &[(&str, &str)] = &[("token", at)];
            // Missing or wrong client authentication.
            let wrong: [(Basic, &[(&str, &str)]); 5] = [
                (None, &[]),
                (None, &[("client_id", "demo")]),
                (Some(("demo", "wrong-secret")), &[]),
                (
                    None,
                    &[("client_id", "demo"), ("client_secret", "wrong-secret")],
                ),
                (Some(("nobody", "whatever")), &[]),
            ];
            for (basic, auth) in wrong {
                let form = [form, auth].concat();
                post_form(http, base, path, basic, &form)
                    .await
                    .invalid_client();
            }
            let malformed = Answer::read(
                format!("{path} with a malformed Basic header"),
                http.post(format!("{base}{path}"))
                    .header("authorization", "Basic !!!not-base64")
                    .form(form)
                    .send()
                    .await,
            )
            .await;
            malformed.invalid_client();

            // Missing or repeated token; wrong content types.
            post_form(http, base, path, DEMO, &[])
                .await
                .oauth_error(400, "invalid_request");
            post_form(http, base, path, DEMO, &[("token", "a"), ("token", "b")])
                .await
                .oauth_error(400, "invalid_request");
            let url = format!("{base}{path}");
            let body = serde_json::to_vec(&json!({"token": tokens.access})).unwrap();
            post_raw(http, &url, "application/json", body.clone(), DEMO)
                .await
                .oauth_error(400, "invalid_request");
            post_raw(http, &url, "text/plain", body, DEMO)
                .await
                .oauth_error(400, "invalid_request");

            // An oversized body (1 MiB).
            let mut big = b"token=".to_vec();
            big.resize(1 << 20, b'a');
            post_raw(http, &url, "application/x-www-form-urlencoded", big, DEMO)
                .await
                .too_large();

            // Wrong method.
            let get = Answer::read(format!("GET {url}"), http.get(&url).send().await).await;
            assert!(
                matches!(get.status, 404 | 405),
                "GET {url}: {} {}",
                get.status,
                get.body
            );
        }

        // Garbage and forged tokens: inactive; revoke answers 200.
        let mut forged_sig = tokens.access.clone();
        let last = forged_sig.pop().unwrap();
        forged_sig.push(if last == 'A' { 'B' } else { 'A' });
        let mut parts: Vec<String> = tokens.access.split('.').map(String::from).collect();
        let mut claims = jwt_claims(&tokens.access);
        claims["client_id"] = json!("rp");
        claims["exp"] = json!(claims["exp"].as_u64().unwrap() + 86400);
        {
            use base64::Engine;
            parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&claims).unwrap());
        }
        let forged_claims = parts.join(".");
        let unsigned = {
            use base64::Engine;
            let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(br#"{"alg":"none","typ":"at+jwt"}"#);
            format!("{header}.{}.", parts[1])
        };
        let huge = "x".repeat(32 * 1024);
        for garbage in [
            "garbage",
            "",
            "a.b.c",
            "....",
            "%00%ff",
            forged_sig.as_str(),
            forged_claims.as_str(),
            unsigned.as_str(),
            huge.as_str(),
        ] {
            let i = introspect(http, base, DEMO, garbage).await;
            if garbage.is_empty() {
                // An empty token: inactive or invalid_request, both fine.
                assert!(i.status == 200 || i.status == 400, "{}: {}", i.what, i.body);
                if i.status == 200 {
                    i.inactive();
                }
            } else {
                i.inactive();
            }
            let r = revoke(http, base, DEMO, garbage).await;
            assert!(
                r.status == 200 || (garbage.is_empty() && r.status == 400),
                "{}: {}",
                r.what,
                r.body
            );
            for hint in ["access_token", "refresh_token", "bogus_hint"] {
                let a = post_form(
                    http,
                    base,
                    "/introspect",
                    DEMO,
                    &[("token", garbage), ("token_type_hint", hint)],
                )
                .await;
                if !garbage.is_empty() {
                    a.inactive();
                }
            }
        }
        // `rp` cannot revoke through a forged `client_id` claim either.
        revoke(http, base, RP, &forged_claims).await.ok();

        // An ID token is neither introspectable as active nor revocable.
        introspect(http, base, DEMO, &id_token).await.inactive();
        revoke(http, base, DEMO, &id_token)
            .await
            .oauth_error(400, "unsupported_token_type");
        // A public client may not introspect.
        post_form(
            http,
            base,
            "/introspect",
            None,
            &[("token", at), ("client_id", "spa")],
        )
        .await
        .invalid_client();
    }
    // None of the above revoked anything.
    introspect(http, on(3), DEMO, &tokens.access).await.active();
    introspect(http, on(1), DEMO, tokens.refresh())
        .await
        .active();

    // /end_session and /check_session bad input: a 400 page, never a 500.
    let page = |a: &Answer, status: u16| {
        assert_eq!(a.status, status, "{}: {}", a.what, a.body);
        assert!(a.header("location").is_none(), "{}: redirected", a.what);
    };
    let get = |url: String| {
        let http = http.clone();
        async move { Answer::read(format!("GET {url}"), http.get(&url).send().await).await }
    };
    let e = on(2);
    for q in [
        "id_token_hint=garbage".to_string(),
        format!("id_token_hint={}", tokens.access),
        "client_id=no-such-client".to_string(),
        format!("post_logout_redirect_uri={}", urlencode(LOGGED_OUT)),
        "client_id=demo&client_id=rp".to_string(),
        format!("id_token_hint={id_token}&client_id=rp"),
        format!(
            "client_id=demo&post_logout_redirect_uri={}",
            urlencode("https://evil.example/")
        ),
    ] {
        page(&get(format!("{e}/end_session?{q}")).await, 400);
    }
    let url = format!("{e}/end_session");
    page(
        &post_raw(http, &url, "application/json", b"{}".to_vec(), None).await,
        400,
    );
    let mut big = b"state=".to_vec();
    big.resize(1 << 20, b'a');
    post_raw(http, &url, "application/x-www-form-urlencoded", big, None)
        .await
        .too_large();
    let confirm = format!("{}/end_session/confirm", on(3));
    for body in [
        &b""[..],
        b"req=garbage&csrf=x&decision=logout",
        b"decision=logout",
    ] {
        page(
            &post_raw(
                http,
                &confirm,
                "application/x-www-form-urlencoded",
                body.to_vec(),
                None,
            )
            .await,
            400,
        );
    }
    // A hint and no session: nothing to end; still sent to the registered URI.
    let a = get(format!(
        "{e}/end_session?id_token_hint={id_token}&post_logout_redirect_uri={}&state=z",
        urlencode(LOGGED_OUT)
    ))
    .await;
    assert!(matches!(a.status, 302 | 303), "{}: {}", a.what, a.body);
    let cs = get(format!("{}/check_session", on(1))).await;
    assert_eq!(cs.status, 200, "{}", cs.body);
    let csp = cs.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors"), "{csp}");
    assert!(cs.header("x-frame-options").is_none());
    // The session of the browser was never ended by any of this.
    let (_, challenge) = pkce();
    let again = browser
        .get(&authorize_url(
            on(3),
            &with(
                pkce_params("demo", "openid", &challenge),
                &[("prompt", "none")],
            ),
        ))
        .await;
    assert!(
        matches!(&again, Step::Redirect { .. }) && again.param("code").is_some(),
        "{again:?}"
    );
    eprintln!("bad-input test took {:?}", fx.started.elapsed());
}
