//! Unit tests of `apply` as a whole: the format-version refusal, group
//! commit, and totality (docs/ARCHITECTURE.md invariant 8) — the poison-pill
//! command of issue 10 #9 and every other command aimed at index keys or at
//! records that do not decode gives a result, and the next command applies.

use serde_json::json;

use super::sweep::Sweep;
use super::testing::{
    claims, create_session, create_user, redeem, redeem_cmd, rotate, use_assertion, Db, CLIENT, T,
};
use super::{Command, CommandResult, TreeId, FORMAT_VERSION};

#[test]
fn a_proposal_of_a_newer_format_is_refused_and_changes_nothing() {
    let db = Db::new();
    let before = db.dump();
    let results = db.apply_proposal(FORMAT_VERSION + 1, &[create_user("alice", "s-1")]);
    assert_eq!(results, [CommandResult::UnsupportedVersion]);
    assert_eq!(db.dump(), before);
}

#[test]
fn the_poison_pill_gives_a_result_and_the_cluster_keeps_applying() {
    let db = Db::new();
    db.apply(create_user("alice", "s-alice"));
    let poison = Command::SetUserClaims {
        username: "sub/s-alice".into(),
        claims: claims(&[("given_name", json!("X"))]),
    };
    assert_eq!(db.apply_unchanged(poison.clone()), CommandResult::NotFound);
    // In one entry with other commands: each gets its own result.
    let results = db.apply_proposal(FORMAT_VERSION, &[poison, create_user("bob", "s-bob")]);
    assert_eq!(results, [CommandResult::NotFound, CommandResult::Done]);
    assert_eq!(
        db.get::<String>(TreeId::Users, "sub/s-alice").unwrap(),
        "alice"
    );
}

#[test]
fn records_that_do_not_decode_are_answers_not_aborts() {
    let db = Db::with_refresh();
    db.apply(create_session("cookie-1", "sid-1", T + 100));
    for (tree, key) in [
        (TreeId::Users, "mallory"),
        (TreeId::Keys, "key/k-bad"),
        (TreeId::Keys, "current/ES256"),
        (TreeId::Sessions, "sid/sid-bad"),
        (TreeId::Codes, "code-bad"),
        (TreeId::Refresh, "rt-bad"),
        (TreeId::Families, "fam-1"),
        (TreeId::RevokedJti, "jti-bad"),
        (TreeId::Assertions, "client-1 a-bad"),
        (TreeId::Pushed, "p-bad"),
    ] {
        db.put_raw(tree, key, b"\xff not json");
    }
    let set = |u: &str| Command::SetUserClaims {
        username: u.into(),
        claims: claims(&[("email", json!("x"))]),
    };
    let unchanged = [
        (set("mallory"), CommandResult::NotFound),
        (create_user("mallory", "s-m"), CommandResult::UserExists),
        (
            Command::PromoteKey {
                kid: "k-bad".into(),
                now: T,
            },
            CommandResult::NotFound,
        ),
        (
            Command::RemoveKey {
                kid: "k-bad".into(),
            },
            CommandResult::NotFound,
        ),
        (
            Command::EndSession {
                sid: "sid-bad".into(),
            },
            CommandResult::NotFound,
        ),
        (
            Command::RevokeRefresh {
                hash: "rt-bad".into(),
                client_id: CLIENT.into(),
            },
            CommandResult::NotFound,
        ),
    ];
    for (cmd, want) in unchanged {
        assert_eq!(db.apply_unchanged(cmd.clone()), want, "{cmd:?}");
    }
    for cmd in [
        redeem_cmd(redeem("code-bad", "j", None)),
        rotate("rt-bad", "rt-x", "j", T + 2),
        rotate("rt-1", "rt-x", "j", T + 2), // its family does not decode
        Command::ConsumePushed(Box::new(super::pushed::Consume {
            hash: "p-bad".into(),
            client_id: CLIENT.into(),
            now: T,
        })),
    ] {
        let r = db.apply_unchanged(cmd.clone());
        assert!(matches!(r, CommandResult::Rejected(_)), "{cmd:?}: {r:?}");
    }
    // Commands that write next to (or over) garbage still answer.
    for cmd in [
        Command::RevokeAccess {
            jti: "jti-bad".into(),
            exp: T,
        },
        use_assertion(CLIENT, "a-bad", T + 60, T),
        redeem_cmd(redeem("code-1", "j", None)), // replay: its family does not decode
        Command::Sweep(Box::new(Sweep {
            before: T + 10_000,
            codes: vec!["code-bad".into()],
            sessions: vec!["sid/sid-1".into(), "sid/sid-bad".into()],
            refresh: vec!["rt-bad".into()],
            families: vec!["fam-1".into()],
            revoked_jti: vec!["jti-bad".into()],
            assertions: vec!["client-1 a-bad".into()],
            dpop_jti: vec!["jkt jti-bad".into()],
            deliveries: vec!["n/total".into()],
            notify_expired: true,
            pushed: vec!["p-bad".into()],
        })),
    ] {
        db.apply(cmd);
    }
    assert!(
        db.has(TreeId::Sessions, "sid/sid-1"),
        "an index is not a session"
    );
    assert_eq!(db.apply(create_user("carol", "s-c")), CommandResult::Done);
}

#[test]
fn index_keys_cannot_be_reached_through_names() {
    let db = Db::new();
    db.apply(create_user("alice", "s-alice"));
    db.apply(create_session("cookie-1", "sid-1", T + 100));
    let before = db.dump();
    for cmd in [
        create_user("sub/s-alice", "s-x"),
        create_session("sid/sid-1", "sid-2", T + 100),
        Command::EndSession {
            sid: "../cookie-1".into(),
        },
        Command::PromoteKey {
            kid: "../current/ES256".into(),
            now: T,
        },
    ] {
        let r = db.apply(cmd.clone());
        assert_ne!(r, CommandResult::Done, "{cmd:?}");
    }
    assert_eq!(db.dump(), before);
}
