//! Throttling of password and client-secret guesses, and bounded admission
//! to argon2.
//!
//! **Threat.** Without limits an attacker guesses a user's password (or a
//! confidential client's secret) as fast as the provider answers, from one
//! address or spread over many; and since every guess costs an argon2 hash
//! (~20 ms of a core), a few hundred concurrent wrong guesses also queue real
//! logins behind them for seconds. A naive defence — lock the account after N
//! failures — hands the same attacker a way to lock any user out for good.
//!
//! **Design.** [`Throttle`] counts failures per account (username or
//! `client_id`, also for names that do not exist, so the answer does not tell
//! them apart) and per source address (IPv6 grouped by /64, since one host
//! owns a whole /64) in a sliding window: the count is this window's failures
//! plus the previous window's weighted by how much of it still overlaps, so
//! each key costs a few words whatever the traffic. From the `limit`-th
//! failure on, each further failure blocks the key for `base_delay` doubled
//! per failure over the limit, capped at `max_delay`; a blocked key is refused
//! with a [`RetryAfter`] (HTTP 429 and `Retry-After`, or a page saying when)
//! *before* any hash is computed, and a refused attempt is not a failure. The
//! cap is the no-lockout guarantee: however long an attack runs, the owner
//! gets a fresh attempt at most `max_delay` after the attacker's last one, and
//! a success clears the account's count (not the address's, or one valid
//! account would launder an address's guesses at others). With the defaults
//! (5 per account and 20 per address per 15 minutes, 1 s doubling to 30 s)
//! an attacker gets about 30 guesses per account per 15 minutes instead of
//! tens of thousands, and 30 wrong passwords in a row leave the user able to
//! sign in again within 30 s. Memory is bounded: each table holds at most
//! `max_entries` keys (the least recently failed goes first), and keys are
//! stored as keyed 64-bit hashes, so a long username costs nothing extra.
//!
//! **Per node, not cluster-wide.** Counting in the replicated state would
//! make every wrong guess a Raft write: the attacker's cheapest request would
//! cost a quorum round trip and an fsync on every node, turning the defence
//! into a denial-of-service amplifier, and throttling would stop working
//! exactly when the cluster lost quorum. Counted per node, an attacker spread
//! by the load balancer over the three nodes gets at most three times the
//! budget (still a few guesses per minute per account), and no write is made.
//!
//! [`HashPermits`] bounds the argon2 queue: the caller takes a permit with
//! [`HashPermits::try_acquire`] before sending a hash to the password actor
//! and answers 503 when none is left instead of queueing without limit.
//! Giving logins and client secrets separate permit pools keeps a flood of
//! wrong client secrets from starving sign-ins.
//!
//! **Wiring.** `AppState::guards` holds a [`Guards`]: one throttle for
//! passwords (`POST /login`), one for client secrets (`/token`,
//! `/introspect`, `/revoke`), and separate [`HashPermits`] for each, so
//! secret guesses can never take the places of logins. Each path checks its
//! throttle before hashing (refusal: 429 and `Retry-After`), takes a permit
//! (none left: 503 and `Retry-After: 1`), hashes, then records the failure
//! or the success. A client secret that already verified on this node (the
//! digest cache of `http/client_auth.rs`) needs neither.
//!
//! **Source address.** The address is the TCP peer; the first
//! `X-Forwarded-For` entry is used instead only when the peer is loopback,
//! the one trusted proxy (the local cluster's nginx runs on the same host).
//! A deployment whose proxy is elsewhere must have it overwrite the header
//! on a loopback hop, or every client counts as the proxy's address.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// Limits of one [`Throttle`].
#[derive(Clone, Debug)]
pub struct ThrottleSettings {
    /// Failures per account within `window` before delays start.
    pub account_limit: u32,
    /// Failures per source address within `window` before delays start.
    pub address_limit: u32,
    pub window: Duration,
    /// Block after the `limit`-th failure; doubles with each further one.
    pub base_delay: Duration,
    /// Longest block: the bound on how long an owner can be kept out.
    pub max_delay: Duration,
    /// Keys remembered per table (accounts, addresses).
    pub max_entries: usize,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            account_limit: 5,
            address_limit: 20,
            window: Duration::from_secs(15 * 60),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_entries: 100_000,
        }
    }
}

