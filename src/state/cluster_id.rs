//! The cluster's identity: a random 128-bit id (32 lowercase hex digits),
//! named once and then never changed, in the `cluster` tree.
//!
//! It lives in the replicated state rather than in each node's Raft store
//! because it must be one value that every member agrees on, including in a
//! cluster upgraded from a release that had none: a leader names it through
//! the log ([`crate::state::Command::SetClusterId`]), the first such entry
//! wins on every node alike, and a later one is answered `Invalid`. Being a
//! state tree, it travels in snapshots, so a node that joins (or rejoins
//! with wiped data) from a snapshot learns it too. The cluster port uses it
//! to refuse node-to-node calls from another cluster
//! (docs/ARCHITECTURE.md invariant 6).

use super::result::CommandResult;
use super::trees::{read, StateTxn, TreeId, TxResult};

/// The key of the id in the `cluster` tree.
const ID_KEY: &str = "id";

/// Whether `id` has the form of a cluster id (32 lowercase hex digits).
pub fn well_formed(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Name the cluster, unless it already has a name.
pub fn set(txn: &StateTxn<'_>, id: &str) -> TxResult<CommandResult> {
    if !well_formed(id) {
        return Ok(CommandResult::invalid("a cluster id is 32 hex digits"));
    }
    if txn.exists(TreeId::Cluster, ID_KEY)? {
        return Ok(CommandResult::invalid("the cluster already has an id"));
    }
    txn.put(TreeId::Cluster, ID_KEY, &id.to_string())?;
    Ok(CommandResult::Done)
}

/// The cluster id as applied in `tree` (the `cluster` tree), if named yet.
pub fn get(tree: &sled::Tree) -> Option<String> {
    read::<String>(tree, ID_KEY).filter(|id| well_formed(id))
}

#[cfg(test)]
mod tests {
    use super::super::testing::Db;
    use super::super::Command;
    use super::*;

    fn name(id: &str) -> Command {
        Command::SetClusterId { id: id.into() }
    }

    #[test]
    fn the_first_id_wins_and_bad_ids_change_nothing() {
        let db = Db::new();
        let (a, b) = ("0123456789abcdef0123456789abcdef", "f".repeat(32));
        for bad in ["", "xyz", &"A".repeat(32), &"0".repeat(31), &"0".repeat(33)] {
            assert!(matches!(
                db.apply_unchanged(name(bad)),
                CommandResult::Invalid(_)
            ));
        }
        assert_eq!(get(db.tree(TreeId::Cluster)), None);
        assert_eq!(db.apply(name(a)), CommandResult::Done);
        assert!(matches!(
            db.apply_unchanged(name(&b)),
            CommandResult::Invalid(_)
        ));
        assert_eq!(get(db.tree(TreeId::Cluster)).as_deref(), Some(a));
    }
}
