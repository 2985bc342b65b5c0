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

pub mod clients;
pub mod trees;
pub mod users;

use serde::{Deserialize, Serialize};

pub use clients::ClientRecord;
pub use trees::{StateTxn, STATE_TREES};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandResult {
    Done,
    UserExists,
    ClientExists,
    /// The command was written by a newer format than this node understands.
    UnsupportedVersion,
}

/// The results of a proposal, one per command, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
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
    }
}
