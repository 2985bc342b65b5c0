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

use crate::flow::{authorize_url, pkce, Browser, Step};
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

/// The `X-Request-Id` of a response.
fn response_id(res: &reqwest::Response) -> String {
    res.headers()["x-request-id"].to_str().unwrap().to_string()
}

/// Post the login form of `page` to `base` with alice's name and
/// `password`; what it answered and its request id.
async fn login(browser: &Browser, base: &str, page: &Step, password: &str) -> (Step, String) {
    let res = browser.login_response(base, page, ALICE.0, password).await;
    let id = response_id(&res);
    (Browser::step(res).await, id)
}

/// The first value of `secrets` found in `text`.
fn leak<'s>(text: &str, secrets: &'s [String]) -> Option<&'s str> {
    secrets
        .iter()
        .map(String::as_str)
        .find(|s| text.contains(s))
}

/// What a run of flows leaves to check: the credentials it handled, and
/// the (event, outcome, request id) lines the trail must hold.
#[derive(Default)]
struct Run {
    secrets: Vec<String>,
    expected: Vec<(&'static str, &'static str, String)>,
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
    let known = [
        ALICE.1,
        WRONG,
        BOB,
        "demo-secret",
        ADMIN,
        SECRET,
        MASTER_KEY,
    ];
    let mut run = Run {
        secrets: known
            .into_iter()
            .chain(RP.map(|(_, s)| s))
            .map(String::from)
            .collect(),
        ..Default::default()
    };
    browser_flows(&fx, &mut run).await;
    registration_and_admin(&fx, &mut run).await;

    // Nodes write audit lines from a queue on their own thread: the last
    // ones may reach the files a moment after the answers.
    let trail = || -> Vec<Value> { (1..=3).flat_map(|n| fx.c.node(n).audit_lines()).collect() };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut lines = trail();
    while !has_all(&lines, &run.expected) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        lines = trail();
    }
    check_trail(&lines, &run.expected);
    assert_no_credential(fx.c.dir.path(), &run.secrets);
}

/// Logins (wrong, right), a code redeemed, a refresh, the old refresh token
/// reused, a revocation, a logout: each on another node than the last.
async fn browser_flows(fx: &Seeded, run: &mut Run) {
    let (http, on) = (&fx.http, |n: u64| fx.on(n));
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let scope = "openid offline_access";
    let url = authorize_url(on(1), &pkce_params("demo", scope, &challenge));
    let page = browse(&browser, &url).await;
    assert_login_page(&url, &page);
    let (again, id) = login(&browser, on(1), &page, WRONG).await;
    assert_login_page("a wrong password", &again);
    run.expected.push(("login", "failure", id));
    let (back, id) = login(&browser, on(2), &page, ALICE.1).await;
    run.expected.push(("login", "success", id));
    let code = back.param("code").expect("a code");
    let jar = reqwest::cookie::CookieStore::cookies(&*browser.jar, &on(2).parse().unwrap());
    let jar = jar.expect("session cookie").to_str().unwrap().to_string();
    let values = jar
        .split("; ")
        .filter_map(|c| c.split_once('=').map(|(_, v)| v));
    run.secrets.extend(values.map(String::from));

    let redeemed = redeem(http, on(3), DEMO, &code, Some(&verifier)).await;
    let first = redeemed.tokens();
    run.expected
        .push(("token.issue", "success", rid(&redeemed)));
    let refreshed = refresh(http, on(1), DEMO, first.refresh()).await;
    let second = refreshed.tokens();
    run.expected
        .push(("token.issue", "success", rid(&refreshed)));
    let reused = refresh(http, on(2), DEMO, first.refresh()).await;
    reused.oauth_error(400, "invalid_grant");
    run.expected
        .push(("refresh.reuse", "refused", rid(&reused)));
    let revoked = revoke(http, on(3), DEMO, &second.access).await;
    revoked.ok();
    run.expected
        .push(("token.revoke", "success", rid(&revoked)));
    for t in [&first, &second] {
        run.secrets
            .extend([t.access.clone(), t.refresh().to_string()]);
        run.secrets.extend(t.id_token.clone());
    }
    run.secrets.extend([code, verifier]);

    let id_token = first.id_token.clone().expect("an ID token");
    let logout = format!(
        "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri={}&state=s",
        on(1),
        urlencode(LOGGED_OUT)
    );
    let res = browser.http.get(logout).send().await.unwrap();
    assert!(res.status().is_redirection(), "logout: {}", res.status());
    run.expected.push(("logout", "success", response_id(&res)));
}

