//! A three-node (or N-node) cluster of real `tessera` processes.
//!
//! Each node gets free loopback ports, its own sled directory under a temp
//! dir, and a `cluster.toml` written the way an operator would. Nodes can be
//! killed (SIGKILL), stopped (SIGTERM), paused (SIGSTOP) and restarted on the
//! same data directory. A node's first start passes `serve --bootstrap`, as
//! an operator does once for a new cluster; restarts do not. Each node's
//! standard output and error go to `nodeN.log` in the temp dir (and, with
//! [`RaftOpts::audit`], its audit trail to `nodeN.audit.jsonl`), so a test
//! can read or grep them.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera::actors::directory::{CreateClient, CreateUser};
use tessera::admin_client::AdminClient;
use tessera::config::ClusterTls;
use tessera::http::admin::ClusterStatus;

// Inside the harness so that the benchmark, which includes this file by
// path, gets it too.
#[path = "wait.rs"]
pub mod wait;

use wait::{until, until_some};

pub const BIN: &str = env!("CARGO_BIN_EXE_tessera");
pub const SECRET: &str = "test-cluster-secret-0123456789abcdef";
pub const ADMIN: &str = "test-admin-token-0123456789abcdefgh";
pub const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A port for a node to listen on. Taken below Linux's ephemeral range
/// (32768 and up) rather than from `bind(0)`: a port from that range could be
/// given to some test's outgoing connection between this choice and the
/// node's own bind ("Address already in use"). One counter per test process,
/// started at an offset from its pid, so that tests and concurrent test
/// processes do not pick the same one; a port in use is skipped.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let start = (std::process::id() % 600) * 20;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub struct Node {
    pub id: u64,
    pub http: String,
    pub rpc: String,
    pub config: PathBuf,
    pub log: PathBuf,
    /// The node's `[cluster.tls]` material (with [`RaftOpts::tls`]).
    pub tls: Option<ClusterTls>,
    /// The node's `[audit] file` (with [`RaftOpts::audit`]).
    pub audit: Option<PathBuf>,
    /// TLS on the public listener (with [`RaftOpts::public_tls`]).
    pub public_tls: bool,
    /// `TESSERA_LOG` of the process.
    pub log_filter: &'static str,
    /// The tessera binary this node runs ([`BIN`] unless [`RaftOpts::binaries`]).
    pub bin: PathBuf,
    child: Option<Child>,
    /// Started before: later starts go without `--bootstrap`.
    started: bool,
}

impl Node {
    pub fn http_url(&self) -> String {
        let scheme = if self.public_tls { "https" } else { "http" };
        format!("{scheme}://{}", self.http)
    }
    /// The node's audit trail so far, one JSON value per line.
    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        let path = self
            .audit
            .as_ref()
            .expect("a node started with RaftOpts::audit");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
    pub fn rpc_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.rpc)
    }
    pub fn admin(&self) -> AdminClient {
        AdminClient::with_tls(&self.rpc_url(), ADMIN, self.tls.as_ref()).unwrap()
    }
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: BTreeMap<u64, Node>,
    /// How many of the nodes are initial members (1..=initial).
    initial: u64,
    pub http: reqwest::Client,
}

