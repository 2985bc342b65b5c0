//! Pending back-channel logout deliveries (OpenID Connect Back-Channel
//! Logout 1.0), replicated so that a delivery survives the node that
//! started it.
//!
//! Ending a session with notification (`LogoutSession`, `EndUserSessions`,
//! or the sweep of an expired session) queues one [`DeliveryRecord`] per
//! client of the session that registered a `backchannel_logout_uri`. The
//! record's id is `"{sid} {client_id}"`: derived from the command, so every
//! node queues the same records (docs/ARCHITECTURE.md invariant 8), and a
//! session that ends once queues each client once. The leader's delivery
//! worker (`actors::logout_delivery`) POSTs them and records the outcome
//! with `DeliveryDone` or `DeliveryFailed`.
//!
//! The queue is bounded: at most [`MAX_PENDING_PER_CLIENT`] pending
//! deliveries per client and [`MAX_PENDING_TOTAL`] in all, counted in
//! `n/…` keys of the same tree (a transaction cannot scan); a delivery
//! beyond either bound is dropped and named in the command's result. A
//! record that gave up stays, marked `failed`, until the sweep removes it at
//! `expires_at`, as does a pending one nobody delivered by then.

use serde::{Deserialize, Serialize};

use super::clients::ClientRecord;
use super::result::{CommandResult, LogoutOutcome};
use super::sessions::SessionRecord;
use super::trees::{Record, StateTxn, TreeId, TxResult};
use super::version::SECOND_FORMAT;

/// Pending deliveries per client.
pub const MAX_PENDING_PER_CLIENT: u64 = 1_000;
/// Pending deliveries in all.
pub const MAX_PENDING_TOTAL: u64 = 10_000;
/// A delivery record (pending or failed) is kept this long (seconds).
pub const KEEP_FOR: u64 = 24 * 3600;

const TOTAL_KEY: &str = "n/total";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub v: u32,
    pub client_id: String,
    /// The client's `backchannel_logout_uri` when the session ended.
    pub uri: String,
    pub sub: String,
    pub sid: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this time (Unix seconds).
    pub next_attempt: u64,
    pub created_at: u64,
    pub expires_at: u64,
    /// The worker gave up; kept for inspection until `expires_at`.
    pub failed: bool,
}

impl Record for DeliveryRecord {}

/// The id of the delivery of the end of session `sid` to `client_id`
/// (client ids have no space, so ids never clash with the `n/` counters).
pub fn delivery_id(sid: &str, client_id: &str) -> String {
    format!("{sid} {client_id}")
}

fn client_count_key(client_id: &str) -> String {
    format!("n/{client_id}")
}

fn count(txn: &StateTxn<'_>, key: &str) -> TxResult<u64> {
    Ok(txn.get::<u64>(TreeId::Deliveries, key)?.unwrap_or(0))
}

/// Add `delta` (+1 or -1) to the pending counters of `client_id`.
fn adjust(txn: &StateTxn<'_>, client_id: &str, up: bool) -> TxResult<()> {
    for key in [TOTAL_KEY.to_string(), client_count_key(client_id)] {
        let n = count(txn, &key)?;
        let n = if up { n + 1 } else { n.saturating_sub(1) };
        if n == 0 {
            txn.remove(TreeId::Deliveries, &key)?;
        } else {
            txn.put(TreeId::Deliveries, &key, &n)?;
        }
    }
    Ok(())
}

/// Queue a delivery for every client of the (just ended) session `s` that
/// registered a back-channel logout URI.
pub(super) fn enqueue(txn: &StateTxn<'_>, s: &SessionRecord, now: u64) -> TxResult<LogoutOutcome> {
    let mut out = LogoutOutcome::default();
    for client_id in &s.clients {
        let Some(client) = txn.get::<ClientRecord>(TreeId::Clients, client_id)? else {
            continue;
        };
        let Some(uri) = client.backchannel_logout_uri else {
            continue;
        };
        let id = delivery_id(&s.sid, client_id);
        if txn.exists(TreeId::Deliveries, &id)? {
            continue;
        }
        if count(txn, TOTAL_KEY)? >= MAX_PENDING_TOTAL
            || count(txn, &client_count_key(client_id))? >= MAX_PENDING_PER_CLIENT
        {
            out.dropped.push(client_id.clone());
            continue;
        }
        let rec = DeliveryRecord {
            v: SECOND_FORMAT,
            client_id: client_id.clone(),
            uri,
            sub: s.sub.clone(),
            sid: s.sid.clone(),
            attempts: 0,
            next_attempt: now,
            created_at: now,
            expires_at: now + KEEP_FOR,
            failed: false,
        };
        txn.put(TreeId::Deliveries, &id, &rec)?;
        adjust(txn, client_id, true)?;
        out.queued += 1;
    }
    Ok(out)
}

/// `DeliveryDone`: the client acknowledged; the record goes.
pub(super) fn done(txn: &StateTxn<'_>, id: &str) -> TxResult<CommandResult> {
    let Some(rec) = txn.get::<DeliveryRecord>(TreeId::Deliveries, id)? else {
        return Ok(CommandResult::NotFound);
    };
    remove(txn, id, &rec)?;
    Ok(CommandResult::Done)
}

/// `DeliveryFailed`: attempt number `attempt` failed; try again at
/// `next_attempt`, or (`None`) give up. An outcome for another attempt than
/// the record's current one (a stale report) changes nothing.
pub(super) fn failed(
    txn: &StateTxn<'_>,
    id: &str,
    attempt: u32,
    next_attempt: Option<u64>,
) -> TxResult<CommandResult> {
    let Some(mut rec) = txn.get::<DeliveryRecord>(TreeId::Deliveries, id)? else {
        return Ok(CommandResult::NotFound);
    };
    if rec.failed || rec.attempts != attempt {
        return Ok(CommandResult::invalid("stale delivery outcome"));
    }
    rec.attempts += 1;
    match next_attempt {
        Some(t) => rec.next_attempt = t,
        None => {
            rec.failed = true;
            adjust(txn, &rec.client_id, false)?;
        }
    }
    txn.put(TreeId::Deliveries, id, &rec)?;
    Ok(CommandResult::Done)
}

/// Remove a delivery record, releasing its place in the queue if pending.
pub(super) fn remove(txn: &StateTxn<'_>, id: &str, rec: &DeliveryRecord) -> TxResult<()> {
    txn.remove(TreeId::Deliveries, id)?;
    if !rec.failed {
        adjust(txn, &rec.client_id, false)?;
    }
    Ok(())
}

/// Read view: every delivery record, pending or failed, with its id.
pub fn all(deliveries: &sled::Tree) -> impl Iterator<Item = (String, DeliveryRecord)> + '_ {
    deliveries
        .iter()
        .filter_map(|kv| kv.ok())
        .filter_map(|(k, v)| {
            let rec = serde_json::from_slice::<DeliveryRecord>(&v).ok()?;
            Some((String::from_utf8(k.to_vec()).ok()?, rec))
        })
}

/// Read view: pending deliveries due at `now`, at most `limit`.
pub fn due(deliveries: &sled::Tree, now: u64, limit: usize) -> Vec<(String, DeliveryRecord)> {
    all(deliveries)
        .filter(|(_, r)| !r.failed && r.next_attempt <= now && r.expires_at > now)
        .take(limit)
        .collect()
}

/// Read view: how many deliveries are pending.
pub fn pending(deliveries: &sled::Tree) -> u64 {
    super::trees::read::<u64>(deliveries, TOTAL_KEY).unwrap_or(0)
}
