//! Pushed authorization requests (RFC 9126) on the [`CodeActor`]: the same
//! single-use discipline as authorization codes, so the same actor.
//!
//! [`PushRequest`] draws the random reference of a new `request_uri`, hashes
//! it and proposes `PushRequest` with its expiry from this node's clock.
//! [`ConsumePushed`] proposes `ConsumePushed` through `propose_if_known`:
//! a reference that exists nowhere (not here, nor after read-index) is
//! refused without a Raft write, and one that exists is consumed by `apply`,
//! which orders every use cluster-wide — the first use gets the parameters,
//! every later one on any node is refused (docs/ARCHITECTURE.md invariant 1).

use actix::{Context, Handler, Message, ResponseActFuture};

use super::batcher::{propose_if_known, propose_then};
use super::code::CodeActor;
use super::{now, ClusterError};
use crate::crypto::{random_secret, sha256_hex};
use crate::oidc::par::request_uri;
use crate::state::pushed::Consume;
use crate::state::{Command, CommandResult, PushedRequest, TreeId, SECOND_FORMAT};

/// The parameters of an authorization request, in order.
pub type Pairs = Vec<(String, String)>;

/// Store a validated authorization request for `lifetime` seconds; answers
/// its `request_uri`.
#[derive(Message)]
#[rtype(result = "Result<String, ClusterError>")]
pub struct PushRequest {
    pub client_id: String,
    pub params: Pairs,
    pub lifetime: u64,
}

/// Use a pushed request once: the random reference of its `request_uri`
/// and the `client_id` of the authorization request. `Ok(Err(reason))`:
/// unknown, used, expired or another client's.
#[derive(Message)]
#[rtype(result = "Result<Result<Pairs, String>, ClusterError>")]
pub struct ConsumePushed {
    pub reference: String,
    pub client_id: String,
}

impl PushRequest {
    /// The command for a new random reference; the `request_uri` with it.
    fn command(self, reference: &str, now: u64) -> Command {
        Command::PushRequest {
            hash: sha256_hex(reference),
            request: Box::new(PushedRequest {
                v: SECOND_FORMAT,
                client_id: self.client_id,
                params: self.params,
                expires_at: now.saturating_add(self.lifetime),
            }),
        }
    }
}

/// What a `ConsumePushed` result means for the handler.
fn consumed(r: CommandResult) -> Result<Result<Pairs, String>, ClusterError> {
    match r {
        CommandResult::Pushed(params) => Ok(Ok(params)),
        CommandResult::Rejected(m) => Ok(Err(m)),
        other => Err(ClusterError::Unknown(format!(
            "unexpected result of ConsumePushed: {other:?}"
        ))),
    }
}

impl Handler<PushRequest> for CodeActor {
    type Result = ResponseActFuture<Self, Result<String, ClusterError>>;

    fn handle(&mut self, msg: PushRequest, ctx: &mut Context<Self>) -> Self::Result {
        let reference = random_secret();
        let cmd = msg.command(&reference, now());
        let uri = request_uri(&reference);
        propose_then(self, ctx, cmd, move |r| match r {
            CommandResult::Done => Ok(uri),
            other => Err(ClusterError::Unknown(format!(
                "unexpected result of PushRequest: {other:?}"
            ))),
        })
    }
}

impl Handler<ConsumePushed> for CodeActor {
    type Result = ResponseActFuture<Self, Result<Result<Pairs, String>, ClusterError>>;

    fn handle(&mut self, msg: ConsumePushed, ctx: &mut Context<Self>) -> Self::Result {
        let hash = sha256_hex(&msg.reference);
        let cmd = Command::ConsumePushed(Box::new(Consume {
            hash: hash.clone(),
            client_id: msg.client_id,
            now: now(),
        }));
        // The same answer `apply` gives for an unknown reference.
        let unknown = Err("unknown or already used request_uri".to_string());
        propose_if_known(self, ctx, (TreeId::Pushed, hash), cmd, unknown, consumed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_carries_the_hash_of_the_reference_never_the_reference() {
        let msg = PushRequest {
            client_id: "rp".into(),
            params: vec![("state".into(), "s".into())],
            lifetime: 60,
        };
        let cmd = msg.command("the-reference", 1000);
        let wire = serde_json::to_string(&cmd).unwrap();
        assert!(!wire.contains("the-reference"), "{wire}");
        match cmd {
            Command::PushRequest { hash, request } => {
                assert_eq!(hash, sha256_hex("the-reference"));
                assert_eq!(request.expires_at, 1060);
                assert_eq!(request.client_id, "rp");
            }
            other => panic!("expected PushRequest, got {other:?}"),
        }
    }

    #[test]
    fn consume_results_map_to_parameters_or_a_reason() {
        let p = vec![("a".to_string(), "b".to_string())];
        assert_eq!(consumed(CommandResult::Pushed(p.clone())).unwrap(), Ok(p));
        assert_eq!(
            consumed(CommandResult::Rejected("expired".into())).unwrap(),
            Err("expired".into())
        );
        assert!(consumed(CommandResult::UnsupportedVersion).is_err());
    }
}
