//! The write cache: entries that are durable in the journal but not yet in an entry
//! log. Reads look here first. A checkpoint moves the active generation aside
//! ([`WriteCache::begin_flush`]), writes it to the entry log sorted by (ledger,
//! entry), and drops it once the index points at the log ([`WriteCache::end_flush`]).
//! Sorting at flush keeps each ledger's entries contiguous in the log, which is what
//! makes read-ahead pay.
//!
//! Memory: both generations are counted ([`WriteCache::bytes`]). A checkpoint that
//! fails leaves its entries in the flushing generation; the next one merges the
//! active generation into it (never swaps over it) and retries them all, so repeated
//! failures move bytes between the counters but never hide them, and the caller's
//! bound on [`WriteCache::bytes`] holds however many checkpoints fail.

use std::collections::BTreeMap;
use std::sync::RwLock;

use folio_proto::Entry;

#[derive(Default)]
struct Generations {
    active: BTreeMap<(u64, u64), Entry>,
    active_bytes: usize,
    flushing: BTreeMap<(u64, u64), Entry>,
    flushing_bytes: usize,
}

/// Two generations of recent entries, keyed by (ledger, entry).
#[derive(Default)]
pub struct WriteCache {
    inner: RwLock<Generations>,
}

impl WriteCache {
    /// Adds an entry (replacing an earlier copy of the same entry).
    pub fn insert(&self, entry: Entry) {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let len = entry.encoded_len();
        let old = g
            .active
            .insert((entry.ledger_id(), entry.entry_id()), entry);
        g.active_bytes = g.active_bytes + len - old.map_or(0, |o| o.encoded_len());
    }

    /// An entry, if cached.
    pub fn get(&self, ledger_id: u64, entry_id: u64) -> Option<Entry> {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let key = (ledger_id, entry_id);
        g.active.get(&key).or_else(|| g.flushing.get(&key)).cloned()
    }

    /// The highest cached entry id of a ledger.
    pub fn last(&self, ledger_id: u64) -> Option<u64> {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let range = (ledger_id, 0)..=(ledger_id, u64::MAX);
        let a = g.active.range(range.clone()).next_back().map(|(k, _)| k.1);
        let f = g.flushing.range(range).next_back().map(|(k, _)| k.1);
        a.max(f)
    }

    /// Ledger ids with a cached entry, `>= start`, ascending, at most `limit`.
    pub fn ledgers(&self, start: u64, limit: usize) -> Vec<u64> {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<u64> = Vec::new();
        // The first `limit` ledgers of each generation hold the first `limit` overall.
        for gen_ in [&g.active, &g.flushing] {
            let mut last = None;
            let mut taken = 0;
            for ((l, _), _) in gen_.range((start, 0)..) {
                if last != Some(*l) {
                    if taken >= limit {
                        break;
                    }
                    ids.push(*l);
                    taken += 1;
                    last = Some(*l);
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(limit);
        ids
    }

    /// The cached entry ids of a ledger, ascending.
    pub fn entry_ids(&self, ledger_id: u64) -> Vec<u64> {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let range = (ledger_id, 0)..=(ledger_id, u64::MAX);
        let mut ids: Vec<u64> = g
            .active
            .range(range.clone())
            .chain(g.flushing.range(range))
            .map(|(k, _)| k.1)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Bytes in the active generation.
    pub fn active_bytes(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .active_bytes
    }

    /// Bytes in both generations: what the cache holds in memory.
    pub fn bytes(&self) -> usize {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        g.active_bytes + g.flushing_bytes
    }

    /// Moves the active generation aside for a flush and returns the entries to
    /// flush in (ledger, entry) order. They stay readable until
    /// [`WriteCache::end_flush`].
    ///
    /// If an earlier flush failed, its entries are still in the flushing
    /// generation: the active one is merged into it (a newer copy of an entry
    /// replaces the older) and all of them are returned, to be flushed again.
    pub fn begin_flush(&self) -> Vec<Entry> {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let g = &mut *g;
        let active = std::mem::take(&mut g.active);
        g.active_bytes = 0;
        for (key, entry) in active {
            let len = entry.encoded_len();
            let old = g.flushing.insert(key, entry);
            g.flushing_bytes = g.flushing_bytes + len - old.map_or(0, |o| o.encoded_len());
        }
        g.flushing.values().cloned().collect()
    }

    /// Drops the flushed generation: the entry log and index now hold it.
    pub fn end_flush(&self) {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        g.flushing.clear();
        g.flushing_bytes = 0;
    }

    /// Forgets a deleted ledger.
    pub fn remove_ledger(&self, ledger_id: u64) {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let range = (ledger_id, 0)..=(ledger_id, u64::MAX);
        let keys: Vec<_> = g.active.range(range.clone()).map(|(k, _)| *k).collect();
        for k in keys {
            if let Some(e) = g.active.remove(&k) {
                g.active_bytes -= e.encoded_len();
            }
        }
        let keys: Vec<_> = g.flushing.range(range).map(|(k, _)| *k).collect();
        for k in keys {
            if let Some(e) = g.flushing.remove(&k) {
                g.flushing_bytes -= e.encoded_len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_proto::EntryHeader;

    fn entry(ledger_id: u64, entry_id: u64, len: usize) -> Entry {
        Entry::new(
            EntryHeader {
                ledger_id,
                entry_id,
                lac: -1,
                length: len as u64,
            },
            &vec![entry_id as u8; len],
        )
    }

    /// A checkpoint that keeps failing (begin_flush without end_flush) must not
    /// hide bytes from the count: memory stays bounded by what the caller limits.
    #[test]
    fn failed_flushes_keep_every_byte_counted() {
        let cache = WriteCache::default();
        let mut expected = 0;
        for round in 0..5u64 {
            for e in 0..10 {
                let x = entry(1, round * 10 + e, 100);
                expected += x.encoded_len();
                cache.insert(x);
            }
            assert_eq!(cache.bytes(), expected);
            // The checkpoint starts, then fails before end_flush.
            let flushed = cache.begin_flush();
            assert_eq!(flushed.len() as u64, (round + 1) * 10);
            assert_eq!(cache.active_bytes(), 0);
            assert_eq!(cache.bytes(), expected, "round {round}");
        }
        // A newer copy of an entry that is still flushing replaces it in the count.
        cache.insert(entry(1, 0, 300));
        expected += entry(1, 0, 300).encoded_len();
        cache.begin_flush();
        expected -= entry(1, 0, 100).encoded_len();
        assert_eq!(cache.bytes(), expected);
        assert_eq!(cache.get(1, 0).map(|e| e.payload().len()), Some(300));
        // Deleting a ledger releases its bytes in both generations.
        cache.insert(entry(2, 0, 50));
        cache.remove_ledger(1);
        assert_eq!(cache.bytes(), entry(2, 0, 50).encoded_len());
        cache.begin_flush();
        cache.end_flush();
        assert_eq!(cache.bytes(), 0);
        assert!(cache.get(2, 0).is_none());
    }
}
