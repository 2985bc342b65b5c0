//! Outbound HTTP to client-supplied URLs (`jwks_uri`, `request_uri`; back-channel
//! logout later), safe against server-side request forgery, and
//! the JWK Set cache built on it.
//!
//! **Threat.** A registered client chooses the URL, so without care the
//! provider becomes the attacker's proxy into its own network: `jwks_uri`
//! pointing at `http://127.0.0.1:<admin port>/…`, at a cloud metadata service
//! (169.254.169.254), or at an innocent public URL that redirects there;
//! a name that resolves to a public address when checked and to a private one
//! when connected (DNS rebinding); a body of gigabytes or a server that never
//! answers, to pin workers; and distinct error texts ("cannot connect" vs.
//! "not a JWK Set") that turn the token endpoint into a port scanner.
//!
//! **Design.** [`Fetcher::get`] accepts only `https` URLs without userinfo,
//! refuses IP literals in loopback, private (RFC 1918, fc00::/7), link-local,
//! CGNAT, unspecified, multicast, broadcast, reserved and documentation ranges
//! (also when embedded in IPv4-mapped, NAT64 or 6to4 IPv6 forms), and resolves
//! names through its own resolver that refuses a name if *any* of its
//! addresses is in those ranges. That resolver is the one the connection
//! uses, so the address vetted is the address connected to: no window for
//! rebinding. No proxy from the environment, no redirects (a 3xx is a
//! failure), one overall timeout, and a body cap enforced chunk by chunk while
//! reading. The operator's `allow_private_targets` switch (tests, a dev
//! cluster on loopback) lifts the address rules and allows `http`.
//! Every failure is the same [`FetchError`] text ("the client's jwks_uri could
//! not be used"); the precise reason goes to a `debug` log with the host only
//! (never the path, query or a body).
//!
//! [`JwksCache`] keeps each URL's JWK Set for `ttl`, refreshes early when an
//! assertion names a `kid` it does not hold — at most once per
//! `refresh_interval` per URL, so a stream of made-up `kid`s costs one fetch
//! per interval — remembers a failure for `negative_ttl`, lets one request
//! fetch while the others for the same URL wait for its result, and holds at
//! most `max_entries` URLs (the least recently used goes first).
//!
//! **Wiring.** `http::AppState::jwks` is built from the operator's
//! `[outbound] allow_private_targets` switch; `http/client_auth.rs` asks it
//! for the JWK Set of a client registered with a `jwks_uri` and answers
//! `invalid_client` with this module's one generic text on any failure.
//! A later `request_uri` fetch uses `Fetcher::new(settings)?.get(url, "request_uri")`;
//! back-channel logout (`actors::logout_delivery`) uses [`Fetcher::post_form`].
//! `http/request_object.rs` fetches `request_uri`s with its own [`Fetcher`]
//! (`.get(url, "request_uri")`, a 16 KiB cap).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::Value;

/// Limits of one outbound fetch.
#[derive(Clone, Debug)]
pub struct FetchSettings {
    /// Operator switch: allow `http` and loopback/private/link-local targets.
    pub allow_private_targets: bool,
    /// Whole fetch: resolve, connect, TLS, headers and body.
    pub timeout: Duration,
    /// Largest body accepted, checked while reading.
    pub max_body: usize,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            allow_private_targets: false,
            timeout: Duration::from_secs(3),
            max_body: 64 * 1024,
        }
    }
}

/// URLs longer than this are refused (they are also map keys of the cache).
const MAX_URL_LEN: usize = 2048;

/// The one error every failure gives; the reason is only logged.
#[derive(Clone)]
pub struct FetchError {
    what: &'static str,
    reason: Reason,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the client's {} could not be used", self.what)
    }
}

// Debug is as generic as Display, so `{:?}` in a response cannot leak the reason.
impl std::fmt::Debug for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FetchError({self})")
    }
}

impl std::error::Error for FetchError {}

/// Why a fetch failed (debug log and tests only).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Reason {
    BadUrl,
    Scheme,
    ForbiddenAddress,
    Connect(String),
    Timeout,
    Status(u16),
    TooLarge,
    NotJwks,
}

impl FetchError {
    fn new(what: &'static str, host: &str, reason: Reason) -> Self {
        tracing::debug!(target: "tessera::outbound", what, host, ?reason, "outbound fetch refused");
        FetchError { what, reason }
    }
    #[cfg(test)]
    fn reason(&self) -> &Reason {
        &self.reason
    }
}

/// True for addresses a client-supplied URL must not reach.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", includes 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // IETF assignments, TEST-NET-1
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224 // multicast 224/4, reserved 240/4, broadcast
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| forbidden_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || (s[0..6] == [0; 6] && embedded(s[6], s[7])) // IPv4-compatible ::a.b.c.d
        || (s[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] && embedded(s[6], s[7])) // NAT64
        || (s[0] == 0x2002 && embedded(s[1], s[2])) // 6to4
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
}

