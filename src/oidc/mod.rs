//! Protocol rules, free of actix and openraft: what a valid client, redirect
//! URI or request looks like, and what a response or token contains. Time and
//! randomness are passed in by callers; every rule is unit-tested against the
//! RFC text it cites.
//!
//! * [`client_rules`] — redirect URIs, grant types and usernames.
//! * [`error`] — OAuth/OIDC error codes and [`error::OAuthError`].
//! * [`form`] — empty/repeated parameters, form-urlencoding, redirect queries.
//! * [`pkce`] — RFC 7636 verifier/challenge syntax and S256.
//! * [`claims`] — standard claims, scope→claims, the `claims` parameter.
//! * [`authorize`] — authorization request validation and redirect responses.
//! * [`token_request`] — token endpoint client authentication and grants.
//! * [`tokens`] — ID token and JWT access token claims, `at_hash`.
//! * [`request_object`] — request objects (OIDC Core §6, RFC 9101): alg,
//!   claims, precedence; the client's request-object metadata.
//! * [`par`] — pushed authorization requests (RFC 9126): URNs, pushed form.
//! * [`registration`] — dynamic registration metadata rules (RFC 7591).
//! * [`session`] — Session Management `session_state`.
//! * [`logout_token`] — Back-Channel Logout: the URI rule and Logout Token claims.
//! * [`discovery`] — the provider metadata document and the issuer string.
//! * [`dpop`] — DPoP proofs (RFC 9449), key thumbprints, stateless nonces.
//!
//! Parsers of untrusted input are linear in their input and bounded (at most
//! [`form::MAX_PARAMS`] parameters, [`form::MAX_LIST_ITEMS`] list items, a
//! `claims` parameter of bounded size, depth and entries); `proptests.rs`
//! checks that none of them panics on any input.

pub mod authorize;
pub mod claims;
pub mod client_rules;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod form;
pub mod logout_token;
pub mod par;
pub mod pkce;
pub mod registration;
pub mod request_object;
pub mod session;
pub mod token_request;
pub mod tokens;

#[cfg(test)]
mod proptests;
