//! Backup and restore (issue 9): `tessera backup` through a follower of a
//! running three-node cluster (the admin API refuses it without the admin
//! token); every node killed and its data directory
//! deleted; a damaged (one byte flipped) and a truncated copy of the backup
//! refused with a one-line reason naming the file; `tessera restore` into
//! three fresh data directories; the restored cluster keeps alice's session
//! cookie (a code with `prompt=none`, no password), her refresh token, the
//! signing keys and the clients, takes new writes, and a second restore
//! into a seeded directory is refused. The restore drill is timed (the RTO
//! the README quotes).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::flow::Browser;
use crate::harness::{others, path_str, public_client, Cluster};
use crate::rp::{get, redeem, refresh, Seeded, DEMO};
use crate::session::{code_for, demo_tokens, pkce_params, with, Via};

/// Token sets here have a refresh token.
const SCOPE: &str = "openid offline_access";

/// `tessera restore` for node `id` from `file`: (exit code, stderr).
fn restore(c: &Cluster, id: u64, file: &Path) -> (i32, String) {
    let (code, _, err) = c.cli_on(id, &["restore", "--from", path_str(file)], None);
    (code, err)
}

/// A damaged copy of the backup is refused, with `reason`, and leaves the
/// data directory of node 1 untouched.
fn refused(c: &Cluster, name: &str, bytes: &[u8], reason: &str) {
    let file = c.dir.path().join(name);
    std::fs::write(&file, bytes).unwrap();
    let (code, err) = restore(c, 1, &file);
    assert_eq!(code, 1, "restore of {name}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!("error: {}: {reason}", file.display())),
        "restore of {name}: {err}"
    );
    assert!(!c.dir.path().join("data1").exists(), "{name} touched data1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_restored_from_a_backup_keeps_sessions_tokens_and_keys() {
    let mut fx = Seeded::start(3, Duration::from_secs(15)).await;
    let browser = Browser::new();
    let http = fx.http.clone();
    let tokens = demo_tokens(&browser, &http, Via::Login, (fx.on(1), fx.on(2)), SCOPE).await;
    let jwks = get(&http, fx.on(1), "/.well-known/jwks.json").await.ok();
    // Acknowledged just before the backup: read-index puts it in the copy.
    fx.c.node(3)
        .admin()
        .create_client(&public_client("before-backup"))
        .await
        .unwrap();

    // Only with the admin token.
    let url = format!("{}/admin/backup", fx.c.node(1).rpc_url());
    let anonymous = fx.c.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "GET /admin/backup without a token");

    let old_id = crate::bootstrap::cluster_id(&fx.c, 1).await;
    let file = fx.c.dir.path().join("tessera.backup");
    let follower = others(fx.c.leader(1).await).0;
    let (code, out, err) =
        fx.c.cli_on(follower, &["backup", "--out", path_str(&file)], None);
    assert_eq!(code, 0, "tessera backup: {err}");
    assert!(
        out.starts_with(&format!("wrote {}", file.display())),
        "{out}"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the backup is owner-only");
    let leftovers = std::fs::read_dir(fx.c.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .count();
    assert_eq!(leftovers, 0, "the temporary file was renamed");

    // The disaster: every node and every data directory is gone.
    for id in 1..=3 {
        fx.c.kill(id);
        std::fs::remove_dir_all(fx.c.dir.path().join(format!("data{id}"))).unwrap();
    }

    let bytes = std::fs::read(&file).unwrap();
    let mut flipped = bytes.clone();
    let at = bytes.len() - 100; // inside the body
    flipped[at] ^= 0x20;
    refused(&fx.c, "flipped.backup", &flipped, "checksum mismatch");
    refused(&fx.c, "cut.backup", &bytes[..at], "truncated");
    refused(&fx.c, "foreign.backup", b"{}", "not a Tessera backup");

    // The restore drill, timed: restore every node, start them, all ready.
    let started = Instant::now();
    for id in 1..=3 {
        let (code, err) = restore(&fx.c, id, &file);
        assert_eq!(code, 0, "restore node {id}: {err}");
    }
    for id in 1..=3 {
        fx.c.spawn(id);
    }
    fx.c.wait_all_ready().await;
    eprintln!(
        "restore drill: 3 restores, start, all nodes ready in {:?}",
        started.elapsed()
    );

    // A new cluster: named anew, not after the one it was restored from.
    let new_id = crate::bootstrap::cluster_id(&fx.c, 1).await;
    assert_ne!(
        new_id, old_id,
        "the restored cluster kept the old cluster id"
    );

    // The old session cookie signs in without a password.
    let (verifier, challenge) = crate::flow::pkce();
    let p = with(
        pkce_params("demo", SCOPE, &challenge),
        &[("prompt", "none")],
    );
    let code = code_for(&browser, fx.on(2), &p).await;
    redeem(&http, fx.on(3), DEMO, &code, Some(&verifier))
        .await
        .tokens();
    // The old refresh token still refreshes.
    let refreshed = refresh(&http, fx.on(3), DEMO, tokens.refresh()).await.ok();
    assert!(refreshed["access_token"].is_string(), "{refreshed}");
    // Same signing keys (unsealed with the same master key), same clients.
    let after = get(&http, fx.on(2), "/.well-known/jwks.json").await.ok();
    assert_eq!(after, jwks);
    let admin = fx.c.node(1).admin();
    admin.get_client("before-backup").await.unwrap();
    admin
        .create_client(&public_client("after-restore"))
        .await
        .expect("the restored cluster takes writes");
    fx.c.node(3)
        .admin()
        .get_client("after-restore")
        .await
        .unwrap();

    // Restore seeds fresh nodes only.
    fx.c.kill(1);
    let (code, err) = restore(&fx.c, 1, &file);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("data directory is not empty"), "{err}");
}
