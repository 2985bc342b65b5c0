//! The audit trail (`[audit] file`) and the secret grep.
//!
//! On a three-node cluster, each step on a different node: a login with a
//! wrong then the right password, a code redeemed, a refresh, the old
//! refresh token reused, a revocation, a logout, a dynamic registration, a
//! `user add` through the CLI, a key rotation and an admin call with a
//! wrong token. Every step's audit line is in the audit file of the node
//! that served it, with the `X-Request-Id` its response carried (a sane id
//! the caller sent is kept). Then every node's log and audit file is
//! grepped for every credential the run handled (passwords, client
//! secrets, the admin token, the cluster secret, the master key, codes,
//! PKCE verifiers, access, refresh and ID tokens, the session cookie, the
//! registration access token): none appears.

use std::time::Duration;

use serde_json::{json, Value};

use crate::flow::{authorize_url, hidden, pkce, Browser, Step};
use crate::harness::{path_str, RaftOpts, ADMIN, ALICE, MASTER_KEY, REDIRECT, SECRET};
use crate::rp::{
    redeem, refresh, register, revoke, urlencode, Answer, Seeded, DEMO, LOGGED_OUT, RP,
};
use crate::session::{assert_login_page, browse, pkce_params};

const WRONG: &str = "not-alice-password-7";
const BOB: &str = "bobs-own-password-horse-31";

/// The `X-Request-Id` of an answer.
fn rid(a: &Answer) -> String {
    a.header("x-request-id")
        .unwrap_or_else(|| panic!("{}: no X-Request-Id", a.what))
        .to_string()
}

/// Post the login form of `page` to `base` with alice's name and
/// `password`; what it answered and its request id.
async fn login(browser: &Browser, base: &str, page: &Step, password: &str) -> (Step, String) {
    let field = |name| hidden(page.body(), name).expect("login form field");
    let form = [
        ("req", field("req")),
        ("csrf", field("csrf")),
        ("username", ALICE.0.to_string()),
        ("password", password.to_string()),
    ];
    let res = browser
        .http
        .post(format!("{base}/login"))
        .form(&form)
        .send();
    let res = res.await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    let status = res.status().as_u16();
    let step = match res.headers().get("location") {
        Some(l) => Step::Redirect {
            status,
            location: l.to_str().unwrap().to_string(),
        },
        None => Step::Page {
            status,
            body: res.text().await.unwrap(),
        },
    };
    (step, id)
}

