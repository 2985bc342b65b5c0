//! What exchanging an authorization code or a refresh token answers.
//!
//! Both exchanges are one Raft command decided in `apply` (code: single use,
//! docs/ARCHITECTURE.md invariant 1; refresh token: rotation with reuse
//! detection). The proposing actor mints what the new tokens need before
//! proposing — the access token's `jti` and expiry, the next refresh token
//! and its expiry, the clock reading — and puts only hashes of secrets into
//! the command (invariant 5). Once applied, [`Minted::outcome`] turns the
//! command's result into an [`Exchange`], in the token endpoint's terms.
//!
//! A DPoP token request (RFC 9449) folds its proof's replay record into the
//! same command ([`DpopUse`] in `Redeem`/`Rotate`): one log entry both
//! spends the proof cluster-wide and exchanges the grant, and a replayed
//! proof ([`Exchange::ProofReplayed`]) spends nothing else. See
//! `state::dpop` for why this needs the log and what a partition does.

use crate::config::TokenSettings;
use crate::crypto::{random_id, random_secret, sha256_hex};
use crate::oidc::dpop::Proof;
pub use crate::state::dpop::DpopUse;
use crate::state::refresh::access_tag;
use crate::state::CommandResult;

use super::ClusterError;

/// What an authorization grants (subject, scopes, nonce, claims request,
/// session...): carried from the code to the tokens and their refreshes.
pub use crate::state::Authorization;

/// The replay record that spends a checked DPoP proof, kept until no node
/// can accept the proof any more ([`Proof::replay_until`]).
pub fn dpop_use(p: &Proof) -> DpopUse {
    DpopUse {
        jkt: p.jkt.clone(),
        jti: p.jti.clone(),
        exp: p.replay_until(),
    }
}

/// How long the tokens an exchange creates live (seconds).
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    pub access: u64,
    pub refresh: u64,
}

impl From<&TokenSettings> for TokenLifetimes {
    fn from(s: &TokenSettings) -> Self {
        TokenLifetimes {
            access: s.access_token_lifetime,
            refresh: s.refresh_token_lifetime,
        }
    }
}

/// A successful exchange: what to put into the new tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued {
    pub grant: Authorization,
    /// The scopes of the new tokens: the grant's, or the narrower set the
    /// refresh request asked for (RFC 6749 §6).
    pub scopes: Vec<String>,
    /// The new access token's `jti`, recorded in the state so a code replay
    /// or a refresh-token reuse can revoke it.
    pub access_jti: String,
    /// When the exchange happened (`iat` of the new tokens).
    pub issued_at: u64,
    /// The new refresh token, if the exchange created one.
    pub refresh_token: Option<String>,
}

/// The outcome of an exchange, as decided by `apply`.
#[derive(Debug, Clone, PartialEq)]
pub enum Exchange {
    Issued(Box<Issued>),
    /// The code was already redeemed, or the refresh token already rotated:
    /// everything issued from it is now revoked.
    Replayed,
    /// `invalid_grant` with its reason; nothing changed.
    Rejected(String),
    /// The refresh request asked for this scope, which the grant lacks.
    ScopeNotGranted(String),
    /// The request's DPoP proof was used before (on any node): nothing was
    /// done (RFC 9449 §11.1).
    ProofReplayed,
    /// The refresh token is bound to a DPoP key and the request had no
    /// proof by that key (RFC 9449 §5).
    KeyMismatch,
}

/// Values minted for one exchange before it is proposed.
#[derive(Debug, Clone)]
pub(super) struct Minted {
    pub now: u64,
    pub access_jti: String,
    pub access_exp: u64,
    /// The next refresh token, in clear: only its hash enters the command.
    pub refresh_token: String,
    pub refresh_exp: u64,
    /// The family the refresh token names, once [`Minted::named`] (format 2).
    pub family: Option<String>,
    /// The access token's `jti` carries the family's tag, once
    /// [`Minted::tagged`] (format 3).
    pub tagged: bool,
}

impl Minted {
    pub fn new(lifetimes: TokenLifetimes) -> Self {
        let now = super::now();
        Minted {
            now,
            access_jti: random_id(),
            access_exp: now + lifetimes.access,
            refresh_token: random_secret(),
            refresh_exp: now + lifetimes.refresh,
            family: None,
            tagged: false,
        }
    }

    /// Make the access token's `jti` carry the tag of the family the
    /// refresh token names (`<tag>.<random>`, format 3; see
    /// `state::refresh`), if `yes` and there is one: revoking the family
    /// then revokes it without the family listing it.
    pub fn tagged(mut self, yes: bool) -> Self {
        if let Some(f) = self.family.as_deref().filter(|_| yes) {
            self.access_jti = format!("{}.{}", access_tag(f), self.access_jti);
            self.tagged = true;
        }
        self
    }

    /// Make the refresh token name `family` (`<family>.<secret>`, format 2;
    /// see `state::tokens::family_of`), when there is one.
    pub fn named(mut self, family: Option<String>) -> Self {
        if let Some(f) = family {
            self.refresh_token = format!("{f}.{}", self.refresh_token);
            self.family = Some(f);
        }
        self
    }

    /// The key the next refresh token is stored under.
    pub fn refresh_hash(&self) -> String {
        sha256_hex(&self.refresh_token)
    }

