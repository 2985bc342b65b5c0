//! Used DPoP proof ids (RFC 9449 §11.1): a proof is accepted once,
//! cluster-wide.
//!
//! A proof's `jti` is recorded by a Raft command — alone
//! (`Command::UseDpopJti`, at `/userinfo` and for `client_credentials`) or
//! inside the code redemption or refresh rotation it authorizes
//! (`Redeem::dpop`, `Rotate::dpop`), so a DPoP token request still costs one
//! log entry. The log orders every use of a `jti`: the first one records it,
//! any later one — from any node — finds the record and answers `Replayed`.
//! The record is keyed by the proof key's thumbprint and the `jti` (a
//! client cannot spend another key's ids) and holds the time after which no
//! node accepts the proof any more (`exp`); the sweep removes it after that.
//! Finding a record at all means a replay: `apply` never compares `exp` with
//! the proposer's clock, so a node whose clock lags cannot revive a proof
//! that another node has accepted while the record exists.

use serde::{Deserialize, Serialize};

use super::trees::{StateTxn, TreeId, TxResult};

/// One use of a DPoP proof: what the replay record needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpopUse {
    /// RFC 7638 thumbprint of the proof's public key.
    pub jkt: String,
    /// The proof's `jti` (bounded length: the edge refuses longer ones).
    pub jti: String,
    /// Kept until then (the proof's `iat` plus its window and a clock grace).
    pub exp: u64,
}

fn key(u: &DpopUse) -> String {
    format!("{} {}", u.jkt, u.jti)
}

/// Record a proof's use: `true` the first time, `false` if it was used
/// before (a replay; nothing is written then).
pub(super) fn spend(txn: &StateTxn<'_>, u: &DpopUse) -> TxResult<bool> {
    let k = key(u);
    if txn.exists(TreeId::DpopJti, &k)? {
        return Ok(false);
    }
    txn.put(TreeId::DpopJti, &k, &u.exp)?;
    Ok(true)
}

/// Read view: whether a proof id is recorded (tests and diagnostics).
pub fn is_spent(tree: &sled::Tree, jkt: &str, jti: &str) -> bool {
    let k = key(&DpopUse {
        jkt: jkt.into(),
        jti: jti.into(),
        exp: 0,
    });
    tree.contains_key(k.as_bytes()).unwrap_or(true)
}
