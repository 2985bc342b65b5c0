//! Backup and restore for disaster recovery: the file format ([`format`])
//! and the offline restore ([`restore`]); the node side, a consistent
//! snapshot at a committed index, is `cluster::backup`, and the commands
//! are `tessera backup` and `tessera restore` (`cli::backup`).
//!
//! `tessera backup` asks any node's admin API (`GET /admin/backup` on the
//! cluster port, with the admin token). The node passes a read-index and
//! dumps its applied state under the apply lock, so the file holds every
//! write acknowledged before the call, at one committed log index that the
//! header names. Secrets stay as they are at rest: hashes stay hashes and
//! private signing keys stay sealed with the master key, so a backup is
//! no more sensitive than a data directory, and as useless without the
//! master key (docs/ARCHITECTURE.md invariant 5). The CLI streams the file
//! to a temporary file (mode 0600) beside the destination, checks it in
//! full, then renames it into place: a backup path never holds a partial
//! or damaged file.
//!
//! `tessera restore` seeds a *new* cluster: fresh, empty data directories
//! (a non-empty one is refused), the same issuer (tokens name it) and the
//! same master key (so the sealed keys unseal; both are checked), the
//! membership of the new configuration, and a fresh Raft log whose starting
//! state is the backup, installed as a snapshot at term 0.
//!
//! Restore is run on *every* node of the new cluster, not on one node with
//! the others left to catch up. Seeding one node would leave the others
//! empty and uninitialized, and the configured `bootstrap_node`, if it is
//! one of the empty ones and starts before the restored node answers its
//! probe, initializes a second, empty cluster with the same members (an
//! empty vote and log look the same as a brand-new cluster's), and the two
//! logs conflict. Seeded alike, every node starts initialized
//! (bootstrap never runs), with the same log id and state, so the first
//! election needs no snapshot transfer and the cluster serves as soon as a
//! leader is elected: the restore time is one local install per node.

pub mod format;
pub mod restore;

#[cfg(test)]
mod tests;
