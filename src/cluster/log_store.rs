//! The Raft log in sled, durable before it is acknowledged.
//!
//! Entries live in the `raft_log` tree keyed by big-endian index; the vote,
//! the committed id and the last purged id live in `raft_meta`. `append`
//! inserts the entries and hands openraft's callback to a flusher thread,
//! which waits for whatever callbacks are queued, flushes and `fdatasync`s
//! once for all of them (group fsync), then reports them flushed in order.
//! openraft counts an entry towards a quorum only after that report, so an
//! acknowledged write is on disk on a majority. The newest entries are also
//! kept decoded in memory (`log_cache.rs`), so replicating and applying
//! them reads neither sled nor JSON.

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::{mpsc, Arc};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogId, RaftLogReader, Vote};

use super::log_cache::RecentEntries;
use super::storage::{Durable, Storage};
use super::{io_err, Entry, LogId, NodeId, StorageError, TypeConfig};

#[derive(Clone)]
pub struct LogStore {
    log: sled::Tree,
    meta: sled::Tree,
    durable: Arc<Durable>,
    flusher: mpsc::Sender<LogFlushed<TypeConfig>>,
    recent: Arc<RecentEntries>,
}

impl LogStore {
    pub fn open(storage: &Storage) -> Result<LogStore, StorageError> {
        let err = |e: sled::Error| io_err(ErrorSubject::Store, ErrorVerb::Read, e);
        let log = storage.db.open_tree("raft_log").map_err(err)?;
        let meta = storage.db.open_tree("raft_meta").map_err(err)?;
        let (tx, rx) = mpsc::channel::<LogFlushed<TypeConfig>>();
        let durable = storage.durable.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flush_loop(rx, durable))
            .expect("spawn flusher thread");
        Ok(LogStore {
            log,
            meta,
            durable: storage.durable.clone(),
            flusher: tx,
            recent: Arc::default(),
        })
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        let v = self
            .meta
            .get(key)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))?;
        v.map(|b| serde_json::from_slice(&b))
            .transpose()
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))
    }

    fn put_meta<T: serde::Serialize>(&self, key: &str, v: &T) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(v).expect("meta serializes");
        self.meta
            .insert(key, bytes)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?;
        Ok(())
    }
}

/// Group fsync: one flush for every callback queued while the last one ran.
fn flush_loop(rx: mpsc::Receiver<LogFlushed<TypeConfig>>, durable: Arc<Durable>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let res = durable.sync();
        for cb in batch {
            let r = match &res {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            cb.log_io_completed(r);
        }
    }
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn decode(bytes: &[u8]) -> Result<Entry, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        use std::ops::Bound::*;
        let start = match range.start_bound() {
            Included(i) => *i,
            Excluded(i) => i + 1,
            Unbounded => 0,
        };
        let end = match range.end_bound() {
            Included(i) => i.checked_add(1),
            Excluded(i) => Some(*i),
            Unbounded => None,
        };
        if let Some(kept) = self.recent.get(start, end) {
            return Ok(kept);
        }
        let mut out = Vec::new();
        for item in self.log.range(key(start)..) {
            let (k, v) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            let idx = u64::from_be_bytes(k.as_ref().try_into().expect("8-byte keys"));
            if !range.contains(&idx) {
                break;
            }
            out.push(decode(&v)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.get_meta("last_purged")?;
        let last = self
            .log
            .last()
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        let last_log_id = match last {
            Some((_, v)) => Some(*decode(&v)?.get_log_id()),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.put_meta("vote", vote)?;
        self.durable
            .sync()
            .map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_meta("vote")
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.put_meta("committed", &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.get_meta::<Option<LogId>>("committed")?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        let mut appended = Vec::new();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry).expect("entries serialize");
            let at = key(entry.get_log_id().index);
            appended.push((bytes.len(), entry));
            batch.insert(at.to_vec(), bytes);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        for (size, entry) in appended {
            self.recent.push(entry, size);
        }
        // The flusher reports the entries flushed once they are on disk.
        self.flusher
            .send(callback)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.recent.truncate(log_id.index);
        let mut batch = sled::Batch::default();
        for item in self.log.range(key(log_id.index)..) {
            let (k, _) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            batch.remove(k);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: a crash in between leaves extra
        // entries below it, which get_log_state ignores.
        self.put_meta("last_purged", &log_id)?;
        self.recent.purge(log_id.index);
        let mut batch = sled::Batch::default();
        for item in self.log.range(..=key(log_id.index)) {
            let (k, _) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            batch.remove(k);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }
}
