//! Login sessions and remembered consents.
//!
//! A session is keyed by the SHA-256 of the browser's session cookie, so a
//! copy of the data directory cannot be replayed as a cookie. `sid` is the
//! separate, public session id that goes into ID tokens. Consents are keyed
//! by subject and client, list scopes and `claim:NAME` entries (claims
//! consented through the `claims` parameter) and only ever grow (a later
//! issue adds withdrawal).
//!
//! A session also lists the clients that received a code in it
//! (`NoteSessionClient`); ending it with `LogoutSession` or
//! `EndUserSessions` queues a back-channel logout for each of them that
//! registered a URI (`state::deliveries`).

use super::deliveries;
use super::result::{CommandResult, LogoutOutcome};
use super::trees::{read, Record, StateTxn, TreeId, TxResult};
use super::version::FIRST_FORMAT;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub v: u32,
    pub sid: String,
    pub sub: String,
    pub username: String,
    /// When the user last authenticated (Unix seconds).
    pub auth_time: u64,
    pub expires_at: u64,
    #[serde(default)]
    pub ended: bool,
    /// Clients that received an authorization code in this session (format
    /// 2; at most [`MAX_SESSION_CLIENTS`]): who gets a back-channel logout
    /// when it ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
}

/// At most this many clients are remembered per session.
pub const MAX_SESSION_CLIENTS: usize = 64;

/// What a user agreed to release to one client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub v: u32,
    /// Consented scopes, and claims consented through the `claims`
    /// parameter as `claim:NAME` entries (`claim:email`;
    /// `oidc::claims::CLAIM_CONSENT_PREFIX`). Scope values never contain
    /// `:`, so the two cannot clash, and records of format v1 decode
    /// unchanged (they simply hold no claim entries).
    pub scopes: Vec<String>,
    pub granted_at: u64,
}

impl Record for SessionRecord {}
impl Record for ConsentRecord {}

fn consent_key(sub: &str, client_id: &str) -> String {
    format!("{sub} {client_id}")
}

fn sid_key(sid: &str) -> String {
    format!("sid/{sid}")
}

/// Store a new session and its `sid` index. The key must not look like an
/// index key (no `/`), and neither the key nor the sid may be taken by
/// another session; applying the same command twice is harmless.
pub(super) fn create(txn: &StateTxn<'_>, key: &str, s: &SessionRecord) -> TxResult<CommandResult> {
    if key.is_empty() || key.contains('/') || s.sid.is_empty() {
        return Ok(CommandResult::invalid("malformed session key or sid"));
    }
    if s.clients.len() > MAX_SESSION_CLIENTS {
        return Ok(CommandResult::invalid("the session has too many clients"));
    }
    if txn.exists(TreeId::Sessions, key)? || txn.exists(TreeId::Sessions, &sid_key(&s.sid))? {
        let same = txn.get::<SessionRecord>(TreeId::Sessions, key)?.as_ref() == Some(s)
            && txn
                .get::<String>(TreeId::Sessions, &sid_key(&s.sid))?
                .as_deref()
                == Some(key);
        return Ok(if same {
            CommandResult::Done
        } else {
            CommandResult::invalid("the session key or sid is taken")
        });
    }
    txn.put(TreeId::Sessions, key, s)?;
    // Index by the public session id (keys have no '/', so no clash).
    txn.put(TreeId::Sessions, &sid_key(&s.sid), &key.to_string())?;
    Ok(CommandResult::Done)
}

/// End a session everywhere: later lookups by cookie or sid see it ended.
pub(super) fn end(txn: &StateTxn<'_>, sid: &str) -> TxResult<CommandResult> {
    let Some(key) = txn.get::<String>(TreeId::Sessions, &sid_key(sid))? else {
        return Ok(CommandResult::NotFound);
    };
    let Some(mut s) = txn.get::<SessionRecord>(TreeId::Sessions, &key)? else {
        return Ok(CommandResult::NotFound);
    };
    s.ended = true;
    txn.put(TreeId::Sessions, &key, &s)?;
    Ok(CommandResult::Done)
}

/// The session behind a public `sid`, with its key.
fn by_sid(txn: &StateTxn<'_>, sid: &str) -> TxResult<Option<(String, SessionRecord)>> {
    let Some(key) = txn.get::<String>(TreeId::Sessions, &sid_key(sid))? else {
        return Ok(None);
    };
    Ok(txn
        .get::<SessionRecord>(TreeId::Sessions, &key)?
        .map(|s| (key, s)))
}

/// Remember that `client_id` signed in through the session `sid` (once; at
/// most [`MAX_SESSION_CLIENTS`] clients, later ones are not remembered).
pub(super) fn note_client(
    txn: &StateTxn<'_>,
    sid: &str,
    client_id: &str,
) -> TxResult<CommandResult> {
    let Some((key, mut s)) = by_sid(txn, sid)? else {
        return Ok(CommandResult::NotFound);
    };
    if s.ended || s.clients.iter().any(|c| c == client_id) {
        return Ok(CommandResult::Done);
    }
    if s.clients.len() >= MAX_SESSION_CLIENTS {
        return Ok(CommandResult::invalid("the session has too many clients"));
    }
    s.clients.push(client_id.to_string());
    txn.put(TreeId::Sessions, &key, &s)?;
    Ok(CommandResult::Done)
}

