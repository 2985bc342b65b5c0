//! The backup file: a magic line, a one-line JSON [`Header`], then the body.
//!
//! ```text
//! TESSERA-BACKUP\n
//! {"version":1,"last_applied":{..},"created_at":..,"issuer":"..",
//!  "state_format":1,"body_len":N,"body_sha256":".."}\n
//! <N bytes: the state snapshot, JSON (the body of a Raft snapshot)>
//! ```
//!
//! The header is readable with `head -2`; the body is exactly what a node
//! installs as a Raft snapshot, so its secrets are as at rest: password and
//! client-secret hashes, private signing keys sealed with the master key
//! (docs/ARCHITECTURE.md invariant 5). Reading checks, in order: the magic,
//! the format version, the header, the body's length (a truncated file is
//! named as such), nothing after the body, and the SHA-256 of the body.
//! Every check fails with a [`FormatError`], never a panic; the body is
//! read in chunks, so verifying a file needs no more memory than a chunk.

use std::io::{BufRead, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first bytes of every backup file.
pub const MAGIC: &[u8] = b"TESSERA-BACKUP\n";
/// The version of this file layout (not of the state inside it).
pub const VERSION: u32 = 1;
/// A longer header line is refused (a damaged or foreign file).
const MAX_HEADER: u64 = 64 * 1024;
/// Bytes read and hashed at a time.
const CHUNK: usize = 64 * 1024;

/// The Raft log position the snapshot was taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedAt {
    pub term: u64,
    /// The node that led in `term`.
    pub leader: u64,
    pub index: u64,
}

/// What a backup says about itself (the second line of the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// [`VERSION`].
    pub version: u32,
    /// The id of the cluster backed up, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// The last log entry applied to the state in the body.
    pub last_applied: Option<AppliedAt>,
    /// Unix seconds, from the clock of the node that made the backup.
    pub created_at: u64,
    /// The issuer of the cluster backed up; restore requires the same.
    pub issuer: String,
    /// The data format of the state (`state::FORMAT_VERSION` when taken).
    pub state_format: u32,
    pub body_len: u64,
    /// Lowercase hex.
    pub body_sha256: String,
}

/// Why a file is not a usable backup; each renders as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a Tessera backup (bad magic)")]
    BadMagic,
    #[error("backup format version {0} is not supported (this release reads version {VERSION})")]
    Version(u64),
    #[error("damaged header: {0}")]
    Header(String),
    #[error("truncated: {0}")]
    Truncated(String),
    #[error("damaged: unexpected bytes after the {0}-byte body")]
    Trailing(u64),
    #[error("checksum mismatch: the body's SHA-256 is {found}, the header says {expected}")]
    Checksum { expected: String, found: String },
    #[error("cannot read the file: {0}")]
    Io(String),
}

impl From<std::io::Error> for FormatError {
    fn from(e: std::io::Error) -> Self {
        FormatError::Io(e.to_string())
    }
}

/// Lowercase hex of a SHA-256 digest.
fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `body`, in lowercase hex.
pub fn sha256_hex(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

impl Header {
    /// The header of a backup whose body is `body`.
    pub fn new(
        cluster_id: Option<String>,
        last_applied: Option<AppliedAt>,
        created_at: u64,
        issuer: String,
        state_format: u32,
        body: &[u8],
    ) -> Header {
        Header {
            version: VERSION,
            cluster_id,
            last_applied,
            created_at,
            issuer,
            state_format,
            body_len: body.len() as u64,
            body_sha256: sha256_hex(body),
        }
    }
}

/// The whole file: magic, header line, then `body`, moved up in place
/// (no second copy of a large body).
pub fn encode(header: &Header, mut body: Vec<u8>) -> Vec<u8> {
    let mut head = MAGIC.to_vec();
    serde_json::to_writer(&mut head, header).expect("a header serializes");
    head.push(b'\n');
    body.splice(0..0, head);
    body
}

/// Read the magic and the header; `r` is left at the start of the body.
pub fn read_header(r: &mut impl BufRead) -> Result<Header, FormatError> {
    let mut magic = Vec::with_capacity(MAGIC.len());
    r.by_ref()
        .take(MAGIC.len() as u64)
        .read_to_end(&mut magic)?;
    if magic.as_slice() != MAGIC {
        return match MAGIC.starts_with(&magic) {
            true => Err(FormatError::Truncated(
                "the file ends inside the magic".into(),
            )),
            false => Err(FormatError::BadMagic),
        };
    }
    let mut line = Vec::new();
    let n = r.by_ref().take(MAX_HEADER).read_until(b'\n', &mut line)?;
    if line.pop() != Some(b'\n') {
        return Err(match n as u64 >= MAX_HEADER {
            true => FormatError::Header(format!("longer than {MAX_HEADER} bytes")),
            false => FormatError::Truncated("the file ends inside the header".into()),
        });
    }
    let value: serde_json::Value =
        serde_json::from_slice(&line).map_err(|e| FormatError::Header(e.to_string()))?;
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => return Err(FormatError::Version(v)),
        None => return Err(FormatError::Header("no format version".into())),
    }
    serde_json::from_value(value).map_err(|e| FormatError::Header(e.to_string()))
}

/// Read the body that follows a header, check its length, that nothing
/// follows it, and its checksum; with `keep`, collect it there too.
pub fn check_body(
    r: &mut impl Read,
    header: &Header,
    mut keep: Option<&mut Vec<u8>>,
) -> Result<(), FormatError> {
    let mut hasher = Sha256::new();
    let mut body = r.by_ref().take(header.body_len);
    let mut buf = vec![0u8; CHUNK];
    let mut read = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        hasher.update(&buf[..n]);
        if let Some(k) = keep.as_deref_mut() {
            k.extend_from_slice(&buf[..n]);
        }
        read += n as u64;
    }
    if read < header.body_len {
        return Err(FormatError::Truncated(format!(
            "the body has {read} of its {} bytes",
            header.body_len
        )));
    }
    if r.read(&mut buf[..1])? != 0 {
        return Err(FormatError::Trailing(header.body_len));
    }
    let found = hex(&hasher.finalize());
    if found != header.body_sha256 {
        return Err(FormatError::Checksum {
            expected: header.body_sha256.clone(),
            found,
        });
    }
    Ok(())
}

/// Check a backup file without keeping its body; its header.
pub fn verify_file(path: &Path) -> Result<Header, FormatError> {
    let mut r = std::io::BufReader::new(std::fs::File::open(path)?);
    let header = read_header(&mut r)?;
    check_body(&mut r, &header, None)?;
    Ok(header)
}

/// Check a backup file and return its header and body.
pub fn read_file(path: &Path) -> Result<(Header, Vec<u8>), FormatError> {
    let mut r = std::io::BufReader::new(std::fs::File::open(path)?);
    let header = read_header(&mut r)?;
    let mut body = Vec::new();
    check_body(&mut r, &header, Some(&mut body))?;
    Ok((header, body))
}
