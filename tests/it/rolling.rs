//! Rolling restart under load (issue 5): every node of a three-node cluster
//! is stopped gracefully (SIGTERM, exit status 0) and started again, one at a
//! time and the leader last, while clients keep signing in, refreshing and
//! introspecting tokens and creating users and clients through the admin API.
//!
//! Each request goes to the next node round-robin. A refused connection (the
//! node is down) is retried, on another node; so is a connection the stopping
//! node closed before answering anything (it closes idle keep-alive and
//! not-yet-read connections when its listener stops — TCP cannot tell that
//! apart from "down"; in-flight requests always finish). Both are counted and
//! printed. Any other transport error, any 5xx and any wrong answer fails the
//! test, naming the request, the node, the answer and the step of the
//! restart. Afterwards every acknowledged write is read back from all three
//! nodes.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use serde_json::{json, Value};

use crate::flow::{self, hidden, Browser};
use crate::harness::{Cluster, ADMIN, ALICE, REDIRECT};
use crate::rp::{post_form, DEMO};

/// Which port of a node a request goes to.
#[derive(Clone, Copy)]
enum Port {
    /// The public OIDC server.
    Http,
    /// The cluster port with the admin API.
    Admin,
}

#[derive(Default)]
struct Counts {
    signins: AtomicU64,
    refreshes: AtomicU64,
    introspections: AtomicU64,
    revocations: AtomicU64,
    writes: AtomicU64,
    retries: AtomicU64,
    resets: AtomicU64,
    requests: AtomicU64,
}

