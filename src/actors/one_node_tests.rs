//! Actor tests on a real one-node cluster: a Raft node on a temporary sled
//! database, initialized as its own leader, with the code and token actors
//! proposing to it. What the actors answer is decided by the real `apply`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};

use super::code::{CodeActor, ExchangeCode, IssueCode};
use super::exchange::{Authorization, Exchange, Issued};
use super::token::{
    AccessTokenLive, ExchangeRefreshToken, RefreshTokenLive, RevokeAccessToken, RevokeRefreshToken,
    SpendAssertion, TokenActor,
};
use super::token_reads::TokenReads;
use crate::cluster::log_store::LogStore;
use crate::cluster::network::Network;
use crate::cluster::state_machine::StateMachine;
use crate::cluster::storage::Storage;
use crate::cluster::{ClusterHandle, NodeAddr, Raft};
use crate::config::TokenSettings;

const SECRET: &str = "a test cluster secret of at least 32 bytes";
const REDIRECT: &str = "https://rp.example/cb";

/// A one-node cluster with a code and a token actor.
struct OneNode {
    codes: Addr<CodeActor>,
    tokens: Addr<TokenActor>,
    reads: TokenReads,
    _dir: tempfile::TempDir,
}

impl OneNode {
    async fn start() -> OneNode {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Storage::open(dir.path()).expect("storage");
        let log = LogStore::open(&storage).expect("log store");
        let sm = StateMachine::open(&storage).expect("state machine");
        let config = openraft::Config {
            heartbeat_interval: 50,
            election_timeout_min: 150,
            election_timeout_max: 300,
            ..Default::default()
        };
        let raft = Raft::new(
            1,
            Arc::new(config.validate().expect("raft config")),
            Network::new(SECRET),
            log,
            sm.clone(),
        )
        .await
        .expect("raft");
        raft.initialize(BTreeMap::from([(1, NodeAddr::default())]))
            .await
            .expect("initialize");
        raft.wait(Some(Duration::from_secs(10)))
            .current_leader(1, "the only node leads")
            .await
            .expect("leader");
        let cluster = ClusterHandle::new(
            raft,
            1,
            sm,
            storage,
            SECRET,
            tokio::runtime::Handle::current(),
        );
        let settings = TokenSettings {
            access_token_lifetime: 300,
            id_token_lifetime: 300,
            refresh_token_lifetime: 3600,
            session_lifetime: 3600,
            access_token_alg: "RS256".into(),
        };
        OneNode {
            codes: CodeActor::new(cluster.clone(), &settings, &[7; 32]).start(),
            reads: TokenReads::new(&cluster),
            tokens: TokenActor::new(cluster, &settings).start(),
            _dir: dir,
        }
    }

    /// A code for `scopes`, issued to client `rp`.
    async fn code(&self, scopes: &[&str]) -> String {
        let grant = Authorization {
            client_id: "rp".into(),
            sub: "user-1".into(),
            sid: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            auth_time: crate::clock::now(),
            nonce: Some("n-1".into()),
            claims: None,
            acr: None,
            family: None,
        };
        let issue = IssueCode {
            grant,
            redirect_uri: REDIRECT.into(),
            code_challenge: None,
            listed: false,
        };
        self.codes.send(issue).await.unwrap().expect("code issued")
    }

    async fn exchange_code(&self, code: &str, redirect_uri: &str) -> Exchange {
        let msg = ExchangeCode {
            code: code.into(),
            client_id: "rp".into(),
            redirect_uri: Some(redirect_uri.into()),
            code_verifier: None,
            refreshable: true,
            dpop: None,
            bind_refresh: false,
        };
        self.codes.send(msg).await.unwrap().expect("committed")
    }

    async fn refresh(&self, token: &str, scope: Option<&[&str]>) -> Exchange {
        let msg = ExchangeRefreshToken {
            refresh_token: token.into(),
            client_id: "rp".into(),
            scope: scope.map(|s| s.iter().map(|x| x.to_string()).collect()),
            dpop: None,
        };
        self.tokens.send(msg).await.unwrap().expect("committed")
    }

    async fn refresh_live(&self, token: &str, client_id: &str) -> bool {
        let msg = RefreshTokenLive {
            refresh_token: token.into(),
            client_id: client_id.into(),
        };
        let live = self.reads.refresh_token_live(msg).await.expect("read");
        live.is_some()
    }

