//! Integration tests: real `tessera` processes on loopback ports with real
//! sled directories, driven over real HTTP and through the real CLI.

mod chrome;
mod flow;
mod harness;

mod browser;
mod check_session;
mod client_auth;
mod cluster;
mod config_errors;
mod consistency;
mod golden;
mod keys;
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
