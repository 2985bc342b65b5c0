//! OpenID Connect Session Management 1.0 in a real browser: a relying
//! party's page on another loopback origin embeds the OP's
//! `/check_session` iframe and asks it, over `postMessage`, whether the
//! `session_state` it got with its authorization response still holds.
//!
//! Headless Chromium (see `chrome.rs`) signs in on node 1 for a first-party
//! client whose redirect URI lives on a tiny web server this test runs
//! (127.0.0.1, another port: another origin, but the same site, so the
//! OP's `SameSite=Lax` browser-state cookie is readable inside the frame).
//! The RP page posts `client_id session_state` every 500 ms and shows the
//! answer: `unchanged` while signed in; a malformed message gets `error`
//! and another client's id `changed`; after a logout on node 2 in another
//! tab, the answer turns to `changed`. Screenshots of both states go to
//! `target/test-artifacts/`.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use crate::chrome::{browser_log, click, fill, screenshot, wait_for, Chromedriver};
use crate::harness::{Cluster, ALICE};

const CLIENT: &str = "session-rp";

/// The relying party's page. It reads `client_id`, `session_state` and `op`
/// (the OP's origin) from its query, embeds `{op}/check_session` twice (one
/// frame polled every 500 ms, one for probes sent from the test through
/// `window.probe(message)`) and shows what each frame answers.
const RP_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>RP: waiting</title></head>
<body>
<h1>Relying party</h1>
<p>client_id <code id="client"></code>, session_state <code id="ss"></code></p>
<div>check_session says: <pre id="answer">waiting</pre> (<span id="count">0</span> answers)</div>
<div>probe: <pre id="probe">loading</pre></div>
<iframe id="op" title="OP check_session" width="300" height="60"></iframe>
<iframe id="probe-frame" title="OP check_session (probe)" width="300" height="60"></iframe>
<script>
(function () {
  "use strict";
  var q = new URLSearchParams(location.search);
  var op = q.get("op"), clientId = q.get("client_id"), ss = q.get("session_state");
  var frame = document.getElementById("op");
  var probeFrame = document.getElementById("probe-frame");
  var count = 0;
  var text = function (id, v) { document.getElementById(id).textContent = v; };
  text("client", clientId);
  text("ss", ss);
  window.addEventListener("message", function (e) {
    if (e.origin !== op) { return; }
    if (e.source === frame.contentWindow) {
      count += 1;
      text("answer", String(e.data));
      text("count", String(count));
      document.title = "RP: " + e.data;
    } else if (e.source === probeFrame.contentWindow) {
      text("probe", String(e.data));
    }
  }, false);
  var check = function () { frame.contentWindow.postMessage(clientId + " " + ss, op); };
  frame.addEventListener("load", function () { check(); setInterval(check, 500); });
  probeFrame.addEventListener("load", function () { text("probe", "ready"); });
  window.probe = function (message) {
    text("probe", "sent");
    probeFrame.contentWindow.postMessage(message, op);
  };
  frame.src = op + "/check_session";
  probeFrame.src = op + "/check_session";
})();
</script>
</body>
</html>
"#;

/// A minimal HTTP/1.1 server for the relying party: `/rp.html`, and plain
/// pages for `/cb` (redirect URI) and `/bye` (post-logout redirect URI).
/// Returns its origin.
async fn start_rp() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the RP");
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_rp(stream));
        }
    });
    origin
}

