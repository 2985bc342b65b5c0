//! Unit tests of refresh rotation, family revocation, access revocation and
//! assertion replay in `apply`, and of the bounded family access list.

use super::refresh::{self, MAX_LIVE_ACCESS};
use super::testing::{invalid, rejected, rotate, use_assertion, Db, CLIENT, T};
use super::tokens;
use super::{Command, CommandResult, FamilyRecord, RefreshRecord, TreeId};

fn family(db: &Db) -> FamilyRecord {
    db.get(TreeId::Families, "fam-1").unwrap()
}

fn revoked(db: &Db, jti: &str) -> bool {
    tokens::is_revoked(db.tree(TreeId::RevokedJti), jti)
}

#[test]
fn rotation_marks_the_token_used_and_stores_its_successor() {
    let db = Db::with_refresh();
    let r = db.apply(rotate("rt-1", "rt-2", "jti-2", T + 2));
    assert!(matches!(r, CommandResult::Granted(_)), "{r:?}");
    assert!(
        db.get::<RefreshRecord>(TreeId::Refresh, "rt-1")
            .unwrap()
            .used
    );
    let live = |h| {
        tokens::live_refresh(
            db.tree(TreeId::Refresh),
            db.tree(TreeId::Families),
            h,
            T + 2,
        )
    };
    assert!(live("rt-1").is_none() && live("rt-2").is_some());
    let f = family(&db);
    assert_eq!(f.access.len(), 2);
    assert_eq!(f.expires_at, T + 1002);
}

#[test]
fn reuse_of_a_rotated_token_revokes_the_whole_family() {
    let db = Db::with_refresh();
    db.apply(rotate("rt-1", "rt-2", "jti-2", T + 2));
    let r = db.apply(rotate("rt-1", "rt-3", "jti-3", T + 3));
    assert_eq!(r, CommandResult::RefreshReused);
    assert!(family(&db).revoked);
    assert!(revoked(&db, "jti-1") && revoked(&db, "jti-2"));
    assert!(!db.has(TreeId::Refresh, "rt-3"));
    let after = db.apply_unchanged(rotate("rt-2", "rt-4", "jti-4", T + 4));
    assert!(
        rejected(&after),
        "the successor died with the family: {after:?}"
    );
}

#[test]
fn rotation_is_refused_for_another_client_an_unknown_or_expired_token() {
    let db = Db::with_refresh();
    let mut other = rotate("rt-1", "rt-2", "jti-2", T + 2);
    if let Command::RotateRefresh(r) = &mut other {
        r.client_id = "other".into();
    }
    assert!(rejected(&db.apply_unchanged(other)));
    assert!(rejected(&db.apply_unchanged(rotate(
        "nope",
        "rt-2",
        "jti-2",
        T + 2
    ))));
    assert!(rejected(&db.apply_unchanged(rotate(
        "rt-1",
        "rt-2",
        "jti-2",
        T + 1000
    ))));
}

#[test]
fn a_rotation_onto_an_existing_token_is_invalid() {
    let db = Db::with_refresh();
    assert!(invalid(&db.apply_unchanged(rotate(
        "rt-1",
        "rt-1",
        "jti-2",
        T + 2
    ))));
}

#[test]
fn the_family_access_list_forgets_expired_tokens_and_is_capped() {
    let db = Db::with_refresh();
    // Rotations 400 s apart: each access token (300 s) has expired by the next.
    let mut hash = "rt-1".to_string();
    for i in 0..5u64 {
        let next = format!("rt-{}", i + 2);
        let r = db.apply(rotate(&hash, &next, &format!("j-{i}"), T + 400 * (i + 1)));
        assert!(matches!(r, CommandResult::Granted(_)), "{r:?}");
        hash = next;
    }
    assert_eq!(family(&db).access, [("j-4".to_string(), T + 2300)]);
    // Rotations one second apart: at most MAX_LIVE_ACCESS live access tokens.
    let start = T + 2500;
    for i in 0..MAX_LIVE_ACCESS as u64 {
        let next = format!("fast-{i}");
        let r = db.apply(rotate(&hash, &next, &format!("f-{i}"), start + i));
        assert!(matches!(r, CommandResult::Granted(_)), "{i}: {r:?}");
        hash = next;
    }
    assert_eq!(family(&db).access.len(), MAX_LIVE_ACCESS);
    assert!(!revoked(&db, "f-0"));
    let over = db.apply(rotate(&hash, "over", "f-over", start + 100));
    assert!(matches!(over, CommandResult::Granted(_)), "{over:?}");
    assert_eq!(family(&db).access.len(), MAX_LIVE_ACCESS);
    assert!(revoked(&db, "f-0"), "the oldest leaves the list revoked");
    assert!(!revoked(&db, "f-1"));
    let later = db.apply(rotate("over", "later", "f-later", start + 400));
    assert!(
        matches!(later, CommandResult::Granted(_)),
        "once they expired: {later:?}"
    );
    assert_eq!(family(&db).access.len(), 1, "expired ones are pruned");
    // Every access token still listed is revoked with the family.
    let tokens_listed: Vec<String> = family(&db).access.into_iter().map(|(j, _)| j).collect();
    db.apply(Command::RevokeRefresh {
        hash: "later".into(),
        client_id: CLIENT.into(),
    });
    assert!(tokens_listed.iter().all(|j| revoked(&db, j)));
}

