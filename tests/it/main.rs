//! Integration tests: real `tessera` processes on loopback ports with real
//! sled directories, driven over real HTTP and through the real CLI.
//!
//! The first modules are helpers shared by every test file, each defined
//! once: `harness` (the cluster of processes, and `harness::wait` for
//! polling), `rp` (what a relying party sends over HTTP, read into an
//! `Answer` that refuses a 500, and the `Seeded` fixture), `flow` (a
//! scripted browser), `session` (signing alice in, codes from a session)
//! and `chrome` (a real browser through chromedriver). The other modules
//! are tests; each opens with what it shows.

// Helpers.
mod chrome;
mod flow;
mod harness;
mod rp;
mod session;

// Tests.
mod audit;
mod authorize_errors;
mod backchannel;
mod backup;
mod bad_input;
mod bootstrap;
mod browser;
mod check_session;
mod claims_consent;
mod client_auth;
mod cluster;
mod config_errors;
mod consistency;
mod dpop;
mod golden;
mod hardening;
mod keys;
mod linearizable;
mod logout;
mod membership;
mod metrics;
mod mtls;
mod public_tls;
mod readiness;
mod registration;
mod request_objects;
mod rolling;
mod rpc_auth;
mod shutdown;
mod signin;
mod signin_errors;
mod snapshot;
mod ssrf_scopes;
mod storage_suite;
mod throttling;
mod upgrade_gate;