async fn serve_rp(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split(' ').nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/");
    let (status, body) = match path {
        "/rp.html" => ("200 OK", RP_PAGE.to_string()),
        "/cb" => (
            "200 OK",
            page("Callback", "The relying party got its code."),
        ),
        "/bye" => ("200 OK", page("Signed out", "Back at the relying party.")),
        "/favicon.ico" => ("204 No Content", String::new()),
        _ => ("404 Not Found", page("Not found", path)),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn page(title: &str, text: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
    )
}

/// The text of the element with this id (empty when there is none).
async fn text_of(b: &Client, id: &str) -> String {
    let v = b
        .execute(
            "var e = document.getElementById(arguments[0]); return e ? e.textContent : '';",
            vec![serde_json::json!(id)],
        )
        .await
        .expect("read the page");
    v.as_str().unwrap_or_default().to_string()
}

/// Wait until the element `id` reads `want` (and, for the polled answer,
/// until at least `min_count` answers came in); returns that count.
async fn wait_text(b: &Client, id: &str, want: &str, min_count: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = text_of(b, id).await;
        let count: u64 = text_of(b, "count").await.parse().unwrap_or(0);
        if got == want && count >= min_count {
            return count;
        }
        if Instant::now() > deadline {
            let url = b.current_url().await.map(|u| u.to_string());
            panic!(
                "timed out waiting for #{id} to read {want:?} (after {min_count} answers): \
                 it reads {got:?} after {count} answers, at {url:?}:\n{}\nbrowser log:\n{}",
                b.source().await.unwrap_or_default(),
                browser_log(b).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_rp_iframe_sees_session_change_after_logout() {
    let driver = Chromedriver::start();
    let rp = start_rp().await;
    let c = Cluster::start(3).await;
    c.seed().await;
    let op = c.node(1).http_url();
    let redirect = format!("{rp}/cb");
    let bye = format!("{rp}/bye");
    c.node(1)
        .admin()
        .create_client(&tessera::actors::directory::CreateClient {
            client_id: CLIENT.into(),
            secret: Some("session-rp-secret-1-of-at-least-32-chars".into()),
            redirect_uris: vec![redirect.clone()],
            post_logout_redirect_uris: vec![bye.clone()],
            grant_types: vec!["authorization_code".into()],
            first_party: true,
            ..Default::default()
        })
        .await
        .expect("register the RP's client");

    let profile = tempfile::tempdir().unwrap();
    let b = driver.browser(profile.path()).await;

    // Sign in on node 1; a first-party client goes straight back to the RP.
    let state = "check-session-state-3a9e";
    let mut authorize = Url::parse(&format!("{op}/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "openid")
        .append_pair("state", state);
    b.goto(authorize.as_str()).await.expect("open /authorize");
    wait_for(&b, "the login page", |_, h| h.contains("name=\"password\"")).await;
    fill(&b, "username", ALICE.0).await;
    fill(&b, "password", ALICE.1).await;
    click(&b, "button[type=submit]").await;
    let (back, _) = wait_for(&b, "the RP's redirect URI", |u, _| {
        u.as_str().starts_with(&redirect)
    })
    .await;
    assert_eq!(param(&back, "state").as_deref(), Some(state), "{back}");
    assert!(param(&back, "code").is_some(), "no code in {back}");
    let session_state =
        param(&back, "session_state").unwrap_or_else(|| panic!("no session_state in {back}"));
    let (hash, salt) = session_state
        .rsplit_once('.')
        .unwrap_or_else(|| panic!("session_state is not hash.salt: {session_state}"));
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !salt.is_empty(),
        "session_state is not hex(SHA-256).salt: {session_state}"
    );

    // The RP page: the iframe answers `unchanged`, again and again.
    let mut page = Url::parse(&format!("{rp}/rp.html")).unwrap();
    page.query_pairs_mut()
        .append_pair("client_id", CLIENT)
        .append_pair("session_state", &session_state)
        .append_pair("op", &op);
    b.goto(page.as_str()).await.expect("open the RP page");
    wait_text(&b, "answer", "unchanged", 1).await;
    let rp_tab = b.window().await.expect("the RP tab");
    wait_text(&b, "answer", "unchanged", 3).await;
    screenshot(&b, "check_session-unchanged.png").await;

    // Probes: a malformed message is an error; another client's id with
    // this session_state does not match.
    wait_text(&b, "probe", "ready", 0).await;
    for (message, want) in [
        ("garbage".to_string(), "error"),
        (format!("{CLIENT} {session_state} extra"), "error"),
        (format!("{CLIENT} no-salt-here"), "error"),
        (format!("demo {session_state}"), "changed"),
        (format!("{CLIENT} {session_state}"), "unchanged"),
    ] {
        b.execute(
            "window.probe(arguments[0]);",
            vec![serde_json::json!(message)],
        )
        .await
        .expect("post a probe");
        wait_text(&b, "probe", want, 0).await;
    }

    // Sign out on node 2 in another tab, confirming on the OP's page.
    let tab = b.new_window(true).await.expect("open a tab");
    b.switch_to_window(tab.handle)
        .await
        .expect("switch to the new tab");
    let mut end = Url::parse(&format!("{}/end_session", c.node(2).http_url())).unwrap();
    end.query_pairs_mut()
        .append_pair("client_id", CLIENT)
        .append_pair("post_logout_redirect_uri", &bye)
        .append_pair("state", "bye-7c1d");
    b.goto(end.as_str()).await.expect("open /end_session");
    wait_for(&b, "the sign-out confirmation", |_, h| {
        h.contains("value=\"logout\"")
    })
    .await;
    click(&b, "button[name=decision][value=logout]").await;
    let (gone, _) = wait_for(&b, "the post-logout redirect URI", |u, _| {
        u.as_str().starts_with(&bye)
    })
    .await;
    assert_eq!(param(&gone, "state").as_deref(), Some("bye-7c1d"), "{gone}");

    // Back in the RP tab, the next poll says `changed`.
    b.switch_to_window(rp_tab)
        .await
        .expect("switch back to the RP tab");
    b.find(Locator::Id("answer")).await.expect("the RP page");
    let before: u64 = text_of(&b, "count").await.parse().unwrap_or(0);
    let after = wait_text(&b, "answer", "changed", before + 1).await;
    wait_text(&b, "answer", "changed", after + 2).await;
    // A probe with the same message agrees.
    b.execute(
        "window.probe(arguments[0]);",
        vec![serde_json::json!(format!("{CLIENT} {session_state}"))],
    )
    .await
    .expect("post a probe");
    wait_text(&b, "probe", "changed", 0).await;
    screenshot(&b, "check_session-changed.png").await;

    let _ = b.close().await;
}
