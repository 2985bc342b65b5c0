//! Assembles one node: storage, Raft on its own runtime, actors, the public
//! and cluster HTTP servers (TLS on the public one with `[http] tls_cert`),
//! bootstrap, `--dev` seeding, SIGHUP (certificate and audit file reload)
//! and shutdown.
//!
//! Start-up order: bind both ports, open storage, start Raft, serve (with
//! `/readyz` at 503 until every check passes, see `http::health`), then
//! bootstrap — only with `serve --bootstrap` (or `--dev`) on the bootstrap
//! node of a cluster that has never been initialized — and with `--dev`
//! seed the demo data. The leader names the cluster once it can
//! ([`crate::actors::membership::name_cluster`]).
//!
//! openraft gets a dedicated multi-thread tokio runtime created once per
//! process, before the HTTP servers; actix-web and the actors run in the
//! actix system on the main thread and its workers, and reach Raft through
//! the cloneable [`Raft`] handle inside [`ClusterHandle`].

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, SyncArbiter};
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::actors::code::CodeActor;
use crate::actors::directory::{
    CreateClient, CreateUser, Directory, DirectoryActor, DirectoryError,
};
use crate::actors::keys::{KeyActor, Keys};
use crate::actors::logout_delivery::LogoutDelivery;
use crate::actors::membership::Membership;
use crate::actors::password::PasswordActor;
use crate::actors::session::SessionActor;
use crate::actors::token::TokenActor;
use crate::actors::token_reads::TokenReads;
use crate::cluster::log_store::LogStore;
use crate::cluster::network::{Network, PeerTransport};
use crate::cluster::rpc::{self, RpcState};
use crate::cluster::state_machine::StateMachine;
use crate::cluster::storage::Storage;
use crate::cluster::{membership, ClusterHandle, Raft};
use crate::config::Config;
use crate::http::{self, Actors, AppState};

/// Run a node until it is told to stop (SIGTERM / SIGINT). `bootstrap`:
/// initialize a new cluster if this is the bootstrap node, its data is
/// empty and no peer reports an initialized cluster (`serve --bootstrap`).
pub fn run(config: Config, bootstrap: bool) -> anyhow::Result<()> {
    let config = Arc::new(config);
    crate::metrics::init_labels();
    crate::audit::open(config.audit_file.as_deref(), config.node_id).with_context(|| {
        let file = config
            .audit_file
            .as_deref()
            .unwrap_or(std::path::Path::new("-"));
        format!("cannot open the audit file {} (audit.file)", file.display())
    })?;
    // Bind first: a taken port is reported before anything else starts.
    let listeners = Listeners {
        public: std::net::TcpListener::bind(config.http_listen)
            .with_context(|| format!("cannot listen on {} (node.http_addr)", config.http_listen))?,
        cluster: std::net::TcpListener::bind(config.rpc_listen)
            .with_context(|| format!("cannot listen on {} (node.rpc_addr)", config.rpc_listen))?,
    };
    let storage = Storage::open(&config.data_dir)?;
    let log_store = LogStore::open(&storage)?;
    let sm = StateMachine::open(&storage)?;

    let raft_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("raft")
        .enable_all()
        .build()?;
    let raft_config = openraft::Config {
        cluster_name: "tessera".into(),
        heartbeat_interval: config.raft.heartbeat_interval.as_millis() as u64,
        election_timeout_min: config.raft.election_timeout_min.as_millis() as u64,
        election_timeout_max: config.raft.election_timeout_max.as_millis() as u64,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(
            config.raft.snapshot_logs_since_last,
        ),
        max_in_snapshot_log_to_keep: config.raft.max_in_snapshot_log_to_keep,
        ..Default::default()
    }
    .validate()
    .context("invalid Raft settings")?;
    let transport = PeerTransport::new(config.cluster_tls.as_ref())
        .map_err(|e| anyhow::anyhow!("cluster TLS: {e}"))?;
    let network = Network::with_transport(&config.cluster_secret, transport.clone()).naming(&sm);
    let raft = raft_rt.block_on(Raft::new(
        config.node_id,
        Arc::new(raft_config),
        network,
        log_store,
        sm.clone(),
    ))?;
    raft_rt.spawn(crate::actors::membership::watch_leader(raft.clone()));
    let handle = ClusterHandle::new(
        raft.clone(),
        config.node_id,
        sm,
        storage.clone(),
        &config.cluster_secret,
        raft_rt.handle().clone(),
    )
    .with_transport(transport);
    raft_rt.spawn(crate::actors::membership::name_cluster(handle.clone()));

    let result =
        actix_web::rt::System::new().block_on(serve(config.clone(), handle, listeners, bootstrap));

    tracing::info!("stopping Raft");
    let _ = raft_rt.block_on(raft.shutdown());
    storage.durable.sync().context("final flush")?;
    raft_rt.shutdown_timeout(Duration::from_secs(2));
    result
}

