//! Format versions: what this build writes to the log, to state trees and to
//! snapshots, and how that stays readable by the previous release during a
//! rolling upgrade.
//!
//! Format 1 is release 0.1.0 (golden files under `tests/golden/v1` pin it);
//! this build is format 3 ([`FORMAT_VERSION`]). Format 3 adds access tokens
//! tagged by their refresh family (`state::refresh`) and sealed
//! authorization codes (`actors::sealed_code`): commands that carry them
//! (`tagged`, `Redeem::code`) and the family records they write are format
//! 3, and proposers make them once every member reports format 3. What is
//! said below of formats 1 and 2 holds the same way between 2 and 3.
//!
//! A node refuses a proposal, a snapshot or a data directory of a newer
//! format than its own instead of misreading it. While any member still runs format 1 (the *cluster
//! format*, the lowest one the members report, is 1), everything a format-2
//! node puts into the log must decode and apply on a 0.1.0 node exactly as
//! on itself (docs/ARCHITECTURE.md invariant 8), so:
//!
//! * **Proposals** carry the highest [`Command::min_format`] of their
//!   commands (at least [`FIRST_FORMAT`]), not this build's format: a 0.1.0
//!   node refuses (`UnsupportedVersion`) a proposal of a newer format, so a
//!   format-1 command stamped 2 would be applied by the new nodes and
//!   refused by the old one. A command that needs format 2 is refused by the
//!   batcher while the cluster format is 1 (`ClusterError::NotUpgraded`), so
//!   no proposal a 0.1.0 node cannot decode is ever written.
//! * **Records** carry the format their fields need ([`Versioned`]): 1
//!   unless a field format 1 does not know is set (a client's `scope` or
//!   `resource_server`, a user's `disabled`). 0.1.0 ignores unknown fields,
//!   so it would silently drop such a field: the command that holds such a
//!   record needs that format ([`Command::min_format`]). Records `apply`
//!   writes itself (refresh tokens, families, consents) are format 1: a
//!   version written by `apply` must not depend on the binary that applies.
//! * **Snapshots** carry [`snapshot_format`] of their content: the highest
//!   `v` of their records, and this build's format if a tree format 1 does
//!   not know holds anything. A snapshot a format-2 node builds while nothing
//!   of format 2 was ever written is format 1 and a 0.1.0 node installs it
//!   (a node that fell behind a compacted log can still catch up during the
//!   roll). Once format-2 data exists every member runs format 2 (the gate
//!   above), and a 0.1.0 node that rejoins refuses the snapshot rather than
//!   drop what it cannot hold.
//! * **Data directories** are stamped with the format of the build that
//!   created them and never lowered; a 0.1.0 node refuses a directory a
//!   format-2 build created.
//!
//! [`Command::min_format`]: super::Command::min_format

use std::collections::BTreeMap;

use serde_json::Value;

/// The format version of commands, records and snapshots this build knows.
pub const FORMAT_VERSION: u32 = 3;

/// The format that added the trees after [`FIRST_FORMAT_TREES`] (sessions'
/// clients, deliveries, pushed requests, DPoP proofs) and the records
/// written to them.
pub const SECOND_FORMAT: u32 = 2;

/// The format of release 0.1.0, and of every record whose fields it knows.
pub const FIRST_FORMAT: u32 = 1;

/// State trees format 1 knows (`sm_meta` up to `assertions`, in
/// `STATE_TREES` order); a later tree holds data of a later format.
pub const FIRST_FORMAT_TREES: usize = 11;

/// A record whose format depends on which of its fields are set.
pub trait Versioned {
    /// The lowest format that can hold this record without losing a field.
    fn format(&self) -> u32;
}

/// The format of a record as stored: its `v`, or [`FIRST_FORMAT`] for a
/// value without one (plain expiry times, index entries).
pub fn record_format(value: &Value) -> u32 {
    value
        .get("v")
        .and_then(Value::as_u64)
        .map_or(FIRST_FORMAT, |v| u32::try_from(v).unwrap_or(u32::MAX))
        .max(FIRST_FORMAT)
}

