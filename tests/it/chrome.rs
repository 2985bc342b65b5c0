//! Headless Chromium for the browser tests: Debian's `chromium`, driven
//! over WebDriver (`fantoccini` talking to a `chromedriver` this module
//! spawns on a free loopback port), plus the small helpers the tests share
//! (screenshots into `target/test-artifacts/`, the browser console log for
//! failure messages, waiting on a page, filling and clicking).
//!
//! Nothing is downloaded: without `chromium` and `chromedriver` the tests
//! fail and say what to install (`.ci/run` installs both).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use url::Url;

use crate::harness::free_port;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `target/test-artifacts`, under `CARGO_TARGET_DIR` when it is set.
pub fn artifacts_dir() -> PathBuf {
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
pub struct Chromedriver {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Chromedriver {
    pub fn start() -> Chromedriver {
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
    pub async fn browser(&self, profile: &Path) -> Client {
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
pub async fn browser_log(b: &Client) -> String {
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

pub async fn screenshot(b: &Client, name: &str) {
    let png = b.screenshot().await.expect("screenshot");
    let path = artifacts_dir().join(name);
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// Poll until `ready` holds for the page's URL and source.
pub async fn wait_for(b: &Client, what: &str, ready: impl Fn(&Url, &str) -> bool) -> (Url, String) {
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

pub async fn fill(b: &Client, id: &str, value: &str) {
    let field = b.find(Locator::Id(id)).await.expect("form field");
    field.clear().await.expect("clear field");
    field.send_keys(value).await.expect("type into field");
}

pub async fn click(b: &Client, css: &str) {
    b.find(Locator::Css(css))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
}
