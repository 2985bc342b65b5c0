//! Unit tests of back-channel logout in `apply`: clients noted per session,
//! deliveries queued by the commands that end sessions (and by the sweep),
//! their outcomes, and the queue bounds.

use super::deliveries::{self, delivery_id, DeliveryRecord, MAX_PENDING_PER_CLIENT};
use super::sessions::MAX_SESSION_CLIENTS;
use super::sweep::Sweep;
use super::testing::{client, create_session, invalid, Db, T};
use super::{Command, CommandResult, LogoutOutcome, SessionRecord, TreeId};

const BCL: &str = "https://rp.example/bcl";

/// Clients `with-uri` (a back-channel logout URI) and `without`, and the
/// session `sid-1` (cookie `cookie-1`, until `T + 100`) where both got codes.
fn signed_in() -> Db {
    let db = Db::new();
    let mut c = client("with-uri");
    c.backchannel_logout_uri = Some(BCL.into());
    db.apply(Command::CreateClient { client: c });
    db.apply(Command::CreateClient {
        client: client("without"),
    });
    db.apply(create_session("cookie-1", "sid-1", T + 100));
    for c in ["with-uri", "without", "with-uri"] {
        assert_eq!(db.apply(note("sid-1", c)), CommandResult::Done);
    }
    db
}

fn note(sid: &str, client_id: &str) -> Command {
    Command::NoteSessionClient {
        sid: sid.into(),
        client_id: client_id.into(),
    }
}

fn logout(sid: &str) -> Command {
    Command::LogoutSession {
        sid: sid.into(),
        now: T + 10,
    }
}

fn outcome(sessions: u32, queued: u32, dropped: &[&str]) -> CommandResult {
    CommandResult::LoggedOut(LogoutOutcome {
        sessions,
        queued,
        dropped: dropped.iter().map(|s| s.to_string()).collect(),
    })
}

fn delivery(db: &Db, sid: &str) -> Option<DeliveryRecord> {
    db.get(TreeId::Deliveries, &delivery_id(sid, "with-uri"))
}

fn failed(id: &str, attempt: u32, next_attempt: Option<u64>) -> Command {
    Command::DeliveryFailed {
        id: id.into(),
        attempt,
        next_attempt,
    }
}

#[test]
fn a_session_remembers_each_client_once_and_within_a_bound() {
    let db = signed_in();
    let s: SessionRecord = db.get(TreeId::Sessions, "cookie-1").unwrap();
    assert_eq!(s.clients, vec!["with-uri", "without"]);
    assert_eq!(
        db.apply_unchanged(note("nope", "with-uri")),
        CommandResult::NotFound
    );
    for i in 2..MAX_SESSION_CLIENTS {
        db.apply(note("sid-1", &format!("c-{i}")));
    }
    assert!(invalid(&db.apply_unchanged(note("sid-1", "one-too-many"))));
}

#[test]
fn logout_ends_the_session_and_queues_one_delivery_per_client_with_a_uri() {
    let db = signed_in();
    assert_eq!(db.apply(logout("sid-1")), outcome(1, 1, &[]));
    let s: SessionRecord = db.get(TreeId::Sessions, "cookie-1").unwrap();
    assert!(s.ended);
    let d = delivery(&db, "sid-1").expect("queued under an id derived from the command");
    assert_eq!(
        (d.uri.as_str(), d.sub.as_str(), d.sid.as_str()),
        (BCL, "sub-alice", "sid-1")
    );
    assert_eq!((d.attempts, d.next_attempt, d.failed), (0, T + 10, false));
    assert!(!db.has(TreeId::Deliveries, &delivery_id("sid-1", "without")));
    assert_eq!(deliveries::pending(db.tree(TreeId::Deliveries)), 1);
    // Ending it again queues nothing more.
    assert_eq!(db.apply_unchanged(logout("sid-1")), outcome(0, 0, &[]));
    assert_eq!(db.apply_unchanged(logout("nope")), CommandResult::NotFound);
}