/// A name resolved to an address [`is_forbidden`] refuses.
#[derive(Debug)]
struct ForbiddenTarget;

impl std::fmt::Display for ForbiddenTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the name resolves to a forbidden address")
    }
}

impl std::error::Error for ForbiddenTarget {}

/// The resolver the connection itself uses: what it vets is what is dialled.
struct VettingResolver;

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.iter().any(|a| is_forbidden(a.ip())) {
                return Err(Box::new(ForbiddenTarget) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Turn a transport error into a reason without its URL.
fn transport_reason(e: &reqwest::Error) -> Reason {
    if e.is_timeout() {
        return Reason::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut chain = Vec::new();
    while let Some(err) = source {
        if err.is::<ForbiddenTarget>() {
            return Reason::ForbiddenAddress;
        }
        chain.push(err.to_string());
        source = err.source();
    }
    Reason::Connect(chain.join(": "))
}

/// SSRF-safe GET of client-supplied URLs.
pub struct Fetcher {
    client: reqwest::Client,
    settings: FetchSettings,
}

impl Fetcher {
    pub fn new(settings: FetchSettings) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(settings.timeout)
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")));
        if !settings.allow_private_targets {
            builder = builder
                .https_only(true)
                .dns_resolver(Arc::new(VettingResolver));
        }
        Ok(Fetcher {
            client: builder.build()?,
            settings,
        })
    }

    /// The body of a `200` answer to a GET of `url`; `what` names the URL in
    /// the error ("jwks_uri", "request_uri").
    pub async fn get(&self, url: &str, what: &'static str) -> Result<Vec<u8>, FetchError> {
        let parsed = self.vet(url, what)?;
        let host = parsed.host_str().unwrap_or_default().to_owned();
        self.bounded(what, &host, self.read(parsed)).await
    }

    /// POST `form` (`application/x-www-form-urlencoded`) to `url` under the
    /// same rules as [`Fetcher::get`] (back-channel logout); `Ok` for a
    /// `200` or `204` answer, whose body is not read.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        what: &'static str,
    ) -> Result<(), FetchError> {
        let parsed = self.vet(url, what)?;
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let send = async {
            let res = self
                .client
                .post(parsed)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .map_err(|e| transport_reason(&e))?;
            match res.status().as_u16() {
                200 | 204 => Ok(()),
                s => Err(Reason::Status(s)),
            }
        };
        self.bounded(what, &host, send).await
    }

    /// Run `fut` within the overall timeout; a failure becomes the one
    /// generic [`FetchError`].
    async fn bounded<T>(
        &self,
        what: &'static str,
        host: &str,
        fut: impl std::future::Future<Output = Result<T, Reason>>,
    ) -> Result<T, FetchError> {
        match tokio::time::timeout(self.settings.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(reason)) => Err(FetchError::new(what, host, reason)),
            Err(_) => Err(FetchError::new(what, host, Reason::Timeout)),
        }
    }

    /// Checks that need no network: length, scheme, userinfo, IP literals.
    fn vet(&self, url: &str, what: &'static str) -> Result<url::Url, FetchError> {
        let bad = |reason| FetchError::new(what, "", reason);
        if url.len() > MAX_URL_LEN {
            return Err(bad(Reason::BadUrl));
        }
        let parsed = url::Url::parse(url).map_err(|_| bad(Reason::BadUrl))?;
        let host = parsed.host_str().unwrap_or_default();
        let fail = |reason| FetchError::new(what, host, reason);
        let allow = self.settings.allow_private_targets;
        match parsed.scheme() {
            "https" => {}
            "http" if allow => {}
            _ => return Err(fail(Reason::Scheme)),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(fail(Reason::BadUrl));
        }
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(fail(Reason::BadUrl)),
        };
        if !allow && literal.is_some_and(is_forbidden) {
            return Err(fail(Reason::ForbiddenAddress));
        }
        Ok(parsed)
    }

    async fn read(&self, url: url::Url) -> Result<Vec<u8>, Reason> {
        let mut res = self
            .client
            .get(url)
            .header("accept", "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| transport_reason(&e))?;
        if res.status() != reqwest::StatusCode::OK {
            return Err(Reason::Status(res.status().as_u16()));
        }
        let cap = self.settings.max_body;
        if res.content_length().is_some_and(|n| n > cap as u64) {
            return Err(Reason::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| transport_reason(&e))? {
            if body.len() + chunk.len() > cap {
                return Err(Reason::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The `kid` in a compact JWS header, read without verifying anything.
pub fn header_kid(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("kid")?.as_str().map(String::from)
}

/// Policy of the JWK Set cache, on top of the fetch limits.
#[derive(Clone, Debug)]
pub struct JwksSettings {
    pub fetch: FetchSettings,
    /// How long a fetched set is used without asking again.
    pub ttl: Duration,
    /// At most one early refresh (unknown `kid`) per URL in this interval.
    pub refresh_interval: Duration,
    /// How long a failed fetch is answered from memory.
    pub negative_ttl: Duration,
    /// URLs remembered at once.
    pub max_entries: usize,
}

impl JwksSettings {
    /// The defaults, with the operator's `allow_private_targets` switch.
    pub fn new(allow_private_targets: bool) -> Self {
        let mut s = JwksSettings::default();
        s.fetch.allow_private_targets = allow_private_targets;
        s
    }
}

impl Default for JwksSettings {
    fn default() -> Self {
        JwksSettings {
            fetch: FetchSettings::default(),
            ttl: Duration::from_secs(300),
            refresh_interval: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(10),
            max_entries: 512,
        }
    }
}

/// What is known about one URL.
#[derive(Default)]
struct Slot {
    keys: Option<(Arc<Value>, Instant)>,
    failure: Option<(Reason, Instant)>,
    last_fetch: Option<Instant>,
}

struct Handle {
    slot: Arc<tokio::sync::Mutex<Slot>>,
    last_used: Instant,
}

/// Per-URL cache of client JWK Sets.
pub struct JwksCache {
    fetcher: Fetcher,
    settings: JwksSettings,
    slots: Mutex<HashMap<String, Handle>>,
}

const WHAT: &str = "jwks_uri";

fn within(since: Instant, now: Instant, d: Duration) -> bool {
    now.saturating_duration_since(since) < d
}

fn has_kid(set: &Value, kid: &str) -> bool {
    set["keys"]
        .as_array()
        .is_some_and(|ks| ks.iter().any(|k| k["kid"].as_str() == Some(kid)))
}

impl JwksCache {
    pub fn new(settings: JwksSettings) -> anyhow::Result<Self> {
        Ok(JwksCache {
            fetcher: Fetcher::new(settings.fetch.clone())?,
            settings,
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// The JWK Set at `url`, refreshed first if it does not hold `want_kid`
    /// (and no refresh happened within `refresh_interval`).
    pub async fn key_set(
        &self,
        url: &str,
        want_kid: Option<&str>,
    ) -> Result<Arc<Value>, FetchError> {
        self.key_set_at(url, want_kid, Instant::now()).await
    }

    /// [`Self::key_set`] with the clock passed in (tests).
    pub(crate) async fn key_set_at(
        &self,
        url: &str,
        want_kid: Option<&str>,
        now: Instant,
    ) -> Result<Arc<Value>, FetchError> {
        // Vet before the URL becomes a map key.
        let parsed = self.fetcher.vet(url, WHAT)?;
        let host = parsed.host_str().unwrap_or_default();
        let slot = self.slot(url, now);
        let mut slot = slot.lock().await;
        let s = &self.settings;
        let fresh = match &slot.keys {
            Some((set, at)) if within(*at, now, s.ttl) => Some(set.clone()),
            _ => None,
        };
        if let Some(set) = &fresh {
            let known = want_kid.is_none_or(|k| has_kid(set, k));
            let refreshed = slot
                .last_fetch
                .is_some_and(|t| within(t, now, s.refresh_interval));
            if known || refreshed {
                return Ok(set.clone());
            }
        } else if let Some((reason, at)) = &slot.failure {
            if within(*at, now, s.negative_ttl) {
                return Err(FetchError::new(WHAT, host, reason.clone()));
            }
        }
        slot.last_fetch = Some(now);
        let got = self.fetcher.get(url, WHAT).await.and_then(|body| {
            serde_json::from_slice::<Value>(&body)
                .ok()
                .filter(|v| v["keys"].is_array())
                .ok_or_else(|| FetchError::new(WHAT, host, Reason::NotJwks))
        });
        match got {
            Ok(set) => {
                let set = Arc::new(set);
                slot.keys = Some((set.clone(), now));
                slot.failure = None;
                Ok(set)
            }
            Err(e) => {
                slot.failure = Some((e.reason.clone(), now));
                // A failed early refresh keeps serving the still-fresh set.
                fresh.ok_or(e)
            }
        }
    }

    /// The URL's slot, created (evicting the least recently used) if new.
    fn slot(&self, url: &str, now: Instant) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = slots.get_mut(url) {
            h.last_used = now;
            return h.slot.clone();
        }
        if slots.len() >= self.settings.max_entries.max(1) {
            let oldest = slots
                .iter()
                .min_by_key(|(_, h)| h.last_used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                slots.remove(&k);
            }
        }
        let slot = Arc::new(tokio::sync::Mutex::new(Slot::default()));
        slots.insert(
            url.to_owned(),
            Handle {
                slot: slot.clone(),
                last_used: now,
            },
        );
        slot
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
