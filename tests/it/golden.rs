//! Golden files pin the data formats of format version 1 (docs/ARCHITECTURE.md
//! invariants 4 and 8: nothing acknowledged is lost across an upgrade, and
//! `apply` gives the same results): Raft log entries carrying every
//! `Command` variant, the results `apply` gives them, a snapshot, and a real
//! data directory written by this release. A later change that cannot read
//! them fails here. Regenerate (only when adding a new format version, into
//! a new directory) with `cargo test --test it golden -- --ignored`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload, LogId, Membership};
use serde_json::json;
use tessera::cluster::state_machine::{StateMachine, StoredSnapshot};
use tessera::cluster::storage::Storage;
use tessera::cluster::{Entry, NodeAddr};
use tessera::state::codes::{NewRefresh, Redeem};
use tessera::state::sweep::Sweep;
use tessera::state::tokens::Rotate;
use tessera::state::*;

use crate::flow::{authorize_url, pkce, Browser};
use crate::harness::{path_str, Cluster, RaftOpts, ALICE, REDIRECT};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1")
}

fn grant() -> Authorization {
    Authorization {
        client_id: "golden-client".into(),
        sub: "sub-alice".into(),
        sid: Some("sid-1".into()),
        scopes: vec!["openid".into(), "offline_access".into()],
        auth_time: 1_800_000_000,
        nonce: Some("n-1".into()),
        claims: Some(json!({"userinfo": {"email": null}})),
        acr: Some("urn:tessera:acr:password".into()),
        family: None,
    }
}

/// One command of every variant, in an order in which each takes effect.
/// The redemption of `code-hash` at `t + n`, issuing `jti-{n}`.
fn redeem(t: u64, n: u64, refresh: Option<NewRefresh>) -> Command {
    Command::RedeemCode(Box::new(Redeem {
        hash: "code-hash".into(),
        client_id: "golden-client".into(),
        redirect_uri: Some(REDIRECT.into()),
        code_verifier: Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into()),
        now: t + n,
        access_jti: format!("jti-{n}"),
        access_exp: t + 300 + n,
        refresh,
        dpop: None,
        stamp_issued: false,
        tagged: false,
        code: None,
    }))
}

/// The rotation of `rt-1` at `t + n` into `rt-{n}`, issuing `jti-{n}`.
fn rotate_rt1(t: u64, n: u64) -> Command {
    Command::RotateRefresh(Box::new(Rotate {
        hash: "rt-1".into(),
        client_id: "golden-client".into(),
        now: t + n,
        new_hash: format!("rt-{n}"),
        new_expires_at: t + 1000 + n,
        access_jti: format!("jti-{n}"),
        access_exp: t + 300 + n,
        dpop: None,
        stamp_issued: false,
        family: None,
        tagged: false,
    }))
}

