//! `LogoutDelivery`: the worker that sends back-channel logout tokens
//! (OpenID Connect Back-Channel Logout 1.0 §2.5).
//!
//! Ending a session queues one replicated delivery record per client that
//! registered a `backchannel_logout_uri` (`state::deliveries`). On the
//! leader only, this actor looks every [`TICK`] for records that are due,
//! signs a Logout Token for each (the client's ID token algorithm, the
//! current key; `oidc::logout_token`), POSTs it as `logout_token=…` through
//! `outbound::Fetcher` (SSRF rules, timeout, no redirects) and records the
//! outcome with a Raft command: `DeliveryDone`, or `DeliveryFailed` with the
//! next attempt after an exponential backoff ([`backoff`]), or giving up
//! after [`MAX_ATTEMPTS`] attempts or [`GIVE_UP_AFTER`].
//!
//! **At-least-once.** The queue is replicated state, so a delivery survives
//! the death of the node that ended the session: whichever node leads next
//! finds the record still pending and sends it. A leader that dies after a
//! client acknowledged but before `DeliveryDone` committed makes the next
//! leader send the same token again; clients must accept a repeated logout
//! (the spec's `jti` lets them notice).
//!
//! Metrics: `tessera_backchannel_logout_total{outcome}` with `delivered`,
//! `retried`, `failed` (gave up) and `dropped` (the bounded queue was full;
//! counted by the proposer of the logout, see [`report`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, WrapFuture};

use super::batcher::{propose, Batcher, Batching};
use crate::clock::now;
use crate::cluster::ClusterHandle;
use crate::crypto::random_id;
use crate::metrics::METRICS;
use crate::oidc::logout_token;
use crate::outbound::{FetchSettings, Fetcher};
use crate::state::{self, Command, DeliveryRecord, LogoutOutcome, TreeId};

use super::keys::Keys;

/// How often the leader looks for due deliveries.
pub const TICK: Duration = Duration::from_millis(500);
/// Attempts before giving up.
pub const MAX_ATTEMPTS: u32 = 8;
/// Give up on a delivery this long after the session ended (seconds).
pub const GIVE_UP_AFTER: u64 = 3600;
/// Deliveries in flight at once on the leader.
const MAX_IN_FLIGHT: usize = 32;

/// Seconds to wait after failed attempt number `attempt` (0-based): 2, 6,
/// 18, ... (×3), at most 30 minutes.
pub fn backoff(attempt: u32) -> u64 {
    2u64.saturating_mul(3u64.saturating_pow(attempt)).min(1800)
}

/// When to try again after attempt `attempt` of `rec` failed at `now`, or
/// `None` to give up.
pub fn next_attempt(rec: &DeliveryRecord, attempt: u32, now: u64) -> Option<u64> {
    let at = now + backoff(attempt);
    (attempt + 1 < MAX_ATTEMPTS && at < rec.created_at + GIVE_UP_AFTER).then_some(at)
}

/// Count and log what a logout command did with the queue: deliveries it
/// had to drop because the queue was full.
pub fn report(outcome: &LogoutOutcome) {
    for client_id in &outcome.dropped {
        METRICS
            .backchannel_logouts
            .with_label_values(&["dropped"])
            .inc();
        tracing::info!(target: "audit", event = "backchannel_logout_dropped",
            client_id = %client_id, "back-channel logout dropped: the delivery queue is full");
    }
}

pub struct LogoutDelivery {
    cluster: ClusterHandle,
    batcher: Batcher,
    keys: Keys,
    issuer: String,
    fetcher: Arc<Fetcher>,
    deliveries: sled::Tree,
    in_flight: HashSet<String>,
}

impl LogoutDelivery {
    pub fn new(
        cluster: ClusterHandle,
        keys: Keys,
        issuer: String,
        allow_private_targets: bool,
    ) -> anyhow::Result<Self> {
        let fetcher = Fetcher::new(FetchSettings {
            allow_private_targets,
            ..FetchSettings::default()
        })?;
        Ok(LogoutDelivery {
            deliveries: cluster.sm.tree(TreeId::Deliveries),
            cluster,
            batcher: Batcher::default(),
            keys,
            issuer,
            fetcher: Arc::new(fetcher),
            in_flight: HashSet::new(),
        })
    }

    fn is_leader(&self) -> bool {
        let m = self.cluster.metrics();
        m.current_leader == Some(m.id)
    }

