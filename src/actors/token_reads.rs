//! [`TokenReads`]: the linearizable token questions of `/introspect` and
//! `/userinfo`, answered without an actor message.
//!
//! Introspection is the hottest consistent path. As a message to the token
//! actor every request crossed from its HTTP worker thread to the actor's
//! thread and back on top of the read-index round; these reads change no
//! state, so the handler's own task can wait for read-index (one batched
//! round shared by every concurrent reader, `cluster::read_batch`) and then
//! read this node's sled trees directly. What makes the answer linearizable
//! is unchanged: the read happens after `applied >= read_index`
//! (docs/ARCHITECTURE.md invariant 2), and without a quorum read-index
//! fails, so the caller answers 503, never a stale "active".

use super::token::{refresh_jti, AccessTokenLive, LiveRefreshToken, RefreshTokenLive};
use super::ClusterError;
use crate::clock::READ_TIMEOUT;
use crate::cluster::ClusterHandle;
use crate::crypto::sha256_hex;
use crate::state::{self, TreeId};

/// The trees the token questions read, with the cluster for read-index.
/// Cheap to clone (every field is shared).
#[derive(Clone)]
pub struct TokenReads {
    cluster: ClusterHandle,
    revoked: sled::Tree,
    refresh: sled::Tree,
    families: sled::Tree,
    sessions: sled::Tree,
}

impl TokenReads {
    pub fn new(cluster: &ClusterHandle) -> TokenReads {
        let tree = |t| cluster.sm.tree(t);
        TokenReads {
            revoked: tree(TreeId::RevokedJti),
            refresh: tree(TreeId::Refresh),
            families: tree(TreeId::Families),
            sessions: tree(TreeId::Sessions),
            cluster: cluster.clone(),
        }
    }

    /// Whether an access token is still good: its `jti` is not revoked and,
    /// for a session-bound token, its session has not ended.
    pub async fn access_token_live(&self, q: AccessTokenLive) -> Result<bool, ClusterError> {
        self.cluster.read_index(READ_TIMEOUT).await?;
        if state::tokens::is_revoked(&self.revoked, &q.jti) {
            return Ok(false);
        }
        Ok(match &q.bound_sid {
            Some(sid) => state::sessions::sid_live(&self.sessions, sid, super::now()),
            None => true,
        })
    }

    /// A refresh token of the client that can still be used; `None` if it
    /// is unknown, spent, expired, revoked or another client's.
    pub async fn refresh_token_live(
        &self,
        q: RefreshTokenLive,
    ) -> Result<Option<LiveRefreshToken>, ClusterError> {
        self.cluster.read_index(READ_TIMEOUT).await?;
        let hash = sha256_hex(&q.refresh_token);
        let now = super::now();
        let Some(rec) = state::tokens::live_refresh(&self.refresh, &self.families, &hash, now)
        else {
            return Ok(None);
        };
        Ok(
            (rec.grant.client_id == q.client_id).then(|| LiveRefreshToken {
                grant: rec.grant,
                expires_at: rec.expires_at,
                issued_at: rec.issued_at,
                jti: refresh_jti(&hash),
            }),
        )
    }
}
