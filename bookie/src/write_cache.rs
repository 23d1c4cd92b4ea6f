//! The write cache: entries that are durable in the journal but not yet in an entry
//! log. Reads look here first. A checkpoint moves the active generation aside
//! ([`WriteCache::begin_flush`]), writes it to the entry log sorted by (ledger,
//! entry), and drops it once the index points at the log ([`WriteCache::end_flush`]).
//! Sorting at flush keeps each ledger's entries contiguous in the log, which is what
//! makes read-ahead pay.

use std::collections::BTreeMap;
use std::sync::RwLock;

use folio_proto::Entry;

#[derive(Default)]
struct Generations {
    active: BTreeMap<(u64, u64), Entry>,
    active_bytes: usize,
    flushing: BTreeMap<(u64, u64), Entry>,
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

    /// Moves the active generation aside for a flush and returns its entries in
    /// (ledger, entry) order. They stay readable until [`WriteCache::end_flush`].
    pub fn begin_flush(&self) -> Vec<Entry> {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let active = std::mem::take(&mut g.active);
        g.active_bytes = 0;
        // Entries still flushing from a failed earlier checkpoint are flushed again.
        let mut flushing = std::mem::take(&mut g.flushing);
        flushing.extend(active);
        let out = flushing.values().cloned().collect();
        g.flushing = flushing;
        out
    }

    /// Drops the flushed generation: the entry log and index now hold it.
    pub fn end_flush(&self) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .flushing
            .clear();
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
            g.flushing.remove(&k);
        }
    }
}
