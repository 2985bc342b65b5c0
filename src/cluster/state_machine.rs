//! The openraft state machine over the sled state trees, and its snapshots.
//!
//! Each batch of entries openraft hands over is applied in one sled
//! transaction that also records the last entry's log id as `last_applied`
//! (and the membership, for membership entries), so the trees and the
//! applied position never disagree. Applying
//! does not fsync: after a crash the state may be behind the log, and openraft
//! re-applies committed entries from `last_applied`.
//!
//! A snapshot is a JSON dump of every tree in [`STATE_TREES`] (except
//! `sm_meta`, whose contents travel in the snapshot meta), written to
//! `snapshot.json` with write-fsync-rename. If the trees are behind the
//! stored snapshot when a node starts (a crash right after compaction), the
//! snapshot is installed first, since the log before it is gone.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, Snapshot};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::storage::{Durable, Storage};
use super::{io_err, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use crate::metrics::METRICS;
use crate::state::{
    self, Generations, ProposalResult, StateTxn, TreeId, FORMAT_VERSION, STATE_TREES,
};

/// The state machine; cheap to clone (it is also its own snapshot builder).
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

struct Inner {
    trees: Vec<sled::Tree>,
    durable: Arc<Durable>,
    snapshot_path: PathBuf,
    /// Held while applying and while dumping, so a snapshot is a point in time.
    apply_lock: Mutex<()>,
    /// Bumped after each commit for the trees it wrote (read caches).
    generations: Arc<Generations>,
}

/// The body of a snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotPayload {
    pub v: u32,
    pub trees: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

/// A snapshot as stored in `snapshot.json` (a golden file pins this format).
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredSnapshot {
    pub meta: SnapshotMeta,
    pub payload: SnapshotPayload,
}

/// At most this many entries share one apply transaction.
const APPLY_CHUNK: usize = 256;

const LAST_APPLIED: &str = "last_applied";
const MEMBERSHIP: &str = "last_membership";

fn sm_err(verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError {
    io_err(ErrorSubject::StateMachine, verb, e)
}

impl StateMachine {
    pub fn open(storage: &Storage) -> Result<StateMachine, StorageError> {
        let mut trees = Vec::new();
        for name in STATE_TREES {
            trees.push(
                storage
                    .db
                    .open_tree(name)
                    .map_err(|e| sm_err(ErrorVerb::Read, e))?,
            );
        }
        let sm = StateMachine {
            inner: Arc::new(Inner {
                trees,
                durable: storage.durable.clone(),
                snapshot_path: storage.dir.join("snapshot.json"),
                apply_lock: Mutex::new(()),
                generations: Arc::default(),
            }),
        };
        if let Some(stored) = sm.read_snapshot()? {
            let (applied, _) = sm.read_applied()?;
            if stored.meta.last_log_id > applied {
                tracing::warn!("state is behind the stored snapshot; restoring it");
                sm.restore(&stored.meta, &stored.payload)?;
            }
        }
        Ok(sm)
    }

    /// A tree of the state, for read views.
    pub fn tree(&self, id: TreeId) -> sled::Tree {
        self.inner.trees[id as usize].clone()
    }

    /// The trees' write generations, for read caches ([`state::TreeCache`]).
    pub fn generations(&self) -> Arc<Generations> {
        self.inner.generations.clone()
    }

    fn read_applied(&self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let meta = &self.inner.trees[0];
        let read = |k: &str| meta.get(k).map_err(|e| sm_err(ErrorVerb::Read, e));
        let applied = match read(LAST_APPLIED)? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| sm_err(ErrorVerb::Read, e))?,
            None => None,
        };
        let membership = match read(MEMBERSHIP)? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| sm_err(ErrorVerb::Read, e))?,
            None => StoredMembership::default(),
        };
        Ok((applied, membership))
    }

    fn read_snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        match std::fs::read(&self.inner.snapshot_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e)),
        }
    }

    fn write_snapshot(&self, stored: &StoredSnapshot) -> Result<(), StorageError> {
        let err = |e: std::io::Error| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Write, e);
        let tmp = self.inner.snapshot_path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(stored).expect("snapshot serializes");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            // Owner-only: a snapshot holds every record (hashed or sealed
            // secrets included; docs/ARCHITECTURE.md invariant 5).
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(err)?;
            f.write_all(&bytes).map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, &self.inner.snapshot_path).map_err(err)?;
        if let Some(dir) = self.inner.snapshot_path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(err)?;
        }
        Ok(())
    }

    /// Dump the state trees under the apply lock: a point in time (also
    /// what `tessera backup` copies; see `cluster::backup`).
    pub fn dump(&self) -> Result<(Option<LogId>, StoredMembership, SnapshotPayload), StorageError> {
        let _guard = self.inner.apply_lock.lock().expect("apply lock");
        let (applied, membership) = self.read_applied()?;
        let mut trees = BTreeMap::new();
        let trees_and_places = STATE_TREES.iter().zip(&self.inner.trees).enumerate();
        for (place, (name, tree)) in trees_and_places.skip(1) {
            // An empty tree that format 1 does not know is left out: a
            // format-1 snapshot stays exactly what 0.1.0 writes.
            if place >= state::FIRST_FORMAT_TREES && tree.is_empty() {
                continue;
            }
            let mut records = BTreeMap::new();
            for item in tree.iter() {
                let (k, v) = item.map_err(|e| sm_err(ErrorVerb::Read, e))?;
                let key = String::from_utf8(k.to_vec()).map_err(|e| sm_err(ErrorVerb::Read, e))?;
                let value = serde_json::from_slice(&v).map_err(|e| sm_err(ErrorVerb::Read, e))?;
                records.insert(key, value);
            }
            trees.insert(name.to_string(), records);
        }
        // The format of the content, not of this build: a 0.1.0 node can
        // install it during a rolling upgrade (see `state::version`).
        let v = state::version::snapshot_format(STATE_TREES, &trees);
        Ok((applied, membership, SnapshotPayload { v, trees }))
    }

    /// Replace the state trees with a snapshot's contents, durably.
    fn restore(&self, meta: &SnapshotMeta, payload: &SnapshotPayload) -> Result<(), StorageError> {
        if payload.v > FORMAT_VERSION {
            return Err(sm_err(
                ErrorVerb::Read,
                format!(
                    "snapshot format {} is newer than this binary's {FORMAT_VERSION}",
                    payload.v
                ),
            ));
        }
        let _guard = self.inner.apply_lock.lock().expect("apply lock");
        for (name, tree) in STATE_TREES.iter().zip(&self.inner.trees) {
            tree.clear().map_err(|e| sm_err(ErrorVerb::Write, e))?;
            let Some(records) = payload.trees.get(*name) else {
                continue;
            };
            let mut batch = sled::Batch::default();
            for (k, v) in records {
                batch.insert(k.as_bytes(), serde_json::to_vec(v).expect("json"));
            }
            tree.apply_batch(batch)
                .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        }
        let meta_tree = &self.inner.trees[0];
        let put = |k: &str, v: Vec<u8>| {
            meta_tree
                .insert(k, v)
                .map_err(|e| sm_err(ErrorVerb::Write, e))
        };
        put(
            LAST_APPLIED,
            serde_json::to_vec(&meta.last_log_id).expect("json"),
        )?;
        put(
            MEMBERSHIP,
            serde_json::to_vec(&meta.last_membership).expect("json"),
        )?;
        self.inner.generations.bump_all();
        self.inner
            .durable
            .sync()
            .map_err(|e| sm_err(ErrorVerb::Write, e))
    }

    /// Apply a batch of entries in one transaction. openraft hands over
    /// every committed entry not yet applied at once, so under load one
    /// transaction (one pass over the trees' locks, one `last_applied`
    /// write) serves many entries instead of one each. Entries see the
    /// writes of the entries before them (sled transactions read their own
    /// writes), so the outcome is the one of applying them one by one.
    fn apply_entries(&self, entries: &[Entry]) -> Result<Vec<ProposalResult>, StorageError> {
        let Some(last) = entries.last() else {
            return Ok(Vec::new());
        };
        let log_id = serde_json::to_vec(&Some(last.log_id)).expect("json");
        let written = std::cell::Cell::new(0u16);
        let result = self.inner.trees.as_slice().transaction(|trees| {
            let txn = StateTxn::new(trees);
            let mut outs = Vec::with_capacity(entries.len());
            for entry in entries {
                let mut out = ProposalResult::default();
                match &entry.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(p) => {
                        for cmd in &p.commands {
                            out.results.push(state::apply(&txn, p.v, cmd)?);
                        }
                    }
                    EntryPayload::Membership(m) => {
                        let stored = StoredMembership::new(Some(entry.log_id), m.clone());
                        trees[0].insert(MEMBERSHIP, serde_json::to_vec(&stored).expect("json"))?;
                    }
                }
                outs.push(out);
            }
            trees[0].insert(LAST_APPLIED, log_id.clone())?;
            written.set(txn.written());
            Ok::<_, ConflictableTransactionError<()>>(outs)
        });
        let outs =
            result.map_err(|e: TransactionError<()>| sm_err(ErrorVerb::Write, format!("{e:?}")))?;
        self.inner.generations.bump(written.get());
        Ok(outs)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let started = std::time::Instant::now();
        let (last_log_id, last_membership, payload) = self.dump()?;
        let snapshot_id = match last_log_id {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, rand_suffix()),
            None => format!("0-0-{}", rand_suffix()),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        };
        let stored = StoredSnapshot { meta, payload };
        self.write_snapshot(&stored)?;
        let data = serde_json::to_vec(&stored.payload).expect("json");
        crate::memory::release_free_memory();
        METRICS.snapshots_built.inc();
        METRICS
            .snapshot_build_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

/// Snapshot ids only need to be unique per node; this is not state.
fn rand_suffix() -> u32 {
    rand::random()
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        self.read_applied()
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ProposalResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let started = std::time::Instant::now();
        let entries: Vec<Entry> = entries.into_iter().collect();
        let _guard = self.inner.apply_lock.lock().expect("apply lock");
        let mut out = Vec::with_capacity(entries.len());
        // Bounded transactions: a follower catching up applies thousands.
        for chunk in entries.chunks(APPLY_CHUNK) {
            out.extend(self.apply_entries(chunk)?);
        }
        METRICS
            .apply_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let payload: SnapshotPayload = serde_json::from_slice(snapshot.get_ref()).map_err(|e| {
            io_err(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Read,
                e,
            )
        })?;
        self.restore(meta, &payload)?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            payload,
        };
        self.write_snapshot(&stored)?;
        crate::memory::release_free_memory();
        METRICS.snapshots_installed.inc();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.read_snapshot()?.map(|stored| {
            let data = serde_json::to_vec(&stored.payload).expect("json");
            Snapshot {
                meta: stored.meta,
                snapshot: Box::new(Cursor::new(data)),
            }
        }))
    }
}
