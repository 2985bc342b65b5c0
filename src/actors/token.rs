//! `TokenActor`: refresh-token exchange (rotation), revocation,
//! client-assertion replay protection, token liveness checks and the expiry
//! sweep.
//!
//! Messages carry tokens as the client sent them; the actor hashes them,
//! reads the clock, mints the next tokens' values and builds the command.
//! Rotation, revocation and assertion use are Raft commands decided in
//! `apply`; a refresh token that exists nowhere (not here, nor after
//! read-index) is refused without proposing, so random tokens sent to
//! `/token` or `/revoke` commit no log entry. Liveness checks pass read-index first, so a token revoked (or a
//! session ended) through any node is dead here once that call has answered
//! (docs/ARCHITECTURE.md invariant 2); without a quorum they fail rather than
//! guess. On the leader, a timer proposes `Sweep` commands that remove
//! expired codes, sessions, refresh tokens, revoked ids, assertion ids and
//! used DPoP proof ids, and back-channel logout deliveries; a session that
//! expires there gets its back-channel logouts queued.
//!
//! DPoP replay (RFC 9449 §11.1): a proof is accepted only once its `jti` is
//! recorded by a committed Raft command that found no earlier record —
//! inside the rotation for a refresh ([`ExchangeRefreshToken::dpop`]), alone
//! otherwise ([`SpendDpopProof`]). No node can accept a proof on its own:
//! a node cut off from the majority cannot commit, so its requests fail
//! with 503 and the proof stays unspent; two nodes that receive the same
//! proof at once propose two commands, and the log orders them — the second
//! finds the first's record. A cheaper local check (no log entry) would let
//! each side of a partition accept the same proof once, so there is none.

use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseActFuture, WrapFuture,
};

use super::batcher::{propose, propose_if_known, propose_then, Batcher, Batching};
use super::exchange::{scope_beyond, Authorization, DpopUse, Exchange, Minted, TokenLifetimes};
use super::ClusterError;
use crate::cluster::ClusterHandle;
use crate::config::TokenSettings;
use crate::crypto::sha256_hex;
use crate::state::sweep::{self, Sweep};
use crate::state::tokens::{family_of, Rotate};
use crate::state::{self, Command, CommandResult, TreeId};

/// How often the leader looks for expired records.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// At most this many keys per tree in one sweep command.
const SWEEP_LIMIT: usize = 2000;
/// When a sweep reached [`SWEEP_LIMIT`] for a tree, the next one follows
/// after this pause instead of [`SWEEP_INTERVAL`]: expired records are
/// removed as fast as a busy cluster makes them (a code per sign-in, a
/// session per login), a bounded command at a time.
const SWEEP_BACKLOG_PAUSE: Duration = Duration::from_millis(500);

pub struct TokenActor {
    cluster: ClusterHandle,
    batcher: Batcher,
    lifetimes: TokenLifetimes,
    refresh: sled::Tree,
    families: sled::Tree,
    sweeping: bool,
}

impl TokenActor {
    pub fn new(cluster: ClusterHandle, tokens: &TokenSettings) -> Self {
        TokenActor {
            lifetimes: tokens.into(),
            refresh: cluster.sm.tree(TreeId::Refresh),
            families: cluster.sm.tree(TreeId::Families),
            cluster,
            batcher: Batcher::default(),
            sweeping: false,
        }
    }

