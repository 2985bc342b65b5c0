//! Unit tests of the session and consent branches of `apply`: create and
//! end sessions, the `sid/` index, consent as a union.

use super::sessions;
use super::testing::{create_session, invalid, Db, T};
use super::{Command, CommandResult, ConsentRecord, SessionRecord, TreeId};

fn end(sid: &str) -> Command {
    Command::EndSession { sid: sid.into() }
}

#[test]
fn a_session_is_created_and_ended_by_its_sid() {
    let db = Db::new();
    assert_eq!(
        db.apply(create_session("cookie-1", "sid-1", T + 100)),
        CommandResult::Done
    );
    let sessions_tree = db.tree(TreeId::Sessions);
    assert!(sessions::get(sessions_tree, "cookie-1", T).is_some());
    assert!(sessions::sid_live(sessions_tree, "sid-1", T));
    assert_eq!(db.apply(end("sid-1")), CommandResult::Done);
    assert!(sessions::get(sessions_tree, "cookie-1", T).is_none());
    assert!(!sessions::sid_live(sessions_tree, "sid-1", T));
    let s: SessionRecord = db.get(TreeId::Sessions, "cookie-1").unwrap();
    assert!(s.ended);
}

#[test]
fn ending_an_unknown_session_is_not_found() {
    let db = Db::new();
    assert_eq!(db.apply_unchanged(end("nope")), CommandResult::NotFound);
}

#[test]
fn session_keys_that_look_like_index_keys_or_are_taken_are_invalid() {
    let db = Db::new();
    db.apply(create_session("cookie-1", "sid-1", T + 100));
    for (key, sid) in [
        ("sid/sid-1", "sid-2"),
        ("", "sid-2"),
        ("cookie-2", ""),
        ("cookie-1", "sid-2"),
        ("cookie-2", "sid-1"),
    ] {
        let r = db.apply_unchanged(create_session(key, sid, T + 100));
        assert!(invalid(&r), "{key:?} {sid:?}: {r:?}");
    }
    assert_eq!(
        db.apply_unchanged(create_session("cookie-1", "sid-1", T + 100)),
        CommandResult::Done,
        "the same command twice is harmless"
    );
}

#[test]
fn consent_is_the_union_of_every_grant() {
    let db = Db::new();
    let grant = |scopes: &[&str], now| Command::GrantConsent {
        sub: "sub-alice".into(),
        client_id: "rp".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        now,
    };
    db.apply(grant(&["openid", "email"], T));
    assert_eq!(
        db.apply(grant(&["email", "profile"], T + 5)),
        CommandResult::Done
    );
    let c: ConsentRecord = db.get(TreeId::Consents, "sub-alice rp").unwrap();
    assert_eq!(c.scopes, ["openid", "email", "profile"]);
    assert_eq!(c.granted_at, T + 5);
    let consents = db.tree(TreeId::Consents);
    let scopes = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(sessions::consented(
        consents,
        "sub-alice",
        "rp",
        &scopes(&["openid", "profile"])
    ));
    assert!(!sessions::consented(
        consents,
        "sub-alice",
        "rp",
        &scopes(&["phone"])
    ));
    assert!(!sessions::consented(
        consents,
        "sub-alice",
        "other",
        &scopes(&["openid"])
    ));
}

/// A login that goes straight on to a code creates its session with that
/// client listed: one entry instead of `CreateSession` + `NoteSessionClient`.
#[test]
fn a_session_created_with_its_first_client_lists_it_and_needs_format_2() {
    let db = Db::new();
    let with = |clients: Vec<String>| match create_session("cookie-1", "sid-1", T + 100) {
        Command::CreateSession { key, mut session } => {
            session.clients = clients;
            Command::CreateSession { key, session }
        }
        other => other,
    };
    assert_eq!(with(vec![]).min_format(), 1);
    assert_eq!(with(vec!["rp".into()]).min_format(), 2);
    let too_many = (0..=sessions::MAX_SESSION_CLIENTS)
        .map(|i| format!("rp-{i}"))
        .collect();
    assert!(invalid(&db.apply_unchanged(with(too_many))));
    assert_eq!(db.apply(with(vec!["rp".into()])), CommandResult::Done);
    let s: SessionRecord = db.get(TreeId::Sessions, "cookie-1").unwrap();
    assert_eq!(s.clients, ["rp"]);
    // Noting it again changes nothing.
    let note = Command::NoteSessionClient {
        sid: "sid-1".into(),
        client_id: "rp".into(),
    };
    assert_eq!(db.apply_unchanged(note), CommandResult::Done);
}
