//! Unit tests of authorization codes in `apply`: creation, single use
//! (docs/ARCHITECTURE.md invariant 1), replay revocation, and every refusal
//! (expiry, PKCE, client, redirect URI).

use super::codes::Redeem;
use super::testing::{
    code, create_code, invalid, redeem, redeem_cmd, rejected, Db, CHALLENGE, T, VERIFIER,
};
use super::tokens;
use super::{Command, CommandResult, FamilyRecord, RefreshRecord, TreeId};

/// A database with code `c` (scopes as given) and nothing else.
fn with_code(scopes: &[&str]) -> Db {
    let db = Db::new();
    assert_eq!(
        db.apply(create_code("c", code(scopes))),
        CommandResult::Done
    );
    db
}

/// Redeem `c` with a change to the valid redemption; must be refused
/// without any change.
fn refused(db: &Db, change: impl FnOnce(&mut Redeem)) -> CommandResult {
    let mut r = redeem("c", "jti-x", None);
    change(&mut r);
    let result = db.apply_unchanged(redeem_cmd(r));
    assert!(rejected(&result), "{result:?}");
    result
}

#[test]
fn redemption_with_offline_access_grants_and_starts_a_refresh_family() {
    let db = with_code(&["openid", "offline_access"]);
    let r = db.apply(redeem_cmd(redeem("c", "jti-1", Some(("rt-1", "fam-1")))));
    let CommandResult::Granted(grant) = r else {
        panic!("{r:?}")
    };
    assert_eq!(grant.family.as_deref(), Some("fam-1"));
    let rt: RefreshRecord = db.get(TreeId::Refresh, "rt-1").unwrap();
    assert!(!rt.used && rt.expires_at == T + 1000);
    let fam: FamilyRecord = db.get(TreeId::Families, "fam-1").unwrap();
    assert_eq!(fam.access, [("jti-1".to_string(), T + 301)]);
    assert!(!fam.revoked);
}

#[test]
fn without_offline_access_no_refresh_token_is_created() {
    let db = with_code(&["openid"]);
    let r = db.apply(redeem_cmd(redeem("c", "jti-1", Some(("rt-1", "fam-1")))));
    let CommandResult::Granted(grant) = r else {
        panic!("{r:?}")
    };
    assert_eq!(grant.family, None);
    assert!(!db.has(TreeId::Refresh, "rt-1") && !db.has(TreeId::Families, "fam-1"));
}

#[test]
fn a_second_redemption_is_refused_and_revokes_what_the_first_issued() {
    let db = Db::with_refresh();
    let again = db.apply(redeem_cmd(redeem(
        "code-1",
        "jti-2",
        Some(("rt-9", "fam-9")),
    )));
    assert_eq!(again, CommandResult::CodeReplayed);
    let revoked = db.tree(TreeId::RevokedJti);
    assert!(tokens::is_revoked(revoked, "jti-1"));
    assert!(
        !tokens::is_revoked(revoked, "jti-2"),
        "the replay issued nothing"
    );
    let fam: FamilyRecord = db.get(TreeId::Families, "fam-1").unwrap();
    assert!(fam.revoked);
    let live = tokens::live_refresh(
        db.tree(TreeId::Refresh),
        db.tree(TreeId::Families),
        "rt-1",
        T,
    );
    assert!(
        live.is_none(),
        "the first redemption's refresh token is dead"
    );
    assert!(!db.has(TreeId::Refresh, "rt-9"));
}

#[test]
fn an_expired_code_is_refused() {
    let db = with_code(&["openid"]);
    let m = refused(&db, |r| r.now = T + 60);
    assert_eq!(
        m,
        CommandResult::Rejected("the authorization code has expired".into())
    );
}

#[test]
fn a_wrong_or_missing_pkce_verifier_is_refused() {
    let db = with_code(&["openid"]);
    let other = format!("{}K", &VERIFIER[..42]);
    refused(&db, |r| r.code_verifier = Some(other));
    refused(&db, |r| r.code_verifier = None);
    refused(&db, |r| r.code_verifier = Some(CHALLENGE.into()));
}

#[test]
fn a_malformed_verifier_never_matches_even_its_own_challenge() {
    let db = Db::new();
    let mut c = code(&["openid"]);
    c.code_challenge = Some(crate::crypto::s256("short"));
    db.apply(create_code("c", c));
    refused(&db, |r| r.code_verifier = Some("short".into()));
}

#[test]
fn a_verifier_without_a_challenge_is_refused() {
    let db = Db::new();
    let mut c = code(&["openid"]);
    c.code_challenge = None;
    db.apply(create_code("c", c));
    refused(&db, |_| {});
    let ok = db.apply(redeem_cmd(Redeem {
        code_verifier: None,
        ..redeem("c", "jti-1", None)
    }));
    assert!(matches!(ok, CommandResult::Granted(_)), "{ok:?}");
}

#[test]
fn a_wrong_client_or_redirect_uri_is_refused() {
    let db = with_code(&["openid"]);
    refused(&db, |r| r.client_id = "other".into());
    refused(&db, |r| {
        r.redirect_uri = Some("https://rp.example/other".into())
    });
    refused(&db, |r| r.redirect_uri = None);
    refused(&db, |r| r.hash = "unknown".into());
}

#[test]
fn another_client_replaying_a_redeemed_code_revokes_nothing() {
    let db = Db::with_refresh();
    let mut r = redeem("code-1", "jti-2", None);
    r.client_id = "other".into();
    assert!(rejected(&db.apply_unchanged(redeem_cmd(r))));
}