    /// A live refresh token (by hash) as this node's state has it, without
    /// read-index: only for checks whose answer cannot change (its scopes).
    fn local_refresh(&self, hash: &str) -> Option<state::RefreshRecord> {
        state::tokens::live_refresh(&self.refresh, &self.families, hash, super::now())
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        let m = self.cluster.metrics();
        if self.sweeping || m.current_leader != Some(m.id) {
            return;
        }
        let before = super::now();
        let sm = &self.cluster.sm;
        let c = |tree: TreeId, f: fn(&[u8]) -> Option<u64>| {
            sweep::candidates(&sm.tree(tree), before, SWEEP_LIMIT, f)
        };
        let s = Sweep {
            before,
            codes: c(TreeId::Codes, sweep::code_expiry),
            sessions: c(TreeId::Sessions, sweep::session_expiry),
            refresh: c(TreeId::Refresh, sweep::refresh_expiry),
            families: c(TreeId::Families, sweep::family_expiry),
            revoked_jti: c(TreeId::RevokedJti, sweep::plain_expiry),
            assertions: c(TreeId::Assertions, sweep::plain_expiry),
            dpop_jti: c(TreeId::DpopJti, sweep::plain_expiry),
            deliveries: c(TreeId::Deliveries, sweep::delivery_expiry),
            pushed: c(TreeId::Pushed, sweep::pushed_expiry),
            notify_expired: self.cluster().cluster_format() >= 2,
        };
        if s.is_empty() {
            return;
        }
        let n = s.len();
        let backlog = s.longest() >= SWEEP_LIMIT;
        self.sweeping = true;
        let rx = propose(self, ctx, Command::Sweep(Box::new(s)));
        ctx.spawn(rx.into_actor(self).map(move |res, act, ctx| {
            act.sweeping = false;
            match res {
                Ok(Ok(r)) => {
                    if let CommandResult::LoggedOut(o) = &r {
                        super::logout_delivery::report(o);
                    }
                    crate::metrics::METRICS.swept.inc_by(n as u64);
                    tracing::debug!(records = n, "swept expired records");
                    if backlog {
                        ctx.run_later(SWEEP_BACKLOG_PAUSE, |act, ctx| act.sweep(ctx));
                    }
                }
                other => tracing::warn!("sweep failed: {other:?}"),
            }
        }));
    }
}

impl Actor for TokenActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(SWEEP_INTERVAL, |act, ctx| act.sweep(ctx));
    }
}

impl Batching for TokenActor {
    fn batcher(&mut self) -> &mut Batcher {
        &mut self.batcher
    }
    fn cluster(&self) -> &ClusterHandle {
        &self.cluster
    }
}

/// A client exchanges a refresh token for new tokens (RFC 6749 §6); the
/// token is rotated: it is spent and a new one is handed out.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Exchange, ClusterError>")]
pub struct ExchangeRefreshToken {
    /// The refresh token as the client sent it (never proposed in clear).
    pub refresh_token: String,
    /// The authenticated client.
    pub client_id: String,
    /// A narrower scope than the grant's, if the request asked for one.
    pub scope: Option<Vec<String>>,
    /// The request's valid DPoP proof, spent in the same command.
    pub dpop: Option<DpopUse>,
}

impl ExchangeRefreshToken {
    /// The `RotateRefresh` command for this exchange with the minted values;
    /// `family` is the one the presented token names (format 2).
    fn command(&self, minted: &Minted, family: Option<String>) -> Command {
        Command::RotateRefresh(Box::new(Rotate {
            hash: sha256_hex(&self.refresh_token),
            client_id: self.client_id.clone(),
            now: minted.now,
            new_hash: minted.refresh_hash(),
            new_expires_at: minted.refresh_exp,
            access_jti: minted.access_jti.clone(),
            access_exp: minted.access_exp,
            dpop: self.dpop.clone(),
            stamp_issued: false,
            family,
            tagged: minted.tagged,
        }))
    }
}

/// Spend a client assertion's `jti` (RFC 7523 §3): answers `true` the first
/// time, `false` if it was used before (a replay).
#[derive(Message)]
#[rtype(result = "Result<bool, ClusterError>")]
pub struct SpendAssertion {
    pub client_id: String,
    pub jti: String,
    pub exp: u64,
}

/// Spend a DPoP proof on its own (RFC 9449 §11.1), where no other command
/// carries it (`/userinfo`, `client_credentials`): answers `true` the first
/// time cluster-wide, `false` for a replay. One log entry (group-committed
/// with concurrent ones); without a quorum it fails (503), it never guesses.
#[derive(Message)]
#[rtype(result = "Result<bool, ClusterError>")]
pub struct SpendDpopProof(pub DpopUse);

/// Whether an access token is still good (linearizable): its `jti` is not
/// revoked and, for a session-bound token, its session has not ended.
/// Asked through [`super::token_reads::TokenReads`].
#[derive(Debug, Clone)]
pub struct AccessTokenLive {
    pub jti: String,
    /// The session it dies with (tokens without `offline_access`).
    pub bound_sid: Option<String>,
}

