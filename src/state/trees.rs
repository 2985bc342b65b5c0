//! The sled trees that hold replicated state, and a transaction over them.
//!
//! [`STATE_TREES`] lists every tree that belongs to the state machine, in a
//! fixed order; snapshots copy exactly these trees, so a new domain only has
//! to add its name here. Values are JSON so that golden files and snapshots
//! stay readable.

use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionalTree,
};

/// Trees of the state machine: `sm_meta` first (last applied, membership).
pub const STATE_TREES: &[&str] = &[
    "sm_meta",
    "users",
    "clients",
    "keys",
    "sessions",
    "consents",
    "codes",
    "refresh",
    "families",
    "revoked_jti",
    "assertions",
];

/// Index of a tree in [`STATE_TREES`].
#[derive(Clone, Copy)]
pub enum TreeId {
    SmMeta = 0,
    Users = 1,
    Clients = 2,
    Keys = 3,
    Sessions = 4,
    Consents = 5,
    Codes = 6,
    Refresh = 7,
    Families = 8,
    RevokedJti = 9,
    Assertions = 10,
}

/// A transaction over all state trees.
pub struct StateTxn<'a> {
    pub trees: &'a [TransactionalTree],
}

impl StateTxn<'_> {
    pub fn tree(&self, id: TreeId) -> &TransactionalTree {
        &self.trees[id as usize]
    }

    pub fn get<T: DeserializeOwned>(
        &self,
        id: TreeId,
        key: &str,
    ) -> ConflictableTransactionResult<Option<T>, ()> {
        match self.tree(id).get(key.as_bytes())? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| ConflictableTransactionError::Abort(())),
            None => Ok(None),
        }
    }

    pub fn remove(&self, id: TreeId, key: &str) -> ConflictableTransactionResult<(), ()> {
        self.tree(id).remove(key.as_bytes())?;
        Ok(())
    }

    pub fn put<T: Serialize>(
        &self,
        id: TreeId,
        key: &str,
        value: &T,
    ) -> ConflictableTransactionResult<(), ()> {
        let bytes = serde_json::to_vec(value).expect("records serialize");
        self.tree(id).insert(key.as_bytes(), bytes)?;
        Ok(())
    }
}

/// Read a JSON record from a tree outside a transaction.
pub fn read<T: DeserializeOwned>(tree: &sled::Tree, key: &str) -> Option<T> {
    tree.get(key.as_bytes())
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())
}
