//! The sled trees that hold replicated state, and a transaction over them.
//!
//! [`STATE_TREES`] lists every tree that belongs to the state machine, in a
//! fixed order; snapshots copy exactly these trees, so a new domain only has
//! to add its name here. Values are JSON so that golden files and snapshots
//! stay readable.

use serde::{de::DeserializeOwned, Serialize};

use super::result::CommandResult;
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

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
    "cluster",
    "dpop_jti",
    "deliveries",
    "pushed",
];

/// Index of a tree in [`STATE_TREES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// The cluster's identity (its id); see [`super::cluster_id`].
    Cluster = 11,
    /// Spent DPoP proofs (thumbprint + jti); see [`super::dpop`].
    DpopJti = 12,
    /// Pending back-channel logout deliveries; see [`super::deliveries`].
    Deliveries = 13,
    /// Pushed authorization requests (RFC 9126), format 2.
    Pushed = 14,
}

impl TreeId {
    /// Every tree, in [`STATE_TREES`] order.
    pub const ALL: [TreeId; 15] = [
        TreeId::SmMeta,
        TreeId::Users,
        TreeId::Clients,
        TreeId::Keys,
        TreeId::Sessions,
        TreeId::Consents,
        TreeId::Codes,
        TreeId::Refresh,
        TreeId::Families,
        TreeId::RevokedJti,
        TreeId::Assertions,
        TreeId::Cluster,
        TreeId::DpopJti,
        TreeId::Deliveries,
        TreeId::Pushed,
    ];

    /// The sled name of the tree.
    pub fn name(self) -> &'static str {
        STATE_TREES[self as usize]
    }

    /// This tree's bit in a [`StateTxn::written`] mask.
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// What a branch of `apply` returns: a value, or a sled error (I/O or a
/// conflict). Branches never return `Abort`: see [`StateTxn::get`].
pub type TxResult<T> = ConflictableTransactionResult<T, ()>;

/// A value stored in a state tree. Serializing one to JSON cannot fail: all
/// are derived structs, strings, numbers, `Vec`s and `String`-keyed maps of
/// `serde_json::Value` (no non-string map keys, no custom `Serialize`), so
/// [`StateTxn::put`] needs no error path for content.
pub trait Record: Serialize {}

impl Record for String {}
impl Record for u64 {}

/// A transaction over all state trees. It remembers which trees it wrote
/// (see [`StateTxn::written`]) so read caches can be invalidated after commit.
pub struct StateTxn<'a> {
    trees: &'a [TransactionalTree],
    written: std::cell::Cell<u16>,
}

impl<'a> StateTxn<'a> {
    /// Wrap the transactional trees, in [`STATE_TREES`] order.
    pub fn new(trees: &'a [TransactionalTree]) -> StateTxn<'a> {
        StateTxn {
            trees,
            written: std::cell::Cell::new(0),
        }
    }

    /// A mask of [`TreeId::bit`]s of the trees written so far.
    pub fn written(&self) -> u16 {
        self.written.get()
    }

    pub fn tree(&self, id: TreeId) -> &TransactionalTree {
        &self.trees[id as usize]
    }

    /// A tree for writing: marks it written.
    pub fn tree_mut(&self, id: TreeId) -> &TransactionalTree {
        self.written.set(self.written.get() | id.bit());
        &self.trees[id as usize]
    }

    /// The record under `key`, or `None` if there is none *or what is there
    /// is not a `T`* (a key in another namespace of the tree, such as the
    /// `sub/` index of the users tree). Content chosen by a command can name
    /// any key, so a value that does not decode is an answer ("no such
    /// record"), never an error: an error here would abort the entry and
    /// halt the cluster (docs/ARCHITECTURE.md invariant 8). Branches that
    /// create records check [`StateTxn::exists`] instead, so they never
    /// overwrite what they cannot read.
    pub fn get<T: DeserializeOwned>(&self, id: TreeId, key: &str) -> TxResult<Option<T>> {
        Ok(self
            .tree(id)
            .get(key.as_bytes())?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Whether anything at all is stored under `key`.
    pub fn exists(&self, id: TreeId, key: &str) -> TxResult<bool> {
        Ok(self.tree(id).get(key.as_bytes())?.is_some())
    }

    pub fn remove(&self, id: TreeId, key: &str) -> TxResult<()> {
        self.tree_mut(id).remove(key.as_bytes())?;
        Ok(())
    }

    /// Store `value` under a new `key`, never overwriting: `Done`, also when
    /// exactly this value is there already (the same command applied twice),
    /// `Invalid(taken)` when something else is.
    pub fn put_new<T: Record + DeserializeOwned + PartialEq>(
        &self,
        id: TreeId,
        key: &str,
        value: &T,
        taken: &str,
    ) -> TxResult<CommandResult> {
        if self.exists(id, key)? {
            let same = self.get::<T>(id, key)?.as_ref() == Some(value);
            return Ok(if same {
                CommandResult::Done
            } else {
                CommandResult::invalid(taken)
            });
        }
        self.put(id, key, value)?;
        Ok(CommandResult::Done)
    }

    pub fn put<T: Record>(&self, id: TreeId, key: &str, value: &T) -> TxResult<()> {
        // Cannot fail for a `Record` (see there); no command content reaches
        // a failing path.
        let bytes = serde_json::to_vec(value).expect("records serialize");
        self.tree_mut(id).insert(key.as_bytes(), bytes)?;
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
