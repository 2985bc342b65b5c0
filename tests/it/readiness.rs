//! `/readyz` tells the truth (issue 9): from the first moment a new node
//! answers 200, every public endpoint works. A fresh three-node cluster and
//! a fresh `serve --dev` node are started, their `/readyz` polled every
//! 10 ms, and from each node's first 200 on, JWKS, discovery and a
//! client_credentials grant (and for `--dev` the README's authorize URL with
//! client `demo`) are sent to it in a loop for a few seconds: any 5xx, any
//! transport error, a JWKS or grant that is not 200, or a 400 for the demo
//! client fails the test. Before readiness included the signing keys, JWKS
//! answered 503 for about a second after the first 200.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Client;
use tessera::actors::directory::CreateClient;

use crate::flow::authorize_url;
use crate::harness::{free_port, Cluster, RaftOpts, BIN, REDIRECT};
use crate::rp::{form_request, raw_client, Basic, DEMO};
use crate::session::params;

/// How long each node is probed after its first 200.
const HAMMER: Duration = Duration::from_secs(4);
/// How long a fresh node may take to become ready.
const START: Duration = Duration::from_secs(90);

/// The client_credentials client the three-node test creates.
const CC: Basic = Some(("cc", "cc-secret-0123456789-abcdefghijklmn"));

/// What the probes of one node send, and what they found wrong.
struct Probe {
    http: Client,
    base: String,
    /// The client for the grant, once it exists.
    grant: Option<Basic<'static>>,
    grant_ready: Arc<AtomicBool>,
    /// Also GET the README's authorize URL with client `demo`.
    authorize: bool,
    failures: Arc<Mutex<Vec<String>>>,
}

impl Probe {
    /// Poll `/readyz` every 10 ms until 200; when that was. Each 503 names
    /// the check that failed, with its reason among all the checks.
    async fn first_ready(&self) -> Instant {
        let deadline = Instant::now() + START;
        let url = format!("{}/readyz", self.base);
        loop {
            if let Ok(r) = self.http.get(&url).send().await {
                if r.status() == 200 {
                    return Instant::now();
                }
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let failed = body["failed"].as_str().unwrap_or("(none)");
                let reason = &body["checks"][failed];
                if reason.is_null() || *reason == "ok" || body["reason"] != *reason {
                    self.fail(format!("{url}: 503 without its failed check: {body}"));
                }
            }
            assert!(Instant::now() < deadline, "{url} not 200 after {START:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
    }

    /// One request; a failure unless the status is acceptable.
    async fn expect(&self, what: String, req: reqwest::RequestBuilder, ok: impl Fn(u16) -> bool) {
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                if !ok(status) {
                    let body = r.text().await.unwrap_or_default();
                    self.fail(format!("{what}: {status} {body}"));
                }
            }
            Err(e) => self.fail(format!("{what}: {e}")),
        }
    }

    /// From the first 200 of `/readyz` on, send every probe for [`HAMMER`].
    async fn run(self) {
        let ready = self.first_ready().await;
        let b = &self.base;
        let authorize = authorize_url(b, &params("demo", "openid", "st-1"));
        while ready.elapsed() < HAMMER {
            let t = format!("{:?} after ready", ready.elapsed());
            for path in [
                "/.well-known/jwks.json",
                "/.well-known/openid-configuration",
            ] {
                let what = format!("GET {b}{path} {t}");
                self.expect(what, self.http.get(format!("{b}{path}")), |s| s == 200)
                    .await;
            }
            if let Some(client) = self
                .grant
                .filter(|_| self.grant_ready.load(Ordering::SeqCst))
            {
                let form = [("grant_type", "client_credentials")];
                let (what, req) = form_request(&self.http, &format!("{b}/token"), client, &form);
                self.expect(format!("{what} {t}"), req, |s| s == 200).await;
            }
            if self.authorize {
                let what = format!("GET {authorize} {t}");
                let req = self.http.get(&authorize);
                self.expect(what, req, |s| s != 400 && s < 500).await;
            }
        }
    }
}

fn report(failures: &Mutex<Vec<String>>, logs: impl FnOnce() -> String) {
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} requests failed after /readyz said 200, first ones:\n{}\n\nlogs:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n"),
        logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_cluster_serves_every_endpoint_once_ready() {
    let mut c = Cluster::configure(3, RaftOpts::default());
    for id in c.initial_ids() {
        c.spawn(id);
    }
    let failures = Arc::new(Mutex::new(Vec::new()));
    let grant_ready = Arc::new(AtomicBool::new(false));
    let probes: Vec<_> = c
        .nodes
        .values()
        .map(|n| {
            tokio::spawn(
                Probe {
                    http: raw_client(Duration::from_secs(10)),
                    base: n.http_url(),
                    grant: Some(CC),
                    grant_ready: grant_ready.clone(),
                    authorize: false,
                    failures: failures.clone(),
                }
                .run(),
            )
        })
        .collect();
    // As soon as one node is ready, a client for the grant (a write through
    // whichever node answers first).
    let (id, secret) = CC.unwrap();
    let client = CreateClient {
        client_id: id.into(),
        secret: Some(secret.into()),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec!["client_credentials".into()],
        ..Default::default()
    };
    let deadline = Instant::now() + START;
    'created: loop {
        for id in 1..=3 {
            if c.is_ready(id).await && c.node(id).admin().create_client(&client).await.is_ok() {
                break 'created;
            }
        }
        assert!(Instant::now() < deadline, "no node took the client");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    grant_ready.store(true, Ordering::SeqCst);
    for p in probes {
        p.await.unwrap();
    }
    report(&failures, || c.log_tails(40));
}

/// A `serve --dev` process on free ports, killed when dropped.
struct DevNode {
    child: Child,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl DevNode {
    fn start(http: &str, rpc: &str) -> DevNode {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("dev.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--dev", "--http-addr", http, "--rpc-addr", rpc])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("TESSERA_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn tessera --dev");
        DevNode {
            child,
            log,
            _dir: dir,
        }
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_dev_is_ready_only_with_its_demo_data() {
    let http = format!("127.0.0.1:{}", free_port());
    let dev = DevNode::start(&http, &format!("127.0.0.1:{}", free_port()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    Probe {
        http: raw_client(Duration::from_secs(10)),
        base: format!("http://{http}"),
        grant: Some(DEMO),
        grant_ready: Arc::new(AtomicBool::new(true)),
        authorize: true,
        failures: failures.clone(),
    }
    .run()
    .await;
    report(&failures, || {
        std::fs::read_to_string(&dev.log).unwrap_or_default()
    });
}
