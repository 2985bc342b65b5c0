//! The backup file format (every refusal has its own reason) and an offline
//! restore into a real sled directory, read back through the state machine.

use std::collections::BTreeMap;
use std::path::Path;

use openraft::storage::RaftStateMachine;

use super::format::{self, AppliedAt, FormatError, Header, MAGIC};
use super::restore::restore;
use crate::cluster::state_machine::{SnapshotPayload, StateMachine};
use crate::cluster::storage::Storage;
use crate::config::Config;
use crate::state::{TreeId, FORMAT_VERSION};

const AT: AppliedAt = AppliedAt {
    term: 3,
    leader: 2,
    index: 42,
};

fn header(issuer: &str, body: &[u8]) -> Header {
    Header::new(None, Some(AT), 1_800_000_000, issuer.into(), 1, body)
}

fn file(body: &[u8]) -> Vec<u8> {
    format::encode(&header("https://id.example.com", body), body.to_vec())
}

/// Read `bytes` as a backup: header and body, or the first refusal.
fn read(bytes: &[u8]) -> Result<(Header, Vec<u8>), FormatError> {
    let mut r = std::io::Cursor::new(bytes);
    let h = format::read_header(&mut r)?;
    let mut body = Vec::new();
    format::check_body(&mut r, &h, Some(&mut body))?;
    Ok((h, body))
}

#[test]
fn a_file_reads_back_as_written() {
    let body = br#"{"v":1,"trees":{}}"#;
    let bytes = file(body);
    assert!(bytes.starts_with(MAGIC));
    let (h, back) = read(&bytes).unwrap();
    assert_eq!(back, body);
    assert_eq!(h, header("https://id.example.com", body));
    assert_eq!(h.body_len, body.len() as u64);
    assert_eq!(h.body_sha256.len(), 64);
    // The header is one readable line after the magic.
    let second = bytes[MAGIC.len()..].split(|b| *b == b'\n').next().unwrap();
    let line: serde_json::Value = serde_json::from_slice(second).unwrap();
    assert_eq!(line["issuer"], "https://id.example.com");
    assert_eq!(line["last_applied"]["index"], 42);
}

#[test]
fn a_foreign_file_is_refused_for_its_magic() {
    assert_eq!(read(b"{\"v\":1}\n").unwrap_err(), FormatError::BadMagic);
    let mut bytes = file(b"{}");
    bytes[0] = b'X';
    assert_eq!(read(&bytes).unwrap_err(), FormatError::BadMagic);
}

#[test]
fn another_format_version_is_refused() {
    let body = b"{}";
    let mut h = header("https://id.example.com", body);
    h.version = 2;
    let e = read(&format::encode(&h, body.to_vec())).unwrap_err();
    assert_eq!(e, FormatError::Version(2));
    assert!(e.to_string().contains("version 2 is not supported"), "{e}");
}

#[test]
fn a_damaged_header_is_refused() {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(b"{\"version\":1,\"issuer\":\n{}");
    assert!(matches!(read(&bytes), Err(FormatError::Header(_))));
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(b"{\"issuer\":\"x\"}\n");
    assert!(matches!(read(&bytes), Err(FormatError::Header(_))));
    let mut bytes = MAGIC.to_vec();
    bytes.extend(std::iter::repeat_n(b' ', 70 * 1024));
    assert!(matches!(read(&bytes), Err(FormatError::Header(_))));
}

