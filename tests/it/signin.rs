//! A real relying party (the `openidconnect` crate) signs a user in through a
//! three-node cluster, each step on a different node than the step before.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope,
    TokenResponse, TokenUrl, UserInfoUrl,
};
use reqwest::redirect::Policy;

use crate::flow::Browser;
use crate::harness::{Cluster, ALICE, REDIRECT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relying_party_signs_in_with_each_step_on_another_node() {
    let c = Cluster::start(3).await;
    c.seed().await;
    let on = |n: u64| c.node(n).http_url();
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();

    // Discovery (and the JWKS) from node 1, the issuer's address.
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(on(1)).unwrap(), &http)
        .await
        .expect("discovery");
    let base = CoreClient::from_provider_metadata(
        meta,
        ClientId::new("rp".into()),
        Some(ClientSecret::new(
            "rp-secret-123-of-at-least-32-chars".into(),
        )),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());

    // Authorize on node 2: the login page.
    // An authorization request on `node` for `scopes` (and openid).
    let authorize = |node: u64, scopes: &[&str]| {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = base
            .clone()
            .set_auth_uri(AuthUrl::new(format!("{}/authorize", on(node))).unwrap());
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in scopes {
            req = req.add_scope(Scope::new(scope.to_string()));
        }
        let (url, csrf, nonce) = req.set_pkce_challenge(challenge).url();
        (url, csrf, nonce, verifier)
    };
    let (url, csrf, nonce, verifier) = authorize(2, &["profile", "email", "offline_access"]);
    let browser = Browser::new();
    let login = browser.get(url.as_str()).await;
    assert!(
        login.body().contains("name=\"password\""),
        "login page expected"
    );

    // Log in on node 3: rp is a third-party client, so consent is asked.
    let consent = browser.login(&on(3), &login, ALICE.0, ALICE.1).await;
    assert!(
        consent.body().contains("Allow access?"),
        "consent page expected: {consent:?}"
    );
    // Consent on node 1: back to the relying party with a code.
    let back = browser.consent(&on(1), &consent, true).await;
    assert!(back.location().starts_with(REDIRECT), "{back:?}");
    assert_eq!(back.param("state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(back.param("iss").as_deref(), Some(on(1).as_str()));
    let code = back.param("code").expect("code");

    // Token on node 2; the library validates the ID token.
    let token_client = base
        .clone()
        .set_token_uri(TokenUrl::new(format!("{}/token", on(2))).unwrap());
    let tokens = token_client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token response");
    let id_token = tokens.id_token().expect("id_token");
    let verifier = token_client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).expect("valid ID token");
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    assert!(claims.auth_time().is_some());
    let sub = claims.subject().clone();

    // Userinfo on node 3.
    let userinfo = async |node: u64, token: &AccessToken| -> CoreUserInfoClaims {
        let url = UserInfoUrl::new(format!("{}/userinfo", on(node))).unwrap();
        let client = base.clone().set_user_info_url(url);
        let req = client.user_info(token.clone(), Some(sub.clone()));
        req.request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("userinfo on node {node}: {e:?}"))
    };
    let info = userinfo(3, tokens.access_token()).await;
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));
    assert_eq!(
        info.given_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str()),
        Some("Alice")
    );
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("alice"));

    // Refresh on node 1: a new refresh token; the old one is spent.
    let refresh_token = tokens
        .refresh_token()
        .expect("refresh token for offline_access")
        .clone();
    let refresh_client = base
        .clone()
        .set_token_uri(TokenUrl::new(format!("{}/token", on(1))).unwrap());
    let refreshed = refresh_client
        .exchange_refresh_token(&refresh_token)
        .request_async(&http)
        .await
        .expect("refresh");
    let rotated = refreshed.refresh_token().expect("rotated refresh token");
    assert_ne!(rotated.secret(), refresh_token.secret());
    if let Some(id) = refreshed.id_token() {
        let c2 = id
            .claims(&refresh_client.id_token_verifier(), |_: Option<&Nonce>| {
                Ok(())
            })
            .unwrap();
        assert_eq!(c2.subject(), &sub);
    }
    let fresh = userinfo(2, refreshed.access_token()).await;
    assert_eq!(fresh.subject(), &sub);

    // The remembered consent covers the same scopes: straight back with a code.
    let again = browser
        .get(url.as_str().replace(&on(2), &on(3)).as_str())
        .await;
    assert!(
        again.param("code").is_some(),
        "consent should be remembered: {again:?}"
    );
    // ...but not a wider request.
    let (wider, ..) = authorize(1, &["phone"]);
    let asked = browser.get(wider.as_str()).await;
    assert!(
        asked.body().contains("Allow access?"),
        "a new scope needs consent"
    );

    // Reusing the spent refresh token fails, on any node.
    let reuse = base
        .clone()
        .set_token_uri(TokenUrl::new(format!("{}/token", on(3))).unwrap())
        .exchange_refresh_token(&RefreshToken::new(refresh_token.secret().clone()))
        .request_async(&http)
        .await;
    assert!(
        reuse.is_err(),
        "a rotated refresh token must not work again"
    );
}

/// A login that goes straight on to a code commits one command: the session
/// is created listing its client, and issuing the code notes nothing more.
/// A client the user refuses consent to is never listed (it would get the
/// user's `sub` in a back-channel logout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_straight_to_a_code_is_one_write_and_lists_only_consented_clients() {
    use crate::flow::pkce;
    use crate::session::{checked, pkce_params, sign_in};

    let c = Cluster::start(3).await;
    c.seed().await;
    c.wait_cluster_format(2).await;
    let proposals = async || {
        let mut n = 0.0;
        for id in 1..=3 {
            n += c.metric(id, "tessera_raft_proposals_total").await;
        }
        n
    };
    // Another proposal (an expiry sweep) may land in the window: three tries.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (_, challenge) = pkce();
        let before = proposals().await;
        let back = sign_in(
            &Browser::new(),
            &c.node(1).http_url(),
            &c.node(2).http_url(),
            &pkce_params("demo", "openid", &challenge),
        )
        .await;
        assert!(back.param("code").is_some(), "{back:?}");
        seen.push(proposals().await - before);
        if seen.last() == Some(&1.0) {
            break;
        }
    }
    assert!(seen.contains(&1.0), "commands per login: {seen:?}");

    // rp is third-party: consent is asked, and refused.
    let (_, challenge) = pkce();
    let browser = Browser::new();
    let rp = pkce_params("rp", "openid", &challenge);
    let consent = sign_in(&browser, &c.node(3).http_url(), &c.node(1).http_url(), &rp).await;
    assert!(consent.body().contains("Allow access?"), "{consent:?}");
    let denied = checked(
        "POST /consent",
        browser
            .consent(&c.node(2).http_url(), &consent, false)
            .await,
    );
    assert_eq!(denied.param("error").as_deref(), Some("access_denied"));

    let sessions = c.node(1).admin().user_sessions(ALICE.0).await.unwrap();
    assert_eq!(sessions.len(), seen.len() + 1, "{sessions:?}");
    let listed = |who: &[&str]| sessions.iter().filter(|s| s.clients == who).count();
    assert_eq!(listed(&["demo"]), seen.len(), "{sessions:?}");
    assert_eq!(listed(&[]), 1, "{sessions:?}");
}
