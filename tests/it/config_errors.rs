//! Bad configuration: the file, the key and the reason, and exit code 2.

use crate::harness::{cli, free_port, path_str, ADMIN, MASTER_KEY, SECRET};

fn good(data: &str) -> String {
    let (h, r) = (free_port(), free_port());
    format!(
        r#"[node]
id = 1
http_addr = "127.0.0.1:{h}"
rpc_addr = "127.0.0.1:{r}"
data_dir = "{data}"
[cluster]
issuer = "http://127.0.0.1:8080"
bootstrap_node = 1
cluster_secret = "{SECRET}"
admin_token = "{ADMIN}"
master_key = "{MASTER_KEY}"
members = [{{ id = 1, http_addr = "127.0.0.1:{h}", rpc_addr = "127.0.0.1:{r}" }}]
"#
    )
}

#[test]
fn bad_config_files_fail_with_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let base = good(&data);
    // (what, the text replaced in a good file, its replacement, the key named)
    let secret = format!("cluster_secret = \"{SECRET}\"");
    let admin = format!("admin_token = \"{ADMIN}\"");
    let admin_twice = format!("{admin}\nadmin_token_file = \"/nope\"");
    #[rustfmt::skip]
    let edits = [
        ("unknown key", "[node]\nid = 1", "[node]\nid = 1\nport = 3", "port"),
        ("missing key", "bootstrap_node = 1\n", "", "bootstrap_node"),
        ("bad address", "http_addr = \"127.0.0.1:", "http_addr = \"localhost-", "node.http_addr"),
        ("short secret", SECRET, "short", "cluster.cluster_secret"),
        ("bad master key", MASTER_KEY, "bm90IDMyIGJ5dGVz", "cluster.master_key"),
        ("bootstrap not a member", "bootstrap_node = 1", "bootstrap_node = 4", "cluster.bootstrap_node"),
        ("bad issuer", "http://127.0.0.1:8080", "not a url", "cluster.issuer"),
        ("secret from unset env", &secret, "cluster_secret_env = \"TESSERA_TEST_UNSET_VAR\"", "cluster.cluster_secret_env"),
        ("secret twice", &admin, &admin_twice, "cluster.admin_token"),
    ];
    let cases = edits
        .into_iter()
        .map(|(what, from, to, key)| (what, base.replacen(from, to, 1), key))
        .chain([("not toml", "[node\nid=".to_string(), "")]);
    for (what, text, key) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = cli(&["serve", "--config", path_str(&path)], None);
        assert_eq!(code, 2, "{what}: exit code; stderr: {err}");
        assert!(
            err.contains(path_str(&path)),
            "{what}: file not named: {err}"
        );
        assert!(err.contains(key), "{what}: key `{key}` not named: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
    let (code, _, err) = cli(&["serve", "--config", "/definitely/not/here.toml"], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("/definitely/not/here.toml") && err.contains("cannot read"),
        "{err}"
    );

    // A secret from a file works.
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let text = base.replace(
        &format!("cluster_secret = \"{SECRET}\""),
        &format!("cluster_secret_file = \"{}\"", secret_file.display()),
    );
    let parsed = tessera::config::Config::parse("x.toml", &text).unwrap();
    assert_eq!(parsed.cluster_secret, SECRET);
}
