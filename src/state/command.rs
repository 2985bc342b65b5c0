//! The versioned [`Command`] enum, the [`Proposal`] a log entry carries, and
//! [`apply`], which runs one command inside the state transaction.
//!
//! `apply` is deterministic and total (docs/ARCHITECTURE.md invariant 8): it
//! reads neither the clock nor a random source, and whatever a command
//! contains — a name that collides with an index key, an id that is already
//! taken, a record that is not what the key should hold — it answers a
//! [`CommandResult`] and leaves the state as it was. The only errors it
//! returns are sled's own (I/O, transaction conflicts), never an `Abort`:
//! an aborted entry would halt every node for good, since each one would
//! re-apply the same entry on restart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::clients::{self, ClientRecord};
use super::cluster_id;
use super::codes::{self, CodeRecord};
use super::deliveries;
use super::dpop::{self, DpopUse};
use super::keys::{self, KeyRecord};
use super::pushed::{self, PushedRequest};
use super::result::CommandResult;
use super::sessions::{self, SessionRecord};
use super::sweep;
use super::tokens;
use super::trees::{StateTxn, TxResult};
use super::users::{self, UserRecord};
use super::version::{Versioned, FIRST_FORMAT, FORMAT_VERSION};

/// One state change. Variants are only ever added, never changed in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Create a user; `UserExists` if the username (or subject) is taken.
    CreateUser { user: UserRecord },
    /// Create a client; `ClientExists` if the client id is taken.
    CreateClient { client: ClientRecord },
    /// Replace a user's standard claims; `NotFound` if there is no such user.
    SetUserClaims {
        username: String,
        claims: BTreeMap<String, serde_json::Value>,
    },
    /// Add signing keys (a current one only for an algorithm without one).
    AddKeys { keys: Vec<KeyRecord> },
    /// Make a `next` key current; the old current key is retired.
    PromoteKey { kid: String, now: u64 },
    /// Drop a retired key from the key set.
    RemoveKey { kid: String },
    /// Start a login session; `key` is the SHA-256 of the session cookie.
    CreateSession { key: String, session: SessionRecord },
    /// Remember that a user granted scopes to a client (union with earlier grants).
    GrantConsent {
        sub: String,
        client_id: String,
        scopes: Vec<String>,
        now: u64,
    },
    /// Store an authorization code under the SHA-256 of its value.
    CreateCode { hash: String, code: CodeRecord },
    /// Redeem a code once (single use cluster-wide); a replay revokes what
    /// the first redemption issued.
    RedeemCode(Box<codes::Redeem>),
    /// Rotate a refresh token; reuse of a rotated one revokes its family.
    RotateRefresh(Box<tokens::Rotate>),
    /// Record a client assertion's `jti` until it expires; `Replayed` if seen.
    UseAssertion {
        client_id: String,
        jti: String,
        exp: u64,
        now: u64,
    },
    /// Revoke an access token by `jti` until its expiry.
    RevokeAccess { jti: String, exp: u64 },
    /// Revoke the family of a refresh token (by hash) if `client_id` owns it.
    RevokeRefresh { hash: String, client_id: String },
    /// End a login session (by `sid`) on every node.
    EndSession { sid: String },
    /// Delete expired records; see [`sweep`].
    Sweep(Box<sweep::Sweep>),
    /// Name the cluster (once): `Invalid` if it already has an id or `id` is
    /// not 32 lowercase hex digits.
    SetClusterId { id: String },
    /// Record a DPoP proof's use; `Replayed` if it was used before (format 2).
    UseDpopJti(DpopUse),
    /// Remember that `client_id` got a code in the session `sid` (format 2).
    NoteSessionClient { sid: String, client_id: String },
    /// End a session and queue back-channel logouts for its clients
    /// (format 2; `EndSession` without notification before).
    LogoutSession { sid: String, now: u64 },
    /// End the listed sessions of a user, with back-channel logout (format 2).
    EndUserSessions {
        username: String,
        sids: Vec<String>,
        now: u64,
    },
    /// A back-channel logout was delivered: forget it (format 2).
    DeliveryDone { id: String },
    /// Attempt `attempt` of a delivery failed: retry at `next_attempt`, or
    /// give up (`None`) (format 2).
    DeliveryFailed {
        id: String,
        attempt: u32,
        next_attempt: Option<u64>,
    },
    /// Store a pushed authorization request under the SHA-256 of the random
    /// part of its `request_uri` (RFC 9126). Format 2.
    PushRequest {
        hash: String,
        request: Box<PushedRequest>,
    },
    /// Use a pushed request once, cluster-wide. Format 2.
    ConsumePushed(Box<pushed::Consume>),
    /// Disable (or enable again) a user: a disabled user cannot sign in,
    /// its sessions no longer sign in silently, and its codes and refresh
    /// tokens are refused. `NotFound` if there is no such user. Format 2.
    SetUserDisabled { username: String, disabled: bool },
}

impl Command {
    /// Have a `RedeemCode` or `RotateRefresh` record when the refresh token
    /// it creates was issued (refresh-token introspection's `iat`); the
    /// proposer asks for it only once the cluster is at format 2.
    pub fn stamping_issue_times(mut self, yes: bool) -> Command {
        match &mut self {
            Command::RedeemCode(r) => r.stamp_issued = yes,
            Command::RotateRefresh(r) => r.stamp_issued = yes,
            _ => {}
        }
        self
    }

