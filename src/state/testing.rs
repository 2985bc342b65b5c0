//! Test support for the `state` unit tests: every tree of
//! [`STATE_TREES`] in a temporary sled database, [`apply`] run the way the
//! state machine runs it (one sled transaction per proposal, through
//! [`StateTxn::new`]), and small builders for commands and records.
//!
//! [`Db::apply`] fails the test if a transaction ever fails: `apply` must
//! answer every command with a result (docs/ARCHITECTURE.md invariant 8).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use sled::Transactional;

use super::codes::{NewRefresh, Redeem};
use super::tokens::Rotate;
use super::{
    apply, Authorization, ClientRecord, CodeRecord, Command, CommandResult, KeyRecord, KeyState,
    SessionRecord, StateTxn, TreeId, UserRecord, FIRST_FORMAT, FORMAT_VERSION, STATE_TREES,
};

/// A fixed "now" for the tests.
pub const T: u64 = 1_800_000_000;
pub const CLIENT: &str = "client-1";
pub const REDIRECT: &str = "https://rp.example/cb";
/// RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Every key and value of every state tree.
pub type Dump = Vec<(&'static str, Vec<u8>, Vec<u8>)>;

/// The state trees in a temporary database.
pub struct Db {
    _dir: tempfile::TempDir,
    trees: Vec<sled::Tree>,
}

impl Db {
    pub fn new() -> Db {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("sled");
        let trees = STATE_TREES
            .iter()
            .map(|name| db.open_tree(name).expect("tree"))
            .collect();
        Db { _dir: dir, trees }
    }

    /// Apply one command as a proposal of this format.
    pub fn apply(&self, cmd: Command) -> CommandResult {
        let mut results = self.apply_proposal(FORMAT_VERSION, &[cmd]);
        results.pop().expect("one result")
    }

    /// Apply every command of one proposal in one transaction, as the state
    /// machine does for a log entry.
    pub fn apply_proposal(&self, version: u32, cmds: &[Command]) -> Vec<CommandResult> {
        self.trees
            .as_slice()
            .transaction(|trees| {
                let txn = StateTxn::new(trees);
                cmds.iter().map(|c| apply(&txn, version, c)).collect()
            })
            .expect("apply must answer a result, never fail the transaction")
    }

    /// Apply a command and check it changed nothing at all.
    pub fn apply_unchanged(&self, cmd: Command) -> CommandResult {
        let before = self.dump();
        let result = self.apply(cmd);
        assert_eq!(self.dump(), before, "{result:?} changed the state");
        result
    }

    /// A tree, for the read views.
    pub fn tree(&self, id: TreeId) -> &sled::Tree {
        &self.trees[id as usize]
    }

    pub fn get<V: DeserializeOwned>(&self, id: TreeId, key: &str) -> Option<V> {
        super::trees::read(self.tree(id), key)
    }

    pub fn has(&self, id: TreeId, key: &str) -> bool {
        self.trees[id as usize]
            .contains_key(key.as_bytes())
            .expect("read")
    }

    /// Store raw bytes, bypassing `apply` (corrupt or foreign content).
    pub fn put_raw(&self, id: TreeId, key: &str, value: &[u8]) {
        self.trees[id as usize]
            .insert(key.as_bytes(), value)
            .expect("write");
    }

    pub fn dump(&self) -> Dump {
        let mut out = Vec::new();
        for id in TreeId::ALL {
            for kv in self.trees[id as usize].iter() {
                let (k, v) = kv.expect("read");
                out.push((id.name(), k.to_vec(), v.to_vec()));
            }
        }
        out
    }

    /// A user, a client and an authorization code (`code-1`, scopes `openid
    /// offline_access`) redeemed with refresh token `rt-1` in family
    /// `fam-1` and access token `jti-1`.
    pub fn with_refresh() -> Db {
        let db = Db::new();
        db.apply(create_user("alice", "sub-alice"));
        db.apply(Command::CreateClient {
            client: client(CLIENT),
        });
        db.apply(create_code("code-1", code(&["openid", "offline_access"])));
        let r = db.apply(redeem_cmd(redeem(
            "code-1",
            "jti-1",
            Some(("rt-1", "fam-1")),
        )));
        assert!(matches!(r, CommandResult::Granted(_)), "{r:?}");
        db
    }
}

pub fn user(username: &str, sub: &str) -> UserRecord {
    UserRecord::new(sub.into(), username.into(), "$argon2id$x".into(), T)
}

pub fn create_user(username: &str, sub: &str) -> Command {
    Command::CreateUser {
        user: user(username, sub),
    }
}

pub fn client(client_id: &str) -> ClientRecord {
    ClientRecord {
        v: FIRST_FORMAT,
        client_id: client_id.into(),
        secret_hash: Some("$argon2id$x".into()),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        first_party: false,
        jwks: None,
        id_token_signed_response_alg: None,
        jwks_uri: None,
        token_endpoint_auth_method: None,
        metadata: None,
        registration_token_hash: None,
        scope: None,
        resource_server: false,
        created_at: T,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
    }
}

pub fn authorization(scopes: &[&str]) -> Authorization {
    Authorization {
        client_id: CLIENT.into(),
        sub: "sub-alice".into(),
        sid: Some("sid-1".into()),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        auth_time: T,
        nonce: Some("n-1".into()),
        claims: None,
        acr: None,
        family: None,
    }
}

/// An unredeemed code with the appendix B challenge, valid until `T + 60`.
pub fn code(scopes: &[&str]) -> CodeRecord {
    CodeRecord {
        v: FIRST_FORMAT,
        grant: authorization(scopes),
        redirect_uri: REDIRECT.into(),
        code_challenge: Some(CHALLENGE.into()),
        expires_at: T + 60,
        redeemed: None,
    }
}

pub fn create_code(hash: &str, code: CodeRecord) -> Command {
    Command::CreateCode {
        hash: hash.into(),
        code,
    }
}

/// A valid redemption at `T + 1`; `refresh` is `(hash, family)`.
pub fn redeem(hash: &str, jti: &str, refresh: Option<(&str, &str)>) -> Redeem {
    Redeem {
        hash: hash.into(),
        client_id: CLIENT.into(),
        redirect_uri: Some(REDIRECT.into()),
        code_verifier: Some(VERIFIER.into()),
        now: T + 1,
        access_jti: jti.into(),
        access_exp: T + 301,
        refresh: refresh.map(|(hash, family)| NewRefresh {
            hash: hash.into(),
            family: family.into(),
            expires_at: T + 1000,
            jkt: None,
        }),
        dpop: None,
        stamp_issued: true,
        tagged: false,
        code: None,
    }
}

pub fn redeem_cmd(r: Redeem) -> Command {
    Command::RedeemCode(Box::new(r))
}

/// A rotation of `hash` into `new_hash` at `now`, issuing access `jti`
/// valid for 300 s.
pub fn rotate(hash: &str, new_hash: &str, jti: &str, now: u64) -> Command {
    Command::RotateRefresh(Box::new(Rotate {
        hash: hash.into(),
        client_id: CLIENT.into(),
        now,
        new_hash: new_hash.into(),
        new_expires_at: now + 1000,
        access_jti: jti.into(),
        access_exp: now + 300,
        dpop: None,
        stamp_issued: true,
        family: None,
        tagged: false,
    }))
}

pub fn key(kid: &str, alg: &str, state: KeyState) -> KeyRecord {
    KeyRecord {
        v: FIRST_FORMAT,
        kid: kid.into(),
        alg: alg.into(),
        public_jwk: serde_json::json!({"kid": kid}),
        sealed_private: "sealed".into(),
        state,
        created_at: T,
        activated_at: None,
        retired_at: None,
    }
}

pub fn session(sid: &str, expires_at: u64) -> SessionRecord {
    SessionRecord {
        v: FIRST_FORMAT,
        sid: sid.into(),
        sub: "sub-alice".into(),
        username: "alice".into(),
        auth_time: T,
        expires_at,
        ended: false,
        clients: vec![],
    }
}

pub fn create_session(key: &str, sid: &str, expires_at: u64) -> Command {
    Command::CreateSession {
        key: key.into(),
        session: session(sid, expires_at),
    }
}

pub fn use_assertion(client_id: &str, jti: &str, exp: u64, now: u64) -> Command {
    Command::UseAssertion {
        client_id: client_id.into(),
        jti: jti.into(),
        exp,
        now,
    }
}

pub fn claims(pairs: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub fn rejected(result: &CommandResult) -> bool {
    matches!(result, CommandResult::Rejected(_))
}

pub fn invalid(result: &CommandResult) -> bool {
    matches!(result, CommandResult::Invalid(_))
}
