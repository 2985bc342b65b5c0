//! Unit tests of what a rolling upgrade from format 1 (release 0.1.0)
//! relies on: `SetUserDisabled` (the first format-2 command) and its effect
//! on codes and refresh tokens, and that everything `apply` writes for
//! format-1 commands is format 1 whichever build applies it.

use super::testing::{code, create_code, create_user, redeem, redeem_cmd, rejected, rotate, Db, T};
use super::{Command, CommandResult, TreeId, UserRecord, FIRST_FORMAT, FORMAT_VERSION};

fn disable(username: &str, disabled: bool) -> Command {
    Command::SetUserDisabled {
        username: username.into(),
        disabled,
    }
}

#[test]
fn disabling_makes_the_record_format_2_and_enabling_restores_format_1_bytes() {
    let db = Db::new();
    db.apply(create_user("alice", "sub-alice"));
    let before = db.dump();
    assert_eq!(db.apply(disable("alice", true)), CommandResult::Done);
    let user: UserRecord = db.get(TreeId::Users, "alice").unwrap();
    assert!(user.disabled);
    assert_eq!(user.v, 2);
    assert_eq!(db.apply(disable("alice", false)), CommandResult::Done);
    let user: UserRecord = db.get(TreeId::Users, "alice").unwrap();
    assert_eq!((user.disabled, user.v), (false, FIRST_FORMAT));
    assert_eq!(
        db.dump(),
        before,
        "an enabled user is stored as format 1 stores it"
    );
}

#[test]
fn disabling_an_unknown_or_malformed_name_is_not_found_and_changes_nothing() {
    let db = Db::new();
    db.apply(create_user("alice", "sub-alice"));
    for name in ["bob", "", "sub/sub-alice", "a\u{0}"] {
        let r = db.apply_unchanged(disable(name, true));
        assert_eq!(r, CommandResult::NotFound, "{name:?}");
    }
}

#[test]
fn a_disabled_users_refresh_tokens_are_rejected_until_enabled_again() {
    let db = Db::with_refresh();
    db.apply(disable("alice", true));
    let r = db.apply_unchanged(rotate("rt-1", "rt-2", "jti-2", T + 2));
    assert!(rejected(&r), "{r:?}");
    db.apply(disable("alice", false));
    let r = db.apply(rotate("rt-1", "rt-2", "jti-2", T + 2));
    assert!(matches!(r, CommandResult::Granted(_)), "{r:?}");
}

#[test]
fn a_disabled_users_codes_are_rejected_and_stay_redeemable_once_enabled() {
    let db = Db::with_refresh();
    db.apply(create_code("code-2", code(&["openid"])));
    db.apply(disable("alice", true));
    let r = db.apply_unchanged(redeem_cmd(redeem("code-2", "jti-9", None)));
    assert!(rejected(&r), "{r:?}");
    db.apply(disable("alice", false));
    let r = db.apply(redeem_cmd(redeem("code-2", "jti-9", None)));
    assert!(matches!(r, CommandResult::Granted(_)), "{r:?}");
}

#[test]
fn what_apply_writes_for_format_1_commands_is_format_1() {
    // Codes, refresh tokens, families, rotation, consent: the records a
    // format-2 node writes while the cluster is at format 1 must be byte
    // for byte what a 0.1.0 node writes for the same entries, and a
    // snapshot of them must be installable there (state::version).
    let db = Db::with_refresh();
    db.apply(rotate("rt-1", "rt-2", "jti-2", T + 2));
    db.apply(Command::GrantConsent {
        sub: "sub-alice".into(),
        client_id: "client-1".into(),
        scopes: vec!["openid".into()],
        now: T,
    });
    let mut seen = 0;
    for (tree, key, value) in db.dump() {
        let value: serde_json::Value = serde_json::from_slice(&value).unwrap();
        if let Some(v) = value.get("v") {
            seen += 1;
            let key = String::from_utf8_lossy(&key);
            assert_eq!(v, FIRST_FORMAT, "{tree} {key}: {value}");
        }
    }
    assert!(seen >= 7, "records with a version: {seen}");
}

#[test]
fn a_proposal_of_a_newer_format_is_refused_by_every_command() {
    let db = Db::new();
    let results = db.apply_proposal(FORMAT_VERSION + 1, &[disable("alice", true)]);
    assert_eq!(results, vec![CommandResult::UnsupportedVersion]);
}