/// The first value of `secrets` found in `text`.
fn leak<'s>(text: &str, secrets: &'s [String]) -> Option<&'s str> {
    secrets
        .iter()
        .map(String::as_str)
        .find(|s| text.contains(s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_lines_carry_request_ids_and_no_log_holds_a_secret() {
    let opts = RaftOpts {
        audit: true,
        registration_open: true,
        log_filter: Some("debug,openraft=info"),
        ..Default::default()
    };
    let fx = Seeded::start_with(3, opts, Duration::from_secs(15)).await;
    let (http, on) = (&fx.http, |n: u64| fx.on(n));
    let mut secrets: Vec<String> = [
        ALICE.1,
        WRONG,
        BOB,
        "demo-secret",
        ADMIN,
        SECRET,
        MASTER_KEY,
    ]
    .into_iter()
    .chain(RP.map(|(_, s)| s))
    .map(String::from)
    .collect();
    // (event, outcome, request id) that must be in the trail.
    let mut expected: Vec<(&str, &str, String)> = vec![];

    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        on(1),
        &pkce_params("demo", "openid offline_access", &challenge),
    );
    let page = browse(&browser, &url).await;
    assert_login_page(&url, &page);
    let (again, id) = login(&browser, on(1), &page, WRONG).await;
    assert_login_page("a wrong password", &again);
    expected.push(("login", "failure", id));
    let (back, id) = login(&browser, on(2), &page, ALICE.1).await;
    expected.push(("login", "success", id));
    let code = back.param("code").expect("a code");
    let cookies = reqwest::cookie::CookieStore::cookies(&*browser.jar, &on(2).parse().unwrap());
    let cookies = cookies
        .expect("session cookie")
        .to_str()
        .unwrap()
        .to_string();
    secrets.extend(
        cookies
            .split("; ")
            .filter_map(|c| Some(c.split_once('=')?.1.to_string())),
    );

    let redeemed = redeem(http, on(3), DEMO, &code, Some(&verifier)).await;
    let first = redeemed.tokens();
    expected.push(("token.issue", "success", rid(&redeemed)));
    let refreshed = refresh(http, on(1), DEMO, first.refresh()).await;
    let second = refreshed.tokens();
    expected.push(("token.issue", "success", rid(&refreshed)));
    let reused = refresh(http, on(2), DEMO, first.refresh()).await;
    reused.oauth_error(400, "invalid_grant");
    expected.push(("refresh.reuse", "refused", rid(&reused)));
    let revoked = revoke(http, on(3), DEMO, &second.access).await;
    revoked.ok();
    expected.push(("token.revoke", "success", rid(&revoked)));
    let id_token = first.id_token.clone().expect("an ID token");
    for t in [&first, &second] {
        secrets.extend([t.access.clone(), t.refresh().to_string()]);
        secrets.extend(t.id_token.clone());
    }
    secrets.extend([code, verifier]);

    let logout = format!(
        "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri={}&state=s",
        on(1),
        urlencode(LOGGED_OUT)
    );
    let res = browser.http.get(logout).send().await.unwrap();
    assert!(res.status().is_redirection(), "logout: {}", res.status());
    expected.push((
        "logout",
        "success",
        res.headers()["x-request-id"].to_str().unwrap().into(),
    ));

    let body = json!({"redirect_uris": [REDIRECT], "client_name": "audited"});
    let registered = register(http, on(2), &body).await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    expected.push(("client.register", "success", rid(&registered)));
    let v = registered.json();
    for k in ["client_secret", "registration_access_token"] {
        secrets.push(v[k].as_str().expect(k).to_string());
    }

    // Admin calls on the cluster port: the CLI, a rotation, a wrong token
    // (whose caller-chosen request id comes back).
    let args = ["user", "add", "--username", "bob", "--password-stdin"];
    let (code, _, err) = fx.c.cli_on(2, &args, Some(BOB));
    assert_eq!(code, 0, "user add: {err}");
    let rotate = format!("{}/admin/keys/rotate", fx.c.node(3).rpc_url());
    let res = http
        .post(&rotate)
        .bearer_auth(ADMIN)
        .json(&json!({}))
        .send();
    let res = res.await.unwrap();
    assert_eq!(res.status(), 200);
    let id: String = res.headers()["x-request-id"].to_str().unwrap().into();
    expected.push(("admin", "success", id.clone()));
    expected.push(("key.rotate", "success", id));
    let res = http
        .post(&rotate)
        .bearer_auth("wrong")
        .header("X-Request-Id", "audit-t.1:x");
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["x-request-id"], "audit-t.1:x");
    expected.push(("admin", "refused", "audit-t.1:x".into()));

    let lines: Vec<Value> = (1..=3).flat_map(|n| fx.c.node(n).audit_lines()).collect();
    let all = || {
        lines
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (event, outcome, id) in &expected {
        let found = lines.iter().find(|l| {
            (
                l["event"].as_str(),
                l["outcome"].as_str(),
                l["request_id"].as_str(),
            ) == (Some(event), Some(outcome), Some(id))
        });
        let line = found.unwrap_or_else(|| panic!("no {event}/{outcome} for {id} in\n{}", all()));
        assert_eq!(line["ip"], "127.0.0.1", "{line}");
        assert!(line["ts"].is_string() && line["node"].is_u64(), "{line}");
    }
    let by_cli = lines
        .iter()
        .find(|l| l["event"] == "user.create" && l["username"] == "bob");
    let by_cli = by_cli.unwrap_or_else(|| panic!("no user.create in\n{}", all()));
    let admin_call = lines
        .iter()
        .find(|l| l["event"] == "admin" && l["request_id"] == by_cli["request_id"]);
    let admin_call = admin_call.unwrap_or_else(|| panic!("no admin line for {by_cli}"));
    assert_eq!(admin_call["action"], "POST /admin/users", "{admin_call}");
    assert_eq!(admin_call["actor"], "admin-token", "{admin_call}");

    // The grep: no credential in any log or audit file (and the grep finds
    // one when there is one).
    assert_eq!(leak(&format!("x{}y", secrets[0]), &secrets), Some(ALICE.1));
    let mut files = 0;
    for entry in std::fs::read_dir(fx.c.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.ends_with(".log") || name.ends_with(".jsonl")) {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        if let Some(s) = leak(&text, &secrets) {
            let at = text.find(s).unwrap_or(0);
            let context = &text[text[..at].rfind('\n').map_or(0, |i| i + 1)..];
            let line = context.lines().next().unwrap_or_default();
            panic!("{} holds a credential: {line}", path_str(&path));
        }
    }
    assert_eq!(files, 6, "three logs and three audit files");
}
