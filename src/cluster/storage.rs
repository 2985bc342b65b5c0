//! Opening a node's data directory: the sled database, its format version,
//! and [`Durable`], which makes writes survive power loss.
//!
//! sled 0.34's `flush()` ends in `sync_file_range`, which does not make data
//! durable; [`Durable::sync`] follows it with `fdatasync` on sled's data file.
//! sled stays behind this module, the log store and the state machine.
//!
//! Memory is bounded here too: sled's page cache is capped at
//! [`CACHE_CAPACITY`] (it is a cache of a database whose live data is small;
//! the OS page cache holds the rest), and the process's allocator is kept from
//! hoarding: glibc creates up to eight arenas per core, keeps large freed
//! blocks (argon2's 19 MiB) once its adaptive mmap threshold has risen, and
//! returns little of a freed peak (a snapshot dump is a few times the live
//! data) to the OS, so [`Storage::open`] caps the arenas and fixes the
//! threshold, and [`release_free_memory`] (called after each snapshot) trims.

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

/// Arenas glibc's malloc may use (its default is eight per core).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: libc::c_int = 2;

/// Blocks at least this large are mapped and unmapped on their own. Fixing
/// the threshold turns off glibc's adaptive one, which after the first freed
/// argon2 buffer (19 MiB) kept every later one in the heap: RSS grew by
/// that much per concurrent login and never came back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;

/// Cap the allocator's arenas and fix its mmap threshold (once, early).
fn bound_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes tunables of glibc's allocator.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Give memory freed after a peak (a snapshot) back to the OS.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of glibc's heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Storage {
    /// Open (or create) the database under `dir`, refusing data written by a
    /// newer format than this build understands.
    pub fn open(dir: &Path) -> anyhow::Result<Storage> {
        bound_allocator();
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
