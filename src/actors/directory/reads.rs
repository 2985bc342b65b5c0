//! The directory's one read path: [`Directory`], a cloneable handle that HTTP
//! workers and the `DirectoryActor` both use, so reading a client or a user
//! needs no mailbox hop.
//!
//! Reads go through [`DirectoryCache`], exact caches over the users and
//! clients trees (a cached value is dropped as soon as `apply` writes its
//! tree, see `state::cache`), so they are never staler than the applied
//! state (docs/ARCHITECTURE.md invariant 9). A record that is absent here may
//! have been created through another node a moment ago: [`Directory`] then
//! passes read-index and reads again.

use std::sync::Arc;

use crate::clock::READ_TIMEOUT;
use crate::cluster::state_machine::StateMachine;
use crate::cluster::{ClusterError, ClusterHandle};
use crate::state::{self, ClientRecord, TreeCache, TreeId, UserRecord};

/// Records cached per tree; bounded so a flood of ids cannot grow memory.
const CAPACITY: usize = 10_000;

/// Local reads of users and clients, with caches that `apply` invalidates.
#[derive(Clone)]
pub struct DirectoryCache {
    users: sled::Tree,
    clients: sled::Tree,
    client_by_id: TreeCache<ClientRecord>,
    user_by_name: TreeCache<UserRecord>,
    user_by_sub: TreeCache<UserRecord>,
    /// The origins of every registered redirect URI (one entry, key "").
    origins: TreeCache<Arc<Vec<String>>>,
}

impl DirectoryCache {
    pub fn new(sm: &StateMachine) -> DirectoryCache {
        let generations = sm.generations();
        DirectoryCache {
            users: sm.tree(TreeId::Users),
            clients: sm.tree(TreeId::Clients),
            client_by_id: TreeCache::new(TreeId::Clients, generations.clone(), CAPACITY),
            user_by_name: TreeCache::new(TreeId::Users, generations.clone(), CAPACITY),
            user_by_sub: TreeCache::new(TreeId::Users, generations.clone(), CAPACITY),
            origins: TreeCache::new(TreeId::Clients, generations, 1),
        }
    }

    /// A client as applied on this node.
    pub fn client(&self, id: &str) -> Option<ClientRecord> {
        self.client_by_id
            .get_or_load(id, || state::clients::get(&self.clients, id))
    }

    /// A user by username, as applied on this node.
    pub fn user(&self, username: &str) -> Option<UserRecord> {
        self.user_by_name
            .get_or_load(username, || state::users::get(&self.users, username))
    }

    /// A user by subject, as applied on this node.
    pub fn user_by_sub(&self, sub: &str) -> Option<UserRecord> {
        self.user_by_sub
            .get_or_load(sub, || state::users::by_sub(&self.users, sub))
    }

    /// Origins of every registered redirect URI, sorted and distinct; the
    /// clients tree is scanned once per write to it, not once per call.
    pub fn client_origins(&self) -> Arc<Vec<String>> {
        let load = || Some(Arc::new(scan_origins(&self.clients)));
        self.origins.get_or_load("", load).unwrap_or_default()
    }
}