    /// The exchange's outcome from the applied command's result. A refresh
    /// token is handed out only if `apply` stored one (the grant then names
    /// its family).
    pub fn outcome(self, result: CommandResult) -> Result<Exchange, ClusterError> {
        match result {
            CommandResult::Granted(grant) => Ok(Exchange::Issued(Box::new(Issued {
                scopes: grant.scopes.clone(),
                refresh_token: grant.family.is_some().then_some(self.refresh_token),
                grant: *grant,
                access_jti: self.access_jti,
                issued_at: self.now,
            }))),
            CommandResult::CodeReplayed | CommandResult::RefreshReused => Ok(Exchange::Replayed),
            CommandResult::Rejected(m) => Ok(Exchange::Rejected(m)),
            CommandResult::Replayed => Ok(Exchange::ProofReplayed),
            CommandResult::KeyMismatch => Ok(Exchange::KeyMismatch),
            other => Err(ClusterError::Unknown(format!(
                "unexpected result of an exchange: {other:?}"
            ))),
        }
    }
}

impl Exchange {
    /// Narrow an issued exchange to the scopes a refresh request asked for;
    /// asking for a scope the grant lacks is refused.
    pub(super) fn narrowed(self, asked: Option<Vec<String>>) -> Exchange {
        match (self, asked) {
            (Exchange::Issued(mut issued), Some(asked)) => {
                match scope_beyond(&issued.grant.scopes, &asked) {
                    Some(extra) => Exchange::ScopeNotGranted(extra),
                    None => {
                        issued.scopes = asked;
                        Exchange::Issued(issued)
                    }
                }
            }
            (other, _) => other,
        }
    }
}

/// The first scope of `asked` that `granted` lacks.
pub(super) fn scope_beyond(granted: &[String], asked: &[String]) -> Option<String> {
    asked.iter().find(|s| !granted.contains(s)).cloned()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn grant(scopes: &[&str], family: Option<&str>) -> Authorization {
        Authorization {
            client_id: "rp".into(),
            sub: "u1".into(),
            sid: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            auth_time: 1,
            nonce: None,
            claims: None,
            acr: None,
            family: family.map(String::from),
        }
    }

    /// Minted values with 5-minute access and 1-hour refresh lifetimes
    /// (shared with the code actor's tests).
    pub(in crate::actors) fn minted() -> Minted {
        Minted::new(TokenLifetimes {
            access: 300,
            refresh: 3600,
        })
    }

    fn issued(e: Exchange) -> Issued {
        match e {
            Exchange::Issued(i) => *i,
            other => panic!("expected Issued, got {other:?}"),
        }
    }

    #[test]
    fn minted_values_are_fresh_and_expire_after_their_lifetimes() {
        let (a, b) = (minted(), minted());
        assert_ne!(a.access_jti, b.access_jti);
        assert_ne!(a.refresh_token, b.refresh_token);
        assert_eq!(a.access_exp, a.now + 300);
        assert_eq!(a.refresh_exp, a.now + 3600);
        assert_eq!(a.refresh_hash(), sha256_hex(&a.refresh_token));
        assert_ne!(a.refresh_hash(), a.refresh_token);
    }

    #[test]
    fn granted_hands_out_the_refresh_token_only_with_a_family() {
        let m = minted();
        let (jti, token) = (m.access_jti.clone(), m.refresh_token.clone());
        let with = issued(
            m.outcome(CommandResult::Granted(Box::new(grant(
                &["openid"],
                Some("f"),
            ))))
            .unwrap(),
        );
        assert_eq!(with.refresh_token, Some(token));
        assert_eq!(with.access_jti, jti);
        assert_eq!(with.scopes, vec!["openid".to_string()]);
        let without = issued(
            minted()
                .outcome(CommandResult::Granted(Box::new(grant(&["openid"], None))))
                .unwrap(),
        );
        assert_eq!(without.refresh_token, None);
    }

    #[test]
    fn refusals_map_to_their_outcomes() {
        let out = |r| minted().outcome(r).unwrap();
        assert_eq!(out(CommandResult::CodeReplayed), Exchange::Replayed);
        assert_eq!(out(CommandResult::RefreshReused), Exchange::Replayed);
        assert_eq!(
            out(CommandResult::Rejected("expired".into())),
            Exchange::Rejected("expired".into())
        );
        assert_eq!(out(CommandResult::Replayed), Exchange::ProofReplayed);
        assert_eq!(out(CommandResult::KeyMismatch), Exchange::KeyMismatch);
        assert!(matches!(
            minted().outcome(CommandResult::UnsupportedVersion),
            Err(ClusterError::Unknown(_))
        ));
    }

    #[test]
    fn narrowing_keeps_a_subset_and_refuses_a_wider_scope() {
        let granted = || {
            minted()
                .outcome(CommandResult::Granted(Box::new(grant(
                    &["openid", "profile", "offline_access"],
                    Some("f"),
                ))))
                .unwrap()
        };
        let all = issued(granted().narrowed(None));
        assert_eq!(all.scopes.len(), 3);
        let narrow = issued(granted().narrowed(Some(vec!["openid".into()])));
        assert_eq!(narrow.scopes, vec!["openid".to_string()]);
        assert_eq!(narrow.grant.scopes.len(), 3);
        assert_eq!(
            granted().narrowed(Some(vec!["openid".into(), "email".into()])),
            Exchange::ScopeNotGranted("email".into())
        );
        assert_eq!(
            Exchange::Replayed.narrowed(Some(vec!["email".into()])),
            Exchange::Replayed
        );
    }
}
