//! `tessera backup` and `tessera restore` (see [`crate::backup`]).
//!
//! `backup` streams the node's answer to a temporary file beside `--out`
//! (created 0600, never readable by others), syncs it, checks it as
//! `restore` would (magic, version, length, SHA-256), and only then renames
//! it over `--out` and syncs the directory: `--out` is either the previous
//! file or the complete new one. `restore` runs offline on one node's
//! `cluster.toml`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::admin::{connect, Failure};
use super::Target;
use crate::backup::format::{self, Header};
use crate::config::Config;

pub async fn backup(out: PathBuf, target: Target) -> Result<(), Failure> {
    let api = connect(&target)?;
    let name = out
        .file_name()
        .ok_or_else(|| Failure(2, format!("{}: not a file name", out.display())))?;
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let res = api.backup().await?;
    let written = download(res, &tmp, &out).await;
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let h = written?;
    let at = h
        .last_applied
        .map_or("-".into(), |a| format!("{} (term {})", a.index, a.term));
    println!(
        "wrote {}: issuer {}, log index {at}, {} bytes of state, sha256 {}",
        out.display(),
        h.issuer,
        h.body_len,
        h.body_sha256
    );
    Ok(())
}

/// Stream `res` into `tmp`, check it, rename it to `out`; its header.
async fn download(mut res: reqwest::Response, tmp: &Path, out: &Path) -> Result<Header, Failure> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |what: &str, e: &dyn std::fmt::Display| Failure(1, format!("{what}: {e}"));
    let tmp_name = tmp.display().to_string();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| fail(&tmp_name, &e))?;
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| fail("the backup download failed", &e))?
    {
        f.write_all(&chunk).map_err(|e| fail(&tmp_name, &e))?;
    }
    f.sync_all().map_err(|e| fail(&tmp_name, &e))?;
    drop(f);
    let header =
        format::verify_file(tmp).map_err(|e| fail("the node sent a damaged backup", &e))?;
    let out_name = out.display().to_string();
    std::fs::rename(tmp, out).map_err(|e| fail(&out_name, &e))?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail(&dir.display().to_string(), &e))?;
    Ok(header)
}

/// `tessera restore --from FILE --config cluster.toml`; its exit code.
pub fn restore(from: &Path, config: &Path) -> ExitCode {
    let config = match Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    match crate::backup::restore::restore(from, &config) {
        Ok(r) => {
            println!(
                "restored {} records (log index {}, taken at unix time {}) into {}; \
                 start node {} when every node is restored",
                r.records,
                r.index,
                r.header.created_at,
                config.data_dir.display(),
                config.node_id,
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
