//! `KeyActor`: the cluster's signing keys and their lifecycle.
//!
//! Every node's KeyActor watches the replicated key records and publishes
//! them as one immutable [`KeySet`] in [`Keys`], which HTTP workers read to
//! sign and verify without an actor hop; the actor reads the records through
//! that same handle. On the leader, a timer drives the lifecycle of
//! docs/ARCHITECTURE.md invariant 3, each step a Raft command so no two
//! nodes disagree: create the first keys; when the current key of an
//! algorithm is older than the rotation period (or an operator asked),
//! publish a `next` key; once it has been published for `publish_before_use`
//! (longer than the JWKS cache lifetime), promote it to `current` and retire
//! the old one; drop a retired key once every token it signed has expired.
//! Key pairs are generated off the actor thread; private parts are sealed
//! with the master key before they enter the log.

mod view;

use std::collections::BTreeSet;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseActFuture, WrapFuture,
};

use super::batcher::{propose, Batcher, Batching};
use super::result_of;
use crate::clock::now;
use crate::cluster::{ClusterError, ClusterHandle};
use crate::config::{KeySettings, TokenSettings};
use crate::crypto::jwt::{self, KeyInput, KeySet};
use crate::crypto::seal::SealKey;
use crate::state::{Command, KeyRecord, KeyState, FIRST_FORMAT};

pub use view::{key_views, KeyRecords, KeyView, Keys};

pub struct KeyActor {
    cluster: ClusterHandle,
    seal: SealKey,
    keys: Keys,
    batcher: Batcher,
    settings: KeySettings,
    /// A retired key is dropped this long after it stopped signing.
    retire_after: u64,
    /// Fingerprint of the records the published set was built from.
    loaded: String,
    /// A lifecycle step is in flight (one at a time).
    busy: bool,
}

impl KeyActor {
    pub fn new(
        cluster: ClusterHandle,
        master_key: &[u8; 32],
        keys: Keys,
        settings: KeySettings,
        tokens: &TokenSettings,
    ) -> Self {
        let longest = tokens.access_token_lifetime.max(tokens.id_token_lifetime);
        KeyActor {
            cluster,
            seal: signing_seal(master_key),
            keys,
            batcher: Batcher::default(),
            retire_after: longest + settings.retired_grace,
            settings,
            loaded: String::new(),
            busy: false,
        }
    }

    /// Rebuild the published set when the records changed.
    fn reload(&mut self, records: &[KeyRecord]) {
        let fingerprint: String = records
            .iter()
            .map(|r| format!("{}:{:?};", r.kid, r.state))
            .collect();
        if fingerprint == self.loaded {
            return;
        }
        match build_set(records, &self.seal) {
            Ok(set) => {
                self.keys.set(set);
                self.loaded = fingerprint;
            }
            Err(e) => tracing::error!("cannot load signing keys: {e}"),
        }
    }

    /// What the lifecycle wants done now, if anything (leader only).
    fn next_step(&self, records: &[KeyRecord]) -> Option<Step> {
        let t = now();
        let of = |alg: &str, st: KeyState| records.iter().find(|r| r.alg == alg && r.state == st);
        let mut create = Vec::new();
        for alg in &self.settings.algorithms {
            let (current, next) = (of(alg, KeyState::Current), of(alg, KeyState::Next));
            if let Some(n) = next {
                if n.created_at + self.settings.publish_before_use <= t || current.is_none() {
                    return Some(Step::Promote(n.kid.clone()));
                }
                continue;
            }
            match current {
                None => create.push((alg.clone(), KeyState::Current)),
                Some(c)
                    if c.activated_at.unwrap_or(c.created_at) + self.settings.rotation_period
                        <= t =>
                {
                    create.push((alg.clone(), KeyState::Next))
                }
                Some(_) => {}
            }
        }
        if !create.is_empty() {
            return Some(Step::Create(create));
        }
        records
            .iter()
            .find(|r| {
                r.state == KeyState::Retired && r.retired_at.unwrap_or(0) + self.retire_after <= t
            })
            .map(|r| Step::Remove(r.kid.clone()))
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let records = self.keys.records();
        self.reload(&records);
        let m = self.cluster.metrics();
        if self.busy || m.current_leader != Some(m.id) {
            return;
        }
        if let Some(step) = self.next_step(&records) {
            self.run(step, ctx);
        }
    }

