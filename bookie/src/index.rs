//! The index: (ledger, entry) → [`Location`], plus each ledger's [`LedgerMeta`].
//!
//! The real implementation is a fjall database (an LSM tree, as BookKeeper's
//! DbLedgerStorage uses RocksDB) with three keyspaces:
//!
//! | keyspace  | key                                   | value                                   |
//! |-----------|---------------------------------------|-----------------------------------------|
//! | `entries` | ledger id u64 BE ‖ entry id u64 BE    | [`Location::to_bytes`] (20 bytes)       |
//! | `ledgers` | ledger id u64 BE                      | [`LedgerMeta::to_bytes`]                |
//! | `deleted` | ledger id u64 BE                      | empty (a deletion tombstone)            |
//!
//! A tombstone is written in the same batch that removes a deleted ledger's entries
//! and meta, and is never removed (ledger ids are never reused): it keeps adds to
//! the ledger refused after a restart, and keeps a journal replay from putting the
//! ledger's entries back once the deletion record itself has been trimmed.
//!
//! Big-endian keys sort by (ledger, entry), so "last entry of a ledger" is a floor
//! lookup: the last key of the range `(ledger, 0)..=(ledger, u64::MAX)`.
//! The index is written at three times, none of which needs fjall's own journal
//! fsynced per write:
//! - checkpoints put entry locations and metas, and [`EntryIndex::sync`] makes them
//!   durable before the checkpoint mark moves (the bookie journal covers them until
//!   then);
//! - a ledger deletion ([`EntryIndex::delete_ledger`]) removes its entries and meta
//!   and writes its tombstone in one batch, when the journal's DeleteLedger record
//!   is applied (the record covers it until the next checkpoint syncs the index);
//! - compaction points moved entries at their new copies ([`EntryIndex::put`] with
//!   no metas) after the copies are synced in the entry log, then syncs the index
//!   before it deletes the old log, so the index never points at a deleted log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::entry_log::Location;
use crate::error::StorageError;
use crate::fencing::LedgerMeta;

/// The index boundary: a real fjall store and an in-memory one implement it.
pub trait EntryIndex: Send + Sync {
    /// Stores locations and metas in one atomic batch.
    fn put(
        &self,
        entries: &[(u64, u64, Location)],
        metas: &[(u64, LedgerMeta)],
    ) -> Result<(), StorageError>;
    /// The location of one entry.
    fn get(&self, ledger_id: u64, entry_id: u64) -> Result<Option<Location>, StorageError>;
    /// The highest entry id of a ledger and its location (a floor lookup).
    fn last(&self, ledger_id: u64) -> Result<Option<(u64, Location)>, StorageError>;
    /// Removes a ledger's entries and meta and records its tombstone, in one batch.
    fn delete_ledger(&self, ledger_id: u64) -> Result<(), StorageError>;
    /// Every ledger with a deletion tombstone.
    fn tombstones(&self) -> Result<Vec<u64>, StorageError>;
    /// Ledger ids with at least one indexed entry, `>= start`, ascending, at most
    /// `limit` of them.
    fn ledgers(&self, start: u64, limit: usize) -> Result<Vec<u64>, StorageError>;
    /// Indexed entries in (ledger, entry) order from `from` (inclusive), at most
    /// `limit` of them.
    fn scan(
        &self,
        from: (u64, u64),
        limit: usize,
    ) -> Result<Vec<(u64, u64, Location)>, StorageError>;
    /// Every stored ledger meta.
    fn metas(&self) -> Result<Vec<(u64, LedgerMeta)>, StorageError>;
    /// Makes every earlier change durable.
    fn sync(&self) -> Result<(), StorageError>;
}

/// A shared index (so a simulated bookie's index outlives a simulated crash).
impl<T: EntryIndex + ?Sized> EntryIndex for std::sync::Arc<T> {
    fn put(
        &self,
        entries: &[(u64, u64, Location)],
        metas: &[(u64, LedgerMeta)],
    ) -> Result<(), StorageError> {
        (**self).put(entries, metas)
    }
    fn get(&self, ledger_id: u64, entry_id: u64) -> Result<Option<Location>, StorageError> {
        (**self).get(ledger_id, entry_id)
    }
    fn last(&self, ledger_id: u64) -> Result<Option<(u64, Location)>, StorageError> {
        (**self).last(ledger_id)
    }
    fn delete_ledger(&self, ledger_id: u64) -> Result<(), StorageError> {
        (**self).delete_ledger(ledger_id)
    }
    fn tombstones(&self) -> Result<Vec<u64>, StorageError> {
        (**self).tombstones()
    }
    fn ledgers(&self, start: u64, limit: usize) -> Result<Vec<u64>, StorageError> {
        (**self).ledgers(start, limit)
    }
    fn scan(
        &self,
        from: (u64, u64),
        limit: usize,
    ) -> Result<Vec<(u64, u64, Location)>, StorageError> {
        (**self).scan(from, limit)
    }
    fn metas(&self) -> Result<Vec<(u64, LedgerMeta)>, StorageError> {
        (**self).metas()
    }
    fn sync(&self) -> Result<(), StorageError> {
        (**self).sync()
    }
}