/// End a session and queue a back-channel logout for each of its clients
/// that registered a URI (`now` from the proposer). Ending an ended session
/// changes nothing and queues nothing.
pub(super) fn end_and_notify(txn: &StateTxn<'_>, sid: &str, now: u64) -> TxResult<CommandResult> {
    let Some((key, mut s)) = by_sid(txn, sid)? else {
        return Ok(CommandResult::NotFound);
    };
    let mut out = LogoutOutcome::default();
    if !s.ended {
        s.ended = true;
        txn.put(TreeId::Sessions, &key, &s)?;
        out = deliveries::enqueue(txn, &s, now)?;
        out.sessions = 1;
    }
    Ok(CommandResult::LoggedOut(out))
}

/// End the listed sessions that belong to `username` (the proposer lists
/// them; others are skipped), with back-channel logout.
pub(super) fn end_user(
    txn: &StateTxn<'_>,
    username: &str,
    sids: &[String],
    now: u64,
) -> TxResult<CommandResult> {
    let mut total = LogoutOutcome::default();
    for sid in sids {
        let Some((key, mut s)) = by_sid(txn, sid)? else {
            continue;
        };
        if s.username != username || s.ended {
            continue;
        }
        s.ended = true;
        txn.put(TreeId::Sessions, &key, &s)?;
        total.add(deliveries::enqueue(txn, &s, now)?);
        total.sessions += 1;
    }
    Ok(CommandResult::LoggedOut(total))
}

/// Remove a session and, if it still points at it, its `sid` index.
pub(super) fn delete(txn: &StateTxn<'_>, key: &str, s: &SessionRecord) -> TxResult<()> {
    txn.remove(TreeId::Sessions, key)?;
    let index = sid_key(&s.sid);
    if txn.get::<String>(TreeId::Sessions, &index)?.as_deref() == Some(key) {
        txn.remove(TreeId::Sessions, &index)?;
    }
    Ok(())
}

/// Read view: whether the session `sid` is live (not ended, not expired).
pub fn sid_live(sessions: &sled::Tree, sid: &str, now: u64) -> bool {
    read::<String>(sessions, &sid_key(sid))
        .and_then(|key| get(sessions, &key, now))
        .is_some()
}

pub(super) fn grant_consent(
    txn: &StateTxn<'_>,
    sub: &str,
    client_id: &str,
    scopes: &[String],
    now: u64,
) -> TxResult<CommandResult> {
    let key = consent_key(sub, client_id);
    let mut rec = txn
        .get::<ConsentRecord>(TreeId::Consents, &key)?
        .unwrap_or(ConsentRecord {
            v: FIRST_FORMAT,
            scopes: vec![],
            granted_at: now,
        });
    for s in scopes {
        if !rec.scopes.contains(s) {
            rec.scopes.push(s.clone());
        }
    }
    rec.granted_at = now;
    txn.put(TreeId::Consents, &key, &rec)?;
    Ok(CommandResult::Done)
}

/// Read view: a live session by cookie hash.
pub fn get(sessions: &sled::Tree, key: &str, now: u64) -> Option<SessionRecord> {
    read::<SessionRecord>(sessions, key).filter(|s| !s.ended && s.expires_at > now)
}

/// Read view: every session of `username` that is live at `now`.
pub fn of_user(sessions: &sled::Tree, username: &str, now: u64) -> Vec<SessionRecord> {
    records(sessions)
        .filter(|s| s.username == username && !s.ended && s.expires_at > now)
        .collect()
}

/// Every session record of the tree (index entries left out).
fn records(sessions: &sled::Tree) -> impl Iterator<Item = SessionRecord> + '_ {
    sessions
        .iter()
        .filter_map(|kv| kv.ok())
        .filter(|(k, _)| !k.starts_with(b"sid/"))
        .filter_map(|(_, v)| serde_json::from_slice::<SessionRecord>(&v).ok())
}

/// Read view: the session behind a public `sid`, live or not.
pub fn by_sid_view(sessions: &sled::Tree, sid: &str) -> Option<SessionRecord> {
    read::<String>(sessions, &sid_key(sid)).and_then(|key| read(sessions, &key))
}

/// Read view: how many sessions are live.
pub fn count_live(sessions: &sled::Tree, now: u64) -> usize {
    records(sessions)
        .filter(|s| !s.ended && s.expires_at > now)
        .count()
}

/// Read view: whether `scopes` (scopes and `claim:` entries) were all
/// granted before.
pub fn consented(consents: &sled::Tree, sub: &str, client_id: &str, scopes: &[String]) -> bool {
    match read::<ConsentRecord>(consents, &consent_key(sub, client_id)) {
        Some(c) => scopes.iter().all(|s| c.scopes.contains(s)),
        None => false,
    }
}