/// The format a snapshot of these trees (by name, in `STATE_TREES` order
/// given by `names`) must carry: the highest of its records' formats, and
/// at least [`SECOND_FORMAT`] if a tree beyond [`FIRST_FORMAT_TREES`] holds
/// records.
pub fn snapshot_format(names: &[&str], trees: &BTreeMap<String, BTreeMap<String, Value>>) -> u32 {
    let later_tree = |name: &String| {
        names
            .iter()
            .position(|n| n == name)
            .is_none_or(|i| i >= FIRST_FORMAT_TREES)
    };
    trees
        .iter()
        .map(|(name, records)| {
            let of_records = records.values().map(record_format).max();
            match of_records {
                Some(f) if later_tree(name) => f.max(SECOND_FORMAT),
                Some(f) => f,
                None => FIRST_FORMAT,
            }
        })
        .max()
        .unwrap_or(FIRST_FORMAT)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{ClientRecord, Command, Proposal, UserRecord, STATE_TREES};
    use super::*;

    fn trees(entries: &[(&str, &str, Value)]) -> BTreeMap<String, BTreeMap<String, Value>> {
        let mut out: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        for (tree, key, value) in entries {
            let records = out.entry(tree.to_string()).or_default();
            records.insert(key.to_string(), value.clone());
        }
        out
    }

    #[test]
    fn a_snapshot_is_as_old_as_its_newest_record() {
        assert_eq!(snapshot_format(STATE_TREES, &trees(&[])), FIRST_FORMAT);
        let old = [
            ("users", "alice", json!({"v": 1, "username": "alice"})),
            ("users", "sub/s", json!("alice")),
            ("revoked_jti", "j", json!(17)),
        ];
        assert_eq!(snapshot_format(STATE_TREES, &trees(&old)), 1);
        let mut new = old.to_vec();
        new.push(("clients", "c", json!({"v": 2, "client_id": "c"})));
        assert_eq!(snapshot_format(STATE_TREES, &trees(&new)), 2);
    }

    #[test]
    fn a_tree_format_1_does_not_know_makes_the_snapshot_new_once_it_holds_data() {
        let mut names = STATE_TREES.to_vec();
        names.push("later_tree");
        let empty = trees(&[]);
        let mut with_empty_tree = empty.clone();
        with_empty_tree.insert("later_tree".into(), BTreeMap::new());
        assert_eq!(snapshot_format(&names, &with_empty_tree), FIRST_FORMAT);
        let full = trees(&[("later_tree", "k", json!(1))]);
        assert_eq!(snapshot_format(&names, &full), SECOND_FORMAT);
        // A tree no name list knows counts as new too.
        let unknown = trees(&[("mystery", "k", json!({"v": 1}))]);
        assert_eq!(snapshot_format(STATE_TREES, &unknown), SECOND_FORMAT);
    }

    #[test]
    fn record_formats_are_at_least_the_first_and_never_wrap() {
        assert_eq!(record_format(&json!({"v": 0})), FIRST_FORMAT);
        assert_eq!(record_format(&json!({"x": 3})), FIRST_FORMAT);
        assert_eq!(record_format(&json!({"v": u64::MAX})), u32::MAX);
        assert_eq!(record_format(&json!("alice")), FIRST_FORMAT);
    }

    fn client() -> ClientRecord {
        crate::state::testing::client("c-1")
    }

    #[test]
    fn records_need_format_2_only_for_fields_format_1_lacks() {
        let user = UserRecord::new("s".into(), "u".into(), "phc".into(), 1);
        assert_eq!((user.v, user.format()), (FIRST_FORMAT, FIRST_FORMAT));
        let disabled = UserRecord {
            disabled: true,
            ..user.clone()
        };
        assert_eq!(disabled.format(), 2);
        assert_eq!(client().format(), FIRST_FORMAT);
        let scoped = ClientRecord {
            scope: Some(vec!["api".into()]),
            ..client()
        };
        let resource_server = ClientRecord {
            resource_server: true,
            ..client()
        };
        assert_eq!((scoped.format(), resource_server.format()), (2, 2));
        let logout = ClientRecord {
            backchannel_logout_uri: Some("https://rp.example/logout".into()),
            ..client()
        };
        assert_eq!(logout.format(), 2);
        // Unset new fields are not written: the encoding is format 1's.
        let json = serde_json::to_value(&user).unwrap();
        assert!(json.get("disabled").is_none(), "{json}");
    }

    #[test]
    fn a_proposal_carries_the_format_its_commands_need() {
        let revoke = Command::RevokeAccess {
            jti: "j".into(),
            exp: 1,
        };
        let disable = Command::SetUserDisabled {
            username: "u".into(),
            disabled: true,
        };
        let scoped = ClientRecord {
            scope: Some(vec!["api".into()]),
            ..client()
        };
        let create_scoped = Command::CreateClient { client: scoped };
        let create_plain = Command::CreateClient { client: client() };
        assert_eq!(Proposal::new(vec![]).v, FIRST_FORMAT);
        assert_eq!(Proposal::new(vec![revoke.clone()]).v, FIRST_FORMAT);
        assert_eq!(Proposal::new(vec![create_plain]).v, FIRST_FORMAT);
        assert_eq!(Proposal::new(vec![create_scoped]).v, 2);
        assert_eq!(Proposal::new(vec![revoke, disable]).v, 2);
    }
}