fn scan_origins(clients: &sled::Tree) -> Vec<String> {
    let mut out: Vec<String> = clients
        .iter()
        .values()
        .filter_map(|v| v.ok())
        .filter_map(|v| serde_json::from_slice::<ClientRecord>(&v).ok())
        .flat_map(|c| c.redirect_uris)
        .filter_map(|u| crate::oidc::session::origin_of(&u))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The directory's read handle: cached local reads, read-index on a miss.
#[derive(Clone)]
pub struct Directory {
    cluster: ClusterHandle,
    local: DirectoryCache,
}

impl Directory {
    pub fn new(cluster: &ClusterHandle) -> Directory {
        Directory {
            local: DirectoryCache::new(&cluster.sm),
            cluster: cluster.clone(),
        }
    }

    /// `read()` here; if absent, again after read-index (the record may have
    /// been created through another node a moment ago).
    async fn found<T>(&self, read: impl Fn() -> Option<T>) -> Result<Option<T>, ClusterError> {
        if let Some(found) = read() {
            return Ok(Some(found));
        }
        self.cluster.read_index(READ_TIMEOUT).await?;
        Ok(read())
    }

    /// `read()` after read-index: reflects every write acknowledged anywhere.
    async fn linearizable<T>(
        &self,
        read: impl Fn() -> Option<T>,
    ) -> Result<Option<T>, ClusterError> {
        self.cluster.read_index(READ_TIMEOUT).await?;
        Ok(read())
    }

    /// A client by id (found if registered through any node before this call).
    pub async fn client(&self, id: &str) -> Result<Option<ClientRecord>, ClusterError> {
        self.found(|| self.local.client(id)).await
    }

    /// A user by username (found if created through any node before this call).
    pub async fn user(&self, username: &str) -> Result<Option<UserRecord>, ClusterError> {
        self.found(|| self.local.user(username)).await
    }

    /// A client, with its latest changes (for the admin API).
    pub async fn client_latest(&self, id: &str) -> Result<Option<ClientRecord>, ClusterError> {
        self.linearizable(|| self.local.client(id)).await
    }

    /// A user, with its latest changes (for the admin API, and after a write).
    pub async fn user_latest(&self, username: &str) -> Result<Option<UserRecord>, ClusterError> {
        self.linearizable(|| self.local.user(username)).await
    }

    /// A user by subject, from local state: callers hold a token or code that
    /// was applied here, so the user was too.
    pub fn user_by_sub(&self, sub: &str) -> Option<UserRecord> {
        self.local.user_by_sub(sub)
    }

    /// Origins of every registered redirect URI (the check-session iframe's
    /// `frame-ancestors`).
    pub fn client_origins(&self) -> Arc<Vec<String>> {
        self.local.client_origins()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::{apply, state_machine};
    use super::super::{client_record, CreateClient};
    use super::*;
    use crate::state::{Command, CommandResult};

    fn create_client(id: &str, redirect: &str) -> Command {
        let msg = CreateClient {
            client_id: id.into(),
            redirect_uris: vec![redirect.into()],
            grant_types: vec!["authorization_code".into()],
            ..Default::default()
        };
        Command::CreateClient {
            client: client_record(msg, None),
        }
    }

    #[tokio::test]
    async fn a_client_created_after_a_miss_is_found_and_its_origin_listed() {
        let (_dir, mut sm) = state_machine();
        let cache = DirectoryCache::new(&sm);
        assert!(cache.client("app").is_none());
        assert!(cache.client_origins().is_empty());
        let created = apply(&mut sm, vec![create_client("app", "https://rp.example/cb")]).await;
        assert_eq!(created, [CommandResult::Done]);
        let found = cache.client("app").expect("found once applied");
        assert_eq!(found.redirect_uris, ["https://rp.example/cb"]);
        assert_eq!(*cache.client_origins(), ["https://rp.example"]);
        apply(
            &mut sm,
            vec![create_client("other", "http://127.0.0.1:9/cb")],
        )
        .await;
        assert_eq!(
            *cache.client_origins(),
            ["http://127.0.0.1:9", "https://rp.example"],
            "origins follow every write to the clients tree"
        );
    }

    #[tokio::test]
    async fn a_user_read_after_an_update_has_the_new_claims_by_name_and_by_sub() {
        let (_dir, mut sm) = state_machine();
        let cache = DirectoryCache::new(&sm);
        let user = UserRecord::new("sub-1".into(), "alice".into(), "phc".into(), 1);
        apply(&mut sm, vec![Command::CreateUser { user }]).await;
        assert_eq!(cache.user("alice").map(|u| u.sub), Some("sub-1".into()));
        assert!(cache.user_by_sub("sub-1").unwrap().claims.is_empty());
        let claims = BTreeMap::from([("name".to_string(), "Alice".into())]);
        let set = Command::SetUserClaims {
            username: "alice".into(),
            claims,
        };
        assert_eq!(apply(&mut sm, vec![set]).await, [CommandResult::Done]);
        for user in [cache.user("alice"), cache.user_by_sub("sub-1")] {
            assert_eq!(user.unwrap().claims["name"], "Alice");
        }
        assert!(cache.user("bob").is_none());
    }
}
