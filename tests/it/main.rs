//! Integration tests: real `tessera` processes on loopback ports with real
//! sled directories, driven over real HTTP and through the real CLI.

// Helpers shared by the test files (the harness holds `harness::wait`).
mod chrome;
mod flow;
mod harness;
mod rp;
mod session;

// Tests.

mod authorize_errors;
mod bad_input;
mod browser;
mod check_session;
mod client_auth;
mod cluster;
mod config_errors;
mod consistency;
mod golden;
mod keys;
mod linearizable;
mod logout;
mod membership;
mod metrics;
mod registration;
mod rolling;
mod rpc_auth;
mod shutdown;
mod signin;
mod signin_errors;
mod snapshot;
mod storage_suite;