fn entry_key(ledger_id: u64, entry_id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&ledger_id.to_be_bytes());
    k[8..].copy_from_slice(&entry_id.to_be_bytes());
    k
}

/// The ledger id a key starts with.
fn ledger_of(key: &[u8]) -> Option<u64> {
    key.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
}

fn corrupt(what: &str, ledger_id: u64) -> StorageError {
    StorageError::Corrupt(format!("index {what} for ledger {ledger_id} is malformed"))
}

/// The fjall-backed index.
pub struct FjallIndex {
    db: Database,
    entries: Keyspace,
    ledgers: Keyspace,
    deleted: Keyspace,
}

impl FjallIndex {
    /// Opens (or creates) the index in `dir`.
    pub fn open(dir: &Path) -> Result<FjallIndex, StorageError> {
        let db = Database::builder(dir).manual_journal_persist(true).open()?;
        let entries = db.keyspace("entries", KeyspaceCreateOptions::default)?;
        let ledgers = db.keyspace("ledgers", KeyspaceCreateOptions::default)?;
        let deleted = db.keyspace("deleted", KeyspaceCreateOptions::default)?;
        Ok(FjallIndex {
            db,
            entries,
            ledgers,
            deleted,
        })
    }
}

impl EntryIndex for FjallIndex {
    fn put(
        &self,
        entries: &[(u64, u64, Location)],
        metas: &[(u64, LedgerMeta)],
    ) -> Result<(), StorageError> {
        let mut batch = self.db.batch();
        for (l, e, loc) in entries {
            batch.insert(&self.entries, entry_key(*l, *e), loc.to_bytes());
        }
        for (l, m) in metas {
            batch.insert(&self.ledgers, l.to_be_bytes(), m.to_bytes());
        }
        batch.commit()?;
        Ok(())
    }

    fn get(&self, ledger_id: u64, entry_id: u64) -> Result<Option<Location>, StorageError> {
        match self.entries.get(entry_key(ledger_id, entry_id))? {
            None => Ok(None),
            Some(v) => Location::from_bytes(&v)
                .map(Some)
                .ok_or_else(|| corrupt("location", ledger_id)),
        }
    }

    fn last(&self, ledger_id: u64) -> Result<Option<(u64, Location)>, StorageError> {
        let range = entry_key(ledger_id, 0)..=entry_key(ledger_id, u64::MAX);
        let Some(guard) = self.entries.range(range).next_back() else {
            return Ok(None);
        };
        let (k, v) = guard.into_inner()?;
        let entry_id = k
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| corrupt("key", ledger_id))?;
        let loc = Location::from_bytes(&v).ok_or_else(|| corrupt("location", ledger_id))?;
        Ok(Some((entry_id, loc)))
    }

    fn delete_ledger(&self, ledger_id: u64) -> Result<(), StorageError> {
        let mut batch = self.db.batch();
        let range = entry_key(ledger_id, 0)..=entry_key(ledger_id, u64::MAX);
        for guard in self.entries.range(range) {
            let k = guard.key()?;
            batch.remove(&self.entries, k);
        }
        batch.remove(&self.ledgers, ledger_id.to_be_bytes());
        batch.insert(&self.deleted, ledger_id.to_be_bytes(), []);
        batch.commit()?;
        Ok(())
    }

    fn tombstones(&self) -> Result<Vec<u64>, StorageError> {
        let mut out = Vec::new();
        for guard in self.deleted.iter() {
            let k = guard.key()?;
            out.push(
                ledger_of(&k).ok_or_else(|| {
                    StorageError::Corrupt("index tombstone key is malformed".into())
                })?,
            );
        }
        Ok(out)
    }

    fn ledgers(&self, start: u64, limit: usize) -> Result<Vec<u64>, StorageError> {
        let mut out = Vec::new();
        let mut from = Some(start);
        // One seek per ledger: find the first key at or after (from, 0), then skip
        // past that ledger.
        while let Some(l) = from {
            if out.len() >= limit {
                break;
            }
            let Some(guard) = self.entries.range(entry_key(l, 0)..).next() else {
                break;
            };
            let k = guard.key()?;
            let ledger = ledger_of(&k).ok_or_else(|| corrupt("key", l))?;
            out.push(ledger);
            from = ledger.checked_add(1);
        }
        Ok(out)
    }

    fn scan(
        &self,
        from: (u64, u64),
        limit: usize,
    ) -> Result<Vec<(u64, u64, Location)>, StorageError> {
        let mut out = Vec::new();
        for guard in self.entries.range(entry_key(from.0, from.1)..).take(limit) {
            let (k, v) = guard.into_inner()?;
            let ledger = ledger_of(&k).ok_or_else(|| corrupt("key", from.0))?;
            let entry = k
                .get(8..16)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| corrupt("key", ledger))?;
            let loc = Location::from_bytes(&v).ok_or_else(|| corrupt("location", ledger))?;
            out.push((ledger, entry, loc));
        }
        Ok(out)
    }

    fn metas(&self) -> Result<Vec<(u64, LedgerMeta)>, StorageError> {
        let mut out = Vec::new();
        for guard in self.ledgers.iter() {
            let (k, v) = guard.into_inner()?;
            let id = k
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| StorageError::Corrupt("index ledger key is malformed".into()))?;
            let meta = LedgerMeta::from_bytes(&v).ok_or_else(|| corrupt("meta", id))?;
            out.push((id, meta));
        }
        Ok(out)
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }
}

