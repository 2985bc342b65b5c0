//! Key rotation on a three-node cluster: a rotated key is published before
//! any node signs with it, every node switches after the publish interval,
//! tokens signed by the old key stay valid until they expire, and the old
//! key then leaves every JWKS.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::harness::{path_str, Cluster, RaftOpts};

fn kid_of(jwt: &str) -> String {
    let header = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["kid"].as_str().unwrap().to_string()
}

async fn jwks_kids(c: &Cluster, id: u64) -> Vec<String> {
    let v: Value = c
        .http
        .get(format!("{}/.well-known/jwks.json", c.node(id).http_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// A client_credentials access token (ES256) from node `id`.
async fn token(c: &Cluster, id: u64) -> String {
    let v: Value = c
        .http
        .post(format!("{}/token", c.node(id).http_url()))
        .basic_auth("demo", Some("demo-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"]
        .as_str()
        .expect("access token")
        .to_string()
}

async fn active(c: &Cluster, id: u64, token: &str) -> bool {
    let v: Value = c
        .http
        .post(format!("{}/introspect", c.node(id).http_url()))
        .basic_auth("demo", Some("demo-secret"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["active"] == true
}

async fn wait_for(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_publishes_first_switches_everywhere_and_retires_after_expiry() {
    let extra = "[tokens]\naccess_token_lifetime_secs = 8\nid_token_lifetime_secs = 8\n\
                 [keys]\npublish_before_use_secs = 3\nretired_grace_secs = 1\n";
    let c = Cluster::start_with(
        3,
        RaftOpts {
            extra: extra.into(),
            ..Default::default()
        },
    )
    .await;
    c.seed().await;
    let old_token = token(&c, 1).await;
    let old_kid = kid_of(&old_token);
    for id in 1..=3 {
        assert!(jwks_kids(&c, id).await.contains(&old_kid));
    }

    // Rotate ES256 through node 2's CLI.
    let (code, out, err) = c.cli(
        &[
            "keys",
            "rotate",
            "--alg",
            "ES256",
            "--config",
            path_str(&c.node(2).config),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let rotated: Value = serde_json::from_str(&out).unwrap();
    let new_kid = rotated["next"][0].as_str().expect("a next key").to_string();

    // Published everywhere, not yet signing anywhere.
    for id in 1..=3 {
        wait_for("the next key in the JWKS", 5, async || {
            jwks_kids(&c, id).await.contains(&new_kid)
        })
        .await;
        assert_eq!(
            kid_of(&token(&c, id).await),
            old_kid,
            "node {id} signs with a key before the publish interval"
        );
    }
    let (_, list, _) = c.cli(
        &[
            "keys",
            "list",
            "--json",
            "--config",
            path_str(&c.node(3).config),
        ],
        None,
    );
    let list: Value = serde_json::from_str(&list).unwrap();
    let state_of = |list: &Value, kid: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state_of(&list, &new_kid).as_deref(), Some("next"));
    assert!(
        !list.to_string().contains("\"d\""),
        "keys list must not show private parts"
    );

    // After the publish interval every node signs with the new key.
    for id in 1..=3 {
        wait_for("signing with the new key", 15, async || {
            kid_of(&token(&c, id).await) == new_kid
        })
        .await;
    }
    let (_, list, _) = c.cli(
        &[
            "keys",
            "list",
            "--json",
            "--config",
            path_str(&c.node(1).config),
        ],
        None,
    );
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(state_of(&list, &new_kid).as_deref(), Some("current"));
    assert_eq!(state_of(&list, &old_kid).as_deref(), Some("retired"));

    // A token signed by the old key still validates while it lives...
    for id in 1..=3 {
        assert!(jwks_kids(&c, id).await.contains(&old_kid));
    }
    assert!(
        active(&c, 3, &old_token).await,
        "a token of the retired key must stay valid until it expires"
    );

    // ...and the old key leaves every JWKS once its tokens have expired.
    for id in 1..=3 {
        wait_for("the retired key to be removed", 30, async || {
            !jwks_kids(&c, id).await.contains(&old_kid)
        })
        .await;
        assert!(jwks_kids(&c, id).await.contains(&new_kid));
    }
    assert!(!active(&c, 2, &old_token).await);
}
