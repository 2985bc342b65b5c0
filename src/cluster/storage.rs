//! Opening a node's data directory: the sled database, its format version,
//! and [`Durable`], which makes writes survive power loss.
//!
//! sled 0.34's `flush()` ends in `sync_file_range`, which does not make data
//! durable; [`Durable::sync`] follows it with `fdatasync` on sled's data file.
//! sled stays behind this module, the log store and the state machine.
//!
//! Memory is bounded here too: sled's page cache is capped at
//! [`CACHE_CAPACITY`] (it is a cache of a database whose live data is small;
//! the OS page cache holds the rest), and [`Storage::open`] bounds the C
//! allocator before anything else runs (`crate::memory`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::state::FORMAT_VERSION;

/// The opened database of one node.
#[derive(Clone)]
pub struct Storage {
    pub db: sled::Db,
    pub durable: Arc<Durable>,
    pub dir: PathBuf,
}

/// Flush sled and `fdatasync` its data file.
pub struct Durable {
    db: sled::Db,
    file: File,
}

impl Durable {
    pub fn sync(&self) -> std::io::Result<()> {
        let started = std::time::Instant::now();
        self.db.flush()?;
        self.file.sync_data()?;
        crate::metrics::METRICS
            .storage_fsync_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }
}

const FORMAT_KEY: &str = "format_version";

/// sled's page cache, in bytes.
pub const CACHE_CAPACITY: u64 = 16 * 1024 * 1024;

impl Storage {
    /// Open (or create) the database under `dir`, refusing data written by a
    /// newer format than this build understands.
    pub fn open(dir: &Path) -> anyhow::Result<Storage> {
        crate::memory::bound();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let sled_dir = dir.join("sled");
        let db = sled::Config::new()
            .path(&sled_dir)
            .cache_capacity(CACHE_CAPACITY)
            .open()
            .with_context(|| format!("cannot open the database in {}", sled_dir.display()))?;
        let meta = db.open_tree("node_meta")?;
        match meta.get(FORMAT_KEY)? {
            Some(v) => {
                let found: u32 = std::str::from_utf8(&v)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .context("the data directory's format version is unreadable")?;
                if found > FORMAT_VERSION {
                    bail!(
                        "the data directory {} was written by format version {found}, newer than this \
                         binary's {FORMAT_VERSION}; run a newer tessera release on it",
                        dir.display()
                    );
                }
            }
            None => {
                meta.insert(FORMAT_KEY, FORMAT_VERSION.to_string().as_bytes())?;
            }
        }
        let file = File::open(sled_dir.join("db"))
            .context("cannot open sled's data file for fdatasync")?;
        let durable = Arc::new(Durable {
            db: db.clone(),
            file,
        });
        durable.sync()?;
        Ok(Storage {
            db,
            durable,
            dir: dir.to_path_buf(),
        })
    }

    /// Bytes sled uses on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}
