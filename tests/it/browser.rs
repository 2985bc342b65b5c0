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

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use fantoccini::{Client, ClientBuilder, Locator};
use url::Url;

use crate::harness::{free_port, Cluster, ALICE, REDIRECT};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `target/test-artifacts`, under `CARGO_TARGET_DIR` when it is set.
fn artifacts_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| manifest.join(d))
        .unwrap_or_else(|| manifest.join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create the test-artifacts directory");
    dir
}

/// A `chromedriver` on a free loopback port, started in its own process
/// group so that dropping it also ends the Chromium it launched.
struct Chromedriver {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        for (path, what) in [(CHROMIUM, "Chromium"), (CHROMEDRIVER, "chromedriver")] {
            assert!(
                Path::new(path).exists(),
                "the browser test needs {what} at {path}: install Debian's \
                 `chromium chromium-driver` packages (`apt-get install -y chromium \
                 chromium-driver`; .ci/run does this)"
            );
        }
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("chromedriver.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn chromedriver");
        let mut driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            let exited = driver.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "chromedriver did not listen on port {port} ({exited:?}); its log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// A new headless Chromium session with a fresh profile.
    async fn browser(&self, profile: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        // Console and security messages (CSP violations), read on failure.
        caps.insert(
            "goog:loggingPrefs".into(),
            serde_json::json!({ "browser": "ALL" }),
        );
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-quic",
                    "--window-size=900,760",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("open a Chromium session through chromedriver")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The group holds chromedriver and the browser processes it started.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// A chromedriver extension command (`POST /session/{id}/{path}`).
#[derive(Debug)]
struct ChromeCommand {
    path: &'static str,
    body: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for ChromeCommand {
    fn endpoint(&self, base: &Url, session: Option<&str>) -> Result<Url, url::ParseError> {
        base.join(&format!(
            "session/{}/{}",
            session.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &Url) -> (reqwest::Method, Option<String>) {
        (reqwest::Method::POST, Some(self.body.to_string()))
    }
}

/// The browser's console log so far (errors such as CSP violations), one
/// message a line.
async fn browser_log(b: &Client) -> String {
    let cmd = ChromeCommand {
        path: "se/log",
        body: serde_json::json!({ "type": "browser" }),
    };
    match b.issue_cmd(cmd).await {
        Ok(serde_json::Value::Array(entries)) => entries
            .iter()
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                format!("{} {}", text("level"), text("message").trim_end())
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Ok(other) => other.to_string(),
        Err(e) => format!("(no browser log: {e})"),
    }
}

async fn screenshot(b: &Client, name: &str) {
    let png = b.screenshot().await.expect("screenshot");
    let path = artifacts_dir().join(name);
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// Poll until `ready` holds for the page's URL and source.
async fn wait_for(b: &Client, what: &str, ready: impl Fn(&Url, &str) -> bool) -> (Url, String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let url = b.current_url().await.expect("current url");
        let html = b.source().await.unwrap_or_default();
        if ready(&url, &html) {
            return (url, html);
        }
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}; at {url}:\n{html}\nbrowser log:\n{}",
                browser_log(b).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fill(b: &Client, id: &str, value: &str) {
    let field = b.find(Locator::Id(id)).await.expect("form field");
    field.clear().await.expect("clear field");
    field.send_keys(value).await.expect("type into field");
}

async fn click(b: &Client, css: &str) {
    b.find(Locator::Css(css))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
}

/// The claims of a JWT, unverified (the `signin` test checks signatures).
fn jwt_claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

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
        .basic_auth("rp", Some("rp-secret-123"))
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