#[test]
fn a_code_is_never_overwritten_so_a_redeemed_code_cannot_be_reset() {
    let db = Db::with_refresh();
    let fresh = code(&["openid", "offline_access"]);
    assert!(invalid(&db.apply_unchanged(create_code("code-1", fresh))));
    let db = with_code(&["openid"]);
    assert_eq!(
        db.apply_unchanged(create_code("c", code(&["openid"]))),
        CommandResult::Done,
        "the same command twice is harmless"
    );
}

#[test]
fn a_redemption_whose_refresh_token_or_family_exists_is_invalid() {
    let db = Db::with_refresh();
    db.apply(create_code("c", code(&["openid", "offline_access"])));
    for taken in [("rt-1", "fam-2"), ("rt-2", "fam-1")] {
        let r = db.apply_unchanged(redeem_cmd(redeem("c", "jti-2", Some(taken))));
        assert!(invalid(&r), "{taken:?}: {r:?}");
    }
    let ok = db.apply(redeem_cmd(redeem("c", "jti-2", Some(("rt-2", "fam-2")))));
    assert!(
        matches!(ok, CommandResult::Granted(_)),
        "nothing was marked"
    );
}

#[test]
fn a_code_is_single_use_within_one_proposal_too() {
    let db = with_code(&["openid"]);
    let cmd: Command = redeem_cmd(redeem("c", "jti-1", None));
    let results = db.apply_proposal(super::FORMAT_VERSION, &[cmd.clone(), cmd]);
    assert!(matches!(results[0], CommandResult::Granted(_)));
    assert_eq!(results[1], CommandResult::CodeReplayed);
}

#[test]
fn a_tagged_redemption_starts_a_family_that_lists_nothing_and_replay_revokes_by_tag() {
    let db = with_code(&["openid", "offline_access"]);
    let jti = format!("{}.r1", super::refresh::access_tag("fam-1"));
    let mut r = redeem("c", &jti, Some(("rt-1", "fam-1")));
    r.tagged = true;
    let cmd = redeem_cmd(r);
    assert_eq!(cmd.min_format(), 3);
    assert!(matches!(db.apply(cmd), CommandResult::Granted(_)));
    let fam: FamilyRecord = db.get(TreeId::Families, "fam-1").unwrap();
    assert!(fam.access.is_empty());
    assert_eq!((fam.v, fam.access_until), (3, Some(T + 301)));
    let again = db.apply(redeem_cmd(redeem("c", "jti-2", None)));
    assert_eq!(again, CommandResult::CodeReplayed);
    assert!(tokens::is_revoked(db.tree(TreeId::RevokedJti), &jti));
}

#[test]
fn a_tagged_redemption_with_another_familys_tag_is_invalid() {
    let db = with_code(&["openid", "offline_access"]);
    let mut r = redeem("c", "fam-2tag.r1", Some(("rt-1", "fam-1")));
    r.tagged = true;
    assert!(invalid(&db.apply_unchanged(redeem_cmd(r))));
}

/// A redemption of a sealed code: nothing stored, the record in the command.
fn sealed(scopes: &[&str], jti: &str, refresh: Option<(&str, &str)>) -> Command {
    let mut r = redeem("c", jti, refresh);
    r.code = Some(Box::new(code(scopes)));
    redeem_cmd(r)
}

#[test]
fn a_sealed_code_is_redeemed_once_and_its_record_outlives_it_by_the_grace() {
    let db = Db::new();
    let cmd = sealed(
        &["openid", "offline_access"],
        "jti-1",
        Some(("rt-1", "fam-1")),
    );
    assert_eq!(cmd.min_format(), 3);
    let r = db.apply(cmd);
    assert!(matches!(r, CommandResult::Granted(_)), "{r:?}");
    let stored: super::CodeRecord = db.get(TreeId::Codes, "c").unwrap();
    assert!(stored.redeemed.is_some());
    let issued = code(&["openid"]).expires_at;
    assert_eq!(
        stored.expires_at,
        issued + super::codes::SEALED_REPLAY_GRACE
    );
    // Only what a replay needs is kept.
    assert!(stored.grant.scopes.is_empty() && stored.code_challenge.is_none());
    assert_eq!(stored.grant.family.as_deref(), Some("fam-1"));
    // The same code again, on any node: a replay, and the first
    // redemption's tokens are revoked.
    let again = db.apply(sealed(
        &["openid", "offline_access"],
        "jti-2",
        Some(("rt-2", "fam-2")),
    ));
    assert_eq!(again, CommandResult::CodeReplayed);
    assert!(tokens::is_revoked(db.tree(TreeId::RevokedJti), "jti-1"));
    assert!(
        db.get::<FamilyRecord>(TreeId::Families, "fam-1")
            .unwrap()
            .revoked
    );
    assert!(!db.has(TreeId::Refresh, "rt-2"));
}

#[test]
fn a_sealed_code_gets_every_check_of_a_stored_one() {
    let db = Db::new();
    let with = |change: &dyn Fn(&mut Redeem)| {
        let Command::RedeemCode(mut r) = sealed(&["openid"], "jti-x", None) else {
            unreachable!()
        };
        change(&mut r);
        let result = db.apply_unchanged(Command::RedeemCode(r));
        assert!(rejected(&result), "{result:?}");
    };
    with(&|r| r.client_id = "other".into());
    with(&|r| r.redirect_uri = Some("https://evil.example/cb".into()));
    with(&|r| r.code_verifier = Some("x".repeat(43)));
    with(&|r| r.now = T + 1000);
    assert!(
        !db.has(TreeId::Codes, "c"),
        "a refused code stays redeemable"
    );
}