/// A dynamic registration; on the cluster port, `user add` through the CLI,
/// a key rotation and a call with a wrong token (whose caller-chosen
/// request id comes back).
async fn registration_and_admin(fx: &Seeded, run: &mut Run) {
    let http = &fx.http;
    let body = json!({"redirect_uris": [REDIRECT], "client_name": "audited"});
    let registered = register(http, fx.on(2), &body).await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    run.expected
        .push(("client.register", "success", rid(&registered)));
    let v = registered.json();
    for k in ["client_secret", "registration_access_token"] {
        run.secrets.push(v[k].as_str().expect(k).to_string());
    }

    let args = ["user", "add", "--username", "bob", "--password-stdin"];
    let (code, _, err) = fx.c.cli_on(2, &args, Some(BOB));
    assert_eq!(code, 0, "user add: {err}");
    let rotate = format!("{}/admin/keys/rotate", fx.c.node(3).rpc_url());
    let res = http.post(&rotate).bearer_auth(ADMIN).json(&json!({}));
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let id = response_id(&res);
    run.expected.push(("admin", "success", id.clone()));
    run.expected.push(("key.rotate", "success", id));
    let res = http.post(&rotate).bearer_auth("wrong");
    let res = res
        .header("X-Request-Id", "audit-t.1:x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(response_id(&res), "audit-t.1:x");
    run.expected
        .push(("admin", "refused", "audit-t.1:x".into()));
}

/// Whether the trail has a line for every expected (event, outcome, id).
fn has_all(lines: &[Value], expected: &[(&str, &str, String)]) -> bool {
    expected.iter().all(|(event, outcome, id)| {
        lines.iter().any(|l| {
            l["event"] == *event && l["outcome"] == *outcome && l["request_id"] == id.as_str()
        })
    })
}

/// Every expected line is in the trail, from 127.0.0.1, stamped; the CLI's
/// `user add` left a `user.create` line and, with the same request id, an
/// `admin` line naming the call and the token holder.
fn check_trail(lines: &[Value], expected: &[(&str, &str, String)]) {
    let all = || {
        lines
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let find = |what: &str, f: &dyn Fn(&Value) -> bool| {
        let found = lines.iter().find(|l| f(l));
        found.unwrap_or_else(|| panic!("no {what} in\n{}", all()))
    };
    for (event, outcome, id) in expected {
        let line = find(&format!("{event}/{outcome} for {id}"), &|l| {
            let key = |k: &str| l[k].as_str().map(String::from);
            [key("event"), key("outcome"), key("request_id")]
                == [
                    Some(event.to_string()),
                    Some(outcome.to_string()),
                    Some(id.clone()),
                ]
        });
        assert_eq!(line["ip"], "127.0.0.1", "{line}");
        assert!(line["ts"].is_string() && line["node"].is_u64(), "{line}");
    }
    let by_cli = find("user.create", &|l| {
        l["event"] == "user.create" && l["username"] == "bob"
    });
    let admin = find("its admin line", &|l| {
        l["event"] == "admin" && l["request_id"] == by_cli["request_id"]
    });
    assert_eq!(admin["action"], "POST /admin/users", "{admin}");
    assert_eq!(admin["actor"], "admin-token", "{admin}");
}

/// No credential in any node log or audit file of `dir` (and the grep
/// finds one when there is one).
fn assert_no_credential(dir: &std::path::Path, secrets: &[String]) {
    assert_eq!(leak(&format!("x{}y", secrets[0]), secrets), Some(ALICE.1));
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.ends_with(".log") || name.ends_with(".jsonl")) {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        if let Some(s) = leak(&text, secrets) {
            let line = text.lines().find(|l| l.contains(s)).unwrap_or_default();
            panic!("{} holds a credential: {line}", path_str(&path));
        }
    }
    assert_eq!(files, 6, "three logs and three audit files");
}
