//! The process's allocators, kept fast and from hoarding memory.
//!
//! Rust allocations go to mimalloc (the `#[global_allocator]` below).
//! glibc's malloc, used before, slowed down as the heap aged: after a few
//! minutes of writes a profile of introspection on such a node spent twice
//! as long in `_int_malloc` as on a fresh one. With mimalloc (free lists
//! per thread and page) introspection after the same writes cost 0.23
//! instead of 0.31 ms of CPU per request. It is built without transparent
//! huge pages (`no_thp`): with them every touched 2 MiB region stayed
//! resident and an idle node took 74–110 MB instead of ~30.
//!
//! C libraries (OpenSSL) still allocate with glibc's malloc, whose arenas
//! [`bound`] caps and whose mmap threshold it fixes. [`release_free_memory`]
//! hands freed memory of both back to the OS at once; it runs after a
//! snapshot (a peak a few times the live data) and after argon2's scratch
//! memory is freed (see `crypto::password`).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Arenas glibc's malloc may use (its default is eight per core).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: libc::c_int = 2;

/// Blocks at least this large are mapped and unmapped on their own. Fixing
/// the threshold turns off glibc's adaptive one, which keeps large freed
/// blocks in the heap once one has been freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;

/// Cap glibc's arenas and fix its mmap threshold (once, early).
pub fn bound() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes tunables of glibc's allocator.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Give memory freed after a peak back to the OS now, rather than when
/// the allocator next gets to it.
pub fn release_free_memory() {
    // SAFETY: mi_collect only returns mimalloc's free pages to the OS.
    unsafe { libmimalloc_sys::mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of glibc's heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    fn rss_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").expect("status");
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }

    /// A freed peak is no longer resident once released: a 512 MiB block,
    /// touched, freed and released, gives back at least 400 MiB of RSS
    /// (other tests run meanwhile, hence the slack). Without the release,
    /// mimalloc would keep the pages for its purge delay.
    #[test]
    fn a_released_peak_goes_back_to_the_os() {
        let block = vec![1u8; 512 << 20];
        std::hint::black_box(&block);
        let peak = rss_kib();
        drop(block);
        super::release_free_memory();
        let after = rss_kib();
        assert!(after + 400 * 1024 <= peak, "released: {peak} → {after} KiB");
    }
}