/// How long the caller must wait before trying again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for a `Retry-After` header: rounded up, at least 1.
    pub fn secs(&self) -> u64 {
        let d = self.0;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

/// Sliding-window failure count of one key, and its current block.
struct Counter {
    window_start: Instant,
    previous: u32,
    current: u32,
    blocked_until: Option<Instant>,
    /// Position in the table's eviction order.
    seq: u64,
}

impl Counter {
    /// Move the window forward to contain `now`.
    fn roll(&mut self, now: Instant, window: Duration) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= window * 2 {
            (self.window_start, self.previous, self.current) = (now, 0, 0);
        } else if elapsed >= window {
            self.window_start += window;
            (self.previous, self.current) = (self.current, 0);
        }
    }

    /// Failures in the `window` before `now` (the previous window weighted).
    fn estimate(&self, now: Instant, window: Duration) -> u32 {
        let into = now.saturating_duration_since(self.window_start).min(window);
        let overlap = (window - into).as_millis();
        let weighted = u128::from(self.previous) * overlap / window.as_millis().max(1);
        self.current
            .saturating_add(u32::try_from(weighted).unwrap_or(u32::MAX))
    }

    fn blocked(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .and_then(|t| t.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// Count a failure; block from the `limit`-th one on.
    fn fail(&mut self, now: Instant, limit: u32, s: &ThrottleSettings) {
        self.roll(now, s.window);
        self.current = self.current.saturating_add(1);
        let n = self.estimate(now, s.window);
        if n >= limit.max(1) {
            let doublings = (n - limit.max(1)).min(20);
            let delay = s.base_delay.saturating_mul(1 << doublings).min(s.max_delay);
            let until = now + delay;
            self.blocked_until = Some(self.blocked_until.map_or(until, |t| t.max(until)));
        }
    }
}

/// Counters by hashed key, evicting the least recently failed when full.
struct Table {
    counters: HashMap<u64, Counter>,
    order: BTreeMap<u64, u64>,
    next_seq: u64,
    cap: usize,
}

impl Table {
    fn new(cap: usize) -> Self {
        Table {
            counters: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            cap: cap.max(1),
        }
    }

    fn blocked(&self, key: u64, now: Instant) -> Option<Duration> {
        self.counters.get(&key).and_then(|c| c.blocked(now))
    }

    /// The key's counter, made most recent (created, evicting if needed).
    fn touch(&mut self, key: u64, now: Instant) -> &mut Counter {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(old) = self.counters.get(&key).map(|c| c.seq) {
            self.order.remove(&old);
        } else if self.counters.len() >= self.cap {
            if let Some((_, victim)) = self.order.pop_first() {
                self.counters.remove(&victim);
            }
        }
        self.order.insert(seq, key);
        let c = self.counters.entry(key).or_insert(Counter {
            window_start: now,
            previous: 0,
            current: 0,
            blocked_until: None,
            seq,
        });
        c.seq = seq;
        c
    }

    fn remove(&mut self, key: u64) {
        if let Some(c) = self.counters.remove(&key) {
            self.order.remove(&c.seq);
        }
    }
}

struct Tables {
    accounts: Table,
    addresses: Table,
}

/// Per-node guess throttle for one kind of secret (passwords or client secrets).
pub struct Throttle {
    settings: ThrottleSettings,
    hasher: RandomState,
    tables: Mutex<Tables>,
}

/// The address that identifies an attacker: IPv4 as is (also when mapped
/// into IPv6), IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

impl Throttle {
    pub fn new(settings: ThrottleSettings) -> Self {
        let tables = Tables {
            accounts: Table::new(settings.max_entries),
            addresses: Table::new(settings.max_entries),
        };
        Throttle {
            settings,
            hasher: RandomState::new(),
            tables: Mutex::new(tables),
        }
    }

    fn keys(&self, account: &str, ip: IpAddr) -> (u64, u64) {
        (
            self.hasher.hash_one(account),
            self.hasher.hash_one(address_key(ip)),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// May `ip` try a secret for `account` now? Call before hashing anything.
    pub fn check(&self, account: &str, ip: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let (a, i) = self.keys(account, ip);
        Self::blocked(&self.lock(), a, i, now).map_or(Ok(()), Err)
    }

    /// Count a wrong secret; the wait it imposes from now on, if any.
    pub fn record_failure(&self, account: &str, ip: IpAddr, now: Instant) -> Option<RetryAfter> {
        let (a, i) = self.keys(account, ip);
        let s = &self.settings;
        let mut t = self.lock();
        t.accounts.touch(a, now).fail(now, s.account_limit, s);
        t.addresses.touch(i, now).fail(now, s.address_limit, s);
        Self::blocked(&t, a, i, now)
    }

    /// The longer of the account's and the address's blocks.
    fn blocked(t: &Tables, a: u64, i: u64, now: Instant) -> Option<RetryAfter> {
        t.accounts
            .blocked(a, now)
            .max(t.addresses.blocked(i, now))
            .map(RetryAfter)
    }

    /// The right secret: forget the account's failures (not the address's).
    pub fn record_success(&self, account: &str) {
        let a = self.hasher.hash_one(account);
        self.lock().accounts.remove(a);
    }

    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        let t = self.lock();
        (t.accounts.counters.len(), t.addresses.counters.len())
    }
}

/// Bounded admission to argon2: at most `n` hashes queued or running.
#[derive(Clone)]
pub struct HashPermits(Arc<Semaphore>);

/// Held while a hash is queued or computed; dropping it frees the place.
pub struct HashPermit {
    _permit: OwnedSemaphorePermit,
}

/// Every place is taken: answer 503 (`Retry-After: 1`) instead of waiting.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too many password checks are waiting; try again shortly")
    }
}

impl std::error::Error for Busy {}

impl HashPermits {
    pub fn new(n: usize) -> Self {
        HashPermits(Arc::new(Semaphore::new(n.max(1))))
    }

    /// A place in the argon2 queue, or [`Busy`] at once.
    pub fn try_acquire(&self) -> Result<HashPermit, Busy> {
        match self.0.clone().try_acquire_owned() {
            Ok(p) => Ok(HashPermit { _permit: p }),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => Err(Busy),
        }
    }

    /// Free places (for a gauge).
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

/// Where a guess came from: the TCP peer, or the first `X-Forwarded-For`
/// entry when the peer is loopback (the only trusted proxy). Without a peer
/// (a request not from a socket) every such guess shares the unspecified
/// address.
pub fn source_address(peer: Option<IpAddr>, forwarded_for: Option<&str>) -> IpAddr {
    let Some(peer) = peer else {
        return IpAddr::from([0, 0, 0, 0]);
    };
    if !peer.to_canonical().is_loopback() {
        return peer;
    }
    let first = forwarded_for
        .and_then(|h| h.split(',').next())
        .map(str::trim);
    first.and_then(|a| a.parse().ok()).unwrap_or(peer)
}

/// The guess throttles and argon2 permits of one node (see the module doc).
pub struct Guards {
    pub logins: Throttle,
    pub secrets: Throttle,
    pub login_hashes: HashPermits,
    pub secret_hashes: HashPermits,
}

impl Guards {
    /// Default limits; the permits sized to the password pool (one thread
    /// per core): sixteen queued logins per thread (a login then waits at
    /// most ~16 hashes, about 0.3 s, before its own; more are refused with
    /// 503), two secrets per thread (client secrets are checked once per
    /// node and then cached, so a queue of them is an attack).
    pub fn new() -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Guards {
            logins: Throttle::new(ThrottleSettings::default()),
            secrets: Throttle::new(ThrottleSettings::default()),
            login_hashes: HashPermits::new(16 * threads),
            secret_hashes: HashPermits::new(2 * threads),
        }
    }
}

impl Default for Guards {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
