//! Integration tests: real `tessera` processes on loopback ports with real
//! sled directories, driven over real HTTP and through the real CLI.

mod flow;
mod harness;

mod browser;
mod cluster;
mod config_errors;
mod consistency;
mod keys;
mod registration;
mod rpc_auth;
mod shutdown;
mod signin;
mod signin_errors;
mod snapshot;
mod storage_suite;
