//! `CodeActor`: authorization codes.
//!
//! Creates a code (valid 60 s: from format 3 on a sealed record that
//! nothing stores until it is redeemed, see [`super::sealed_code`]; before,
//! a random value stored as its hash) and exchanges one for tokens. The
//! exchange is a single Raft command whose `apply` decides, so a code is
//! redeemed at most once cluster-wide even when two nodes receive it at the
//! same instant; the loser gets [`Exchange::Replayed`] and the winner's
//! tokens are revoked (docs/ARCHITECTURE.md invariant 1). The actor hashes
//! the code, reads the clock and mints the new tokens' ids before
//! proposing. A code that exists nowhere (not here, nor after read-index)
//! or a sealed one that does not open is refused without proposing, so
//! random codes commit no log entry. Issuing a code also records the
//! client in the session (`NoteSessionClient`, once per client), so the end
//! of the session reaches it by back-channel logout; a login that goes
//! straight on to a code creates the session listing the client
//! (`StartSession::first_client`), and then nothing is noted.

use actix::{Actor, Context, Handler, Message, ResponseActFuture, WrapFuture};

use super::batcher::{propose, propose_if_known, propose_then, Batcher, Batching};
pub use super::exchange::Authorization;
use super::exchange::{DpopUse, Exchange, Minted, TokenLifetimes};
use super::sealed_code::{is_sealed, CodeSeal};
use super::{now, result_of, ClusterError};
use crate::cluster::ClusterHandle;
use crate::config::TokenSettings;
use crate::crypto::{random_id, random_secret, sha256_hex};
use crate::state::codes::{NewRefresh, Redeem};
use crate::state::{CodeRecord, Command, TreeId, FIRST_FORMAT};

/// How long a code may wait to be redeemed (seconds).
pub const CODE_LIFETIME: u64 = 60;

pub struct CodeActor {
    cluster: ClusterHandle,
    batcher: Batcher,
    lifetimes: TokenLifetimes,
    seal: CodeSeal,
}

impl CodeActor {
    pub fn new(cluster: ClusterHandle, tokens: &TokenSettings, master_key: &[u8; 32]) -> Self {
        CodeActor {
            cluster,
            batcher: Batcher::default(),
            lifetimes: tokens.into(),
            seal: CodeSeal::new(master_key),
        }
    }
}

impl CodeActor {
    /// The command that records `grant.client_id` in the grant's session,
    /// unless the session as this node sees it already lists it (a session
    /// just created through another node may not be applied here yet: then
    /// the command is proposed, and `apply` decides), or the cluster cannot
    /// take format-2 commands yet.
    fn note_client(&self, grant: &Authorization) -> Option<Command> {
        let sid = grant.sid.as_ref()?;
        if self.cluster.cluster_format() < 2 {
            return None;
        }
        let sessions = self.cluster.sm.tree(TreeId::Sessions);
        let listed = crate::state::sessions::by_sid_view(&sessions, sid)
            .is_some_and(|s| s.clients.contains(&grant.client_id));
        (!listed).then(|| Command::NoteSessionClient {
            sid: sid.clone(),
            client_id: grant.client_id.clone(),
        })
    }
}

impl Actor for CodeActor {
    type Context = Context<Self>;
}

impl Batching for CodeActor {
    fn batcher(&mut self) -> &mut Batcher {
        &mut self.batcher
    }
    fn cluster(&self) -> &ClusterHandle {
        &self.cluster
    }
}

/// Issue a code for an authorization the user gave; answers the code value.
#[derive(Message)]
#[rtype(result = "Result<String, ClusterError>")]
pub struct IssueCode {
    pub grant: Authorization,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    /// The caller's record of the session already lists the client (it was
    /// created with it): nothing to note.
    pub listed: bool,
}

