//! The replicated data model: the versioned [`Command`] enum and [`apply`].
//!
//! A Raft log entry carries one [`Proposal`]: a batch of commands proposed
//! together (group commit). [`apply`] runs every command of a proposal against
//! the state trees inside one sled transaction. It is deterministic: it reads
//! neither the clock nor a random source and does no I/O outside the
//! transaction. Whatever a command needs that is not in the state (ids,
//! timestamps, password hashes) the proposer put into the command. A command
//! that cannot take effect returns a [`CommandResult`] saying why; it never
//! fails the entry.
//!
//! Every command and record carries a format version ([`FORMAT_VERSION`]) so a
//! node can tell data written by a newer release.

pub mod cache;
pub mod clients;
pub mod codes;
pub mod keys;
pub mod sessions;
pub mod sweep;
pub mod tokens;
pub mod trees;
pub mod users;

use serde::{Deserialize, Serialize};

pub use cache::{Generations, TreeCache};
pub use clients::ClientRecord;
pub use codes::{CodeRecord, Grant, NewRefresh};
pub use keys::{KeyRecord, KeyState};
pub use sessions::{ConsentRecord, SessionRecord};
pub use tokens::RefreshRecord;
pub use trees::{StateTxn, TreeId, STATE_TREES};
pub use users::UserRecord;

/// The format version of commands, records and snapshots written by this build.
pub const FORMAT_VERSION: u32 = 1;

/// One state change. Variants are only ever added, never changed in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Create a user; `UserExists` if the username is taken.
    CreateUser { user: UserRecord },
    /// Create a client; `ClientExists` if the client id is taken.
    CreateClient { client: ClientRecord },
    /// Replace a user's standard claims; `NotFound` if there is no such user.
    SetUserClaims {
        username: String,
        claims: std::collections::BTreeMap<String, serde_json::Value>,
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
}
impl Command {
    /// The first format version that knows this variant. A variant added in
    /// a later release returns that release's format here, and is proposed
    /// only once every member reports at least that format (rolling upgrades).
    pub fn min_format(&self) -> u32 {
        match self {
            Command::CreateUser { .. }
            | Command::CreateClient { .. }
            | Command::SetUserClaims { .. }
            | Command::AddKeys { .. }
            | Command::PromoteKey { .. }
            | Command::RemoveKey { .. }
            | Command::CreateSession { .. }
            | Command::GrantConsent { .. }
            | Command::CreateCode { .. }
            | Command::RedeemCode(_)
            | Command::RotateRefresh(_)
            | Command::UseAssertion { .. }
            | Command::RevokeAccess { .. }
            | Command::RevokeRefresh { .. }
            | Command::EndSession { .. }
            | Command::Sweep(_) => 1,
        }
    }
}

/// The payload of one Raft log entry: commands from concurrent requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Proposal {
    /// Format version of the proposer.
    pub v: u32,
    pub commands: Vec<Command>,
}

impl Proposal {
    pub fn new(commands: Vec<Command>) -> Self {
        Proposal {
            v: FORMAT_VERSION,
            commands,
        }
    }
}

/// What one command did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandResult {
    Done,
    UserExists,
    ClientExists,
    NotFound,
    /// Every algorithm in the command already had a current key.
    KeysExist,
    /// A code redemption or refresh succeeded: what the tokens may carry.
    Granted(Box<Grant>),
    /// An `invalid_grant` with its reason; nothing changed.
    Rejected(String),
    /// The code was already redeemed; the first redemption's tokens are now revoked.
    CodeReplayed,
    /// A rotated refresh token was used again; its whole family is now revoked.
    RefreshReused,
    /// The client assertion's `jti` was already used.
    Replayed,
    /// The command was written by a newer format than this node understands.
    UnsupportedVersion,
}

/// The results of a proposal, one per command, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ProposalResult {
    pub results: Vec<CommandResult>,
}

/// Apply one command inside the state transaction.
pub fn apply(
    txn: &StateTxn<'_>,
    proposal_version: u32,
    cmd: &Command,
) -> sled::transaction::ConflictableTransactionResult<CommandResult, ()> {
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
        Command::RevokeAccess { jti, exp } => {
            tokens::revoke_jti(txn, jti, *exp)?;
            Ok(CommandResult::Done)
        }
        Command::RevokeRefresh { hash, client_id } => tokens::revoke_refresh(txn, hash, client_id),
        Command::EndSession { sid } => sessions::end(txn, sid),
        Command::Sweep(s) => sweep::apply(txn, s),
    }
}
