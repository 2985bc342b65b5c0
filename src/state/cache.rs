//! Read caches over state trees that `apply` keeps exact.
//!
//! Each state tree has a generation counter ([`Generations`]). The state
//! machine bumps the counter of every tree an entry wrote, after the entry's
//! transaction has committed (and of every tree when a snapshot is installed).
//! A [`TreeCache`] remembers, with each value, the generation of its tree
//! read *before* the value was read from sled; a value is served only while
//! that generation is still current. So a cached value is never older than
//! the last applied write to its tree: whatever read-index guarantees for a
//! sled read holds for a cache hit too. Invalidation is per tree, which suits
//! the trees worth caching (clients, users, keys, sessions): they are read on
//! every request and written rarely.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::trees::TreeId;

/// One write counter per state tree.
#[derive(Debug, Default)]
pub struct Generations {
    counters: [AtomicU64; TreeId::ALL.len()],
}

impl Generations {
    /// The current generation of a tree.
    pub fn get(&self, tree: TreeId) -> u64 {
        self.counters[tree as usize].load(Ordering::Acquire)
    }

    /// Mark every tree in `mask` (a set of [`TreeId::bit`]s) as written.
    pub fn bump(&self, mask: u16) {
        for tree in TreeId::ALL {
            if mask & tree.bit() != 0 {
                self.counters[tree as usize].fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Mark every tree as written (a snapshot was installed).
    pub fn bump_all(&self) {
        self.bump(u16::MAX);
    }
}

/// A bounded map from key to a value derived from one tree, valid while the
/// tree's generation has not moved. Cheap to clone (shared).
#[derive(Clone)]
pub struct TreeCache<V> {
    tree: TreeId,
    generations: Arc<Generations>,
    capacity: usize,
    entries: Arc<Mutex<HashMap<String, (u64, V)>>>,
}

impl<V: Clone> TreeCache<V> {
    pub fn new(tree: TreeId, generations: Arc<Generations>, capacity: usize) -> TreeCache<V> {
        TreeCache {
            tree,
            generations,
            capacity: capacity.max(1),
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The cached value of `key`, or `load()`'s, cached if it is `Some`.
    /// Misses (`None`) are not cached: a record may appear at any moment.
    pub fn get_or_load(&self, key: &str, load: impl FnOnce() -> Option<V>) -> Option<V> {
        let generation = self.generations.get(self.tree);
        {
            let entries = self.entries.lock().expect("cache lock");
            if let Some((g, v)) = entries.get(key) {
                if *g == generation {
                    return Some(v.clone());
                }
            }
        }
        let value = load()?;
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= self.capacity {
            // Bounded memory: drop everything stale, and if the cache is
            // still full, start over (simple and O(1) amortized).
            entries.retain(|_, (g, _)| *g == generation);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key.to_string(), (generation, value.clone()));
        Some(value)
    }

    /// Number of cached values (fresh or stale).
    pub fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_to_the_tree_invalidates_its_cached_values() {
        let gens = Arc::new(Generations::default());
        let cache = TreeCache::new(TreeId::Clients, gens.clone(), 10);
        assert_eq!(cache.get_or_load("a", || Some(1)), Some(1));
        assert_eq!(
            cache.get_or_load("a", || Some(2)),
            Some(1),
            "served from cache"
        );
        gens.bump(TreeId::Users.bit());
        assert_eq!(
            cache.get_or_load("a", || Some(3)),
            Some(1),
            "other tree written"
        );
        gens.bump(TreeId::Clients.bit());
        assert_eq!(
            cache.get_or_load("a", || Some(4)),
            Some(4),
            "reloaded after a write"
        );
    }

    #[test]
    fn misses_are_not_cached_and_capacity_is_bounded() {
        let gens = Arc::new(Generations::default());
        let cache = TreeCache::new(TreeId::Users, gens.clone(), 3);
        assert_eq!(cache.get_or_load("x", || None::<u32>), None);
        assert_eq!(cache.get_or_load("x", || Some(7)), Some(7));
        for i in 0..10 {
            cache.get_or_load(&i.to_string(), || Some(i));
            assert!(cache.len() <= 3);
        }
        gens.bump_all();
        assert_eq!(cache.get_or_load("x", || Some(8)), Some(8));
    }
}