/// A client exchanges an authorization code for tokens (RFC 6749 §4.1.3,
/// RFC 7636 §4.5): the values exactly as the token request carried them.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Exchange, ClusterError>")]
pub struct ExchangeCode {
    /// The code as the client sent it (never stored nor proposed in clear).
    pub code: String,
    /// The authenticated client.
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    /// The client may use refresh tokens: one is created if the grant also
    /// has `offline_access` (which `apply` checks).
    pub refreshable: bool,
    /// The request's valid DPoP proof, spent in the same command.
    pub dpop: Option<DpopUse>,
    /// Bind the refresh token to the proof's key (public clients, RFC 9449
    /// §5); confidential clients' refresh tokens stay unbound.
    pub bind_refresh: bool,
}

impl ExchangeCode {
    /// The `RedeemCode` command for this exchange with the minted values
    /// and, for a sealed code, the record it carries.
    fn command(self, minted: &Minted, sealed: Option<CodeRecord>) -> Command {
        let refresh = self.refreshable.then(|| NewRefresh {
            hash: minted.refresh_hash(),
            family: minted.family.clone().unwrap_or_else(random_id),
            expires_at: minted.refresh_exp,
            jkt: self
                .dpop
                .as_ref()
                .filter(|_| self.bind_refresh)
                .map(|d| d.jkt.clone()),
        });
        Command::RedeemCode(Box::new(Redeem {
            hash: sha256_hex(&self.code),
            client_id: self.client_id,
            redirect_uri: self.redirect_uri,
            code_verifier: self.code_verifier,
            now: minted.now,
            access_jti: minted.access_jti.clone(),
            access_exp: minted.access_exp,
            refresh,
            dpop: self.dpop,
            stamp_issued: false,
            tagged: minted.tagged && self.refreshable,
            code: sealed.map(Box::new),
        }))
    }
}

impl Handler<IssueCode> for CodeActor {
    type Result = ResponseActFuture<Self, Result<String, ClusterError>>;

    fn handle(&mut self, msg: IssueCode, ctx: &mut Context<Self>) -> Self::Result {
        let note = (!msg.listed)
            .then(|| self.note_client(&msg.grant))
            .flatten()
            .map(|cmd| propose(self, ctx, cmd));
        let record = CodeRecord {
            v: FIRST_FORMAT,
            grant: msg.grant,
            redirect_uri: msg.redirect_uri,
            code_challenge: msg.code_challenge,
            expires_at: now() + CODE_LIFETIME,
            redeemed: None,
        };
        // From format 3 on the code carries its record and nothing is
        // written (see `sealed_code`); before, the record is stored.
        let (code, stored) = if self.cluster.cluster_format() >= 3 {
            (self.seal.seal(&record), None)
        } else {
            let code = random_secret();
            let create = Command::CreateCode {
                hash: sha256_hex(&code),
                code: record,
            };
            (code, Some(propose(self, ctx, create)))
        };
        Box::pin(
            async move {
                if let Some(rx) = stored {
                    result_of(rx).await?;
                }
                if let Some(note) = note {
                    // Without it the client only misses a back-channel logout.
                    if let Err(e) = result_of(note).await {
                        tracing::warn!("cannot record the session's client: {e}");
                    }
                }
                Ok(code)
            }
            .into_actor(self),
        )
    }
}

impl Handler<ExchangeCode> for CodeActor {
    type Result = ResponseActFuture<Self, Result<Exchange, ClusterError>>;