#[test]
fn every_truncation_is_named_as_one() {
    let bytes = file(br#"{"v":1,"trees":{"users":{}}}"#);
    let header_end = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
    let body_start = header_end
        + bytes[header_end..]
            .iter()
            .position(|b| *b == b'\n')
            .unwrap()
        + 1;
    for cut in [
        0,
        5,
        header_end,
        header_end + 10,
        body_start,
        bytes.len() - 1,
    ] {
        match read(&bytes[..cut]) {
            Err(FormatError::Truncated(why)) => {
                if cut >= body_start {
                    assert!(
                        why.contains(&format!("has {} of", cut - body_start)),
                        "{why}"
                    );
                }
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn a_flipped_byte_in_the_body_fails_the_checksum() {
    let mut bytes = file(br#"{"v":1,"trees":{"users":{"user/a":{}}}}"#);
    let at = bytes.len() - 5;
    bytes[at] ^= 0x01;
    let e = read(&bytes).unwrap_err();
    assert!(matches!(e, FormatError::Checksum { .. }), "{e:?}");
    assert!(e.to_string().starts_with("checksum mismatch"), "{e}");
}

#[test]
fn bytes_after_the_body_are_refused() {
    let mut bytes = file(b"{}");
    bytes.push(b'\n');
    assert_eq!(read(&bytes).unwrap_err(), FormatError::Trailing(2));
}

/// A dev configuration (issuer http://127.0.0.1:8080, one member) whose
/// data directory is `dir/data`.
fn config(dir: &Path) -> Config {
    let mut c = Config::dev(&dir.join("dev")).unwrap();
    c.data_dir = dir.join("data");
    c
}

/// A state with alice and one signing key sealed with `config`'s master key.
fn state(config: &Config) -> Vec<u8> {
    let seal = crate::actors::keys::signing_seal(&config.master_key);
    let mut trees: BTreeMap<String, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
    let user = serde_json::to_value(crate::state::testing::user("alice", "sub-a")).unwrap();
    trees.insert("users".into(), [("user/alice".to_string(), user)].into());
    let mut key = crate::state::testing::key("k1", "RS256", crate::state::KeyState::Current);
    key.sealed_private = seal.seal(b"{\"kty\":\"RSA\"}");
    let key = serde_json::to_value(key).unwrap();
    trees.insert("keys".into(), [("key/k1".to_string(), key)].into());
    serde_json::to_vec(&SnapshotPayload {
        v: FORMAT_VERSION,
        trees,
    })
    .unwrap()
}

fn write_backup(dir: &Path, issuer: &str, body: &[u8]) -> std::path::PathBuf {
    let path = dir.join("tessera.backup");
    let mut h = header(issuer, body);
    h.state_format = FORMAT_VERSION;
    std::fs::write(&path, format::encode(&h, body.to_vec())).unwrap();
    path
}

#[test]
fn restore_seeds_a_fresh_directory_with_a_fresh_log() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let path = write_backup(dir.path(), "http://127.0.0.1:8080", &state(&c));
    let done = restore(&path, &c).unwrap();
    assert_eq!((done.index, done.records), (42, 2));

    let storage = Storage::open(&c.data_dir).unwrap();
    let mut sm = StateMachine::open(&storage).unwrap();
    assert!(sm.tree(TreeId::Users).get("user/alice").unwrap().is_some());
    assert!(sm.tree(TreeId::Keys).get("key/k1").unwrap().is_some());
    let (applied, membership) = futures::executor::block_on(sm.applied_state()).unwrap();
    let applied = applied.unwrap();
    assert_eq!((applied.leader_id.term, applied.index), (0, 42));
    let voters: Vec<u64> = membership.membership().voter_ids().collect();
    assert_eq!(voters, vec![1], "the configured members");
    assert!(futures::executor::block_on(sm.get_current_snapshot())
        .unwrap()
        .is_some());
    drop((sm, storage));

    // A second restore into the now seeded directory is refused.
    let e = restore(&path, &c).unwrap_err();
    assert!(e.contains("is not empty"), "{e}");
    assert!(e.starts_with(&c.data_dir.display().to_string()), "{e}");
}

#[test]
fn restore_refuses_another_issuer_or_master_key_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let path = write_backup(dir.path(), "https://other.example.com", &state(&c));
    let e = restore(&path, &c).unwrap_err();
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    assert!(e.contains("issuer https://other.example.com"), "{e}");
    assert!(!c.data_dir.exists());

    let mut other = c.clone();
    other.master_key = [7; 32];
    let path = write_backup(dir.path(), "http://127.0.0.1:8080", &state(&c));
    let e = restore(&path, &other).unwrap_err();
    assert!(
        e.contains("master key does not unseal signing key k1"),
        "{e}"
    );
    assert!(!c.data_dir.exists());
}

#[test]
fn restore_refuses_a_damaged_file_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let path = write_backup(dir.path(), "http://127.0.0.1:8080", &state(&c));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&path, &bytes).unwrap();
    let e = restore(&path, &c).unwrap_err();
    assert!(
        e.starts_with(&format!("{}: truncated", path.display())),
        "{e}"
    );
    assert!(!c.data_dir.exists());
}
