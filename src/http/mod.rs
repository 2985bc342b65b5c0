//! HTTP: the public server (OIDC endpoints, health) and the cluster port's
//! admin API and `/metrics`. Handlers are thin: extract, send one actor message, map
//! the result. Every status code, header and page is decided in this module;
//! errors are mapped to HTTP in [`error`] only.
//!
//! * [`discovery`] — `/.well-known/openid-configuration`, `/.well-known/jwks.json`.
//! * [`authorize`] — `/authorize`; [`login`] — the login and consent forms;
//!   [`signin`] — what both share: the sign-in pages, consent, issuing the
//!   code; [`session_cookie`] — the browser's session and CSRF cookies.
//! * [`request_object`] — `request` / `request_uri` at `/authorize` and
//!   `/par`; [`par`] — `/par` (pushed authorization requests).
//! * [`token`] — `/token`; [`issue`] signs its tokens; [`client_auth`] authenticates clients.
//! * [`form`] — form request bodies.
//! * [`userinfo`] — `/userinfo`.
//! * [`dpop`] — DPoP proofs (the `DPoP` header), nonces and DPoP challenges.
//! * [`introspect`] — `/introspect`, `/revoke`.
//! * [`logout`] — `/end_session`, `/check_session`.
//! * [`register`] — `/register` (dynamic client registration).
//! * [`pages`] — HTML templates and page security headers.
//! * [`health`] — `/healthz`, `/readyz`; `/metrics` (cluster port only).
//! * [`admin`] — `/admin/*` on the cluster port (bearer admin token).
//! * [`request_id`] — the outermost middleware of both servers: the request
//!   id (`X-Request-Id`) and the span audit events are stamped from.
//! * [`error`] — error enums → HTTP responses.

pub mod admin;
pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod form;
pub mod health;
pub mod introspect;
pub mod issue;
pub mod login;
pub mod logout;
pub mod pages;
pub mod par;
pub mod register;
pub mod request_id;
pub mod request_object;
pub mod session_cookie;
pub mod signin;
pub mod token;
pub mod userinfo;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use actix::Addr;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::web;

use crate::actors::code::CodeActor;
use crate::actors::directory::{ClientRecord, Directory, DirectoryActor, UserRecord};
use crate::actors::keys::{KeyActor, Keys};
use crate::actors::membership::Membership;
use crate::actors::password::PasswordActor;
use crate::actors::session::SessionActor;
use crate::actors::token::TokenActor;
use crate::actors::token_reads::TokenReads;
use crate::actors::ClusterError;
use crate::config::{Config, TokenSettings};
use crate::crypto::seal::SealKey;
use crate::metrics::METRICS;

/// The actors a node runs, and the read handles they share with handlers.
#[derive(Clone)]
pub struct Actors {
    pub directory: Addr<DirectoryActor>,
    /// The directory's read path (users, clients).
    pub directory_reads: Directory,
    pub sessions: Addr<SessionActor>,
    pub codes: Addr<CodeActor>,
    pub tokens: Addr<TokenActor>,
    /// Token liveness (linearizable) for `/introspect` and `/userinfo`.
    pub token_reads: TokenReads,
    pub passwords: Addr<PasswordActor>,
    pub key_actor: Addr<KeyActor>,
    /// The published signing keys and the key records.
    pub keys: Keys,
    /// Cluster status, readiness and membership changes.
    pub membership: Membership,
    /// The back-channel logout worker (active on the leader).
    pub logout_delivery: Addr<crate::actors::logout_delivery::LogoutDelivery>,
}

/// Shared by every handler of both servers: the actors (reached through
/// `Deref`, e.g. `st.sessions`) and what the handlers keep themselves.
pub struct AppState {
    actors: Actors,
    pub config: Arc<Config>,
    pub settings: TokenSettings,
    /// Seals authorization requests carried through the login pages.
    pub pending_seal: SealKey,
    pub secret_cache: client_auth::SecretCache,
    /// Guess throttles and argon2 permits (passwords, client secrets).
    pub guards: crate::throttle::Guards,
    /// Clients' JWK Sets fetched from their `jwks_uri` (SSRF-safe, cached).
    pub jwks: crate::outbound::JwksCache,
    /// Fetches request objects by `request_uri` (SSRF-safe, 16 KiB cap).
    pub request_uris: crate::outbound::Fetcher,
    /// Set when the node starts shutting down; `/readyz` then fails.
    pub stopping: Arc<AtomicBool>,
    /// The discovery document, serialized once (`discovery::document`).
    pub discovery: actix_web::web::Bytes,
}

