//! What `apply` answers for each command: [`CommandResult`].
//!
//! A command that cannot take effect — a replayed code, an unknown token, a
//! malformed name — still commits its log entry; it answers a result saying
//! why, and changes nothing (docs/ARCHITECTURE.md invariant 8). Results go
//! back to the proposer (possibly over a forwarded write), never to disk.

use serde::{Deserialize, Serialize};

use super::authorization::Authorization;

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
    Granted(Box<Authorization>),
    /// An `invalid_grant` with its reason; nothing changed.
    Rejected(String),
    /// The code was already redeemed; the first redemption's tokens are now revoked.
    CodeReplayed,
    /// A rotated refresh token was used again; its whole family is now revoked.
    RefreshReused,
    /// A one-time proof was already used: a client assertion's `jti`, or a
    /// DPoP proof's (then nothing else was done).
    Replayed,
    /// The command was written by a newer format than this node understands.
    UnsupportedVersion,
    /// The command's content is malformed or collides with existing records
    /// (a name that is not a valid key, an id already taken); a correct
    /// proposer validates first and never sees it. Nothing changed.
    Invalid(String),
    /// A refresh token bound to a DPoP key was presented without a proof
    /// by that key (format 2); nothing changed but the proof being spent.
    KeyMismatch,
    /// Sessions ended with back-channel logout (format 2).
    LoggedOut(LogoutOutcome),
    /// A pushed authorization request was consumed: its parameters.
    Pushed(Vec<(String, String)>),
}

/// What ending sessions with back-channel logout did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LogoutOutcome {
    /// Sessions this command ended (0: already ended).
    pub sessions: u32,
    /// Deliveries queued.
    pub queued: u32,
    /// Clients whose delivery was dropped: their queue (or the whole
    /// queue) was full.
    pub dropped: Vec<String>,
}

impl LogoutOutcome {
    pub fn add(&mut self, other: LogoutOutcome) {
        self.sessions += other.sessions;
        self.queued += other.queued;
        self.dropped.extend(other.dropped);
    }
}

impl CommandResult {
    pub(super) fn invalid(reason: &str) -> CommandResult {
        CommandResult::Invalid(reason.to_string())
    }

    pub(super) fn rejected(reason: &str) -> CommandResult {
        CommandResult::Rejected(reason.to_string())
    }
}

/// The results of a proposal, one per command, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ProposalResult {
    pub results: Vec<CommandResult>,
}
