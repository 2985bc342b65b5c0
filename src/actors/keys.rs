//! `KeyActor`: the cluster's signing keys.
//!
//! Every node's KeyActor watches the replicated key records and publishes
//! them as one immutable [`KeySet`] in [`Keys`], which HTTP workers read to
//! sign and verify without an actor hop. On the leader it also creates the
//! first ES256 and RS256 key pairs when the cluster has none: generated off
//! the actor thread, private parts sealed with the master key, proposed in one
//! `AddKeys` command. Every node therefore signs with the same keys.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, WrapFuture};

use super::batcher::{propose, Batcher, Batching};
use crate::cluster::ClusterHandle;
use crate::crypto::jwt::{self, KeyInput, KeySet};
use crate::crypto::seal::SealKey;
use crate::state::{self, Command, KeyRecord, KeyState, FORMAT_VERSION};

/// Algorithms the cluster keeps a current key for.
pub const SIGNING_ALGS: &[&str] = &["RS256", "ES256"];

/// The published key set, shared with HTTP workers.
#[derive(Clone, Default)]
pub struct Keys(Arc<RwLock<Arc<KeySet>>>);

impl Keys {
    pub fn get(&self) -> Arc<KeySet> {
        self.0.read().expect("keys lock").clone()
    }
    fn set(&self, k: KeySet) {
        *self.0.write().expect("keys lock") = Arc::new(k);
    }
}

pub struct KeyActor {
    cluster: ClusterHandle,
    seal: SealKey,
    keys: Keys,
    tree: sled::Tree,
    batcher: Batcher,
    /// Fingerprint of the records the published set was built from.
    loaded: String,
    creating: bool,
}

impl KeyActor {
    pub fn new(cluster: ClusterHandle, master_key: &[u8; 32], keys: Keys) -> Self {
        let tree = cluster.sm.tree("keys");
        KeyActor {
            cluster,
            seal: signing_seal(master_key),
            keys,
            tree,
            batcher: Batcher::default(),
            loaded: String::new(),
            creating: false,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let records = state::keys::all(&self.tree);
        let fingerprint: String = records
            .iter()
            .map(|r| format!("{}:{:?};", r.kid, r.state))
            .collect();
        if fingerprint != self.loaded {
            match build_set(&records, &self.seal) {
                Ok(set) => {
                    self.keys.set(set);
                    self.loaded = fingerprint;
                }
                Err(e) => tracing::error!("cannot load signing keys: {e}"),
            }
        }
        let missing: Vec<&str> = SIGNING_ALGS
            .iter()
            .copied()
            .filter(|alg| state::keys::current(&self.tree, alg).is_none())
            .collect();
        let m = self.cluster.metrics();
        if missing.is_empty() || self.creating || m.current_leader != Some(m.id) {
            return;
        }
        self.creating = true;
        let seal = self.seal.clone();
        let algs: Vec<String> = missing.iter().map(|s| s.to_string()).collect();
        let make = async move { tokio::task::spawn_blocking(move || new_keys(&algs, &seal)).await };
        ctx.spawn(make.into_actor(self).map(|res, act, ctx| match res {
            Ok(Ok(keys)) => {
                tracing::info!(kids = ?keys.iter().map(|k| &k.kid).collect::<Vec<_>>(), "proposing new signing keys");
                let rx = propose(act, ctx, Command::AddKeys { keys });
                ctx.spawn(rx.into_actor(act).map(|res, act, _| {
                    act.creating = false;
                    if let Ok(Err(e)) = res {
                        tracing::warn!("proposing signing keys failed: {e}");
                    }
                }));
            }
            other => {
                act.creating = false;
                tracing::error!("key generation failed: {other:?}");
            }
        }));
    }
}

/// The seal for private signing keys.
pub fn signing_seal(master_key: &[u8; 32]) -> SealKey {
    SealKey::derive(master_key, "tessera signing keys v1")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn new_keys(algs: &[String], seal: &SealKey) -> Result<Vec<KeyRecord>, String> {
    algs.iter()
        .map(|alg| {
            let kid = format!("{}-{}", alg.to_lowercase(), crate::crypto::random_id());
            let (private, public) = jwt::generate(alg, &kid).map_err(|e| e.to_string())?;
            Ok(KeyRecord {
                v: FORMAT_VERSION,
                kid,
                alg: alg.clone(),
                public_jwk: public,
                sealed_private: seal.seal(private.to_string().as_bytes()),
                state: KeyState::Current,
                created_at: now(),
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