#[test]
fn a_family_record_of_format_1_still_decodes() {
    let snapshot: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/golden/v1/snapshot.json")).unwrap();
    let trees = &snapshot["payload"]["trees"];
    let fam: FamilyRecord = serde_json::from_value(trees["families"]["fam-1"].clone()).unwrap();
    assert!(fam.revoked && fam.access.len() == 2);
    let rt: RefreshRecord = serde_json::from_value(trees["refresh"]["rt-2"].clone()).unwrap();
    assert_eq!(rt.grant.family.as_deref(), Some("fam-1"));
}

#[test]
fn revoking_an_access_token_keeps_the_latest_expiry() {
    let db = Db::new();
    let revoke = |exp| Command::RevokeAccess {
        jti: "j".into(),
        exp,
    };
    assert_eq!(db.apply(revoke(T + 100)), CommandResult::Done);
    db.apply(revoke(T + 50));
    assert_eq!(db.get::<u64>(TreeId::RevokedJti, "j"), Some(T + 100));
}

#[test]
fn only_the_owning_client_revokes_a_refresh_family() {
    let db = Db::with_refresh();
    let revoke = |hash: &str, client: &str| Command::RevokeRefresh {
        hash: hash.into(),
        client_id: client.into(),
    };
    assert_eq!(
        db.apply_unchanged(revoke("rt-1", "other")),
        CommandResult::NotFound
    );
    assert_eq!(
        db.apply_unchanged(revoke("nope", CLIENT)),
        CommandResult::NotFound
    );
    assert_eq!(db.apply(revoke("rt-1", CLIENT)), CommandResult::Done);
    assert!(family(&db).revoked && revoked(&db, "jti-1"));
}

#[test]
fn an_assertion_jti_is_refused_until_it_expires() {
    let db = Db::new();
    let use_at = |now| use_assertion(CLIENT, "a-1", now + 60, now);
    assert_eq!(db.apply(use_at(T)), CommandResult::Done);
    assert_eq!(db.apply_unchanged(use_at(T + 59)), CommandResult::Replayed);
    assert_eq!(db.apply(use_at(T + 60)), CommandResult::Done);
    let other_client = use_assertion("other", "a-1", T + 200, T + 59);
    assert_eq!(db.apply(other_client), CommandResult::Done, "per client");
}

/// A rotation whose presented token names its family (format 2).
fn named(hash: &str, new_hash: &str, jti: &str, now: u64, family: &str) -> Command {
    let mut cmd = rotate(hash, new_hash, jti, now);
    if let Command::RotateRefresh(r) = &mut cmd {
        r.family = Some(family.into());
    }
    cmd
}

#[test]
fn a_named_rotation_forgets_the_spent_token_and_its_family_still_catches_reuse() {
    let db = Db::with_refresh();
    let r = db.apply(named("rt-1", "rt-2", "jti-2", T + 2, "fam-1"));
    assert!(matches!(r, CommandResult::Granted(_)), "{r:?}");
    assert!(
        !db.has(TreeId::Refresh, "rt-1"),
        "the spent token is deleted"
    );
    let f = family(&db);
    assert_eq!((f.client_id.as_deref(), f.v), (Some(CLIENT), 2));
    // A chain of rotations leaves one token record, however long it is.
    for i in 2..50 {
        let (old, new) = (format!("rt-{i}"), format!("rt-{}", i + 1));
        let r = db.apply(named(&old, &new, &format!("jti-{}", i + 1), T + 2, "fam-1"));
        assert!(matches!(r, CommandResult::Granted(_)), "{r:?}");
    }
    assert_eq!(db.tree(TreeId::Refresh).len(), 1);
    // The first token, long gone, is reuse: the family dies.
    let r = db.apply(named("rt-1", "rt-x", "jti-x", T + 3, "fam-1"));
    assert_eq!(r, CommandResult::RefreshReused);
    assert!(family(&db).revoked);
    assert!(revoked(&db, "jti-50"));
    let after = db.apply_unchanged(named("rt-50", "rt-y", "jti-y", T + 4, "fam-1"));
    assert!(rejected(&after), "{after:?}");
}