/// Extra `[raft]` settings for a test.
#[derive(Clone)]
pub struct RaftOpts {
    pub snapshot_logs_since_last: u64,
    pub max_in_snapshot_log_to_keep: u64,
    /// Append `[registration] mode = "open"` (dynamic registration is
    /// closed by default).
    pub registration_open: bool,
    /// More TOML appended to every node's config (e.g. `[keys]`, `[tokens]`).
    pub extra: String,
    /// Called with the cluster's directory before any node starts (node N's
    /// data directory is `dataN` in it), e.g. to lay down old data.
    pub before_start: Option<fn(&Path)>,
    /// Only the first N nodes are initial members and start; the others get
    /// a config listing those N and wait to be added (`cluster add-node`).
    pub initial_members: Option<u64>,
    /// Mutual TLS on the cluster port: `tessera certs` makes a CA and node
    /// certificates in `certs/` and every config gets `[cluster.tls]`.
    pub tls: bool,
    /// TLS on the public listener: `tessera certs` makes a CA and node
    /// certificates in `public/`, every config gets `[http] tls_cert` and
    /// `tls_key`, the issuer is `https` and `Cluster::http` trusts that CA.
    pub public_tls: bool,
    /// Every node writes its audit trail to `nodeN.audit.jsonl`.
    pub audit: bool,
    /// `TESSERA_LOG` of the nodes (default `info,openraft=warn`).
    pub log_filter: Option<&'static str>,
    /// Nodes that run another tessera binary (an older release) than [`BIN`].
    pub binaries: Vec<(u64, PathBuf)>,
}

impl Default for RaftOpts {
    fn default() -> Self {
        RaftOpts {
            snapshot_logs_since_last: 5000,
            max_in_snapshot_log_to_keep: 1000,
            registration_open: false,
            extra: String::new(),
            before_start: None,
            initial_members: None,
            tls: false,
            public_tls: false,
            audit: false,
            log_filter: None,
            binaries: Vec::new(),
        }
    }
}

impl Cluster {
    /// Write configs for `n` nodes and start them all.
    pub async fn start(n: u64) -> Cluster {
        Self::start_with(n, RaftOpts::default()).await
    }

    /// Start `n` nodes and [`Cluster::seed`] them.
    pub async fn seeded(n: u64) -> Cluster {
        let c = Self::start(n).await;
        c.seed().await;
        c
    }

    pub async fn start_with(n: u64, opts: RaftOpts) -> Cluster {
        let mut c = Self::configure(n, opts);
        for id in c.initial_ids() {
            c.spawn(id);
        }
        c.wait_all_ready().await;
        c
    }

