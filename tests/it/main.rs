//! Integration tests: real `tessera` processes on loopback ports with real
//! sled directories, driven over real HTTP and through the real CLI.

mod flow;
mod harness;

mod cluster;
mod config_errors;
mod rpc_auth;
mod signin;
mod snapshot;
mod storage_suite;
