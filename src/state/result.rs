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
    /// The client assertion's `jti` was already used.
    Replayed,
    /// The command was written by a newer format than this node understands.
    UnsupportedVersion,
    /// The command's content is malformed or collides with existing records
    /// (a name that is not a valid key, an id already taken); a correct
    /// proposer validates first and never sees it. Nothing changed.
    Invalid(String),
    /// A pushed authorization request was consumed: its parameters.
    Pushed(Vec<(String, String)>),
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