    async fn access_live(&self, issued: &Issued) -> bool {
        let msg = AccessTokenLive {
            jti: issued.access_jti.clone(),
            bound_sid: None,
        };
        self.reads.access_token_live(msg).await.expect("read")
    }
}

fn issued(e: Exchange) -> Issued {
    match e {
        Exchange::Issued(i) => *i,
        other => panic!("expected tokens, got {other:?}"),
    }
}

#[actix_web::test]
async fn a_code_is_exchanged_once_and_its_replay_revokes_the_tokens() {
    let node = OneNode::start().await;
    let code = node.code(&["openid", "offline_access"]).await;
    let first = issued(node.exchange_code(&code, REDIRECT).await);
    assert_eq!(first.grant.nonce.as_deref(), Some("n-1"));
    let refresh = first.refresh_token.clone().expect("offline_access");
    assert!(node.access_live(&first).await);
    assert!(node.refresh_live(&refresh, "rp").await);
    assert!(!node.refresh_live(&refresh, "other-rp").await);
    assert_eq!(
        node.exchange_code(&code, REDIRECT).await,
        Exchange::Replayed
    );
    assert!(
        !node.access_live(&first).await,
        "the replay revokes the access token"
    );
    assert!(
        !node.refresh_live(&refresh, "rp").await,
        "and the refresh family"
    );
}

#[actix_web::test]
async fn a_code_is_refused_for_another_redirect_uri_and_without_offline_access_no_refresh() {
    let node = OneNode::start().await;
    let code = node.code(&["openid"]).await;
    let refused = node.exchange_code(&code, "https://evil.example/cb").await;
    assert!(matches!(refused, Exchange::Rejected(ref m) if m.contains("redirect_uri")));
    let tokens = issued(node.exchange_code(&code, REDIRECT).await);
    assert_eq!(tokens.refresh_token, None);
    let unknown = node.exchange_code("no-such-code", REDIRECT).await;
    assert!(matches!(unknown, Exchange::Rejected(_)));
}

#[actix_web::test]
async fn a_refresh_token_rotates_and_its_reuse_revokes_the_family() {
    let node = OneNode::start().await;
    let code = node.code(&["openid", "profile", "offline_access"]).await;
    let old = issued(node.exchange_code(&code, REDIRECT).await);
    let old_refresh = old.refresh_token.unwrap();
    let wider = node.refresh(&old_refresh, Some(&["openid", "email"])).await;
    assert_eq!(wider, Exchange::ScopeNotGranted("email".into()));
    assert!(
        node.refresh_live(&old_refresh, "rp").await,
        "a refused scope does not spend the token"
    );
    let new = issued(node.refresh(&old_refresh, Some(&["openid"])).await);
    assert_eq!(new.scopes, vec!["openid".to_string()]);
    let new_refresh = new.refresh_token.clone().unwrap();
    assert_ne!(new_refresh, old_refresh);
    assert_ne!(new.access_jti, old.access_jti);
    assert!(node.refresh_live(&new_refresh, "rp").await);
    assert_eq!(node.refresh(&old_refresh, None).await, Exchange::Replayed);
    assert!(!node.refresh_live(&new_refresh, "rp").await);
    assert!(!node.access_live(&new).await);
}

#[actix_web::test]
async fn revocation_and_assertion_replay() {
    let node = OneNode::start().await;
    let code = node.code(&["openid", "offline_access"]).await;
    let tokens = issued(node.exchange_code(&code, REDIRECT).await);
    let refresh = tokens.refresh_token.clone().unwrap();
    let by = |client_id: &str| RevokeRefreshToken {
        refresh_token: refresh.clone(),
        client_id: client_id.into(),
    };
    assert!(!node.tokens.send(by("other-rp")).await.unwrap().unwrap());
    assert!(node.refresh_live(&refresh, "rp").await);
    assert!(node.tokens.send(by("rp")).await.unwrap().unwrap());
    assert!(!node.refresh_live(&refresh, "rp").await);
    let revoke = RevokeAccessToken {
        jti: tokens.access_jti.clone(),
        exp: tokens.issued_at + 300,
    };
    node.tokens.send(revoke).await.unwrap().unwrap();
    assert!(!node.access_live(&tokens).await);
    let spend = || SpendAssertion {
        client_id: "rp".into(),
        jti: "assertion-1".into(),
        exp: crate::clock::now() + 60,
    };
    assert!(node.tokens.send(spend()).await.unwrap().unwrap());
    assert!(!node.tokens.send(spend()).await.unwrap().unwrap());
}
