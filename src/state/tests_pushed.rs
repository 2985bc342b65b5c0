//! Unit tests of pushed authorization requests in `apply`: stored once,
//! consumed once by the client that pushed them before expiry, swept after.

use super::pushed::{Consume, PushedRequest};
use super::sweep::Sweep;
use super::testing::{invalid, rejected, Db, CLIENT, T};
use super::{Command, CommandResult, TreeId, FORMAT_VERSION};

fn request(expires_at: u64) -> PushedRequest {
    PushedRequest {
        v: FORMAT_VERSION,
        client_id: CLIENT.into(),
        params: vec![
            ("response_type".into(), "code".into()),
            ("state".into(), "s-1".into()),
        ],
        expires_at,
    }
}

fn push(hash: &str, r: PushedRequest) -> Command {
    Command::PushRequest {
        hash: hash.into(),
        request: Box::new(r),
    }
}

fn consume(hash: &str, client_id: &str, now: u64) -> Command {
    Command::ConsumePushed(Box::new(Consume {
        hash: hash.into(),
        client_id: client_id.into(),
        now,
    }))
}

#[test]
fn a_pushed_request_is_used_once() {
    let db = Db::new();
    assert_eq!(db.apply(push("h", request(T + 60))), CommandResult::Done);
    match db.apply(consume("h", CLIENT, T + 1)) {
        CommandResult::Pushed(p) => assert_eq!(p, request(0).params),
        other => panic!("expected the parameters, got {other:?}"),
    }
    assert!(!db.has(TreeId::Pushed, "h"));
    assert!(rejected(&db.apply(consume("h", CLIENT, T + 2))));
}

#[test]
fn another_client_or_a_late_use_is_refused_and_changes_nothing() {
    let db = Db::new();
    db.apply(push("h", request(T + 60)));
    assert!(rejected(&db.apply_unchanged(consume("h", "other", T + 1))));
    assert!(rejected(&db.apply_unchanged(consume("h", CLIENT, T + 60))));
    assert!(rejected(&db.apply_unchanged(consume("nope", CLIENT, T))));
    assert!(db.has(TreeId::Pushed, "h"));
}

#[test]
fn a_push_never_overwrites() {
    let db = Db::new();
    db.apply(push("h", request(T + 60)));
    assert_eq!(db.apply(push("h", request(T + 60))), CommandResult::Done);
    assert!(invalid(&db.apply_unchanged(push("h", request(T + 999)))));
}

#[test]
fn the_sweep_removes_expired_pushed_requests_only() {
    let db = Db::new();
    db.apply(push("old", request(T + 10)));
    db.apply(push("new", request(T + 500)));
    let s = Sweep {
        before: T + 100,
        pushed: vec!["old".into(), "new".into()],
        ..Default::default()
    };
    assert_eq!(db.apply(Command::Sweep(Box::new(s))), CommandResult::Done);
    assert!(!db.has(TreeId::Pushed, "old"));
    assert!(db.has(TreeId::Pushed, "new"));
}

#[test]
fn push_and_consume_need_format_2_and_old_sweeps_keep_their_wire_form() {
    assert_eq!(push("h", request(T)).min_format(), 2);
    assert_eq!(consume("h", CLIENT, T).min_format(), 2);
    let wire = serde_json::to_string(&Command::Sweep(Box::default())).unwrap();
    assert!(!wire.contains("pushed"), "{wire}");
}