impl AccessTokenLive {
    /// The check for an access token's claims: offline tokens outlive their
    /// session, others die with it.
    pub fn of(claims: &serde_json::Map<String, serde_json::Value>) -> Self {
        let offline = claims
            .get("scope")
            .and_then(|s| s.as_str())
            .is_some_and(|s| s.split(' ').any(|x| x == "offline_access"));
        AccessTokenLive {
            jti: claims
                .get("jti")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            bound_sid: if offline {
                None
            } else {
                claims.get("sid").and_then(|v| v.as_str()).map(String::from)
            },
        }
    }
}

/// A refresh token of `client_id` that can still be used (linearizable);
/// `None` if it is unknown, spent, expired, revoked or another client's.
/// Asked through [`super::token_reads::TokenReads`].
#[derive(Debug, Clone)]
pub struct RefreshTokenLive {
    /// The token as the client sent it.
    pub refresh_token: String,
    pub client_id: String,
}

/// What introspection tells about a live refresh token.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRefreshToken {
    pub grant: Authorization,
    pub expires_at: u64,
    /// When it was issued (unknown for tokens from before format 2).
    pub issued_at: Option<u64>,
    /// A stable identifier of the token (RFC 7662 `jti`), derived from its
    /// hash, so it names the token without revealing it.
    pub jti: String,
}

/// The `jti` introspection answers for the refresh token stored under `hash`.
pub fn refresh_jti(hash: &str) -> String {
    sha256_hex(&format!("refresh-jti {hash}"))[..32].to_string()
}

/// Revoke an access token (by `jti`) until it expires at `exp`.
#[derive(Message)]
#[rtype(result = "Result<(), ClusterError>")]
pub struct RevokeAccessToken {
    pub jti: String,
    pub exp: u64,
}

/// Revoke a refresh token's whole family if `client_id` owns the token;
/// answers whether it did.
#[derive(Message)]
#[rtype(result = "Result<bool, ClusterError>")]
pub struct RevokeRefreshToken {
    /// The token as the client sent it.
    pub refresh_token: String,
    pub client_id: String,
}

/// Any result but `Done` means the command did not take effect.
fn done(r: CommandResult) -> Result<bool, ClusterError> {
    Ok(r == CommandResult::Done)
}

/// The scope a refresh request asks for beyond its grant, if this node
/// already holds the token (`local`): refused before rotating, so the refusal
/// does not spend the token. (A grant's scopes never change, so no read-index
/// is needed; a token not yet here is checked after the rotation.)
fn scope_refused(
    local: Option<&state::RefreshRecord>,
    msg: &ExchangeRefreshToken,
) -> Option<String> {
    let (asked, rec) = (msg.scope.as_ref()?, local?);
    if rec.grant.client_id != msg.client_id {
        return None;
    }
    scope_beyond(&rec.grant.scopes, asked)
}

impl Handler<ExchangeRefreshToken> for TokenActor {
    type Result = ResponseActFuture<Self, Result<Exchange, ClusterError>>;

    fn handle(&mut self, msg: ExchangeRefreshToken, ctx: &mut Context<Self>) -> Self::Result {
        let format = self.cluster().cluster_format();
        let stamp = format >= 2;
        let hash = sha256_hex(&msg.refresh_token);
        // A token naming its family is looked for by family: its own record
        // is gone once it has been rotated, and using it again must still
        // reach `apply` (reuse revokes the family).
        // (Before format 2 no token names one, so a name is then ignored.)
        let presented = family_of(&msg.refresh_token)
            .filter(|_| stamp)
            .map(String::from);
        // This node's copy of the token, read once and only where it is
        // used: the scope check, and (format 2) the family that the
        // successor of a token without a name will name.
        let needed = msg.scope.is_some() || (stamp && presented.is_none());
        let local = needed.then(|| self.local_refresh(&hash)).flatten();
        if let Some(extra) = scope_refused(local.as_ref(), &msg) {
            return Box::pin(actix::fut::ready(Ok(Exchange::ScopeNotGranted(extra))));
        }
        let (named, key) = match &presented {
            Some(f) => (Some(f.clone()), (TreeId::Families, f.clone())),
            None => {
                let family = local.and_then(|r| r.grant.family).filter(|_| stamp);
                (family, (TreeId::Refresh, hash))
            }
        };
        // From format 2 on, the next token names its family too, and from
        // format 3 on the access token carries the family's tag.
        let minted = Minted::new(self.lifetimes).named(named).tagged(format >= 3);
        let cmd = msg.command(&minted, presented).stamping_issue_times(stamp);
        // The same answer `apply` gives for an unknown token.
        let unknown = Exchange::Rejected("unknown refresh token".into());
        propose_if_known(self, ctx, key, cmd, unknown, move |r| {
            Ok(minted.outcome(r)?.narrowed(msg.scope))
        })
    }
}