    fn run(&mut self, step: Step, ctx: &mut Context<Self>) {
        self.busy = true;
        match step {
            Step::Promote(kid) => {
                tracing::info!(kid, "promoting the next signing key to current");
                tracing::info!(target: "audit", event = "key.promote", outcome = "proposed", kid);
                let rx = propose(self, ctx, Command::PromoteKey { kid, now: now() });
                ctx.spawn(rx.into_actor(self).map(|_, act, _| act.busy = false));
            }
            Step::Remove(kid) => {
                tracing::info!(kid, "removing a retired signing key");
                tracing::info!(target: "audit", event = "key.remove", outcome = "proposed", kid);
                let rx = propose(self, ctx, Command::RemoveKey { kid });
                ctx.spawn(rx.into_actor(self).map(|_, act, _| act.busy = false));
            }
            Step::Create(wanted) => {
                let seal = self.seal.clone();
                let make = async move {
                    tokio::task::spawn_blocking(move || new_keys(&wanted, &seal)).await
                };
                ctx.spawn(make.into_actor(self).map(|res, act, ctx| match res {
                    Ok(Ok(keys)) => {
                        let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
                        tracing::info!(?kids, "proposing new signing keys");
                        tracing::info!(target: "audit", event = "key.rotate", outcome = "proposed", reason = "scheduled", kids = %kids.join(" "));
                        let rx = propose(act, ctx, Command::AddKeys { keys });
                        ctx.spawn(rx.into_actor(act).map(|_, act, _| act.busy = false));
                    }
                    other => {
                        act.busy = false;
                        tracing::error!("key generation failed: {other:?}");
                    }
                }));
            }
        }
    }
}

enum Step {
    Create(Vec<(String, KeyState)>),
    Promote(String),
    Remove(String),
}

/// The seal for private signing keys.
pub fn signing_seal(master_key: &[u8; 32]) -> SealKey {
    SealKey::derive(master_key, "tessera signing keys v1")
}

fn new_keys(wanted: &[(String, KeyState)], seal: &SealKey) -> Result<Vec<KeyRecord>, String> {
    let t = now();
    wanted
        .iter()
        .map(|(alg, st)| {
            let kid = format!("{}-{}", alg.to_lowercase(), crate::crypto::random_id());
            let (private, public) = jwt::generate(alg, &kid).map_err(|e| e.to_string())?;
            Ok(KeyRecord {
                v: FIRST_FORMAT,
                kid,
                alg: alg.clone(),
                public_jwk: public,
                sealed_private: seal.seal(private.to_string().as_bytes()),
                state: *st,
                created_at: t,
                activated_at: (*st == KeyState::Current).then_some(t),
                retired_at: None,
            })
        })
        .collect()
}

fn build_set(records: &[KeyRecord], seal: &SealKey) -> Result<KeySet, String> {
    let mut inputs = Vec::new();
    for r in records {
        let private = seal.open(&r.sealed_private).ok_or_else(|| {
            format!(
                "key {} cannot be unsealed: is the master key the cluster's?",
                r.kid
            )
        })?;
        let private: serde_json::Value =
            serde_json::from_slice(&private).map_err(|e| e.to_string())?;
        inputs.push(KeyInput {
            kid: &r.kid,
            alg: &r.alg,
            public: &r.public_jwk,
            private: Some(private),
            current: r.state == KeyState::Current,
        });
    }
    KeySet::build(inputs).map_err(|e| e.to_string())
}

impl Actor for KeyActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.tick(ctx);
        ctx.run_interval(Duration::from_millis(500), |act, ctx| act.tick(ctx));
    }
}

impl Batching for KeyActor {
    fn batcher(&mut self) -> &mut Batcher {
        &mut self.batcher
    }
    fn cluster(&self) -> &ClusterHandle {
        &self.cluster
    }
}

/// Publish a `next` key now for `alg` (or every algorithm); answers the new
/// key ids. The leader promotes them after the publish interval.
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, ClusterError>")]
pub struct Rotate(pub Option<String>);

impl Handler<Rotate> for KeyActor {
    type Result = ResponseActFuture<Self, Result<Vec<String>, ClusterError>>;

    fn handle(&mut self, msg: Rotate, _: &mut Context<Self>) -> Self::Result {
        let records = self.keys.records();
        let pending: BTreeSet<&str> = records
            .iter()
            .filter(|r| r.state == KeyState::Next)
            .map(|r| r.alg.as_str())
            .collect();
        let wanted: Vec<(String, KeyState)> = self
            .settings
            .algorithms
            .iter()
            .filter(|a| msg.0.as_deref().is_none_or(|want| want == a.as_str()))
            .filter(|a| !pending.contains(a.as_str()))
            .map(|a| (a.clone(), KeyState::Next))
            .collect();
        let seal = self.seal.clone();
        let make =
            async move { tokio::task::spawn_blocking(move || new_keys(&wanted, &seal)).await };
        Box::pin(make.into_actor(self).then(|res, act, ctx| {
            let planned = match res {
                Ok(Ok(keys)) => {
                    let kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
                    let rx =
                        (!keys.is_empty()).then(|| propose(act, ctx, Command::AddKeys { keys }));
                    Ok((kids, rx))
                }
                other => Err(ClusterError::Unknown(format!(
                    "key generation failed: {other:?}"
                ))),
            };
            async move {
                let (kids, rx) = planned?;
                if let Some(rx) = rx {
                    result_of(rx).await?;
                }
                Ok(kids)
            }
            .into_actor(act)
        }))
    }
}
