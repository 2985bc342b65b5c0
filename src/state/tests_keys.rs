//! Unit tests of the signing-key lifecycle in `apply`: add, promote, remove,
//! and at most one current key per algorithm.

use super::keys;
use super::testing::{invalid, key, rejected, Db, T};
use super::{Command, CommandResult, KeyRecord, KeyState, TreeId};

fn add(keys: Vec<KeyRecord>) -> Command {
    Command::AddKeys { keys }
}

fn state_of(db: &Db, kid: &str) -> Option<KeyState> {
    db.get::<KeyRecord>(TreeId::Keys, &format!("key/{kid}"))
        .map(|k| k.state)
}

#[test]
fn add_keys_installs_at_most_one_current_key_per_algorithm() {
    let db = Db::new();
    let r = db.apply(add(vec![
        key("k-1", "ES256", KeyState::Current),
        key("k-2", "ES256", KeyState::Current),
        key("k-3", "RS256", KeyState::Current),
    ]));
    assert_eq!(r, CommandResult::Done);
    assert_eq!(
        keys::current(db.tree(TreeId::Keys), "ES256").unwrap(),
        "k-1"
    );
    assert_eq!(
        keys::current(db.tree(TreeId::Keys), "RS256").unwrap(),
        "k-3"
    );
    assert_eq!(
        state_of(&db, "k-2"),
        None,
        "a second current key is skipped"
    );
    assert_eq!(
        db.apply_unchanged(add(vec![key("k-4", "ES256", KeyState::Current)])),
        CommandResult::KeysExist,
        "two leaders racing to create the first keys"
    );
}

#[test]
fn add_keys_never_overwrites_an_existing_kid() {
    let db = Db::new();
    db.apply(add(vec![key("k-1", "ES256", KeyState::Current)]));
    assert_eq!(
        db.apply_unchanged(add(vec![key("k-1", "ES256", KeyState::Next)])),
        CommandResult::KeysExist,
        "the current key must not become `next` behind its index"
    );
    assert_eq!(state_of(&db, "k-1"), Some(KeyState::Current));
}

#[test]
fn add_keys_without_kid_or_alg_is_invalid() {
    let db = Db::new();
    let r = db.apply_unchanged(add(vec![
        key("k-1", "ES256", KeyState::Next),
        key("", "ES256", KeyState::Next),
    ]));
    assert!(invalid(&r), "{r:?}");
    assert!(invalid(&db.apply_unchanged(add(vec![key(
        "k-2",
        "",
        KeyState::Next
    )]))));
}

#[test]
fn promote_makes_a_next_key_current_and_retires_the_old_one() {
    let db = Db::new();
    db.apply(add(vec![
        key("k-1", "ES256", KeyState::Current),
        key("k-2", "ES256", KeyState::Next),
    ]));
    let r = db.apply(Command::PromoteKey {
        kid: "k-2".into(),
        now: T + 10,
    });
    assert_eq!(r, CommandResult::Done);
    assert_eq!(
        keys::current(db.tree(TreeId::Keys), "ES256").unwrap(),
        "k-2"
    );
    let old: KeyRecord = db.get(TreeId::Keys, "key/k-1").unwrap();
    assert_eq!(
        (old.state, old.retired_at),
        (KeyState::Retired, Some(T + 10))
    );
    let new: KeyRecord = db.get(TreeId::Keys, "key/k-2").unwrap();
    assert_eq!(new.activated_at, Some(T + 10));
    let current: Vec<_> = keys::all(db.tree(TreeId::Keys))
        .into_iter()
        .filter(|k| k.state == KeyState::Current)
        .collect();
    assert_eq!(current.len(), 1);
}

#[test]
fn promote_refuses_a_key_that_is_not_next_and_an_unknown_one() {
    let db = Db::new();
    db.apply(add(vec![key("k-1", "ES256", KeyState::Current)]));
    let promote = |kid: &str| Command::PromoteKey {
        kid: kid.into(),
        now: T,
    };
    assert!(rejected(&db.apply_unchanged(promote("k-1"))));
    assert_eq!(db.apply_unchanged(promote("nope")), CommandResult::NotFound);
}

#[test]
fn only_a_retired_key_can_be_removed() {
    let db = Db::new();
    db.apply(add(vec![
        key("k-1", "ES256", KeyState::Current),
        key("k-2", "ES256", KeyState::Next),
    ]));
    let remove = |kid: &str| Command::RemoveKey { kid: kid.into() };
    assert!(rejected(&db.apply_unchanged(remove("k-1"))));
    assert!(rejected(&db.apply_unchanged(remove("k-2"))));
    db.apply(Command::PromoteKey {
        kid: "k-2".into(),
        now: T,
    });
    assert_eq!(db.apply(remove("k-1")), CommandResult::Done);
    assert_eq!(state_of(&db, "k-1"), None);
    assert_eq!(db.apply_unchanged(remove("k-1")), CommandResult::NotFound);
}