impl std::ops::Deref for AppState {
    type Target = Actors;
    fn deref(&self) -> &Actors {
        &self.actors
    }
}

impl AppState {
    pub fn new(
        actors: Actors,
        config: Arc<Config>,
        stopping: Arc<AtomicBool>,
    ) -> anyhow::Result<AppState> {
        let request_uris = request_object::fetcher(&config)?;
        let jwks = crate::outbound::JwksCache::new(crate::outbound::JwksSettings::new(
            config.outbound.allow_private_targets,
        ))?;
        let discovery = discovery::document(&config);
        Ok(AppState {
            pending_seal: SealKey::derive(
                &config.master_key,
                "tessera pending authorization requests v1",
            ),
            settings: config.tokens.clone(),
            actors,
            config,
            secret_cache: Default::default(),
            guards: Default::default(),
            jwks,
            request_uris,
            stopping,
            discovery,
        })
    }

    /// The issuer identifier as it appears in `iss`.
    pub fn issuer(&self) -> String {
        crate::oidc::discovery::issuer_string(&self.config.issuer)
    }

    /// A client by id (the directory's read path: cached; if absent, again
    /// after read-index, as it may have been registered through another
    /// node a moment ago).
    pub async fn client(&self, id: &str) -> Result<Option<ClientRecord>, ClusterError> {
        self.directory_reads.client(id).await
    }

    /// A user by subject, from local state (callers hold a token or code that
    /// was applied here, so the user is too).
    pub fn user_by_sub(&self, sub: &str) -> Option<UserRecord> {
        self.directory_reads.user_by_sub(sub)
    }
}

/// Routes of the public server.
pub fn public_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/static/tessera.css", web::get().to(pages::stylesheet))
        .route("/favicon.ico", web::get().to(pages::favicon))
        .configure(discovery::routes)
        .configure(authorize::routes)
        .configure(par::routes)
        .configure(login::routes)
        .configure(token::routes)
        .configure(userinfo::routes)
        .configure(introspect::routes)
        .configure(logout::routes)
        .configure(register::routes);
}

/// Routes of the cluster port that are not Raft RPC: the admin API and
/// `/metrics`. Prometheus scrapes `/metrics` without a token; it lives here,
/// not on the public port, because it tells key ids and ages, failure counts
/// and the topology (the cluster port is never exposed to the Internet).
pub fn cluster_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(health::metrics))
        .configure(admin::routes);
}

/// The `method` label: a known method as is, anything else `other`, so a
/// client cannot create series by sending made-up methods.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Count and time a request by route pattern, method and status (routes no
/// pattern matched share the label `unmatched`); add HSTS when the issuer is
/// `https` (the only rule: TLS on the public listener requires an `https`
/// issuer, see `[http] tls_cert`).
pub fn observe<S>(
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse, actix_web::Error>> + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
    S::Future: 'static,
{
    let started = Instant::now();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let st = req.app_data::<web::Data<AppState>>();
    let stopping = st.map(|st| st.stopping.clone());
    let https = st.is_some_and(|st| st.config.issuer.scheme() == "https");
    let fut = srv.call(req);
    async move {
        let mut res = fut.await?;
        // An https issuer: browsers must never reach it over plain http.
        if https {
            res.headers_mut().insert(
                actix_web::http::header::STRICT_TRANSPORT_SECURITY,
                actix_web::http::header::HeaderValue::from_static("max-age=31536000"),
            );
        }
        // While draining before a stop, tell clients not to reuse the
        // connection, so none is cut while idle when the listener closes.
        if stopping.is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst)) {
            res.response_mut()
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        let status = res.status().as_u16().to_string();
        let labels = [route.as_str(), method, status.as_str()];
        METRICS.http_requests.with_label_values(&labels).inc();
        METRICS
            .http_duration
            .with_label_values(&labels)
            .observe(started.elapsed().as_secs_f64());
        Ok(res)
    }
}

/// The token of an `Authorization: Bearer <token>` header, as sent.
pub fn bearer_header(req: &actix_web::HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// JSON bodies that fail to parse get a 400 with a JSON error, not a 500.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _| {
            let msg = err.to_string();
            error::AdminError::BadRequest(msg).into()
        })
}
