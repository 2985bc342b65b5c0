//! The format version of everything this build writes to the log, to state
//! trees and to snapshots.
//!
//! Every command batch (`Proposal`) and every record carries it, so
//! a node can tell data written by a newer release and refuse it instead of
//! misreading it. Golden files under `tests/golden/v1` pin format 1.

/// The format version of commands, records and snapshots written by this build.
pub const FORMAT_VERSION: u32 = 2;
