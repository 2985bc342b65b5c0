//! Unit tests of DPoP in `apply`: proof ids spent once (alone or inside a
//! redemption or rotation), refresh families bound to a key, the sweep of
//! used ids, and the format these commands need.

use super::dpop::{is_spent, DpopUse};
use super::sweep::Sweep;
use super::testing::{code, create_code, redeem, redeem_cmd, rotate, Db, T};
use super::{Command, CommandResult, FamilyRecord, TreeId};

fn proof(jkt: &str, jti: &str) -> DpopUse {
    DpopUse {
        jkt: jkt.into(),
        jti: jti.into(),
        exp: T + 420,
    }
}

/// `rotate(..)` carrying a proof.
fn rotate_with(proof: Option<DpopUse>, new_hash: &str, jti: &str) -> Command {
    let mut cmd = rotate("rt-1", new_hash, jti, T + 2);
    if let Command::RotateRefresh(r) = &mut cmd {
        r.dpop = proof;
    }
    cmd
}

/// A database whose family `fam-2` (refresh token `rt-1`) is bound to key
/// `jkt-a`: `Db::with_refresh` redeems without binding, so redeem a second
/// code here with a proof and a bound family.
fn bound() -> Db {
    let db = Db::with_refresh();
    db.apply(Command::Sweep(Box::new(Sweep {
        before: u64::MAX,
        refresh: vec!["rt-1".into()],
        families: vec!["fam-1".into()],
        ..Default::default()
    })));
    db.apply(create_code("code-2", code(&["openid", "offline_access"])));
    let mut r = redeem("code-2", "jti-2", Some(("rt-1", "fam-2")));
    if let Some(n) = &mut r.refresh {
        n.jkt = Some("jkt-a".into());
    }
    r.dpop = Some(proof("jkt-a", "p-0"));
    let out = db.apply(redeem_cmd(r));
    assert!(matches!(out, CommandResult::Granted(_)), "{out:?}");
    db
}

#[test]
fn a_proof_id_is_spent_once_per_key() {
    let db = Db::new();
    assert_eq!(
        db.apply(Command::UseDpopJti(proof("jkt-a", "p-1"))),
        CommandResult::Done
    );
    assert!(is_spent(db.tree(TreeId::DpopJti), "jkt-a", "p-1"));
    assert_eq!(
        db.apply_unchanged(Command::UseDpopJti(proof("jkt-a", "p-1"))),
        CommandResult::Replayed
    );
    assert_eq!(
        db.apply(Command::UseDpopJti(proof("jkt-b", "p-1"))),
        CommandResult::Done,
        "another key's id is another id"
    );
}

#[test]
fn a_replayed_proof_leaves_the_code_unredeemed() {
    let db = Db::new();
    db.apply(Command::UseDpopJti(proof("jkt-a", "p-1")));
    db.apply(create_code("code-1", code(&["openid"])));
    let mut r = redeem("code-1", "jti-1", None);
    r.dpop = Some(proof("jkt-a", "p-1"));
    assert_eq!(
        db.apply_unchanged(redeem_cmd(r.clone())),
        CommandResult::Replayed
    );
    r.dpop = Some(proof("jkt-a", "p-2"));
    assert!(matches!(db.apply(redeem_cmd(r)), CommandResult::Granted(_)));
    assert!(is_spent(db.tree(TreeId::DpopJti), "jkt-a", "p-2"));
}

#[test]
fn a_bound_family_rotates_only_with_a_proof_by_its_key() {
    let db = bound();
    let fam: FamilyRecord = db.get(TreeId::Families, "fam-2").unwrap();
    assert_eq!(fam.jkt.as_deref(), Some("jkt-a"));
    assert_eq!(
        db.apply_unchanged(rotate_with(None, "rt-2", "jti-3")),
        CommandResult::KeyMismatch
    );
    assert_eq!(
        db.apply(rotate_with(Some(proof("jkt-b", "p-1")), "rt-2", "jti-3")),
        CommandResult::KeyMismatch
    );
    assert!(!db.has(TreeId::Refresh, "rt-2"));
    assert!(is_spent(db.tree(TreeId::DpopJti), "jkt-b", "p-1"));
    let ok = db.apply(rotate_with(Some(proof("jkt-a", "p-1")), "rt-2", "jti-3"));
    assert!(matches!(ok, CommandResult::Granted(_)), "{ok:?}");
    assert_eq!(
        db.apply_unchanged(rotate_with(Some(proof("jkt-a", "p-1")), "rt-3", "jti-4")),
        CommandResult::Replayed
    );
}

#[test]
fn an_unbound_family_rotates_with_or_without_a_proof() {
    let db = Db::with_refresh();
    let ok = db.apply(rotate_with(Some(proof("jkt-a", "p-1")), "rt-2", "jti-2"));
    assert!(matches!(ok, CommandResult::Granted(_)), "{ok:?}");
    let fam: FamilyRecord = db.get(TreeId::Families, "fam-1").unwrap();
    assert_eq!(fam.jkt, None);
}

#[test]
fn the_sweep_removes_used_ids_once_expired() {
    let db = Db::new();
    db.apply(Command::UseDpopJti(proof("jkt-a", "p-1")));
    let sweep = |before| {
        Command::Sweep(Box::new(Sweep {
            before,
            dpop_jti: vec!["jkt-a p-1".into()],
            ..Default::default()
        }))
    };
    db.apply_unchanged(sweep(T + 419));
    db.apply(sweep(T + 420));
    assert!(!is_spent(db.tree(TreeId::DpopJti), "jkt-a", "p-1"));
}

#[test]
fn dpop_commands_need_format_2_and_others_keep_format_1() {
    let plain = rotate("rt-1", "rt-2", "j", T).stamping_issue_times(false);
    assert_eq!(plain.min_format(), 1);
    // Recording the issue time is format 2 as well.
    assert_eq!(plain.clone().stamping_issue_times(true).min_format(), 2);
    assert_eq!(
        rotate_with(Some(proof("k", "p")), "rt-2", "j").min_format(),
        2
    );
    let mut r = redeem("c", "j", None);
    r.stamp_issued = false;
    assert_eq!(redeem_cmd(r.clone()).min_format(), 1);
    r.dpop = Some(proof("k", "p"));
    assert_eq!(redeem_cmd(r).min_format(), 2);
    assert_eq!(Command::UseDpopJti(proof("k", "p")).min_format(), 2);
    assert_eq!(Command::Sweep(Box::default()).min_format(), 1);
    let with_ids = Sweep {
        dpop_jti: vec!["k p".into()],
        ..Default::default()
    };
    assert_eq!(Command::Sweep(Box::new(with_ids)).min_format(), 2);
    // Format 1 commands serialize as before: no DPoP fields at all.
    let wire = serde_json::to_string(&plain).unwrap();
    assert!(!wire.contains("dpop"), "{wire}");
    let wire = serde_json::to_string(&Command::Sweep(Box::default())).unwrap();
    assert!(!wire.contains("dpop"), "{wire}");
}