    /// Write configs for `n` nodes (and run `before_start`), start none.
    pub fn configure(n: u64, opts: RaftOpts) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let addrs: Vec<(u64, String, String)> = (1..=n)
            .map(|id| {
                (
                    id,
                    format!("127.0.0.1:{}", free_port()),
                    format!("127.0.0.1:{}", free_port()),
                )
            })
            .collect();
        let initial = opts.initial_members.unwrap_or(n);
        let members: String = addrs
            .iter()
            .filter(|(id, _, _)| *id <= initial)
            .map(|(id, h, r)| format!("{{ id = {id}, http_addr = \"{h}\", rpc_addr = \"{r}\" }}"))
            .collect::<Vec<_>>()
            .join(", ");
        // The issuer is node 1's address, so discovery through the issuer
        // URL works; tests send other steps to other nodes explicitly.
        let scheme = if opts.public_tls { "https" } else { "http" };
        let issuer = format!("{scheme}://{}", addrs[0].1);
        let certs = dir.path().join("certs");
        let public = dir.path().join("public");
        for (on, out) in [(opts.tls, &certs), (opts.public_tls, &public)] {
            if on {
                make_certs(out, n);
            }
        }
        let mut nodes = BTreeMap::new();
        for (id, http, rpc) in &addrs {
            let pem = |f: String| certs.join(f);
            let tls_toml = if opts.tls {
                format!(
                    "\n[cluster.tls]\nca_cert = {:?}\ncert = {:?}\nkey = {:?}\n",
                    pem("ca.pem".into()),
                    pem(format!("node{id}.pem")),
                    pem(format!("node{id}.key")),
                )
            } else {
                String::new()
            };
            let tls = opts.tls.then(|| {
                let read = |f: String| std::fs::read(pem(f)).unwrap();
                ClusterTls::from_pem(
                    &read("ca.pem".into()),
                    &read(format!("node{id}.pem")),
                    &read(format!("node{id}.key")),
                )
            });
            let http_tls = if opts.public_tls {
                let pem = |f: String| public.join(f);
                format!(
                    "tls_cert = {:?}\ntls_key = {:?}\n",
                    pem(format!("node{id}.pem")),
                    pem(format!("node{id}.key")),
                )
            } else {
                String::new()
            };
            let audit = opts
                .audit
                .then(|| dir.path().join(format!("node{id}.audit.jsonl")));
            let audit_toml = match &audit {
                Some(path) => format!("\n[audit]\nfile = {path:?}\n"),
                None => String::new(),
            };
            let config = dir.path().join(format!("node{id}.toml"));
            let data = dir.path().join(format!("data{id}"));
            let registration = if opts.registration_open {
                "\n[registration]\nmode = \"open\"\n"
            } else {
                ""
            };
            std::fs::write(
                &config,
                format!(
                    r#"[node]
id = {id}
http_addr = "{http}"
rpc_addr = "{rpc}"
data_dir = "{data}"

[cluster]
issuer = "{issuer}"
bootstrap_node = 1
cluster_secret = "{SECRET}"
admin_token = "{ADMIN}"
master_key = "{MASTER_KEY}"
members = [{members}]

[raft]
snapshot_logs_since_last = {snap}
max_in_snapshot_log_to_keep = {keep}

[http]
workers = 1
{http_tls}
{registration}
{extra}
{tls_toml}
{audit_toml}"#,
                    extra = opts.extra,
                    data = data.display(),
                    snap = opts.snapshot_logs_since_last,
                    keep = opts.max_in_snapshot_log_to_keep,
                ),
            )
            .unwrap();
            nodes.insert(
                *id,
                Node {
                    id: *id,
                    http: http.clone(),
                    rpc: rpc.clone(),
                    log: dir.path().join(format!("node{id}.log")),
                    config,
                    tls,
                    audit,
                    public_tls: opts.public_tls,
                    log_filter: opts.log_filter.unwrap_or("info,openraft=warn"),
                    bin: opts
                        .binaries
                        .iter()
                        .find(|(n, _)| n == id)
                        .map_or_else(|| PathBuf::from(BIN), |(_, b)| b.clone()),
                    child: None,
                    started: false,
                },
            );
        }
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(10));
        if opts.public_tls {
            http = http.add_root_certificate(public_ca(&public));
        }
        let c = Cluster {
            dir,
            nodes,
            initial,
            http: http.build().unwrap(),
        };
        if let Some(hook) = opts.before_start {
            hook(c.dir.path());
        }
        c
    }

    /// The ids of the initial members.
    pub fn initial_ids(&self) -> Vec<u64> {
        (1..=self.initial).collect()
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[&id]
    }

    /// Start (or restart) a node's process on its data directory; the first
    /// start with `--bootstrap`.
    pub fn spawn(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).unwrap();
        assert!(node.child.is_none(), "node {id} already runs");
        let first = !std::mem::replace(&mut node.started, true);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap();
        let child = Command::new(&node.bin)
            .args(["serve", "--config"])
            .arg(&node.config)
            .args(first.then_some("--bootstrap"))
            .env("TESSERA_LOG", node.log_filter)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn tessera");
        node.child = Some(child);
    }

    /// SIGKILL: no clean shutdown, no final flush.
    pub fn kill(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).unwrap();
        let mut child = node.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self, id: u64) -> std::process::ExitStatus {
        let node = self.nodes.get_mut(&id).unwrap();
        let mut child = node.child.take().expect("running");
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait().unwrap()
    }

    /// Wait for a node's process to exit by itself; `None` if it still runs.
    pub fn wait_exit(&mut self, id: u64, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let node = self.nodes.get_mut(&id).unwrap();
        loop {
            let child = node.child.as_mut().expect("running");
            if let Some(status) = child.try_wait().unwrap() {
                node.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, id: u64, sig: i32) {
        unsafe { libc::kill(self.node(id).pid(), sig) };
    }

    pub async fn is_ready(&self, id: u64) -> bool {
        let url = format!("{}/readyz", self.node(id).http_url());
        matches!(self.http.get(url).send().await, Ok(r) if r.status() == 200)
    }

    pub async fn wait_ready(&self, id: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.is_ready(id).await {
            assert!(
                Instant::now() < deadline,
                "node {id} not ready after 60 s; log:\n{}",
                self.log(id)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_all_ready(&self) {
        for (id, n) in &self.nodes {
            if n.is_running() {
                self.wait_ready(*id).await;
            }
        }
    }

    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(&self.node(id).log).unwrap_or_default()
    }

    /// The last `lines` lines of every node's log, each under a header.
    pub fn log_tails(&self, lines: usize) -> String {
        self.nodes
            .keys()
            .map(|id| {
                let log = self.log(*id);
                let all: Vec<&str> = log.lines().collect();
                let tail = all[all.len().saturating_sub(lines)..].join("\n");
                format!("--- node {id} (last {lines} lines) ---\n{tail}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub async fn status(&self, id: u64) -> ClusterStatus {
        self.node(id).admin().status().await.expect("status")
    }

    /// Wait until every running node proposes commands of `format` (each
    /// learns the members' formats by polling them every few seconds).
    pub async fn wait_format(&self, format: u32) {
        for id in self.nodes.keys().filter(|id| self.nodes[id].is_running()) {
            let what = format!("node {id} to see cluster format {format}");
            until(&what, Duration::from_secs(30), async || {
                let s = self.node(*id).admin().status().await;
                s.is_ok_and(|s| s.cluster_format >= format)
            })
            .await;
        }
    }

    /// The leader as seen by node `via`, waiting until one is known.
    pub async fn leader(&self, via: u64) -> u64 {
        let what = format!("a leader seen by node {via}");
        until_some(&what, Duration::from_secs(30), async || {
            let l = self.node(via).admin().status().await.ok()?.leader_id?;
            self.nodes
                .get(&l)
                .is_some_and(|n| n.is_running())
                .then_some(l)
        })
        .await
    }

    /// Each node's HTTP base URL by id (so that `on(n)` can lend a `&str`).
    pub fn http_urls(&self) -> BTreeMap<u64, String> {
        self.nodes
            .iter()
            .map(|(id, n)| (*id, n.http_url()))
            .collect()
    }

    /// Run the CLI with arguments; returns (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        cli(args, stdin)
    }

    /// Run the CLI with arguments and `--config` of node `id`.
    pub fn cli_on(&self, id: u64, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let config = path_str(&self.node(id).config);
        cli(&[args, &["--config", config]].concat(), stdin)
    }

    /// Wait until every running node reports at least `format` as the
    /// cluster's data format (members report theirs every few seconds; a
    /// member not heard from yet counts as format 1, so format-2 writes are
    /// refused until then).
    pub async fn wait_cluster_format(&self, format: u32) {
        let running: Vec<u64> = self
            .nodes
            .keys()
            .copied()
            .filter(|id| self.nodes[id].is_running())
            .collect();
        let what = format!("every node to report cluster format {format}");
        wait::until(&what, Duration::from_secs(30), async || {
            running
                .iter()
                .all(|id| self.status_json(*id)["cluster_format"].as_u64() >= Some(format.into()))
        })
        .await;
    }

    /// `cluster status --json` through node `id`'s CLI.
    pub fn status_json(&self, id: u64) -> serde_json::Value {
        let (code, out, err) = self.cli_on(id, &["cluster", "status", "--json"], None);
        assert_eq!(code, 0, "cluster status on node {id}: {err}");
        serde_json::from_str(&out).unwrap()
    }

    /// Node `id`'s `/metrics` text (served on the cluster port).
    pub async fn metrics_text(&self, id: u64) -> String {
        let url = format!("{}/metrics", self.node(id).rpc_url());
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(res.status(), 200, "GET /metrics on node {id}");
        res.text().await.unwrap()
    }

    /// Scrape one metric value (first sample whose line starts with `name`).
    pub async fn metric(&self, id: u64, name: &str) -> f64 {
        let text = self.metrics_text(id).await;
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

/// The demo user of `serve --dev`.
pub const ALICE: (&str, &str) = ("alice", "wonderland-42");
/// The demo client's redirect URI.
pub const REDIRECT: &str = "http://127.0.0.1:8765/cb";

impl Cluster {
    /// Create alice and the confidential first-party client `demo`
    /// (secret `demo-secret`), as `serve --dev` does, plus a third-party
    /// confidential client `rp` (secret `rp-secret-123-of-at-least-32-chars`) and a public client
    /// `spa`, all with redirect URI [`REDIRECT`].
    pub async fn seed(&self) {
        let admin = self.node(1).admin();
        let mut claims = std::collections::BTreeMap::new();
        claims.insert("given_name".to_string(), serde_json::json!("Alice"));
        claims.insert("family_name".to_string(), serde_json::json!("Liddell"));
        claims.insert("email_verified".to_string(), serde_json::json!(true));
        admin
            .create_user(&CreateUser {
                username: ALICE.0.into(),
                password: ALICE.1.into(),
                email: Some("alice@example.com".into()),
                name: Some("Alice Liddell".into()),
                claims,
            })
            .await
            .expect("seed alice");
        let all = vec![
            "authorization_code".to_string(),
            "refresh_token".to_string(),
            "client_credentials".to_string(),
        ];
        for (id, secret, first_party) in [
            ("demo", Some("demo-secret"), true),
            ("rp", Some("rp-secret-123-of-at-least-32-chars"), false),
            ("spa", None, false),
        ] {
            let grant_types = if secret.is_some() {
                all.clone()
            } else {
                all[..2].to_vec()
            };
            admin
                .create_client(&CreateClient {
                    client_id: id.into(),
                    secret: secret.map(String::from),
                    redirect_uris: vec![REDIRECT.into()],
                    post_logout_redirect_uris: vec!["http://127.0.0.1:8765/logged-out".into()],
                    grant_types,
                    first_party,
                    ..Default::default()
                })
                .await
                .expect("seed client");
        }
        // Every running node has published the signing keys.
        for id in self.nodes.keys().filter(|id| self.nodes[id].is_running()) {
            let url = format!("{}/.well-known/jwks.json", self.node(*id).http_url());
            let what = format!("node {id} to publish signing keys");
            until(
                &what,
                Duration::from_secs(20),
                async || matches!(self.http.get(&url).send().await, Ok(r) if r.status() == 200),
            )
            .await;
        }
    }
}

/// A public client `id` for the authorization code flow with redirect URI
/// [`REDIRECT`]: a small record to write.
pub fn public_client(id: &str) -> CreateClient {
    CreateClient {
        client_id: id.into(),
        secret: None,
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["authorization_code".into()],
        first_party: false,
        ..Default::default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.nodes.values_mut() {
            if let Some(mut c) = n.child.take() {
                unsafe { libc::kill(c.id() as i32, libc::SIGCONT) };
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

pub fn cli(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("TESSERA_ADMIN_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The two nodes other than `a` in a three-node cluster.
pub fn others(a: u64) -> (u64, u64) {
    let b = a % 3 + 1;
    (b, b % 3 + 1)
}

/// `tessera certs` into `out`: a CA and `n` node certificates (for
/// 127.0.0.1 and localhost).
pub fn make_certs(out: &Path, n: u64) {
    let args = ["certs", "--out", path_str(out), "--nodes", &n.to_string()];
    let (code, _, err) = cli(&args, None);
    assert_eq!(code, 0, "tessera certs: {err}");
}

/// The CA certificate `tessera certs` wrote into `dir`.
pub fn public_ca(dir: &Path) -> reqwest::Certificate {
    reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