fn commands() -> Vec<Command> {
    let t = 1_800_000_000;
    let key = |kid: &str, state| KeyRecord {
        v: 1,
        kid: kid.into(),
        alg: "ES256".into(),
        public_jwk: json!({"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "kid": kid}),
        sealed_private: "sealed".into(),
        state,
        created_at: t,
        activated_at: None,
        retired_at: None,
    };
    let mut user = UserRecord::new(
        "sub-alice".into(),
        "alice".into(),
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        t,
    );
    user.claims
        .insert("email".into(), json!("alice@example.com"));
    vec![
        Command::CreateUser { user },
        Command::CreateClient {
            client: ClientRecord {
                v: 1,
                client_id: "golden-client".into(),
                secret_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into()),
                redirect_uris: vec![REDIRECT.into()],
                post_logout_redirect_uris: vec![],
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                first_party: true,
                jwks: None,
                id_token_signed_response_alg: None,
                jwks_uri: None,
                token_endpoint_auth_method: None,
                metadata: Some(json!({"client_name": "Golden"})),
                registration_token_hash: None,
                scope: None,
                resource_server: false,
                created_at: t,
                backchannel_logout_uri: None,
                backchannel_logout_session_required: false,
            },
        },
        Command::SetUserClaims {
            username: "alice".into(),
            claims: BTreeMap::from([("given_name".to_string(), json!("Alice"))]),
        },
        Command::AddKeys {
            keys: vec![key("k-1", KeyState::Current), key("k-2", KeyState::Next)],
        },
        Command::PromoteKey {
            kid: "k-2".into(),
            now: t + 10,
        },
        Command::RemoveKey { kid: "k-1".into() },
        Command::CreateSession {
            key: "cookie-hash".into(),
            session: SessionRecord {
                v: 1,
                sid: "sid-1".into(),
                sub: "sub-alice".into(),
                username: "alice".into(),
                auth_time: t,
                expires_at: t + 86_400,
                ended: false,
                clients: vec![],
            },
        },
        Command::GrantConsent {
            sub: "sub-alice".into(),
            client_id: "golden-client".into(),
            scopes: vec!["openid".into()],
            now: t,
        },
        Command::CreateCode {
            hash: "code-hash".into(),
            code: CodeRecord {
                v: 1,
                grant: grant(),
                redirect_uri: REDIRECT.into(),
                // RFC 7636 appendix B.
                code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
                expires_at: t + 60,
                redeemed: None,
            },
        },
        redeem(
            t,
            1,
            Some(NewRefresh {
                hash: "rt-1".into(),
                family: "fam-1".into(),
                expires_at: t + 1000,
                jkt: None,
            }),
        ),
        rotate_rt1(t, 2),
        // The reuse of a rotated token revokes its family.
        rotate_rt1(t, 3),
        // A second redemption of the code.
        redeem(t, 4, None),
        Command::UseAssertion {
            client_id: "golden-client".into(),
            jti: "a-1".into(),
            exp: t + 60,
            now: t,
        },
        Command::UseAssertion {
            client_id: "golden-client".into(),
            jti: "a-1".into(),
            exp: t + 60,
            now: t + 1,
        },
        Command::RevokeAccess {
            jti: "jti-9".into(),
            exp: t + 5,
        },
        Command::RevokeRefresh {
            hash: "rt-2".into(),
            client_id: "golden-client".into(),
        },
        Command::EndSession {
            sid: "sid-1".into(),
        },
        Command::Sweep(Box::new(Sweep {
            before: t + 61,
            codes: vec!["code-hash".into()],
            revoked_jti: vec!["jti-9".into()],
            ..Default::default()
        })),
    ]
}

fn entries() -> Vec<Entry> {
    let log_id = |index| LogId::new(CommittedLeaderId::new(1, 1), index);
    let members = BTreeMap::from([(
        1u64,
        NodeAddr {
            http_addr: "127.0.0.1:8081".into(),
            rpc_addr: "127.0.0.1:9081".into(),
        },
    )]);
    let mut out = vec![
        Entry {
            log_id: log_id(1),
            payload: EntryPayload::Membership(Membership::new(vec![[1u64].into()], members)),
        },
        Entry {
            log_id: log_id(2),
            payload: EntryPayload::Blank,
        },
    ];
    // One command per entry, plus one batch of two (group commit).
    let mut index = 3;
    for cmd in commands() {
        out.push(Entry {
            log_id: log_id(index),
            payload: EntryPayload::Normal(Proposal::new(vec![cmd])),
        });
        index += 1;
    }
    out.push(Entry {
        log_id: log_id(index),
        payload: EntryPayload::Normal(Proposal::new(vec![
            Command::RevokeAccess {
                jti: "jti-10".into(),
                exp: 1_900_000_000,
            },
            Command::GrantConsent {
                sub: "sub-alice".into(),
                client_id: "golden-client".into(),
                scopes: vec!["email".into()],
                now: 1_800_000_100,
            },
        ])),
    });
    out
}

async fn replay(entries: Vec<Entry>) -> (tempfile::TempDir, StateMachine, Vec<ProposalResult>) {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Storage::open(tmp.path()).unwrap();
    let mut sm = StateMachine::open(&storage).unwrap();
    let results = sm.apply(entries).await.unwrap();
    (tmp, sm, results)
}

/// The snapshot the state machine builds of what it has applied.
async fn snapshot(sm: &mut StateMachine) -> openraft::Snapshot<tessera::cluster::TypeConfig> {
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap()
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

#[tokio::test]
#[ignore = "writes the golden files; run only when creating a new format version"]
async fn bless_golden_files() {
    std::fs::create_dir_all(dir()).unwrap();
    let entries = entries();
    std::fs::write(dir().join("log_entries.json"), pretty(&entries)).unwrap();
    let (_tmp, mut sm, results) = replay(entries).await;
    std::fs::write(dir().join("results.json"), pretty(&results)).unwrap();
    let snap = snapshot(&mut sm).await;
    let mut meta = snap.meta.clone();
    meta.snapshot_id = "golden-v1".into();
    let stored = StoredSnapshot {
        meta,
        payload: serde_json::from_slice(snap.snapshot.get_ref()).unwrap(),
    };
    std::fs::write(dir().join("snapshot.json"), pretty(&stored)).unwrap();
}

#[tokio::test]
async fn golden_log_entries_results_and_snapshot_of_v1_still_decode() {
    let text = std::fs::read_to_string(dir().join("log_entries.json")).expect("golden log entries");
    let entries: Vec<Entry> = serde_json::from_str(&text).expect("v1 log entries decode");
    assert_eq!(
        pretty(&entries),
        text,
        "the log entry format changed: old logs would not read back the same"
    );
    assert_eq!(
        entries,
        self::entries(),
        "the golden entries no longer match the commands of this format"
    );

    // Replaying them gives the recorded results: apply is deterministic and
    // its verdicts (replays, reuse, sweeps) did not change meaning.
    let expected: Vec<ProposalResult> =
        serde_json::from_str(&std::fs::read_to_string(dir().join("results.json")).unwrap())
            .unwrap();
    let (_tmp, _sm, results) = replay(entries).await;
    assert_eq!(results, expected);
    let all: Vec<&CommandResult> = results.iter().flat_map(|r| &r.results).collect();
    for want in [
        CommandResult::RefreshReused,
        CommandResult::CodeReplayed,
        CommandResult::Replayed,
    ] {
        assert!(all.contains(&&want), "the golden log exercises {want:?}");
    }

    // The snapshot installs into a fresh state machine.
    let text = std::fs::read_to_string(dir().join("snapshot.json")).unwrap();
    let stored: StoredSnapshot = serde_json::from_str(&text).expect("v1 snapshot decodes");
    assert_eq!(pretty(&stored), text, "the snapshot format changed");
    let tmp = tempfile::tempdir().unwrap();
    let storage = Storage::open(tmp.path()).unwrap();
    let mut sm = StateMachine::open(&storage).unwrap();
    let data = serde_json::to_vec(&stored.payload).unwrap();
    sm.install_snapshot(&stored.meta, Box::new(std::io::Cursor::new(data)))
        .await
        .unwrap();
    let user = tessera::state::users::get(&sm.tree(tessera::state::TreeId::Users), "alice")
        .expect("user from the snapshot");
    assert_eq!(user.claims["given_name"], "Alice");
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied, stored.meta.last_log_id);
}

/// This build, replaying the v1 log, snapshots exactly what format 1 did:
/// `v` 1 and the same records, so a 0.1.0 node installs a snapshot a new
/// node sends during a rolling upgrade (src/state/version.rs).
#[tokio::test]
async fn replaying_the_v1_log_this_build_snapshots_what_v1_did() {
    let (_tmp, mut sm, _) = replay(entries()).await;
    let snap = snapshot(&mut sm).await;
    let built: serde_json::Value = serde_json::from_slice(snap.snapshot.get_ref()).unwrap();
    let text = std::fs::read_to_string(dir().join("snapshot.json")).unwrap();
    let golden: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(built["v"], 1);
    assert_eq!(built, golden["payload"]);
}

const DATA_TAR: &str = "data.tar.gz";

pub fn extract_golden_data(cluster_dir: &Path) {
    let status = std::process::Command::new("tar")
        .args([
            "-xzf",
            path_str(&dir().join(DATA_TAR)),
            "-C",
            path_str(cluster_dir),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "cannot extract the golden data directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes tests/golden/v1/data.tar.gz; run only when creating a new format version"]
async fn bless_golden_data_dir() {
    let mut c = Cluster::start(1).await;
    c.seed().await;
    // A sign-in leaves a session, a consent-free code and a refresh token.
    let b = Browser::new();
    let (_v, challenge) = pkce();
    let url = authorize_url(
        &c.node(1).http_url(),
        &[
            ("response_type", "code"),
            ("client_id", "demo"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid offline_access"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let page = b.get(&url).await;
    b.login(&c.node(1).http_url(), &page, ALICE.0, ALICE.1)
        .await
        .location();
    assert!(c.terminate(1).success());
    let status = std::process::Command::new("tar")
        .args([
            "-czf",
            path_str(&dir().join(DATA_TAR)),
            "-C",
            path_str(c.dir.path()),
            "data1",
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_starts_on_v1_data_and_refuses_data_from_a_future_format() {
    let opts = RaftOpts {
        before_start: Some(extract_golden_data),
        ..Default::default()
    };
    let mut c = Cluster::start_with(1, opts).await;
    // The v1 records are there and work: a sign-in with the old user, the
    // old client and the old (sealed) signing keys.
    let user = c.node(1).admin().get_user("alice").await.expect("v1 user");
    assert_eq!(user.email.as_deref(), Some("alice@example.com"));
    let b = Browser::new();
    let (verifier, challenge) = pkce();
    let base = c.node(1).http_url();
    let url = authorize_url(
        &base,
        &[
            ("response_type", "code"),
            ("client_id", "demo"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let page = b.get(&url).await;
    let back = b.login(&base, &page, ALICE.0, ALICE.1).await;
    let code = back.param("code").expect("a code from v1 data");
    let res = c
        .http
        .post(format!("{base}/token"))
        .basic_auth("demo", Some("demo-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // Mark the data as written by a future format: the node must refuse it.
    assert!(c.terminate(1).success());
    {
        let db = sled::open(c.dir.path().join("data1/sled")).unwrap();
        db.open_tree("node_meta")
            .unwrap()
            .insert("format_version", "999")
            .unwrap();
        db.flush().unwrap();
    }
    c.spawn(1);
    let status = c
        .wait_exit(1, Duration::from_secs(30))
        .expect("the node must not start on future data");
    assert!(!status.success());
    let log = c.log(1);
    assert!(
        log.contains("format version 999") && log.contains("newer"),
        "unclear refusal:\n{log}"
    );
}