impl Handler<SpendAssertion> for TokenActor {
    type Result = ResponseActFuture<Self, Result<bool, ClusterError>>;

    fn handle(&mut self, msg: SpendAssertion, ctx: &mut Context<Self>) -> Self::Result {
        let cmd = Command::UseAssertion {
            client_id: msg.client_id,
            jti: msg.jti,
            exp: msg.exp,
            now: super::now(),
        };
        propose_then(self, ctx, cmd, done)
    }
}

impl Handler<SpendDpopProof> for TokenActor {
    type Result = ResponseActFuture<Self, Result<bool, ClusterError>>;

    fn handle(&mut self, msg: SpendDpopProof, ctx: &mut Context<Self>) -> Self::Result {
        propose_then(self, ctx, Command::UseDpopJti(msg.0), done)
    }
}

impl Handler<RevokeAccessToken> for TokenActor {
    type Result = ResponseActFuture<Self, Result<(), ClusterError>>;

    fn handle(&mut self, msg: RevokeAccessToken, ctx: &mut Context<Self>) -> Self::Result {
        let cmd = Command::RevokeAccess {
            jti: msg.jti,
            exp: msg.exp,
        };
        propose_then(self, ctx, cmd, |_| Ok(()))
    }
}

impl Handler<RevokeRefreshToken> for TokenActor {
    type Result = ResponseActFuture<Self, Result<bool, ClusterError>>;

    fn handle(&mut self, msg: RevokeRefreshToken, ctx: &mut Context<Self>) -> Self::Result {
        let hash = sha256_hex(&msg.refresh_token);
        let key = (TreeId::Refresh, hash.clone());
        let cmd = Command::RevokeRefresh {
            hash,
            client_id: msg.client_id,
        };
        propose_if_known(self, ctx, key, cmd, false, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotate(cmd: Command) -> Rotate {
        match cmd {
            Command::RotateRefresh(r) => *r,
            other => panic!("expected RotateRefresh, got {other:?}"),
        }
    }

    #[test]
    fn rotation_proposes_hashes_and_a_new_refresh_hash() {
        let msg = ExchangeRefreshToken {
            refresh_token: "the-old-refresh-token".into(),
            client_id: "rp".into(),
            scope: None,
            dpop: None,
        };
        let m = Minted::new(TokenLifetimes {
            access: 300,
            refresh: 3600,
        });
        let cmd = msg.command(&m, None);
        let wire = serde_json::to_string(&cmd).unwrap();
        assert!(!wire.contains("the-old-refresh-token"), "{wire}");
        assert!(!wire.contains(&m.refresh_token), "{wire}");
        let r = rotate(cmd);
        assert_eq!(r.hash, sha256_hex("the-old-refresh-token"));
        assert_eq!(r.new_hash, sha256_hex(&m.refresh_token));
        assert_ne!(r.new_hash, r.hash);
        assert_eq!(r.client_id, "rp");
        assert_eq!((r.now, r.new_expires_at), (m.now, m.now + 3600));
        assert_eq!((r.access_jti, r.access_exp), (m.access_jti, m.now + 300));
    }

    #[test]
    fn only_done_counts_as_done() {
        assert!(done(CommandResult::Done).unwrap());
        assert!(!done(CommandResult::Replayed).unwrap());
        assert!(!done(CommandResult::NotFound).unwrap());
    }

    #[test]
    fn session_bound_unless_offline() {
        let claims = |scope: &str| {
            serde_json::json!({"jti": "j1", "sid": "s1", "scope": scope})
                .as_object()
                .cloned()
                .unwrap()
        };
        let bound = AccessTokenLive::of(&claims("openid profile"));
        assert_eq!(
            (bound.jti.as_str(), bound.bound_sid.as_deref()),
            ("j1", Some("s1"))
        );
        let offline = AccessTokenLive::of(&claims("openid offline_access"));
        assert_eq!(offline.bound_sid, None);
        let empty = AccessTokenLive::of(&serde_json::Map::new());
        assert_eq!((empty.jti.as_str(), empty.bound_sid), ("", None));
    }
}
