//! Key rotation on a three-node cluster: a rotated key is published before
//! any node signs with it, every node switches after the publish interval,
//! tokens signed by the old key stay valid until they expire, and the old
//! key then leaves every JWKS.

use std::time::Duration;

use serde_json::Value;

use crate::harness::wait::until;
use crate::harness::{Cluster, RaftOpts};
use crate::rp::{client_credentials, get, introspect, jwt_header, DEMO};

fn kid_of(jwt: &str) -> String {
    jwt_header(jwt)["kid"].as_str().unwrap().to_string()
}

async fn jwks_kids(c: &Cluster, id: u64) -> Vec<String> {
    let base = c.node(id).http_url();
    let v = get(&c.http, &base, "/.well-known/jwks.json").await.ok();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// A client_credentials access token (ES256) from node `id`.
async fn token(c: &Cluster, id: u64) -> String {
    let v = client_credentials(&c.http, &c.node(id).http_url(), DEMO)
        .await
        .ok();
    v["access_token"]
        .as_str()
        .expect("access token")
        .to_string()
}

async fn active(c: &Cluster, id: u64, token: &str) -> bool {
    let v = introspect(&c.http, &c.node(id).http_url(), DEMO, token)
        .await
        .ok();
    v["active"] == true
}

/// `keys list --json` through node `id`'s CLI: each key's state by kid.
fn key_states(c: &Cluster, id: u64) -> Value {
    let (code, list, err) = c.cli_on(id, &["keys", "list", "--json"], None);
    assert_eq!(code, 0, "{err}");
    let list: Value = serde_json::from_str(&list).unwrap();
    assert!(
        !list.to_string().contains("\"d\""),
        "keys list must not show private parts"
    );
    list.as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap().to_string(), k["state"].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_publishes_first_switches_everywhere_and_retires_after_expiry() {
    let extra = "[tokens]\naccess_token_lifetime_secs = 8\nid_token_lifetime_secs = 8\n\
                 [keys]\npublish_before_use_secs = 3\nretired_grace_secs = 1\n";
    let opts = RaftOpts {
        extra: extra.into(),
        ..Default::default()
    };
    let c = Cluster::start_with(3, opts).await;
    c.seed().await;
    let old_token = token(&c, 1).await;
    let old_kid = kid_of(&old_token);
    for id in 1..=3 {
        assert!(jwks_kids(&c, id).await.contains(&old_kid));
    }

    // Rotate ES256 through node 2's CLI.
    let (code, out, err) = c.cli_on(2, &["keys", "rotate", "--alg", "ES256"], None);
    assert_eq!(code, 0, "{err}");
    let rotated: Value = serde_json::from_str(&out).unwrap();
    let new_kid = rotated["next"][0].as_str().expect("a next key").to_string();

    // Published everywhere, not yet signing anywhere.
    for id in 1..=3 {
        until(
            "the next key in the JWKS",
            Duration::from_secs(5),
            async || jwks_kids(&c, id).await.contains(&new_kid),
        )
        .await;
        assert_eq!(
            kid_of(&token(&c, id).await),
            old_kid,
            "node {id} signs with a key before the publish interval"
        );
    }
    assert_eq!(key_states(&c, 3)[&new_kid], "next");

    // After the publish interval every node signs with the new key.
    for id in 1..=3 {
        until(
            "signing with the new key",
            Duration::from_secs(15),
            async || kid_of(&token(&c, id).await) == new_kid,
        )
        .await;
    }
    let states = key_states(&c, 1);
    assert_eq!(
        (&states[&new_kid], &states[&old_kid]),
        (&"current".into(), &"retired".into())
    );

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
        until(
            "the retired key to be removed",
            Duration::from_secs(30),
            async || !jwks_kids(&c, id).await.contains(&old_kid),
        )
        .await;
        assert!(jwks_kids(&c, id).await.contains(&new_kid));
    }
    assert!(!active(&c, 2, &old_token).await);
}
