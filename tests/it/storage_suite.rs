//! openraft's own storage conformance suite against the sled log store and
//! state machine, each test on a fresh data directory.

use openraft::testing::{StoreBuilder, Suite};
use tessera::cluster::log_store::LogStore;
use tessera::cluster::state_machine::StateMachine;
use tessera::cluster::storage::Storage;
use tessera::cluster::{StorageError, TypeConfig};

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for SledBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = Storage::open(dir.path()).expect("open storage");
        let log = LogStore::open(&storage)?;
        let sm = StateMachine::open(&storage)?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes_on_sled() {
    Suite::test_all(SledBuilder).expect("storage suite");
}