struct Listeners {
    public: std::net::TcpListener,
    cluster: std::net::TcpListener,
}

/// Start the actors and the read handles they share with the handlers.
fn start_actors(config: &Config, handle: &ClusterHandle) -> anyhow::Result<Actors> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let passwords = SyncArbiter::start(threads, PasswordActor::default);
    let directory_reads = Directory::new(handle);
    let published_keys = Keys::new(handle);
    let session_lifetime = Duration::from_secs(config.tokens.session_lifetime);
    let logout_delivery = LogoutDelivery::new(
        handle.clone(),
        published_keys.clone(),
        crate::oidc::discovery::issuer_string(&config.issuer),
        config.outbound.allow_private_targets,
    )?
    .start();
    Ok(Actors {
        directory: DirectoryActor::new(handle.clone(), passwords.clone(), directory_reads.clone())
            .start(),
        directory_reads,
        sessions: SessionActor::new(handle.clone(), session_lifetime).start(),
        codes: CodeActor::new(handle.clone(), &config.tokens, &config.master_key).start(),
        tokens: TokenActor::new(handle.clone(), &config.tokens).start(),
        token_reads: TokenReads::new(handle),
        key_actor: KeyActor::new(
            handle.clone(),
            &config.master_key,
            published_keys.clone(),
            config.keys.clone(),
            &config.tokens,
        )
        .start(),
        keys: published_keys,
        membership: Membership::new(handle),
        passwords,
        logout_delivery,
    })
}

/// How long both servers keep an idle keep-alive connection open. Clients
/// that pool connections must drop theirs sooner, or a request sent as the
/// server closes one is lost: the node-to-node client after 4 s
/// (`cluster::network::IDLE_TIMEOUT`), the load balancer likewise (README,
/// `keepalive_timeout 4s` in nginx's upstream block).
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(5);

/// The public server: OIDC endpoints and health.
fn public_server(
    config: &Config,
    state: web::Data<AppState>,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(http::json_config(64 * 1024))
            .app_data(web::PayloadConfig::new(64 * 1024))
            .wrap_fn(http::observe)
            .wrap(actix_web::middleware::from_fn(http::request_id::public))
            .configure(http::public_routes)
    })
    .workers(config.http_workers)
    .keep_alive(KEEP_ALIVE)
    .disable_signals()
    .shutdown_timeout(config.shutdown_timeout);
    let server = match &config.public_tls {
        Some(tls) => {
            let tls = tls.server_config().map_err(std::io::Error::other)?;
            server.listen_rustls_0_23(listener, tls)?
        }
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

/// The cluster server: Raft RPC between nodes, the admin API, health and
/// `/metrics`.
fn cluster_server(
    config: &Config,
    state: web::Data<AppState>,
    handle: &ClusterHandle,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    let rpc_state = web::Data::new(RpcState {
        handle: handle.clone(),
        secret: config.cluster_secret.clone(),
        admin_token: config.admin_token.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(rpc_state.clone())
            .app_data(http::json_config(1024 * 1024))
            .app_data(web::PayloadConfig::new(rpc::DEFAULT_BODY_LIMIT))
            .wrap(actix_web::middleware::from_fn(rpc::authenticate))
            .wrap_fn(http::observe)
            .wrap(actix_web::middleware::from_fn(http::request_id::cluster))
            .configure(rpc::configure)
            .configure(http::cluster_routes)
    })
    .workers(2)
    .keep_alive(KEEP_ALIVE)
    .disable_signals()
    .shutdown_timeout(config.shutdown_timeout);
    let server = match &config.cluster_tls {
        Some(tls) => {
            let tls = tls.server_config().map_err(std::io::Error::other)?;
            server.listen_rustls_0_23(listener, tls)?
        }
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

async fn serve(
    config: Arc<Config>,
    handle: ClusterHandle,
    listeners: Listeners,
    explicit_bootstrap: bool,
) -> anyhow::Result<()> {
    let actors = start_actors(&config, &handle)?;
    let directory = actors.directory.clone();
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let state = web::Data::new(AppState::new(actors, config.clone(), stopping.clone())?);
    let public = public_server(&config, state.clone(), listeners.public)?;
    let cluster = cluster_server(&config, state, &handle, listeners.cluster)?;
    tracing::info!(
        node = config.node_id,
        http = %config.http_listen,
        rpc = %config.rpc_listen,
        "tessera {} listening",
        crate::VERSION
    );
    actix_web::rt::spawn(handle.clone().watch_members());
    actix_web::rt::spawn(bootstrap(
        config.clone(),
        handle.clone(),
        directory,
        explicit_bootstrap,
    ));
    let (public_handle, cluster_handle) = (public.handle(), cluster.handle());
    actix_web::rt::spawn(reload_on_hangup(config.clone()));
    actix_web::rt::spawn(async move {
        wait_for_stop_signal().await;
        graceful_stop(&config, &handle, &stopping, public_handle, cluster_handle).await;
    });
    futures::try_join!(public, cluster)?;
    Ok(())
}

/// Initialize the cluster if this node should, then seed `--dev` data.
async fn bootstrap(
    config: Arc<Config>,
    handle: ClusterHandle,
    directory: Addr<DirectoryActor>,
    explicit: bool,
) {
    if let Err(e) = membership::bootstrap(&handle, &config, explicit).await {
        tracing::error!("bootstrap failed: {e:#}");
        return;
    }
    if config.dev_seed {
        seed_dev(&handle, &directory).await;
    }
}

/// SIGHUP: serve the public certificate files again (new handshakes get
/// the new certificate; a bad file is logged and the old one kept) and
/// reopen the audit file (log rotation).
async fn reload_on_hangup(config: Arc<Config>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler");
        return;
    };
    while hup.recv().await.is_some() {
        if let Some(tls) = &config.public_tls {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: reloaded the public TLS certificate"),
                Err(e) => tracing::error!("SIGHUP: kept the old TLS certificate: {e}"),
            }
        }
        if let Err(e) = crate::audit::reopen() {
            tracing::error!("SIGHUP: cannot reopen the audit file: {e}");
        }
    }
}

async fn wait_for_stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping gracefully"),
        _ = int.recv() => tracing::info!("SIGINT: stopping gracefully"),
    }
}

