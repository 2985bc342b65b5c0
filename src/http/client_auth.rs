//! Client authentication for `/token`, `/introspect` and `/revoke`:
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` and `none`.
//!
//! A secret is checked with argon2 only the first time on a node; after that
//! the node remembers the SHA-256 of the secret that verified and compares in
//! constant time, so `client_credentials` does not pay ~20 ms of argon2 per
//! request. A `private_key_jwt` assertion is verified against the client's
//! registered keys and its `jti` is recorded through Raft, so it cannot be
//! replayed on any node while it is valid. Keys registered as a `jwks_uri`
//! come from [`crate::outbound::JwksCache`] (no redirects, no private
//! addresses unless the operator allows them, a body cap, a TTL cache):
//! every failure to get them is the same `invalid_client` text, so the
//! token endpoint cannot be used to probe the network.
//!
//! Secret guesses are throttled per `client_id` and per source address
//! ([`crate::throttle`]); a refused caller gets 429 with `Retry-After` and
//! the OAuth error `temporarily_unavailable` before any hash is computed.
//! That code, not `invalid_client`, because the refusal says nothing about
//! the secret (the right one is refused too while the block lasts) and
//! clients treat `invalid_client` as a configuration error to report,
//! while `temporarily_unavailable` with `Retry-After` tells them to wait.
//! Hashes take a place among the client-secret permits, apart from the
//! login ones; none left → 503 with `Retry-After: 1`. Concurrent requests
//! with the same client and secret share one running hash.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::HttpRequest;
use futures::future::{BoxFuture, FutureExt, Shared};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ask;
use super::AppState;
use crate::actors::directory::ClientRecord;
use crate::actors::password::VerifySecret;
use crate::actors::token::SpendAssertion;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::token_request::{check_assertion_claims, ClientAuth};

/// Per-node memory of secrets that passed argon2: client id → SHA-256(secret),
/// and the argon2 checks now running, so that concurrent requests with the
/// same client and secret share one check (see [`SecretCache::check`]).
#[derive(Default)]
pub struct SecretCache {
    known: Mutex<HashMap<String, [u8; 32]>>,
    running: Arc<Mutex<HashMap<CheckKey, SharedCheck>>>,
}

type CheckKey = (String, [u8; 32]);
/// One argon2 check, awaited by every request that needs its answer.
type SharedCheck = Shared<BoxFuture<'static, Result<bool, String>>>;

impl SecretCache {
    fn matches(&self, client_id: &str, digest: &[u8; 32]) -> bool {
        let map = self.known.lock().expect("secret cache");
        map.get(client_id)
            .is_some_and(|d| bool::from(d.ct_eq(digest)))
    }
    fn remember(&self, client_id: &str, digest: [u8; 32]) {
        self.known
            .lock()
            .expect("secret cache")
            .insert(client_id.into(), digest);
    }

    /// Whether `secret` (whose SHA-256 is `digest`) verifies against `phc`.
    /// A check of the same client and digest that is already running is
    /// joined rather than repeated: a client fleet that reaches a freshly
    /// started node with 32 concurrent requests costs one argon2 hash, not
    /// 32 (of which all but the first few would find the permits taken and
    /// get 503). A new check needs a permit (`Busy` when none is left), so
    /// distinct guesses stay bounded exactly as before; joining needs none,
    /// as it adds no work. The map holds only running checks.
    fn check(
        &self,
        st: &AppState,
        client_id: &str,
        digest: [u8; 32],
        secret: String,
        phc: String,
    ) -> Result<SharedCheck, crate::throttle::Busy> {
        let key = (client_id.to_string(), digest);
        let mut running = self.running.lock().expect("secret checks");
        if let Some(check) = running.get(&key) {
            return Ok(check.clone());
        }
        let permit = st.guards.secret_hashes.try_acquire()?;
        let sent = st.passwords.send(VerifySecret { secret, phc });
        let done = Arc::clone(&self.running);
        let done_key = key.clone();
        let check = async move {
            let answer = sent.await.map_err(|e| e.to_string());
            drop(permit);
            done.lock().expect("secret checks").remove(&done_key);
            answer
        }
        .boxed()
        .shared();
        running.insert(key, check.clone());
        Ok(check)
    }
}

fn invalid(d: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, d)
}

fn unavailable(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::new(ErrorCode::TemporarilyUnavailable, e.to_string())
}

/// Authenticate the caller; the client record on success.
pub async fn authenticate(
    st: &AppState,
    req: &HttpRequest,
    auth: ClientAuth,
) -> Result<ClientRecord, OAuthError> {
    let client = st
        .client(&claimed_client_id(&auth)?)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| invalid("unknown client"))?;
    match auth {
        ClientAuth::Basic { secret, .. } | ClientAuth::Post { secret, .. } => {
            check_secret(st, &client, secret, super::login::source_ip(req)).await?
        }
        ClientAuth::JwtAssertion { assertion, .. } => {
            check_assertion(st, &client, &assertion).await?
        }
        ClientAuth::None { .. } if !client.is_public() => {
            return Err(invalid("this client must authenticate"))
        }
        ClientAuth::None { .. } => {}
    }
    Ok(client)
}

/// The client the caller claims to be; an assertion without `client_id`
/// names it in its `sub`.
fn claimed_client_id(auth: &ClientAuth) -> Result<String, OAuthError> {
    match auth {
        ClientAuth::JwtAssertion {
            client_id: None,
            assertion,
        } => crate::crypto::jwt::peek_claims(assertion)
            .and_then(|c| c.get("sub").and_then(|v| v.as_str()).map(String::from))
            .ok_or_else(|| invalid("the client assertion names no client")),
        other => Ok(other.client_id_hint().unwrap_or_default().to_string()),
    }
}

/// `client_secret_basic` / `client_secret_post`: argon2 the first time on
/// this node (throttled, within the secret permits), then the remembered digest.
async fn check_secret(
    st: &AppState,
    client: &ClientRecord,
    secret: String,
    ip: IpAddr,
) -> Result<(), OAuthError> {
    let Some(phc) = client.secret_hash.clone() else {
        return Err(invalid("this client does not authenticate with a secret"));
    };
    let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    if st.secret_cache.matches(&client.client_id, &digest) {
        return Ok(());
    }
    let (guards, id) = (&st.guards, client.client_id.as_str());
    if let Err(wait) = guards.secrets.check(id, ip, Instant::now()) {
        let e = OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "too many failed attempts",
        );
        return Err(e.with_retry_after(wait.secs()));
    }
    let check = st.secret_cache.check(st, id, digest, secret, phc);
    let ok = check.map_err(unavailable)?.await.map_err(unavailable)?;
    if !ok {
        guards.secrets.record_failure(id, ip, Instant::now());
        return Err(invalid("wrong client secret"));
    }
    guards.secrets.record_success(id);
    st.secret_cache.remember(&client.client_id, digest);
    Ok(())
}

/// The JWK Set to verify a JWT from `client` with: its `jwks`, or its
/// `jwks_uri` (through the SSRF-safe cache, refreshed if `token` names an
/// unknown `kid`). `Err(None)`: it registered no keys; `Err(Some(text))`:
/// they could not be fetched (one generic text, see [`crate::outbound`]).
pub(super) async fn client_keys(
    st: &AppState,
    client: &ClientRecord,
    token: &str,
) -> Result<Arc<serde_json::Value>, Option<String>> {
    match (&client.jwks, &client.jwks_uri) {
        (Some(j), _) => Ok(Arc::new(j.clone())),
        (None, Some(uri)) => {
            let kid = crate::outbound::header_kid(token);
            let set = st.jwks.key_set(uri, kid.as_deref()).await;
            set.map_err(|e| Some(e.to_string()))
        }
        (None, None) => Err(None),
    }
}

/// `private_key_jwt` (RFC 7523 §3): signature against the client's keys,
/// claims, then the `jti` spent cluster-wide.
async fn check_assertion(
    st: &AppState,
    client: &ClientRecord,
    assertion: &str,
) -> Result<(), OAuthError> {
    let jwks = client_keys(st, client, assertion).await.map_err(|e| {
        invalid(
            e.as_deref()
                .unwrap_or("this client has no registered keys for private_key_jwt"),
        )
    })?;
    let claims = crate::crypto::jwt::verify_with_jwks(assertion, &jwks)
        .map_err(|e| invalid(&format!("client assertion: {e}")))?;
    let issuer = st.issuer();
    let (jti, exp) = check_assertion_claims(
        &claims,
        &client.client_id,
        &format!("{issuer}/token"),
        &issuer,
        crate::clock::now(),
    )
    .map_err(|e| invalid(&e.description))?;
    let spend = SpendAssertion {
        client_id: client.client_id.clone(),
        jti,
        exp,
    };
    if ask(st.tokens.send(spend)).await.map_err(unavailable)? {
        Ok(())
    } else {
        Err(invalid("client assertion already used"))
    }
}
