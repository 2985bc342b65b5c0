//! Unit tests of the user and client branches of `apply`: creation, the
//! `sub/` index, name validation, claim updates, existing names.

use serde_json::json;

use super::testing::{claims, client, create_user, invalid, Db};
use super::users::{self, validate_username};
use super::{Command, CommandResult, TreeId, UserRecord};

fn set_claims(username: &str, pairs: &[(&str, serde_json::Value)]) -> Command {
    Command::SetUserClaims {
        username: username.into(),
        claims: claims(pairs),
    }
}

#[test]
fn create_user_stores_it_and_indexes_it_by_subject() {
    let db = Db::new();
    assert_eq!(db.apply(create_user("alice", "s-1")), CommandResult::Done);
    let by_name: UserRecord = db.get(TreeId::Users, "alice").unwrap();
    assert_eq!(by_name.sub, "s-1");
    assert_eq!(db.get::<String>(TreeId::Users, "sub/s-1").unwrap(), "alice");
}

#[test]
fn a_taken_username_or_subject_is_user_exists_and_changes_nothing() {
    let db = Db::new();
    db.apply(create_user("alice", "s-1"));
    assert_eq!(
        db.apply_unchanged(create_user("alice", "s-2")),
        CommandResult::UserExists
    );
    assert_eq!(
        db.apply_unchanged(create_user("bob", "s-1")),
        CommandResult::UserExists,
        "a second user must not take over alice's sub index"
    );
}

#[test]
fn names_that_are_not_keys_are_refused_by_apply_and_by_validate_username() {
    let db = Db::new();
    db.apply(create_user("alice", "s-1"));
    let long = "a".repeat(65);
    for bad in ["", "sub/s-1", "a/b", "tab\there", "nul\0", &long] {
        assert!(validate_username(bad).is_err(), "{bad:?}");
        assert!(
            invalid(&db.apply_unchanged(create_user(bad, "s-9"))),
            "{bad:?}"
        );
    }
    for good in ["bob", "ünïcödé", "x@example.com", &"é".repeat(64)] {
        assert_eq!(validate_username(good), Ok(()), "{good:?}");
    }
    assert!(invalid(&db.apply_unchanged(create_user("carol", ""))));
}

#[test]
fn set_claims_merges_and_a_null_removes() {
    let db = Db::new();
    db.apply(create_user("alice", "s-1"));
    db.apply(set_claims(
        "alice",
        &[("email", json!("a@x")), ("given_name", json!("A"))],
    ));
    let r = db.apply(set_claims(
        "alice",
        &[("email", json!(null)), ("family_name", json!("Z"))],
    ));
    assert_eq!(r, CommandResult::Done);
    let u = users::get(db.tree(TreeId::Users), "alice").unwrap();
    assert_eq!(
        u.claims,
        claims(&[("given_name", json!("A")), ("family_name", json!("Z"))])
    );
}

#[test]
fn set_claims_of_an_unknown_user_is_not_found() {
    let db = Db::new();
    assert_eq!(
        db.apply_unchanged(set_claims("nobody", &[("email", json!("x"))])),
        CommandResult::NotFound
    );
}

#[test]
fn any_json_claim_value_is_stored_and_read_back() {
    let db = Db::new();
    db.apply(create_user("alice", "s-1"));
    let nested = json!({"a": [1, -2.5, 1e300, u64::MAX, i64::MIN, null, true],
                        "b": {"\u{0}": "\u{10FFFF}\u{7f}\"\\"}, "": ""});
    let r = db.apply(set_claims("alice", &[("address", nested.clone())]));
    assert_eq!(r, CommandResult::Done);
    let u: UserRecord = db.get(TreeId::Users, "alice").unwrap();
    assert_eq!(u.claims["address"], nested);
}

#[test]
fn create_client_then_the_same_id_is_client_exists() {
    let db = Db::new();
    assert_eq!(
        db.apply(Command::CreateClient {
            client: client("rp")
        }),
        CommandResult::Done
    );
    let mut other = client("rp");
    other.first_party = true;
    assert_eq!(
        db.apply_unchanged(Command::CreateClient { client: other }),
        CommandResult::ClientExists
    );
}

#[test]
fn malformed_client_ids_are_invalid() {
    let db = Db::new();
    for bad in ["", "a b", "new\nline"] {
        let r = db.apply_unchanged(Command::CreateClient {
            client: client(bad),
        });
        assert!(invalid(&r), "{bad:?}: {r:?}");
    }
}
