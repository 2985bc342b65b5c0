//! The keys' one read path: [`Keys`], a cloneable handle that HTTP workers
//! and the `KeyActor` share. It holds the published [`KeySet`] (signing and
//! verifying without an actor hop) and reads the replicated key records
//! through an exact cache that `apply` invalidates (docs/ARCHITECTURE.md
//! invariant 9). [`key_views`] is the one listing of keys, shown by the
//! admin API and exported by `/metrics`.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::clock::{now, READ_TIMEOUT};
use crate::cluster::state_machine::StateMachine;
use crate::cluster::{ClusterError, ClusterHandle};
use crate::crypto::jwt::KeySet;
use crate::state::{self, KeyRecord, TreeCache, TreeId};

/// The key records as applied on this node, cached until the next write.
#[derive(Clone)]
pub struct KeyRecords {
    tree: sled::Tree,
    cache: TreeCache<Arc<Vec<KeyRecord>>>,
}

impl KeyRecords {
    pub fn new(sm: &StateMachine) -> KeyRecords {
        KeyRecords {
            tree: sm.tree(TreeId::Keys),
            cache: TreeCache::new(TreeId::Keys, sm.generations(), 1),
        }
    }

    /// Every key record (all algorithms and states).
    pub fn all(&self) -> Arc<Vec<KeyRecord>> {
        let load = || Some(Arc::new(state::keys::all(&self.tree)));
        self.cache.get_or_load("", load).unwrap_or_default()
    }
}

/// A signing key as `tessera keys list` and `/metrics` show it (never the
/// private part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub created_at: u64,
    pub activated_at: Option<u64>,
    pub retired_at: Option<u64>,
    pub age_secs: u64,
}

/// The keys as shown to operators at time `now`, by algorithm then age.
pub fn key_views(records: &[KeyRecord], now: u64) -> Vec<KeyView> {
    let mut keys: Vec<KeyView> = records
        .iter()
        .map(|k| KeyView {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            state: format!("{:?}", k.state).to_lowercase(),
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
            age_secs: now.saturating_sub(k.created_at),
        })
        .collect();
    keys.sort_by(|a, b| (&a.alg, a.created_at).cmp(&(&b.alg, b.created_at)));
    keys
}

/// The published key set and the key records, shared with HTTP workers.
#[derive(Clone)]
pub struct Keys {
    published: Arc<RwLock<Arc<KeySet>>>,
    records: KeyRecords,
    cluster: ClusterHandle,
}

impl Keys {
    pub fn new(cluster: &ClusterHandle) -> Keys {
        Keys {
            published: Default::default(),
            records: KeyRecords::new(&cluster.sm),
            cluster: cluster.clone(),
        }
    }

    /// The published key set (sign with its current keys, verify with all).
    pub fn get(&self) -> Arc<KeySet> {
        self.published.read().expect("keys lock").clone()
    }

    pub(super) fn set(&self, k: KeySet) {
        *self.published.write().expect("keys lock") = Arc::new(k);
    }

    /// The key records as applied on this node.
    pub fn records(&self) -> Arc<Vec<KeyRecord>> {
        self.records.all()
    }

    /// The keys as applied on this node (for `/metrics`).
    pub fn list_local(&self) -> Vec<KeyView> {
        key_views(&self.records(), now())
    }

    /// The keys with every acknowledged change (for the admin API).
    pub async fn list(&self) -> Result<Vec<KeyView>, ClusterError> {
        self.cluster.read_index(READ_TIMEOUT).await?;
        Ok(self.list_local())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::directory::testing::{apply, state_machine};
    use crate::state::{Command, KeyState};

    /// The state tests' key record, created at `created_at`.
    fn key(kid: &str, alg: &str, state: KeyState, created_at: u64) -> KeyRecord {
        let mut k = crate::state::testing::key(kid, alg, state);
        k.created_at = created_at;
        k.activated_at = (state == KeyState::Current).then_some(created_at);
        k
    }

    #[test]
    fn key_views_sort_by_algorithm_then_age_and_show_the_state() {
        let records = [
            key("rs-new", "RS256", KeyState::Next, 90),
            key("es", "ES256", KeyState::Current, 50),
            key("rs-old", "RS256", KeyState::Current, 10),
        ];
        let views = key_views(&records, 100);
        let kids: Vec<&str> = views.iter().map(|v| v.kid.as_str()).collect();
        assert_eq!(kids, ["es", "rs-old", "rs-new"]);
        assert_eq!(views[1].state, "current");
        assert_eq!(views[1].age_secs, 90);
        assert_eq!(views[2].state, "next");
    }

    #[tokio::test]
    async fn key_records_follow_every_applied_change() {
        let (_dir, mut sm) = state_machine();
        let records = KeyRecords::new(&sm);
        assert!(records.all().is_empty());
        let first = vec![key("rs-1", "RS256", KeyState::Current, 1)];
        apply(&mut sm, vec![Command::AddKeys { keys: first }]).await;
        assert_eq!(records.all().len(), 1);
        let next = vec![key("rs-2", "RS256", KeyState::Next, 2)];
        apply(&mut sm, vec![Command::AddKeys { keys: next }]).await;
        let promote = Command::PromoteKey {
            kid: "rs-2".into(),
            now: 3,
        };
        apply(&mut sm, vec![promote]).await;
        let states: Vec<(String, KeyState)> = records
            .all()
            .iter()
            .map(|k| (k.kid.clone(), k.state))
            .collect();
        assert!(states.contains(&("rs-1".into(), KeyState::Retired)));
        assert!(states.contains(&("rs-2".into(), KeyState::Current)));
    }
}