    /// Start every due delivery not already in flight.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if !self.is_leader() || self.in_flight.len() >= MAX_IN_FLIGHT {
            return;
        }
        let room = MAX_IN_FLIGHT - self.in_flight.len();
        let due: Vec<_> = state::deliveries::due(&self.deliveries, now(), MAX_IN_FLIGHT * 2)
            .into_iter()
            .filter(|(id, _)| !self.in_flight.contains(id))
            .take(room)
            .collect();
        for (id, rec) in due {
            self.in_flight.insert(id.clone());
            self.deliver(ctx, id, rec);
        }
    }

    /// The signed Logout Token for `rec`, with the client's ID token
    /// algorithm; `None` if the client is gone or no key can sign.
    fn token(&self, rec: &DeliveryRecord) -> Option<String> {
        let clients = self.cluster.sm.tree(TreeId::Clients);
        let client = state::clients::get(&clients, &rec.client_id)?;
        let claims = logout_token::claims(
            &self.issuer,
            &rec.client_id,
            &rec.sub,
            &rec.sid,
            now(),
            &random_id(),
        );
        let keys = self.keys.get();
        let alg = client.id_token_alg();
        let alg = if keys.can_sign(alg) { alg } else { "RS256" };
        keys.sign(alg, logout_token::TYP, claims).ok()
    }

    fn deliver(&mut self, ctx: &mut Context<Self>, id: String, rec: DeliveryRecord) {
        let token = self.token(&rec);
        let fetcher = self.fetcher.clone();
        let uri = rec.uri.clone();
        let send = async move {
            let token = token?;
            let form = [("logout_token", token.as_str())];
            fetcher
                .post_form(&uri, &form, "backchannel_logout_uri")
                .await
                .ok()
        };
        let attempt = rec.attempts;
        let fut = send.into_actor(self).then(move |sent, act, ctx| {
            let cmd = match sent {
                Some(()) => Command::DeliveryDone { id: id.clone() },
                None => Command::DeliveryFailed {
                    id: id.clone(),
                    attempt,
                    next_attempt: next_attempt(&rec, attempt, now()),
                },
            };
            let outcome = outcome_label(&cmd);
            let rx = propose(act, ctx, cmd);
            rx.into_actor(act).map(move |res, act: &mut Self, _| {
                act.in_flight.remove(&id);
                match res {
                    Ok(Ok(state::CommandResult::Done)) => {
                        METRICS
                            .backchannel_logouts
                            .with_label_values(&[outcome])
                            .inc();
                        if outcome == "failed" {
                            tracing::info!(target: "audit", event = "backchannel_logout_failed",
                                    client_id = %rec.client_id, "back-channel logout given up");
                        }
                    }
                    other => tracing::debug!(?other, "delivery outcome not recorded"),
                }
            })
        });
        ctx.spawn(fut);
    }
}

/// The metric label of the outcome a command records.
fn outcome_label(cmd: &Command) -> &'static str {
    match cmd {
        Command::DeliveryFailed {
            next_attempt: Some(_),
            ..
        } => "retried",
        Command::DeliveryFailed { .. } => "failed",
        _ => "delivered",
    }
}

impl Actor for LogoutDelivery {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
    }
}

impl Batching for LogoutDelivery {
    fn batcher(&mut self) -> &mut Batcher {
        &mut self.batcher
    }
    fn cluster(&self) -> &ClusterHandle {
        &self.cluster
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(created_at: u64) -> DeliveryRecord {
        DeliveryRecord {
            v: 2,
            client_id: "rp".into(),
            uri: "https://rp.example/bcl".into(),
            sub: "s".into(),
            sid: "sid".into(),
            attempts: 0,
            next_attempt: created_at,
            created_at,
            expires_at: created_at + 86_400,
            failed: false,
        }
    }

    #[test]
    fn retries_back_off_exponentially_and_give_up_after_the_limits() {
        assert_eq!(
            (0..5).map(backoff).collect::<Vec<_>>(),
            vec![2, 6, 18, 54, 162]
        );
        assert_eq!(backoff(40), 1800);
        let rec = record(1000);
        assert_eq!(next_attempt(&rec, 0, 1000), Some(1002));
        assert_eq!(next_attempt(&rec, MAX_ATTEMPTS - 1, 1000), None);
        // Past the hour, no further attempt whatever the count.
        assert_eq!(next_attempt(&rec, 1, 1000 + GIVE_UP_AFTER), None);
    }

    #[test]
    fn outcomes_are_labelled_for_the_metric() {
        let failed = |next| Command::DeliveryFailed {
            id: "i".into(),
            attempt: 0,
            next_attempt: next,
        };
        assert_eq!(outcome_label(&failed(Some(1))), "retried");
        assert_eq!(outcome_label(&failed(None)), "failed");
        assert_eq!(
            outcome_label(&Command::DeliveryDone { id: "i".into() }),
            "delivered"
        );
    }
}
