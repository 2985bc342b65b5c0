//! Unit tests of `Sweep` in `apply`: it deletes exactly the listed records
//! that really expired, whatever the list says.

use super::sweep::Sweep;
use super::testing::{code, create_code, create_session, rotate, Db, T};
use super::{Command, CommandResult, TreeId};

fn sweep(before: u64, fill: impl FnOnce(&mut Sweep)) -> Command {
    let mut s = Sweep {
        before,
        ..Default::default()
    };
    fill(&mut s);
    Command::Sweep(Box::new(s))
}

fn strings(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

/// Every kind of record, some expired at `T + 1500` and some not.
fn populated() -> Db {
    let db = Db::with_refresh(); // code-1 (T+60), rt-1 and fam-1 (T+1000), jti-1
    db.apply(rotate("rt-1", "rt-2", "jti-2", T + 900)); // rt-2, fam-1 until T+1900
    db.apply(create_code("code-2", {
        let mut c = code(&["openid"]);
        c.expires_at = T + 5000;
        c
    }));
    db.apply(create_session("s-old", "sid-old", T + 100));
    db.apply(create_session("s-new", "sid-new", T + 5000));
    for (jti, exp) in [("gone", T + 10), ("kept", T + 5000)] {
        db.apply(Command::RevokeAccess {
            jti: jti.into(),
            exp,
        });
    }
    db
}

fn everything(s: &mut Sweep) {
    s.codes = strings(&["code-1", "code-2"]);
    s.sessions = strings(&["s-old", "s-new"]);
    s.refresh = strings(&["rt-1", "rt-2"]);
    s.families = strings(&["fam-1"]);
    s.revoked_jti = strings(&["gone", "kept"]);
}

#[test]
fn sweep_deletes_only_what_really_expired() {
    let db = populated();
    assert_eq!(db.apply(sweep(T + 1500, everything)), CommandResult::Done);
    for (tree, key, kept) in [
        (TreeId::Codes, "code-1", false),
        (TreeId::Codes, "code-2", true),
        (TreeId::Sessions, "s-old", false),
        (TreeId::Sessions, "sid/sid-old", false),
        (TreeId::Sessions, "s-new", true),
        (TreeId::Sessions, "sid/sid-new", true),
        (TreeId::Refresh, "rt-1", false),
        (TreeId::Refresh, "rt-2", true),
        (TreeId::Families, "fam-1", true),
        (TreeId::RevokedJti, "gone", false),
        (TreeId::RevokedJti, "kept", true),
    ] {
        assert_eq!(db.has(tree, key), kept, "{tree:?} {key}");
    }
}

#[test]
fn a_forged_sweep_cannot_delete_live_records_or_indexes() {
    let db = populated();
    let forged = sweep(T + 1500, |s| {
        everything(s);
        s.codes.push("nope".into());
        s.sessions = strings(&["s-new", "sid/sid-new", "sid/sid-old"]);
        s.families.push("rt-2".into());
        s.assertions = strings(&["x y"]);
    });
    let before = db.dump();
    db.apply(forged);
    assert!(db.has(TreeId::Sessions, "s-new") && db.has(TreeId::Sessions, "sid/sid-new"));
    assert!(db.has(TreeId::Families, "fam-1") && db.has(TreeId::Refresh, "rt-2"));
    // A sweep in the past removes nothing at all.
    let db2 = populated();
    db2.apply_unchanged(sweep(T, everything));
    assert!(before.len() > db.dump().len(), "the expired ones did go");
}

#[test]
fn a_swept_session_leaves_an_index_that_points_elsewhere() {
    let db = Db::new();
    db.apply(create_session("s-old", "sid-1", T + 10));
    // A corrupt index (written outside apply) naming another session.
    db.put_raw(TreeId::Sessions, "sid/sid-1", br#""s-other""#);
    db.apply(sweep(T + 100, |s| s.sessions = strings(&["s-old"])));
    assert!(!db.has(TreeId::Sessions, "s-old"));
    assert!(db.has(TreeId::Sessions, "sid/sid-1"));
}