    fn handle(&mut self, msg: ExchangeCode, ctx: &mut Context<Self>) -> Self::Result {
        let format = self.cluster().cluster_format();
        let stamp = format >= 2;
        // From format 2 on, refresh tokens name their family (state::tokens),
        // from format 3 on the family's access tokens carry its tag.
        let minted = Minted::new(self.lifetimes)
            .named(stamp.then(random_id))
            .tagged(format >= 3 && msg.refreshable);
        // The same answer `apply` gives for an unknown code.
        let unknown = Exchange::Rejected("unknown authorization code".into());
        if is_sealed(&msg.code) {
            // Its record travels in the command; one that does not open
            // was not made by this cluster.
            let Some(record) = self.seal.open(&msg.code) else {
                return Box::pin(actix::fut::ready(Ok(unknown)));
            };
            let cmd = msg
                .command(&minted, Some(record))
                .stamping_issue_times(stamp);
            return propose_then(self, ctx, cmd, move |r| minted.outcome(r));
        }
        let key = (TreeId::Codes, sha256_hex(&msg.code));
        let cmd = msg.command(&minted, None).stamping_issue_times(stamp);
        propose_if_known(self, ctx, key, cmd, unknown, move |r| minted.outcome(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::exchange::tests::minted;

    fn exchange(refreshable: bool) -> ExchangeCode {
        ExchangeCode {
            code: "the-code-value".into(),
            client_id: "rp".into(),
            redirect_uri: Some("https://rp.example/cb".into()),
            code_verifier: Some("v".repeat(43)),
            refreshable,
            dpop: None,
            bind_refresh: false,
        }
    }

    fn redeem(cmd: Command) -> Redeem {
        match cmd {
            Command::RedeemCode(r) => *r,
            other => panic!("expected RedeemCode, got {other:?}"),
        }
    }

    #[test]
    fn the_command_carries_the_code_hash_never_the_code() {
        let m = minted();
        let cmd = exchange(true).command(&m, None);
        let wire = serde_json::to_string(&cmd).unwrap();
        assert!(!wire.contains("the-code-value"), "{wire}");
        assert!(!wire.contains(&m.refresh_token), "{wire}");
        let r = redeem(cmd);
        assert_eq!(r.hash, sha256_hex("the-code-value"));
        assert_eq!(r.client_id, "rp");
        assert_eq!(r.redirect_uri.as_deref(), Some("https://rp.example/cb"));
        assert_eq!(r.code_verifier, Some("v".repeat(43)));
    }

    #[test]
    fn the_command_carries_the_minted_token_values() {
        let m = minted();
        let r = redeem(exchange(true).command(&m, None));
        assert_eq!(r.now, m.now);
        assert_eq!(r.access_jti, m.access_jti);
        assert_eq!(r.access_exp, m.now + 300);
        let refresh = r
            .refresh
            .expect("a refreshable client gets a refresh token");
        assert_eq!(refresh.hash, sha256_hex(&m.refresh_token));
        assert_eq!(refresh.expires_at, m.now + 3600);
        assert!(!refresh.family.is_empty());
    }

    #[test]
    fn the_proof_is_carried_and_binds_the_refresh_token_only_when_asked() {
        let spend = DpopUse {
            jkt: "jkt-a".into(),
            jti: "p-1".into(),
            exp: 9,
        };
        let with = |bind_refresh| ExchangeCode {
            dpop: Some(spend.clone()),
            bind_refresh,
            ..exchange(true)
        };
        let bound = redeem(with(true).command(&minted(), None));
        assert_eq!(bound.dpop.as_ref(), Some(&spend));
        assert_eq!(bound.refresh.unwrap().jkt.as_deref(), Some("jkt-a"));
        let unbound = redeem(with(false).command(&minted(), None));
        assert_eq!(unbound.dpop, Some(spend));
        assert_eq!(unbound.refresh.unwrap().jkt, None);
        let plain = redeem(exchange(true).command(&minted(), None));
        assert_eq!((plain.dpop, plain.refresh.unwrap().jkt), (None, None));
    }

    #[test]
    fn no_refresh_token_for_a_client_that_may_not_refresh() {
        assert_eq!(
            redeem(exchange(false).command(&minted(), None)).refresh,
            None
        );
    }

    #[test]
    fn every_exchange_gets_its_own_family() {
        let family = |m: &Minted| {
            redeem(exchange(true).command(m, None))
                .refresh
                .unwrap()
                .family
        };
        let m = minted();
        assert_ne!(family(&m), family(&m));
    }
}