/// Readiness off while still serving (`drain`, answers carry
/// `Connection: close`), then stop taking requests and finish in-flight
/// ones, hand over leadership, keep answering "not leader" on the cluster
/// port while the followers learn the new leader, then stop it; `run` then
/// shuts Raft down.
async fn graceful_stop(
    config: &Config,
    handle: &ClusterHandle,
    stopping: &std::sync::atomic::AtomicBool,
    public: actix_web::dev::ServerHandle,
    cluster: actix_web::dev::ServerHandle,
) {
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(config.drain_millis)).await;
    public.stop(true).await;
    let wait = config.raft.election_timeout_max * 2;
    if let Some(new) = crate::cluster::handover::hand_over(handle, wait).await {
        tracing::info!(new_leader = new, "handed leadership over");
        // Forwarded writes still in flight get "not leader" and go on to
        // the new leader instead of a dropped connection.
        tokio::time::sleep(config.raft.election_timeout_min).await;
    }
    cluster.stop(true).await;
}

/// `serve --dev`: create the demo user and client if they are absent.
async fn seed_dev(handle: &ClusterHandle, directory: &Addr<DirectoryActor>) {
    if handle
        .raft
        .wait(Some(Duration::from_secs(30)))
        .current_leader(handle.node_id, "dev leader")
        .await
        .is_err()
    {
        tracing::error!("no leader after 30 s; demo data not seeded");
        return;
    }
    let user = directory
        .send(CreateUser {
            username: crate::config::DEV_USER.into(),
            password: "wonderland-42".into(),
            email: Some("alice@example.com".into()),
            name: Some("Alice Liddell".into()),
            claims: [
                ("given_name", "Alice"),
                ("family_name", "Liddell"),
                ("email_verified", "true"),
            ]
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    serde_json::from_str(v).unwrap_or_else(|_| v.into()),
                )
            })
            .collect(),
        })
        .await;
    match user {
        Ok(Ok(u)) => println!("created demo user   alice / wonderland-42 (sub {})", u.sub),
        Ok(Err(DirectoryError::Exists(_))) => println!("demo user alice already exists"),
        other => eprintln!("could not create the demo user: {other:?}"),
    }
    let client = directory.send(demo_client()).await;
    match client {
        Ok(Ok(_)) => println!(
            "created demo client demo / demo-secret, redirect URI http://127.0.0.1:8765/cb, \
             post-logout URI http://127.0.0.1:8765/logged-out (first-party)"
        ),
        Ok(Err(DirectoryError::Exists(_))) => println!("demo client demo already exists"),
        other => eprintln!("could not create the demo client: {other:?}"),
    }
}

/// The demo client of `serve --dev` and `scripts/local-cluster.sh`.
pub fn demo_client() -> CreateClient {
    CreateClient {
        client_id: crate::config::DEV_CLIENT.into(),
        secret: Some("demo-secret".into()),
        redirect_uris: vec!["http://127.0.0.1:8765/cb".into()],
        post_logout_redirect_uris: vec!["http://127.0.0.1:8765/logged-out".into()],
        grant_types: vec![
            "authorization_code".into(),
            "refresh_token".into(),
            "client_credentials".into(),
        ],
        first_party: true,
        ..Default::default()
    }
}
