//! `tessera restore`: seed one fresh node's data directory from a backup.
//!
//! Run offline, once per node of the new cluster, each with its own
//! `cluster.toml` (see the module doc of [`crate::backup`] for why every
//! node is seeded rather than one). Checks come first and touch nothing:
//! the file (magic, version, length, checksum), its issuer against the
//! configuration's, its data format against this binary's, that the
//! configured master key unseals its signing keys, and that the data
//! directory is empty or absent. Then the state is installed as a Raft
//! snapshot with a fresh log: the snapshot's log id is term 0 (as if the
//! cluster had just been initialized) at the backup's index, and the
//! membership is the configuration's members, all voters. openraft starts
//! on that as on a node whose log was compacted up to the snapshot. If
//! installing fails, what was written is removed again.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::Path;

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, Membership};

use super::format::{self, Header};
use crate::cluster::membership::configured_members;
use crate::cluster::state_machine::{SnapshotPayload, StateMachine};
use crate::cluster::storage::Storage;
use crate::cluster::{LogId, SnapshotMeta, StoredMembership};
use crate::config::Config;
use crate::oidc::discovery::issuer_string;
use crate::state::{TreeId, FORMAT_VERSION};

/// What a restore installed.
#[derive(Debug)]
pub struct Restored {
    pub header: Header,
    /// The log index the new cluster starts from.
    pub index: u64,
    /// Records installed, over every tree.
    pub records: usize,
}

/// Seed `config.data_dir` from the backup `from`. The error is one line
/// naming the file or directory at fault and the reason.
pub fn restore(from: &Path, config: &Config) -> Result<Restored, String> {
    let file = from.display();
    let (header, body) = format::read_file(from).map_err(|e| format!("{file}: {e}"))?;
    let issuer = issuer_string(&config.issuer);
    if header.issuer != issuer {
        return Err(format!(
            "{file}: the backup is of issuer {}, but {} configures issuer {issuer}; \
             restore with the old cluster's issuer",
            header.issuer, config.source
        ));
    }
    let payload: SnapshotPayload = serde_json::from_slice(&body)
        .map_err(|e| format!("{file}: the body is not a Tessera state: {e}"))?;
    drop(body);
    if payload.v > FORMAT_VERSION {
        return Err(format!(
            "{file}: the state has data format {}, newer than this binary's {FORMAT_VERSION}; \
             restore with a newer tessera release",
            payload.v
        ));
    }
    check_master_key(&payload, config).map_err(|e| format!("{file}: {e}"))?;
    let dir = &config.data_dir;
    let existed = check_empty(dir)?;
    let index = header.last_applied.map_or(0, |a| a.index);
    let records = payload.trees.values().map(|t| t.len()).sum();
    if let Err(e) = install(config, index, payload) {
        remove_contents(dir, existed);
        return Err(format!(
            "{}: cannot install the backup: {e:#}",
            dir.display()
        ));
    }
    Ok(Restored {
        header,
        index,
        records,
    })
}

/// Every sealed private signing key must open with the configured master
/// key, or the restored cluster could not sign.
fn check_master_key(payload: &SnapshotPayload, config: &Config) -> Result<(), String> {
    let seal = crate::actors::keys::signing_seal(&config.master_key);
    let Some(keys) = payload.trees.get(TreeId::Keys.name()) else {
        return Ok(());
    };
    for (key, record) in keys.iter().filter(|(k, _)| k.starts_with("key/")) {
        let opens = record["sealed_private"]
            .as_str()
            .is_some_and(|s| seal.open(s).is_some());
        if !opens {
            return Err(format!(
                "the configured master key does not unseal signing key {}; \
                 restore with the old cluster's master_key",
                key.trim_start_matches("key/")
            ));
        }
    }
    Ok(())
}

/// Refuse a data directory that holds anything; whether it existed.
fn check_empty(dir: &Path) -> Result<bool, String> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(true),
            Some(_) => Err(format!(
                "{}: the data directory is not empty; restore only seeds a fresh node \
                 (move the old directory away first)",
                dir.display()
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!(
            "{}: cannot read the data directory: {e}",
            dir.display()
        )),
    }
}

/// Undo a failed install: remove the directory, or empty it if it existed.
fn remove_contents(dir: &Path, existed: bool) {
    if !existed {
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        let _ = match p.is_dir() {
            true => std::fs::remove_dir_all(&p),
            false => std::fs::remove_file(&p),
        };
    }
}

/// Create the node's storage and install `payload` as its starting snapshot.
fn install(config: &Config, index: u64, payload: SnapshotPayload) -> anyhow::Result<()> {
    let storage = Storage::open(&config.data_dir)?;
    let mut sm = StateMachine::open(&storage)?;
    // A fresh log: term 0 and no leader, like the entry `initialize` writes.
    let log_id = LogId::new(CommittedLeaderId::new(0, 0), index);
    let members = configured_members(config);
    let voters: BTreeSet<_> = members.keys().copied().collect();
    let meta = SnapshotMeta {
        last_log_id: Some(log_id),
        last_membership: StoredMembership::new(
            Some(log_id),
            Membership::new(vec![voters], members),
        ),
        snapshot_id: format!("restored-{index}"),
    };
    let data = serde_json::to_vec(&payload)?;
    drop(payload);
    futures::executor::block_on(sm.install_snapshot(&meta, Box::new(Cursor::new(data))))?;
    storage.durable.sync()?;
    Ok(())
}