    /// The first format version that can apply this command: the format
    /// that knows its variant, or of a record it carries if that is later
    /// (see `state::version`). A command is proposed only once every member
    /// reports at least this format (rolling upgrades).
    pub fn min_format(&self) -> u32 {
        match self {
            Command::CreateUser { user } => user.format(),
            Command::CreateClient { client } => client.format(),
            Command::SetUserDisabled { .. } => 2,
            // A session created with its first client already listed (a
            // login that goes straight on to a code) carries a format-2 part.
            Command::CreateSession { session, .. } => format_with(!session.clients.is_empty()),
            Command::SetUserClaims { .. }
            | Command::AddKeys { .. }
            | Command::PromoteKey { .. }
            | Command::RemoveKey { .. }
            | Command::GrantConsent { .. }
            | Command::CreateCode { .. }
            | Command::UseAssertion { .. }
            | Command::RevokeAccess { .. }
            | Command::RevokeRefresh { .. }
            | Command::EndSession { .. } => 1,
            Command::SetClusterId { .. } => 2,
            // Format 1 commands that carry format 2 fields.
            Command::RedeemCode(r) if r.tagged || r.code.is_some() => 3,
            Command::RotateRefresh(r) if r.tagged => 3,
            Command::RedeemCode(r) => format_with(r.dpop.is_some() || r.stamp_issued),
            Command::RotateRefresh(r) => {
                format_with(r.dpop.is_some() || r.stamp_issued || r.family.is_some())
            }
            Command::Sweep(s) => s.min_format(),
            Command::UseDpopJti(_) => 2,
            Command::NoteSessionClient { .. }
            | Command::LogoutSession { .. }
            | Command::EndUserSessions { .. }
            | Command::DeliveryDone { .. }
            | Command::DeliveryFailed { .. } => 2,
            Command::PushRequest { .. } | Command::ConsumePushed(_) => 2,
        }
    }
}

/// A format-1 command that carries a format-2 part (a DPoP proof or bound
/// family, or `stamp_issued`) needs format 2: an older node would ignore the
/// part and reach another verdict or write other bytes. Without one it is
/// format 1.
fn format_with(format_2_part: bool) -> u32 {
    if format_2_part {
        2
    } else {
        1
    }
}

/// The payload of one Raft log entry: commands from concurrent requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Proposal {
    /// The highest format its commands need (see `state::version`).
    pub v: u32,
    pub commands: Vec<Command>,
}

impl Proposal {
    /// A proposal stamped with the format its commands need, at least
    /// [`FIRST_FORMAT`]: a format-1 batch stays readable by a 0.1.0 node.
    pub fn new(commands: Vec<Command>) -> Self {
        let v = commands
            .iter()
            .map(Command::min_format)
            .fold(FIRST_FORMAT, u32::max);
        Proposal { v, commands }
    }
}

/// Apply one command inside the state transaction. Only sled errors fail;
/// anything wrong with the command itself is a [`CommandResult`].
pub fn apply(txn: &StateTxn<'_>, proposal_version: u32, cmd: &Command) -> TxResult<CommandResult> {
    if proposal_version > FORMAT_VERSION {
        return Ok(CommandResult::UnsupportedVersion);
    }
    match cmd {
        Command::CreateUser { user } => users::create(txn, user),
        Command::CreateClient { client } => clients::create(txn, client),
        Command::SetUserClaims { username, claims } => users::set_claims(txn, username, claims),
        Command::AddKeys { keys } => keys::add(txn, keys),
        Command::PromoteKey { kid, now } => keys::promote(txn, kid, *now),
        Command::RemoveKey { kid } => keys::remove(txn, kid),
        Command::CreateSession { key, session } => sessions::create(txn, key, session),
        Command::GrantConsent {
            sub,
            client_id,
            scopes,
            now,
        } => sessions::grant_consent(txn, sub, client_id, scopes, *now),
        Command::CreateCode { hash, code } => codes::create(txn, hash, code),
        Command::RedeemCode(r) => codes::redeem(txn, r),
        Command::RotateRefresh(r) => tokens::rotate(txn, r),
        Command::UseAssertion {
            client_id,
            jti,
            exp,
            now,
        } => tokens::use_assertion(txn, client_id, jti, *exp, *now),
        Command::RevokeAccess { jti, exp } => tokens::revoke_access(txn, jti, *exp),
        Command::RevokeRefresh { hash, client_id } => tokens::revoke_refresh(txn, hash, client_id),
        Command::EndSession { sid } => sessions::end(txn, sid),
        Command::Sweep(s) => sweep::apply(txn, s),
        Command::SetClusterId { id } => cluster_id::set(txn, id),
        Command::UseDpopJti(u) => Ok(if dpop::spend(txn, u)? {
            CommandResult::Done
        } else {
            CommandResult::Replayed
        }),
        Command::NoteSessionClient { sid, client_id } => sessions::note_client(txn, sid, client_id),
        Command::LogoutSession { sid, now } => sessions::end_and_notify(txn, sid, *now),
        Command::EndUserSessions {
            username,
            sids,
            now,
        } => sessions::end_user(txn, username, sids, *now),
        Command::DeliveryDone { id } => deliveries::done(txn, id),
        Command::DeliveryFailed {
            id,
            attempt,
            next_attempt,
        } => deliveries::failed(txn, id, *attempt, *next_attempt),
        Command::PushRequest { hash, request } => pushed::push(txn, hash, request),
        Command::ConsumePushed(c) => pushed::consume(txn, c),
        Command::SetUserDisabled { username, disabled } => {
            users::set_disabled(txn, username, *disabled)
        }
    }
}
