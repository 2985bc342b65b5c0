//! `CodeActor`: authorization codes.
//!
//! Creates a code (random value, stored as its hash, valid 60 s) and redeems
//! one. Redemption is a single Raft command whose `apply` decides, so a code
//! is redeemed at most once cluster-wide even when two nodes receive it at
//! the same instant; the loser gets `CodeReplayed` and the winner's tokens
//! are revoked (DESIGN.md invariant 1).

use actix::{Actor, Context, Handler, Message, ResponseActFuture, WrapFuture};

use super::batcher::{propose, proposed, Batcher, Batching};
use super::{now, result_of};
use crate::cluster::{ClusterError, ClusterHandle};
use crate::crypto::{random_secret, sha256_hex};
use crate::state::codes::Redeem;
use crate::state::{CodeRecord, Command, CommandResult, FORMAT_VERSION};

pub use crate::state::Authorization;

/// How long a code may wait to be redeemed (seconds).
pub const CODE_LIFETIME: u64 = 60;

pub struct CodeActor {
    cluster: ClusterHandle,
    batcher: Batcher,
}

impl CodeActor {
    pub fn new(cluster: ClusterHandle) -> Self {
        CodeActor {
            cluster,
            batcher: Batcher::default(),
        }
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

/// Issue a code for a grant; answers the code value.
#[derive(Message)]
#[rtype(result = "Result<String, ClusterError>")]
pub struct IssueCode {
    pub grant: Authorization,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
}

/// Redeem a code (see [`Redeem`]); `code` is the value the client sent.
#[derive(Message)]
#[rtype(result = "Result<CommandResult, ClusterError>")]
pub struct RedeemCode(pub Redeem);

impl RedeemCode {
    pub fn hash(code: &str) -> String {
        sha256_hex(code)
    }
}

impl Handler<IssueCode> for CodeActor {
    type Result = ResponseActFuture<Self, Result<String, ClusterError>>;

    fn handle(&mut self, msg: IssueCode, ctx: &mut Context<Self>) -> Self::Result {
        let code = random_secret();
        let record = CodeRecord {
            v: FORMAT_VERSION,
            grant: msg.grant,
            redirect_uri: msg.redirect_uri,
            code_challenge: msg.code_challenge,
            expires_at: now() + CODE_LIFETIME,
            redeemed: None,
        };
        let rx = propose(
            self,
            ctx,
            Command::CreateCode {
                hash: sha256_hex(&code),
                code: record,
            },
        );
        Box::pin(
            async move {
                result_of(rx).await?;
                Ok(code)
            }
            .into_actor(self),
        )
    }
}

impl Handler<RedeemCode> for CodeActor {
    type Result = ResponseActFuture<Self, Result<CommandResult, ClusterError>>;

    fn handle(&mut self, msg: RedeemCode, ctx: &mut Context<Self>) -> Self::Result {
        proposed(self, ctx, Command::RedeemCode(Box::new(msg.0)))
    }
}
