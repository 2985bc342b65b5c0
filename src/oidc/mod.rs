//! Protocol rules, free of actix and openraft: what a valid client, redirect
//! URI or request looks like. Time and randomness are passed in by callers.
//!
//! * [`client_rules`] — redirect URIs, grant types and usernames.

pub mod client_rules;
