//! [`RecentEntries`]: the newest log entries, kept decoded beside the log.
//!
//! openraft reads an entry back from the log store soon after it was
//! appended: the leader once per follower to replicate it, and every node
//! once more to apply it. From sled each such read is a tree lookup plus a
//! JSON decode of the whole entry. The log store keeps the entries it
//! appended last here (at most [`MAX_ENTRIES`], and at most [`MAX_BYTES`] of
//! their encoded size) and answers a read from here when the range starts
//! inside what is kept; anything older comes from sled.
//!
//! What is kept is always the tail of the log, exactly: an append pushes
//! (one that does not continue the kept run replaces it), a truncation drops
//! everything from its index on, a purge everything up to its index.
//! Because the run ends at the log's last entry, a range that starts inside
//! it is answered completely from here.

use std::collections::VecDeque;
use std::sync::Mutex;

use openraft::RaftLogId;

use super::Entry;

/// Entries kept at most.
pub const MAX_ENTRIES: usize = 512;
/// Encoded bytes of the kept entries at most.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;

/// The log's newest entries; see the module doc.
#[derive(Default)]
pub struct RecentEntries {
    inner: Mutex<Run>,
}

#[derive(Default)]
struct Run {
    /// Consecutive entries with their encoded sizes, oldest first.
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
}

fn index(e: &Entry) -> u64 {
    e.get_log_id().index
}

impl RecentEntries {
    fn run(&self) -> std::sync::MutexGuard<'_, Run> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keep `entry` (encoded in `size` bytes), just appended to the log.
    pub fn push(&self, entry: Entry, size: usize) {
        let mut run = self.run();
        let follows = run.entries.back().map(|(e, _)| index(e) + 1);
        if follows.is_some_and(|next| next != index(&entry)) {
            run.entries.clear();
            run.bytes = 0;
        }
        run.bytes += size;
        run.entries.push_back((entry, size));
        while run.entries.len() > MAX_ENTRIES || run.bytes > MAX_BYTES {
            let Some((_, size)) = run.entries.pop_front() else {
                break;
            };
            run.bytes -= size;
        }
    }

    /// The entries from `start` to `end` (exclusive; `None`: to the last),
    /// if `start` lies within the kept run; `None` means "read sled".
    pub fn get(&self, start: u64, end: Option<u64>) -> Option<Vec<Entry>> {
        let run = self.run();
        let first = index(&run.entries.front()?.0);
        if start < first {
            return None;
        }
        let skip = (start - first) as usize;
        let take = end.map_or(usize::MAX, |end| end.saturating_sub(start) as usize);
        Some(
            run.entries
                .iter()
                .skip(skip)
                .take(take)
                .map(|(e, _)| e.clone())
                .collect(),
        )
    }

    /// The log was truncated: entries from `from` on are gone.
    pub fn truncate(&self, from: u64) {
        let mut run = self.run();
        while run.entries.back().is_some_and(|(e, _)| index(e) >= from) {
            let (_, size) = run.entries.pop_back().expect("checked");
            run.bytes -= size;
        }
    }

    /// The log was purged: entries up to `upto` (inclusive) are gone.
    pub fn purge(&self, upto: u64) {
        let mut run = self.run();
        while run.entries.front().is_some_and(|(e, _)| index(e) <= upto) {
            let (_, size) = run.entries.pop_front().expect("checked");
            run.bytes -= size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload, LogId};

    fn entry(i: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), i),
            payload: EntryPayload::Blank,
        }
    }

    fn indexes(v: Option<Vec<Entry>>) -> Option<Vec<u64>> {
        v.map(|v| v.iter().map(index).collect())
    }

    fn filled(range: std::ops::Range<u64>) -> RecentEntries {
        let r = RecentEntries::default();
        for i in range {
            r.push(entry(i), 10);
        }
        r
    }

    #[test]
    fn answers_ranges_that_start_inside_the_run_and_sends_older_ones_to_sled() {
        let r = filled(5..10);
        assert_eq!(indexes(r.get(5, Some(10))), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(indexes(r.get(7, Some(9))), Some(vec![7, 8]));
        assert_eq!(indexes(r.get(8, None)), Some(vec![8, 9]));
        // Past the last entry: nothing, as in the log.
        assert_eq!(indexes(r.get(10, Some(12))), Some(vec![]));
        assert_eq!(indexes(r.get(4, Some(6))), None, "4 is only in sled");
        assert_eq!(indexes(RecentEntries::default().get(0, None)), None);
    }

    #[test]
    fn truncation_purge_and_a_gap_keep_it_the_exact_tail_of_the_log() {
        let r = filled(1..8);
        r.truncate(5);
        assert_eq!(indexes(r.get(1, None)), Some(vec![1, 2, 3, 4]));
        r.push(entry(5), 10);
        r.purge(2);
        assert_eq!(indexes(r.get(3, None)), Some(vec![3, 4, 5]));
        assert_eq!(indexes(r.get(2, None)), None);
        // An append that does not follow the run starts a new one.
        r.push(entry(9), 10);
        assert_eq!(indexes(r.get(9, None)), Some(vec![9]));
        assert_eq!(indexes(r.get(5, None)), None);
    }

    #[test]
    fn keeps_at_most_max_entries_and_max_bytes() {
        let r = filled(0..(MAX_ENTRIES as u64 + 10));
        assert_eq!(indexes(r.get(9, Some(10))), None);
        assert_eq!(indexes(r.get(10, Some(11))), Some(vec![10]));
        let r = RecentEntries::default();
        for i in 0..4 {
            r.push(entry(i), MAX_BYTES / 2);
        }
        assert_eq!(indexes(r.get(2, None)), Some(vec![2, 3]));
        assert_eq!(indexes(r.get(1, None)), None);
    }
}
