//! Test support for the actors' read paths: a real state machine on a
//! temporary sled database, and applying commands to it as Raft would
//! (one log entry per call, generations bumped after the commit).

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};

use crate::cluster::state_machine::StateMachine;
use crate::cluster::storage::Storage;
use crate::cluster::Entry;
use crate::state::{Command, CommandResult, Proposal};

/// A fresh state machine; keep the directory alive as long as it is used.
pub fn state_machine() -> (tempfile::TempDir, StateMachine) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let storage = Storage::open(dir.path()).expect("storage");
    let sm = StateMachine::open(&storage).expect("state machine");
    (dir, sm)
}

/// Apply `commands` as the next log entry; answers their results.
pub async fn apply(sm: &mut StateMachine, commands: Vec<Command>) -> Vec<CommandResult> {
    let (applied, _) = sm.applied_state().await.expect("applied state");
    let index = applied.map_or(1, |l| l.index + 1);
    let entry = Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Proposal::new(commands)),
    };
    let mut out = sm.apply([entry]).await.expect("apply");
    out.remove(0).results
}
