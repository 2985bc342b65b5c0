//! Pushed authorization requests (RFC 9126): stored by `/par`, consumed once
//! by `/authorize`.
//!
//! A pushed request is stored under the SHA-256 of the random part of its
//! `request_uri` (`urn:ietf:params:oauth:request_uri:<random>`), so the
//! state never holds a usable reference. [`consume`] is a Raft command: the
//! log orders every use cluster-wide, the first one for the right client
//! before expiry gets the parameters and deletes the record, and any later
//! one — on any node — finds nothing (single use, like an authorization
//! code: docs/ARCHITECTURE.md invariant 1). Expiry is checked against the
//! `now` the command carries; expired records that nobody consumed are
//! removed by the sweep.

use serde::{Deserialize, Serialize};

use super::result::CommandResult;
use super::trees::{Record, StateTxn, TreeId, TxResult};

/// The parameters of a pushed authorization request, as validated by `/par`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushedRequest {
    pub v: u32,
    /// The authenticated client that pushed it; only it may use it.
    pub client_id: String,
    /// The authorization request parameters (a request object already
    /// resolved into its parameters), in order.
    pub params: Vec<(String, String)>,
    pub expires_at: u64,
}

impl Record for PushedRequest {}

/// The `ConsumePushed` command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consume {
    pub hash: String,
    /// The `client_id` of the authorization request that names it.
    pub client_id: String,
    pub now: u64,
}

/// Store a pushed request. Never overwrites (a collision of random values
/// is an `Invalid` answer); applying the same command twice is harmless.
pub(super) fn push(
    txn: &StateTxn<'_>,
    hash: &str,
    request: &PushedRequest,
) -> TxResult<CommandResult> {
    let taken = "a pushed request with this hash exists";
    txn.put_new(TreeId::Pushed, hash, request, taken)
}

/// Use a pushed request once: its parameters, and the record is gone.
/// Another client's request or an expired one is refused and left as it is
/// (the sweep removes it), so a stranger cannot burn a client's request.
pub(super) fn consume(txn: &StateTxn<'_>, c: &Consume) -> TxResult<CommandResult> {
    let Some(req) = txn.get::<PushedRequest>(TreeId::Pushed, &c.hash)? else {
        return Ok(CommandResult::rejected(
            "unknown or already used request_uri",
        ));
    };
    if req.client_id != c.client_id {
        return Ok(CommandResult::rejected(
            "the request_uri was pushed by another client",
        ));
    }
    if req.expires_at <= c.now {
        return Ok(CommandResult::rejected("the request_uri has expired"));
    }
    txn.remove(TreeId::Pushed, &c.hash)?;
    Ok(CommandResult::Pushed(req.params))
}