/// What the clients share: the nodes' addresses, the round-robin cursor,
/// the current step of the restart (for failure messages) and the counts.
struct Load {
    /// (node id, public base URL, cluster-port base URL)
    nodes: Vec<(u64, String, String)>,
    issuer: String,
    next: AtomicUsize,
    http: reqwest::Client,
    step: Mutex<String>,
    began: Instant,
    stop: AtomicBool,
    counts: Counts,
    /// Acknowledged admin writes: ("client" | "user", id).
    acked: Mutex<Vec<(&'static str, String)>>,
    /// Access tokens revoked (answer received) and refresh tokens rotated away.
    dead_tokens: Mutex<Vec<(String, &'static str)>>,
    /// The latest (live) refresh token of each sign-in chain.
    live_refresh: Mutex<Vec<String>>,
}

type Fail = String;

impl Load {
    fn summary(&self, checked: usize, live: usize, dead: usize) -> String {
        let n = &self.counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "rolling restart of 3 nodes in {:.1}s: {} sign-ins, {} refreshes, {} introspections, \
             {} revocations, {} admin writes ({checked} checked on every node), {} requests, \
             {} retried after a refused connection, {} after a connection closed unanswered; {live} live and {dead} dead tokens checked \
             on every node",
            self.began.elapsed().as_secs_f64(),
            get(&n.signins),
            get(&n.refreshes),
            get(&n.introspections),
            get(&n.revocations),
            get(&n.writes),
            get(&n.requests),
            get(&n.retries),
            get(&n.resets),
        )
    }

    fn step(&self) -> String {
        self.step.lock().unwrap().clone()
    }

    fn set_step(&self, s: String) {
        println!("[{:>6.2}s] {s}", self.began.elapsed().as_secs_f64());
        *self.step.lock().unwrap() = s;
    }

    fn fail(&self, what: &str, node: u64, detail: impl std::fmt::Display) -> Fail {
        format!(
            "{what} on node {node} failed at {:.2}s during \"{}\": {detail}",
            self.began.elapsed().as_secs_f64(),
            self.step()
        )
    }

    /// Send a request built by `mk(base)` to the next node round-robin. A
    /// refused connection (nothing listens: the node is down) is retried on
    /// the following node; anything else that is not an HTTP answer, and any
    /// 5xx answer, is a failure. Returns the node that answered, the status
    /// and the body.
    async fn send(
        &self,
        what: &str,
        port: Port,
        mk: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<(u64, u16, String), Fail> {
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut refused = Vec::new();
        for k in 0..self.nodes.len() {
            let (id, http, rpc) = &self.nodes[(first + k) % self.nodes.len()];
            let base = match port {
                Port::Http => http,
                Port::Admin => rpc,
            };
            self.counts.requests.fetch_add(1, Ordering::Relaxed);
            match mk(base).send().await {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let location = res
                        .headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .map(String::from);
                    let body = match res.text().await {
                        Ok(b) => b,
                        Err(e) => {
                            return Err(self.fail(what, *id, format!("reading the body: {e:?}")))
                        }
                    };
                    if status >= 500 {
                        return Err(self.fail(what, *id, format!("HTTP {status}: {body}")));
                    }
                    // A redirect's target travels in the body slot.
                    let body = match location {
                        Some(l) if (300..400).contains(&status) => l,
                        _ => body,
                    };
                    return Ok((*id, status, body));
                }
                Err(e) if e.is_connect() => {
                    self.counts.retries.fetch_add(1, Ordering::Relaxed);
                    refused.push(*id);
                }
                Err(e) if never_answered(&e) => {
                    self.counts.resets.fetch_add(1, Ordering::Relaxed);
                    refused.push(*id);
                }
                Err(e) => return Err(self.fail(what, *id, format!("transport error: {e:?}"))),
            }
        }
        Err(format!(
            "{what}: every node refused the connection ({refused:?}) at {:.2}s during \"{}\"",
            self.began.elapsed().as_secs_f64(),
            self.step()
        ))
    }

    fn json(&self, what: &str, node: u64, body: &str) -> Result<Value, Fail> {
        serde_json::from_str(body)
            .map_err(|e| self.fail(what, node, format!("not JSON ({e}): {body}")))
    }

    /// Expect `status` with a JSON body.
    async fn expect_json(
        &self,
        what: &str,
        port: Port,
        status: u16,
        mk: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<(u64, Value), Fail> {
        let (node, got, body) = self.send(what, port, mk).await?;
        if got != status {
            return Err(self.fail(what, node, format!("HTTP {got}, expected {status}: {body}")));
        }
        Ok((node, self.json(what, node, &body)?))
    }

    /// The authorization code flow for alice and `demo`, each step on the
    /// next node. Returns (access token, refresh token).
    async fn sign_in(&self) -> Result<(String, String), Fail> {
        let browser = Browser::new();
        let (verifier, challenge) = flow::pkce();
        let state = tessera::crypto::random_id();
        let nonce = tessera::crypto::random_id();
        let params = [
            ("response_type", "code"),
            ("client_id", "demo"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid offline_access"),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let what = "sign-in: GET /authorize";
        let (node, status, page) = self
            .send(what, Port::Http, |b| {
                browser.http.get(flow::authorize_url(b, &params))
            })
            .await?;
        if status != 200 || !page.contains("name=\"password\"") {
            return Err(self.fail(
                what,
                node,
                format!("expected the login page, got HTTP {status}: {page}"),
            ));
        }
        let form = [
            ("req", hidden(&page, "req").unwrap_or_default()),
            ("csrf", hidden(&page, "csrf").unwrap_or_default()),
            ("username", ALICE.0.to_string()),
            ("password", ALICE.1.to_string()),
        ];
        let what = "sign-in: POST /login";
        let (node, status, location) = self
            .send(what, Port::Http, |b| {
                browser.http.post(format!("{b}/login")).form(&form)
            })
            .await?;
        if !(300..400).contains(&status) || !location.starts_with(REDIRECT) {
            return Err(self.fail(
                what,
                node,
                format!("expected a redirect to the client, got HTTP {status}: {location}"),
            ));
        }
        let back = url::Url::parse(&location).map_err(|e| self.fail(what, node, e))?;
        let param = |k: &str| {
            back.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        if param("state").as_deref() != Some(state.as_str())
            || param("iss").as_deref() != Some(self.issuer.as_str())
        {
            return Err(self.fail(what, node, format!("wrong state or iss in {location}")));
        }
        let Some(code) = param("code") else {
            return Err(self.fail(what, node, format!("no code in {location}")));
        };
        let what = "sign-in: POST /token (authorization_code)";
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let (node, tokens) = self
            .expect_json(what, Port::Http, 200, |b| self.token_request(b).form(&form))
            .await?;
        let (Some(at), Some(rt), Some(_id)) = (
            tokens["access_token"].as_str(),
            tokens["refresh_token"].as_str(),
            tokens["id_token"].as_str(),
        ) else {
            return Err(self.fail(what, node, format!("missing tokens: {tokens}")));
        };
        self.counts.signins.fetch_add(1, Ordering::Relaxed);
        Ok((at.to_string(), rt.to_string()))
    }

    fn token_request(&self, base: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{base}/token"))
            .basic_auth("demo", Some("demo-secret"))
    }

    /// Rotate `rt`: returns the new (access token, refresh token).
    async fn refresh(&self, rt: &str) -> Result<(String, String), Fail> {
        let what = "POST /token (refresh_token)";
        let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
        let (node, tokens) = self
            .expect_json(what, Port::Http, 200, |b| self.token_request(b).form(&form))
            .await?;
        match (
            tokens["access_token"].as_str(),
            tokens["refresh_token"].as_str(),
        ) {
            (Some(at), Some(new)) if new != rt => {
                self.counts.refreshes.fetch_add(1, Ordering::Relaxed);
                Ok((at.to_string(), new.to_string()))
            }
            _ => Err(self.fail(what, node, format!("no rotated refresh token: {tokens}"))),
        }
    }

    /// Introspect `token` and expect `active`.
    async fn introspect(
        &self,
        label: &str,
        token: &str,
        hint: &str,
        active: bool,
    ) -> Result<(), Fail> {
        let what = format!("POST /introspect ({label}, expect active={active})");
        let form = [("token", token), ("token_type_hint", hint)];
        let (node, answer) = self
            .expect_json(&what, Port::Http, 200, |b| {
                self.http
                    .post(format!("{b}/introspect"))
                    .basic_auth("demo", Some("demo-secret"))
                    .form(&form)
            })
            .await?;
        if answer["active"].as_bool() != Some(active)
            || (active && answer["client_id"].as_str() != Some("demo"))
        {
            return Err(self.fail(&what, node, format!("wrong answer: {answer}")));
        }
        self.counts.introspections.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn revoke(&self, token: &str) -> Result<(), Fail> {
        let what = "POST /revoke (access token)";
        let form = [("token", token), ("token_type_hint", "access_token")];
        let (node, status, body) = self
            .send(what, Port::Http, |b| {
                self.http
                    .post(format!("{b}/revoke"))
                    .basic_auth("demo", Some("demo-secret"))
                    .form(&form)
            })
            .await?;
        if status != 200 {
            return Err(self.fail(what, node, format!("HTTP {status}: {body}")));
        }
        self.counts.revocations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Sign in, then refresh and introspect in a loop; now and then revoke
    /// the access token and check it is dead, then sign in again.
    async fn oidc_client(&self, worker: usize) -> Result<(), Fail> {
        let mut round = 0usize;
        while !self.stop.load(Ordering::SeqCst) {
            let (mut at, mut rt) = self.sign_in().await?;
            self.introspect("new access token", &at, "access_token", true)
                .await?;
            for _ in 0..4 {
                if self.stop.load(Ordering::SeqCst) {
                    break;
                }
                let (new_at, new_rt) = self.refresh(&rt).await?;
                let old_rt = std::mem::replace(&mut rt, new_rt);
                at = new_at;
                self.introspect("latest access token", &at, "access_token", true)
                    .await?;
                self.introspect("latest refresh token", &rt, "refresh_token", true)
                    .await?;
                self.introspect("rotated refresh token", &old_rt, "refresh_token", false)
                    .await?;
                self.dead_tokens
                    .lock()
                    .unwrap()
                    .push((old_rt, "refresh_token"));
            }
            round += 1;
            if (round + worker).is_multiple_of(2) {
                self.revoke(&at).await?;
                self.introspect("revoked access token", &at, "access_token", false)
                    .await?;
                self.dead_tokens.lock().unwrap().push((at, "access_token"));
            }
            self.live_refresh.lock().unwrap().push(rt);
        }
        Ok(())
    }

    /// Create clients and users through the admin API, one after another.
    async fn admin_writer(&self) -> Result<(), Fail> {
        let mut i = 0u64;
        while !self.stop.load(Ordering::SeqCst) {
            i += 1;
            let (kind, path, id, body) = if i.is_multiple_of(3) {
                let name = format!("roll-user-{i}");
                let body = json!({
                    "username": name,
                    "password": "rolling-restart-password",
                    "email": format!("{name}@example.com"),
                });
                ("user", "/admin/users", name, body)
            } else {
                let id = format!("roll-client-{i}");
                let body = json!({
                    "client_id": id,
                    "secret": null,
                    "redirect_uris": ["https://rp.example/cb"],
                    "grant_types": ["authorization_code"],
                });
                ("client", "/admin/clients", id, body)
            };
            let what = format!("admin: create {kind} {id}");
            let (node, status, answer) = self
                .send(&what, Port::Admin, |b| {
                    self.http
                        .post(format!("{b}{path}"))
                        .bearer_auth(ADMIN)
                        .json(&body)
                })
                .await?;
            if status != 201 {
                return Err(self.fail(&what, node, format!("HTTP {status}: {answer}")));
            }
            self.acked.lock().unwrap().push((kind, id));
            self.counts.writes.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_restart_under_load_fails_no_request_and_loses_no_write() {
    let mut c = Cluster::start(3).await;
    c.seed().await;
    let began = Instant::now();
    let load = Arc::new(Load {
        nodes: c
            .nodes
            .values()
            .map(|n| (n.id, n.http_url(), n.rpc_url()))
            .collect(),
        issuer: c.node(1).http_url(),
        next: AtomicUsize::new(0),
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap(),
        step: Mutex::new(String::new()),
        began,
        stop: AtomicBool::new(false),
        counts: Counts::default(),
        acked: Mutex::new(Vec::new()),
        dead_tokens: Mutex::new(Vec::new()),
        live_refresh: Mutex::new(Vec::new()),
    });
    load.set_step("all three nodes up, before the restarts".into());

    let failed = Arc::new(Mutex::new(None::<String>));
    let mut clients = Vec::new();
    for worker in 0..3 {
        let (load, failed) = (load.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            let result = if worker == 2 {
                load.admin_writer().await
            } else {
                load.oidc_client(worker).await
            };
            if let Err(e) = result {
                println!("FAILURE: {e}");
                failed.lock().unwrap().get_or_insert(e);
                load.stop.store(true, Ordering::SeqCst);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Followers first, the leader last; who leads is asked before each step.
    let mut todo: Vec<u64> = c.nodes.keys().copied().collect();
    let mut step = 0;
    while !todo.is_empty() && !load.stop.load(Ordering::SeqCst) {
        step += 1;
        let via = todo[0];
        let leader = c.leader(via).await;
        let id = todo
            .iter()
            .copied()
            .find(|id| *id != leader)
            .unwrap_or(leader);
        todo.retain(|n| *n != id);
        let role = if id == leader { "leader" } else { "follower" };
        load.set_step(format!("step {step}: SIGTERM to node {id} ({role})"));
        let t = Instant::now();
        let status = tokio::task::block_in_place(|| c.terminate(id));
        assert!(
            status.success(),
            "node {id} ({role}) exited with {status:?} after SIGTERM; log:\n{}",
            c.log(id)
        );
        load.set_step(format!(
            "step {step}: node {id} ({role}) exited 0 after {:.2}s; node {id} down",
            t.elapsed().as_secs_f64()
        ));
        if role == "leader" {
            let new_leader = c.leader(todo.first().copied().unwrap_or(1 + id % 3)).await;
            assert!(
                c.log(id).contains("handed leadership over"),
                "the leader did not hand over; log:\n{}",
                c.log(id)
            );
            println!("           leadership went from node {id} to node {new_leader}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.spawn(id);
        load.set_step(format!(
            "step {step}: node {id} started again, not yet ready"
        ));
        let t = Instant::now();
        c.wait_ready(id).await;
        c.wait_all_ready().await;
        load.set_step(format!(
            "step {step}: node {id} ready after {:.2}s; all three up",
            t.elapsed().as_secs_f64()
        ));
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    load.set_step("after the restarts".into());
    tokio::time::sleep(Duration::from_secs(1)).await;
    load.stop.store(true, Ordering::SeqCst);
    for t in clients {
        t.await.unwrap();
    }
    if let Some(e) = failed.lock().unwrap().take() {
        println!("{}", load.summary(0, 0, 0));
        panic!("{e}\n\nlogs:\n{}", c.log_tails(60));
    }

    // Every acknowledged write is on every node; every token's state is the
    // same on every node.
    load.set_step("checking every acknowledged write on every node".into());
    let acked = load.acked.lock().unwrap().clone();
    for (id, _, rpc) in &load.nodes {
        for (kind, name) in &acked {
            let path = match *kind {
                "user" => format!("/admin/users/{name}"),
                _ => format!("/admin/clients/{name}"),
            };
            let res = load
                .http
                .get(format!("{rpc}{path}"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                200,
                "acknowledged {kind} {name} is missing on node {id}: {}",
                res.text().await.unwrap_or_default()
            );
        }
    }
    let live = load.live_refresh.lock().unwrap().clone();
    let dead = load.dead_tokens.lock().unwrap().clone();
    for (id, http, _) in &load.nodes {
        for (token, hint, active) in live
            .iter()
            .map(|t| (t, "refresh_token", true))
            .chain(dead.iter().map(|(t, h)| (t, *h, false)))
        {
            let form = [("token", token.as_str()), ("token_type_hint", hint)];
            let answer = post_form(&load.http, http, "/introspect", DEMO, &form)
                .await
                .ok();
            assert_eq!(
                answer["active"].as_bool(),
                Some(active),
                "node {id}: a {hint} that should be active={active} answers {answer}"
            );
        }
    }

    println!("{}", load.summary(acked.len(), live.len(), dead.len()));
    let n = &load.counts;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    assert!(get(&n.signins) >= 5 && get(&n.refreshes) >= 5 && get(&n.writes) >= 20);
}

/// Whether the request died on a connection the server closed before
/// answering anything (reset, or closed before a response began).
fn never_answered(e: &reqwest::Error) -> bool {
    if !e.is_request() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            ) {
                return true;
            }
        }
        if s.to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        source = s.source();
    }
    false
}
