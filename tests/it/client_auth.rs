//! `private_key_jwt` client authentication (RFC 7523, OIDC Core §9) against
//! a three-node cluster: an assertion signed with the client's registered key
//! works on any node once, and its `jti` cannot be replayed on any node.
//! Also: standard claims set through the CLI reach `/userinfo`.

use serde_json::{json, Map, Value};
use tessera::actors::directory::CreateClient;
use tessera::crypto::jwt;

use crate::harness::Cluster;

pub fn assertion(private: &Value, client_id: &str, aud: &str, jti: &str) -> String {
    let now = tessera::clock::now();
    let mut claims = Map::new();
    for (k, v) in [
        ("iss", json!(client_id)),
        ("sub", json!(client_id)),
        ("aud", json!(aud)),
        ("jti", json!(jti)),
        ("iat", json!(now)),
        ("exp", json!(now + 120)),
    ] {
        claims.insert(k.into(), v);
    }
    jwt::sign_with_jwk("ES256", private, claims).unwrap()
}

async fn token_with(c: &Cluster, node: u64, assertion: &str) -> (u16, Value) {
    let res = c
        .http
        .post(format!("{}/token", c.node(node).http_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_works_once_on_any_node_and_claims_set_by_the_cli_are_released() {
    let c = Cluster::start(3).await;
    c.seed().await;
    let (private, public) = jwt::generate("ES256", "svc-key-1").unwrap();
    c.node(1)
        .admin()
        .create_client(&CreateClient {
            client_id: "svc".into(),
            grant_types: vec!["client_credentials".into()],
            jwks: Some(json!({"keys": [public]})),
            ..Default::default()
        })
        .await
        .expect("register a private_key_jwt client");
    let issuer = c.node(1).http_url();
    let token_endpoint = format!("{issuer}/token");

    // A fresh assertion works on node 2; the same assertion is refused on node 3.
    let a = assertion(&private, "svc", &token_endpoint, "jti-1");
    let (status, body) = token_with(&c, 2, &a).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    let (status, body) = token_with(&c, 3, &a).await;
    assert_eq!(status, 401, "a replayed assertion must be refused: {body}");
    assert_eq!(body["error"], "invalid_client");
    // The issuer is accepted as audience too; another jti works.
    let (status, _) = token_with(&c, 3, &assertion(&private, "svc", &issuer, "jti-2")).await;
    assert_eq!(status, 200);
    // A key the client did not register, a wrong audience, a wrong subject.
    let (other, _) = jwt::generate("ES256", "svc-key-1").unwrap();
    for (what, bad) in [
        (
            "foreign key",
            assertion(&other, "svc", &token_endpoint, "jti-3"),
        ),
        (
            "wrong audience",
            assertion(&private, "svc", "https://elsewhere.example/token", "jti-4"),
        ),
        (
            "wrong client",
            assertion(&private, "demo", &token_endpoint, "jti-5"),
        ),
    ] {
        let (status, body) = token_with(&c, 1, &bad).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
    }

    // Standard claims set with the CLI on node 3 show up at userinfo on node 1.
    let (code, out, err) = c.cli_on(
        3,
        &[
            "user",
            "set-claims",
            "--username",
            "alice",
            "--claim",
            "phone_number=+15550100",
            "--claim",
            "phone_number_verified=true",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("+15550100"), "{out}");
    let (code, _, err) = c.cli_on(
        3,
        &[
            "user",
            "set-claims",
            "--username",
            "alice",
            "--claim",
            "shoe_size=42",
        ],
        None,
    );
    assert_eq!(code, 2, "only standard claims may be set: {err}");
    let user = c.node(1).admin().get_user("alice").await.unwrap();
    assert_eq!(user.claims["phone_number"], "+15550100");
    assert_eq!(user.claims["phone_number_verified"], true);
}