type MemIndexInner = (
    BTreeMap<(u64, u64), Location>,
    BTreeMap<u64, LedgerMeta>,
    BTreeSet<u64>,
);

/// An in-memory index, for tests and simulation.
#[derive(Debug, Default)]
pub struct MemIndex {
    inner: Mutex<MemIndexInner>,
}

impl EntryIndex for MemIndex {
    fn put(
        &self,
        entries: &[(u64, u64, Location)],
        metas: &[(u64, LedgerMeta)],
    ) -> Result<(), StorageError> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (l, e, loc) in entries {
            g.0.insert((*l, *e), *loc);
        }
        for (l, m) in metas {
            g.1.insert(*l, m.clone());
        }
        Ok(())
    }

    fn get(&self, ledger_id: u64, entry_id: u64) -> Result<Option<Location>, StorageError> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Ok(g.0.get(&(ledger_id, entry_id)).copied())
    }

    fn last(&self, ledger_id: u64) -> Result<Option<(u64, Location)>, StorageError> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Ok(g.0
            .range((ledger_id, 0)..=(ledger_id, u64::MAX))
            .next_back()
            .map(|((_, e), loc)| (*e, *loc)))
    }

    fn delete_ledger(&self, ledger_id: u64) -> Result<(), StorageError> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0.retain(|(l, _), _| *l != ledger_id);
        g.1.remove(&ledger_id);
        g.2.insert(ledger_id);
        Ok(())
    }

    fn tombstones(&self) -> Result<Vec<u64>, StorageError> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Ok(g.2.iter().copied().collect())
    }

    fn ledgers(&self, start: u64, limit: usize) -> Result<Vec<u64>, StorageError> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<u64> = Vec::new();
        for ((l, _), _) in g.0.range((start, 0)..) {
            if out.last() != Some(l) {
                if out.len() >= limit {
                    break;
                }
                out.push(*l);
            }
        }
        Ok(out)
    }

    fn scan(
        &self,
        from: (u64, u64),
        limit: usize,
    ) -> Result<Vec<(u64, u64, Location)>, StorageError> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Ok(g.0
            .range(from..)
            .take(limit)
            .map(|((l, e), loc)| (*l, *e, *loc))
            .collect())
    }

    fn metas(&self) -> Result<Vec<(u64, LedgerMeta)>, StorageError> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Ok(g.1.iter().map(|(k, v)| (*k, v.clone())).collect())
    }

    fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_floor(index: &dyn EntryIndex) {
        let loc = |o| Location {
            log_id: 1,
            offset: o,
            len: 10,
        };
        index
            .put(
                &[
                    (1, 0, loc(0)),
                    (1, 5, loc(5)),
                    (2, 0, loc(9)),
                    (0, 7, loc(7)),
                ],
                &[],
            )
            .expect("put");
        assert_eq!(index.last(1).expect("last"), Some((5, loc(5))));
        assert_eq!(index.last(3).expect("last"), None);
        assert_eq!(index.get(1, 5).expect("get"), Some(loc(5)));
        assert_eq!(index.get(1, 4).expect("get"), None);
        assert_eq!(index.ledgers(0, 10).expect("ledgers"), vec![0, 1, 2]);
        assert_eq!(index.ledgers(1, 1).expect("ledgers"), vec![1]);
        assert_eq!(index.ledgers(3, 10).expect("ledgers"), Vec::<u64>::new());
        assert_eq!(
            index.scan((1, 1), 2).expect("scan"),
            vec![(1, 5, loc(5)), (2, 0, loc(9))]
        );
        index.delete_ledger(1).expect("delete");
        assert_eq!(index.last(1).expect("last"), None);
        assert_eq!(index.last(2).expect("last"), Some((0, loc(9))));
        assert_eq!(index.ledgers(0, 10).expect("ledgers"), vec![0, 2]);
        assert_eq!(index.tombstones().expect("tombstones"), vec![1]);
    }

    #[test]
    fn floor_lookup_mem() {
        check_floor(&MemIndex::default());
    }

    #[test]
    fn floor_lookup_fjall() {
        let dir = tempfile::tempdir().expect("tempdir");
        check_floor(&FjallIndex::open(dir.path()).expect("open"));
    }
}