#[test]
fn a_spent_named_token_is_unknown_to_another_client_and_another_family() {
    let db = Db::with_refresh();
    db.apply(named("rt-1", "rt-2", "jti-2", T + 2, "fam-1"));
    let mut other = named("rt-1", "rt-3", "jti-3", T + 3, "fam-1");
    if let Command::RotateRefresh(r) = &mut other {
        r.client_id = "other".into();
    }
    assert!(rejected(&db.apply_unchanged(other)));
    assert!(rejected(&db.apply_unchanged(named(
        "rt-1",
        "rt-3",
        "j",
        T + 3,
        "fam-9"
    ))));
    // A live token presented with a family it is not in is refused.
    assert!(rejected(&db.apply_unchanged(named(
        "rt-2",
        "rt-3",
        "j",
        T + 3,
        "fam-9"
    ))));
    assert!(!family(&db).revoked);
}

#[test]
fn only_well_formed_names_are_families() {
    let fam = "AAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(tokens::family_of(&format!("{fam}.secret_-1")), Some(fam));
    for bad in [
        "secret",
        ".x",
        "short.x",
        &format!("{fam}."),
        &format!("{fam}.a.b"),
        &format!("{fam}x.s"),
    ] {
        assert_eq!(tokens::family_of(bad), None, "{bad}");
    }
}

/// A named rotation whose access token carries the family's tag (format 3).
fn tagged(hash: &str, new_hash: &str, random: &str, now: u64) -> Command {
    let mut cmd = named(hash, new_hash, &tag_jti("fam-1", random), now, "fam-1");
    if let Command::RotateRefresh(r) = &mut cmd {
        r.tagged = true;
    }
    cmd
}

fn tag_jti(family: &str, random: &str) -> String {
    format!("{}.{random}", refresh::access_tag(family))
}

#[test]
fn tagged_rotations_list_nothing_and_one_marker_revokes_every_tagged_token() {
    let db = Db::with_refresh();
    for i in 1..=100 {
        let (old, new) = (format!("rt-{i}"), format!("rt-{}", i + 1));
        let r = db.apply(tagged(&old, &new, &format!("j{i}"), T + 2 + i));
        assert!(matches!(r, CommandResult::Granted(_)), "{r:?}");
    }
    let f = family(&db);
    // Only the untagged first token (until it expires) is listed.
    assert_eq!(f.access, [("jti-1".to_string(), T + 301)]);
    assert_eq!((f.v, f.access_until), (3, Some(T + 102 + 300)));
    let first = tag_jti("fam-1", "j1");
    assert!(!revoked(&db, &first) && !revoked(&db, "jti-1"));
    // Reuse of the first token revokes the family: the listed token by its
    // id, all tagged ones by one marker kept as long as the latest of them.
    let r = db.apply(named("rt-1", "rt-x", "jti-x", T + 200, "fam-1"));
    assert_eq!(r, CommandResult::RefreshReused);
    assert!(revoked(&db, "jti-1"));
    assert!(revoked(&db, &first) && revoked(&db, &tag_jti("fam-1", "j100")));
    assert!(!revoked(&db, &tag_jti("fam-2", "j1")), "another family");
    let marker = refresh::tag_marker(&refresh::access_tag("fam-1"));
    assert_eq!(db.get::<u64>(TreeId::RevokedJti, &marker), Some(T + 402));
    assert_eq!(db.tree(TreeId::RevokedJti).len(), 2);
}

#[test]
fn a_tagged_rotation_must_carry_its_own_familys_tag() {
    let db = Db::with_refresh();
    let mut cmd = tagged("rt-1", "rt-2", "j", T + 2);
    if let Command::RotateRefresh(r) = &mut cmd {
        r.access_jti = tag_jti("fam-2", "j");
    }
    assert!(invalid(&db.apply_unchanged(cmd)));
    let mut untagged = tagged("rt-1", "rt-2", "j", T + 2);
    if let Command::RotateRefresh(r) = &mut untagged {
        r.access_jti = "j".into();
    }
    assert!(invalid(&db.apply_unchanged(untagged)));
}

#[test]
fn a_tagged_rotation_needs_format_3_and_an_untagged_one_does_not() {
    assert_eq!(tagged("rt-1", "rt-2", "j", T).min_format(), 3);
    assert_eq!(named("rt-1", "rt-2", "j", T, "fam-1").min_format(), 2);
}