#[test]
fn outcomes_retry_give_up_or_remove_and_release_the_queue() {
    let db = signed_in();
    db.apply(logout("sid-1"));
    let id = delivery_id("sid-1", "with-uri");
    assert_eq!(db.apply(failed(&id, 0, Some(T + 12))), CommandResult::Done);
    let d = delivery(&db, "sid-1").unwrap();
    assert_eq!((d.attempts, d.next_attempt), (1, T + 12));
    assert!(
        invalid(&db.apply_unchanged(failed(&id, 0, Some(T + 99)))),
        "a stale outcome"
    );
    assert_eq!(db.apply(failed(&id, 1, None)), CommandResult::Done);
    assert!(delivery(&db, "sid-1").unwrap().failed);
    assert_eq!(deliveries::pending(db.tree(TreeId::Deliveries)), 0);
    assert!(deliveries::due(db.tree(TreeId::Deliveries), T + 50, 10).is_empty());
    // A delivered one is removed.
    db.apply(create_session("cookie-2", "sid-2", T + 100));
    db.apply(note("sid-2", "with-uri"));
    db.apply(logout("sid-2"));
    let id2 = delivery_id("sid-2", "with-uri");
    let due = deliveries::due(db.tree(TreeId::Deliveries), T + 10, 10);
    assert_eq!(
        due.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        vec![id2.as_str()]
    );
    assert_eq!(
        db.apply(Command::DeliveryDone { id: id2.clone() }),
        CommandResult::Done
    );
    assert!(delivery(&db, "sid-2").is_none());
    assert_eq!(deliveries::pending(db.tree(TreeId::Deliveries)), 0);
    assert_eq!(
        db.apply_unchanged(Command::DeliveryDone { id: id2 }),
        CommandResult::NotFound
    );
}

#[test]
fn a_full_queue_drops_the_delivery_and_says_so() {
    let db = signed_in();
    let key = "n/with-uri";
    db.put_raw(
        TreeId::Deliveries,
        key,
        MAX_PENDING_PER_CLIENT.to_string().as_bytes(),
    );
    assert_eq!(db.apply(logout("sid-1")), outcome(1, 0, &["with-uri"]));
    assert!(delivery(&db, "sid-1").is_none());
}

#[test]
fn ending_a_users_sessions_ends_only_listed_sessions_of_that_user() {
    let db = signed_in();
    db.apply(create_session("cookie-2", "sid-2", T + 100));
    let mut bob = super::testing::session("sid-bob", T + 100);
    bob.username = "bob".into();
    db.apply(Command::CreateSession {
        key: "cookie-bob".into(),
        session: bob,
    });
    let cmd = Command::EndUserSessions {
        username: "alice".into(),
        sids: ["sid-1", "sid-2", "sid-bob", "nope"]
            .map(String::from)
            .to_vec(),
        now: T + 10,
    };
    assert_eq!(db.apply(cmd), outcome(2, 1, &[]));
    let ended = |k: &str| db.get::<SessionRecord>(TreeId::Sessions, k).unwrap().ended;
    assert!(ended("cookie-1") && ended("cookie-2"));
    assert!(!ended("cookie-bob"));
}

#[test]
fn the_sweep_notifies_expired_sessions_and_removes_expired_deliveries() {
    let sweep = |sessions: &[&str], notify_expired: bool| {
        Command::Sweep(Box::new(Sweep {
            before: T + 200,
            sessions: sessions.iter().map(|s| s.to_string()).collect(),
            notify_expired,
            ..Default::default()
        }))
    };
    // A format-1 sweep (no notify_expired) sweeps without notifying.
    let db = signed_in();
    assert_eq!(sweep(&["cookie-1"], false).min_format(), 1);
    let r = db.apply_proposal(1, &[sweep(&["cookie-1"], false)]);
    assert_eq!(r, vec![CommandResult::Done]);
    assert!(delivery(&db, "sid-1").is_none());
    // Format 2 queues the expired session's logouts, at the sweep's time.
    let db = signed_in();
    assert_eq!(sweep(&["cookie-1"], true).min_format(), 2);
    assert_eq!(db.apply(sweep(&["cookie-1"], true)), outcome(1, 1, &[]));
    let d = delivery(&db, "sid-1").unwrap();
    assert_eq!(d.next_attempt, T + 200);
    // An expired delivery goes, and frees its place; a live one stays.
    let id = delivery_id("sid-1", "with-uri");
    let later = Command::Sweep(Box::new(Sweep {
        before: d.expires_at - 1,
        deliveries: vec![id.clone(), "n/total".into()],
        ..Default::default()
    }));
    assert_eq!(db.apply_unchanged(later), CommandResult::Done);
    let expired = Command::Sweep(Box::new(Sweep {
        before: d.expires_at,
        deliveries: vec![id, "n/total".into()],
        ..Default::default()
    }));
    assert_eq!(db.apply(expired), CommandResult::Done);
    assert!(delivery(&db, "sid-1").is_none());
    assert_eq!(deliveries::pending(db.tree(TreeId::Deliveries)), 0);
}
