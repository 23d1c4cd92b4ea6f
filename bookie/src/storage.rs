//! Ledger storage: the write cache, the entry logs and the index together, with the
//! read path (cache, then read-ahead blocks, then the entry log) and the checkpoint.
//!
//! Checkpoint order (docs/format.md §Checkpoint):
//! 1. the caller reads the journal's applied position *before* anything else, so
//!    every record before it is already in the write cache;
//! 2. the cache's active generation is written to the entry log in (ledger, entry)
//!    order and the log is fdatasynced;
//! 3. the index gets the new locations and the ledger metas, and is synced;
//! 4. the mark is replaced atomically; only then may older journal files go.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use folio_proto::{Entry, ReadTarget};

use crate::checkpoint;
use crate::entry_log::{EntryLog, Location, RECORD_LEN_BYTES, parse_record};

use crate::error::StorageError;
use crate::fencing::LedgerMeta;
use crate::index::EntryIndex;
use crate::journal::JournalPos;
use crate::write_cache::WriteCache;

/// How many read-ahead blocks are kept.
const READ_AHEAD_BLOCKS: usize = 16;

/// Recently read entry-log blocks.
struct ReadAhead {
    block_bytes: usize,
    blocks: Mutex<VecDeque<(u64, u64, Bytes)>>,
}

impl ReadAhead {
    /// A block holding the whole record at `loc`, from its first byte.
    fn lookup(&self, loc: Location) -> Option<Bytes> {
        let need = RECORD_LEN_BYTES + u64::from(loc.len);
        let blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        blocks.iter().find_map(|(log_id, start, data)| {
            let end = start + data.len() as u64;
            (*log_id == loc.log_id && *start <= loc.offset && loc.offset + need <= end)
                .then(|| data.slice((loc.offset - start) as usize..))
        })
    }

    fn remember(&self, log_id: u64, start: u64, data: Bytes) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        if blocks.len() >= READ_AHEAD_BLOCKS {
            blocks.pop_front();
        }
        blocks.push_back((log_id, start, data));
    }
}

/// Index entries read per batch when walking the index.
const SCAN_BATCH: usize = 4096;

/// Builds sorted, disjoint, non-adjacent inclusive ranges from ascending ids.
#[derive(Default)]
struct RangeBuilder {
    ranges: Vec<(u64, u64)>,
}

impl RangeBuilder {
    /// Adds `id`, which is at least every id added before.
    fn push(&mut self, id: u64) {
        match self.ranges.last_mut() {
            Some((_, last)) if *last >= id => {}
            Some((_, last)) if *last + 1 == id => *last = id,
            _ => self.ranges.push((id, id)),
        }
    }

    fn finish(self) -> Vec<(u64, u64)> {
        self.ranges
    }
}

/// Entries of all ledgers, their index and the checkpoint mark.
pub struct LedgerStorage {
    data_dir: PathBuf,
    cache: WriteCache,
    log: EntryLog,
    index: Box<dyn EntryIndex>,
    read_ahead: ReadAhead,
    /// Deleted ledgers (the index's tombstones plus deletions since start-up); a
    /// checkpoint that races a deletion must not put their entries back into the
    /// index, and a journal replay must not bring them back. Ledger ids are never
    /// reused.
    deleted: Mutex<HashSet<u64>>,
    /// Stored copies found corrupt (by the scrubber or a read) that no newer copy
    /// has replaced yet. Reads of them answer an error.
    corrupt: Mutex<BTreeSet<(u64, u64)>>,
    /// Serialises index writes of checkpoints, deletions and compaction moves.
    index_lock: Mutex<()>,
    /// Held for a whole checkpoint (entry-log appends through index put), so that
    /// [`LedgerStorage::sealed_below`] never sees a log whose entries are on their
    /// way into the index.
    flush_lock: Mutex<()>,
}

impl LedgerStorage {
    /// Opens the storage: entry logs in `data_dir/ledgers`, and `index`.
    pub fn open(
        data_dir: &Path,
        index: Box<dyn EntryIndex>,
        entry_log_file_bytes: u64,
        read_ahead_bytes: usize,
    ) -> Result<LedgerStorage, StorageError> {
        let log = EntryLog::open(&data_dir.join("ledgers"), entry_log_file_bytes)?;
        let deleted = index.tombstones()?.into_iter().collect();
        Ok(LedgerStorage {
            data_dir: data_dir.to_path_buf(),
            cache: WriteCache::default(),
            log,
            index,
            read_ahead: ReadAhead {
                block_bytes: read_ahead_bytes,
                blocks: Mutex::new(VecDeque::new()),
            },
            deleted: Mutex::new(deleted),
            corrupt: Mutex::new(BTreeSet::new()),
            index_lock: Mutex::new(()),
            flush_lock: Mutex::new(()),
        })
    }

    /// The persisted ledger metas.
    pub fn metas(&self) -> Result<Vec<(u64, LedgerMeta)>, StorageError> {
        self.index.metas()
    }

    /// The checkpoint mark (where journal replay starts).
    pub fn mark(&self) -> Result<JournalPos, StorageError> {
        checkpoint::read(&self.data_dir)
    }

    /// Ledgers deleted durably or since start-up.
    pub fn deleted_ledgers(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self.deleted_guard().iter().copied().collect();
        out.sort_unstable();
        out
    }

    /// Whether a ledger was deleted.
    pub fn is_deleted(&self, ledger_id: u64) -> bool {
        self.deleted_guard().contains(&ledger_id)
    }

    fn deleted_guard(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.deleted.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn corrupt_guard(&self) -> std::sync::MutexGuard<'_, BTreeSet<(u64, u64)>> {
        self.corrupt.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a durable entry to the write cache. A new copy replaces a corrupt one:
    /// reads find it in the cache from now on, and the next checkpoint points the
    /// index at it. Entries of a deleted ledger are dropped (journal replay of adds
    /// journaled before a deletion whose record was since trimmed).
    pub fn insert(&self, entry: Entry) {
        let key = (entry.ledger_id(), entry.entry_id());
        if self.is_deleted(key.0) {
            return;
        }
        // Under the corrupt-set lock, so a scrubber's verdict on the old copy (taken
        // under the same lock after checking the cache) cannot land after this.
        let mut corrupt = self.corrupt_guard();
        self.cache.insert(entry);
        corrupt.remove(&key);
    }

    /// Ledgers with at least one stored entry (write cache or index), `>= start`,
    /// ascending, at most `limit`.
    pub fn list_ledgers(&self, start: u64, limit: usize) -> Result<Vec<u64>, StorageError> {
        // The cache first: a checkpoint moves entries from the cache to the index,
        // never the other way, so reading in this order misses nothing.
        let mut ids = self.cache.ledgers(start, limit);
        ids.extend(self.index.ledgers(start, limit)?);
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(limit);
        Ok(ids)
    }

    /// The stored entry ids of a ledger (write cache or index, corrupt copies
    /// included) as sorted, disjoint, non-adjacent inclusive ranges.
    pub fn ledger_entries(&self, ledger_id: u64) -> Result<Vec<(u64, u64)>, StorageError> {
        // Cache first, as in `list_ledgers`.
        let cached = self.cache.entry_ids(ledger_id);
        let mut ranges = RangeBuilder::default();
        let mut cached = cached.into_iter().peekable();
        let mut from = (ledger_id, 0);
        loop {
            let batch = self.index.scan(from, SCAN_BATCH)?;
            let full = batch.len() == SCAN_BATCH;
            let mut last = None;
            for (l, e, _) in batch {
                if l != ledger_id {
                    last = None;
                    break;
                }
                while let Some(c) = cached.next_if(|c| *c < e) {
                    ranges.push(c);
                }
                ranges.push(e);
                last = Some(e);
            }
            match (full, last.and_then(|e| e.checked_add(1))) {
                (true, Some(next)) => from = (ledger_id, next),
                _ => break,
            }
        }
        for c in cached {
            ranges.push(c);
        }
        Ok(ranges.finish())
    }

    /// Stored copies known to be corrupt, sorted, at most `limit`.
    pub fn corrupt_entries(&self, limit: usize) -> Vec<(u64, u64)> {
        self.corrupt_guard().iter().take(limit).copied().collect()
    }

    /// How many stored copies are known to be corrupt.
    pub fn corrupt_count(&self) -> usize {
        self.corrupt_guard().len()
    }

    /// Indexed entries from `from` (inclusive), in order, at most `limit` (the
    /// scrubber's walk).
    pub fn scan_index(
        &self,
        from: (u64, u64),
        limit: usize,
    ) -> Result<Vec<(u64, u64, Location)>, StorageError> {
        self.index.scan(from, limit)
    }

    /// Reads the stored copy at `loc` from disk (bypassing read-ahead) and checks its
    /// length, CRC32C and header ids. A bad copy that is still the current one (the
    /// index points at `loc` and no newer copy waits in the cache) joins the corrupt
    /// set; returns whether it did. An I/O error reading it counts as corrupt too:
    /// the copy cannot be served either way.
    pub fn verify_stored(
        &self,
        ledger_id: u64,
        entry_id: u64,
        loc: Location,
    ) -> Result<bool, StorageError> {
        let want = RECORD_LEN_BYTES as usize + loc.len as usize;
        let result = self
            .log
            .read_block(loc.log_id, loc.offset, want)
            .and_then(|block| parse_record(&block, loc, ledger_id, entry_id));
        let Err(e) = result else {
            return Ok(false);
        };
        let mut corrupt = self.corrupt_guard();
        if self.cache.get(ledger_id, entry_id).is_some()
            || self.index.get(ledger_id, entry_id)? != Some(loc)
        {
            // Replaced (or deleted) since the scrubber read the index.
            return Ok(false);
        }
        tracing::warn!(error = %e, ledger_id, entry_id, "stored entry copy is corrupt");
        Ok(corrupt.insert((ledger_id, entry_id)))
    }

    /// Fault injection for tests and simulation: damages the stored copy of an
    /// entry in its entry log (one byte of its payload area, on disk) and forgets
    /// the read-ahead blocks, so the next read sees the damage as a cold read would.
    /// Returns false, touching nothing, if the entry is not in an entry log (never
    /// stored, or still only in the write cache).
    pub fn damage_stored_copy(&self, ledger_id: u64, entry_id: u64) -> Result<bool, StorageError> {
        if self.cache.get(ledger_id, entry_id).is_some() {
            return Ok(false);
        }
        let Some(loc) = self.index.get(ledger_id, entry_id)? else {
            return Ok(false);
        };
        // The last byte of the record: inside the entry's encoding, so its check fails.
        let offset = loc.offset + RECORD_LEN_BYTES + u64::from(loc.len).saturating_sub(1);
        self.log.flip_byte(loc.log_id, offset)?;
        self.read_ahead
            .blocks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(true)
    }

    /// Bytes waiting in the write cache's active generation (what the next
    /// checkpoint takes).
    pub fn cache_bytes(&self) -> usize {
        self.cache.active_bytes()
    }

    /// Bytes the write cache holds in memory: both generations, including entries
    /// left by a failed checkpoint.
    pub fn cache_held_bytes(&self) -> usize {
        self.cache.bytes()
    }

    /// Reads an entry: `Ok(None)` means this storage has certainly never held it (or
    /// it was deleted); any doubt (I/O error, bad digest) is an error.
    pub fn read(&self, ledger_id: u64, target: ReadTarget) -> Result<Option<Entry>, StorageError> {
        let entry_id = match target {
            ReadTarget::Entry(id) => id,
            ReadTarget::Last => {
                let cached = self.cache.last(ledger_id);
                let indexed = self.index.last(ledger_id)?.map(|(e, _)| e);
                match cached.max(indexed) {
                    Some(id) => id,
                    None => return Ok(None),
                }
            }
        };
        if let Some(e) = self.cache.get(ledger_id, entry_id) {
            return Ok(Some(e));
        }
        // Compaction may move the entry and delete its old log between the index
        // lookup and the read; a failed read whose location has changed since is
        // retried at the new one (bounded: a move needs a whole compaction).
        let mut retries = 0;
        loop {
            let Some(loc) = self.index.get(ledger_id, entry_id)? else {
                return Ok(None);
            };
            if self.corrupt_guard().contains(&(ledger_id, entry_id)) {
                return Err(StorageError::Corrupt(format!(
                    "entry {ledger_id}/{entry_id} failed its check; awaiting repair"
                )));
            }
            let block = match self.read_ahead.lookup(loc) {
                Some(b) => b,
                None => {
                    let want = (RECORD_LEN_BYTES as usize + loc.len as usize)
                        .max(self.read_ahead.block_bytes);
                    match self.log.read_block(loc.log_id, loc.offset, want) {
                        Ok(block) => {
                            self.read_ahead
                                .remember(loc.log_id, loc.offset, block.clone());
                            block
                        }
                        Err(e) => {
                            if retries < 3 && self.index.get(ledger_id, entry_id)? != Some(loc) {
                                retries += 1;
                                continue;
                            }
                            return Err(e);
                        }
                    }
                }
            };
            return match parse_record(&block, loc, ledger_id, entry_id) {
                Ok(e) => Ok(Some(e)),
                Err(e) => {
                    // Only if still current: a repair may have landed since the lookup.
                    let mut corrupt = self.corrupt_guard();
                    if self.cache.get(ledger_id, entry_id).is_none()
                        && self.index.get(ledger_id, entry_id)? == Some(loc)
                    {
                        corrupt.insert((ledger_id, entry_id));
                    }
                    Err(e)
                }
            };
        }
    }

    /// The id of the log being written once no checkpoint is running. Every log
    /// below it is sealed, and every entry a checkpoint wrote into it is indexed:
    /// from now on only compaction moves and deletions change which entries in those
    /// logs are live, and both only make entries dead there.
    pub fn sealed_below(&self) -> u64 {
        let _flush = self.flush_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.log.current_id()
    }

    /// Every entry log on disk with its size, by id.
    pub fn log_files(&self) -> Result<Vec<(u64, u64)>, StorageError> {
        self.log.list()
    }

    /// Makes every index change so far durable.
    pub fn sync_index(&self) -> Result<(), StorageError> {
        self.index.sync()
    }

    /// Deletes a sealed entry log no durable index state points into.
    pub fn remove_log(&self, log_id: u64) -> Result<(), StorageError> {
        self.log.remove(log_id)
    }

    /// Reads and checks the stored copy at `loc` from disk (bypassing read-ahead).
    pub fn read_stored(
        &self,
        ledger_id: u64,
        entry_id: u64,
        loc: Location,
    ) -> Result<Entry, StorageError> {
        let want = RECORD_LEN_BYTES as usize + loc.len as usize;
        let block = self.log.read_block(loc.log_id, loc.offset, want)?;
        parse_record(&block, loc, ledger_id, entry_id)
    }

    /// Appends a copy of an entry to the current log (durable after
    /// [`LedgerStorage::sync_log`]).
    pub fn append_copy(&self, entry: &Entry) -> Result<Location, StorageError> {
        self.log.append(entry)
    }

    /// fdatasyncs the current log.
    pub fn sync_log(&self) -> Result<(), StorageError> {
        self.log.sync()
    }

    /// Points the index at the new copies of moved entries, each only if the index
    /// still points at the copy that was read (an add that re-wrote the entry, or a
    /// deletion, since then wins), and returns how many moved. The new copies must
    /// be synced already. Not durable until [`LedgerStorage::sync_index`].
    pub fn relocate(
        &self,
        moves: &[(u64, u64, Location, Location)],
    ) -> Result<usize, StorageError> {
        let _guard = self.index_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = Vec::with_capacity(moves.len());
        for (l, e, old, new) in moves {
            if self.is_deleted(*l) {
                continue;
            }
            if self.index.get(*l, *e)? == Some(*old) {
                batch.push((*l, *e, *new));
            }
        }
        self.index.put(&batch, &[])?;
        Ok(batch.len())
    }

    /// Drops a ledger from the cache and the index.
    pub fn delete_ledger(&self, ledger_id: u64) -> Result<(), StorageError> {
        let _guard = self.index_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.deleted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ledger_id);
        self.cache.remove_ledger(ledger_id);
        self.corrupt_guard().retain(|(l, _)| *l != ledger_id);
        self.index.delete_ledger(ledger_id)
    }

    /// Runs steps 2–4 of a checkpoint (see the module docs) for `mark`, which the
    /// caller read from the journal before calling, with `metas` read after it.
    pub fn checkpoint(
        &self,
        mark: JournalPos,
        metas: Vec<(u64, LedgerMeta)>,
    ) -> Result<(), StorageError> {
        let _flush = self.flush_lock.lock().unwrap_or_else(|e| e.into_inner());
        let entries = self.cache.begin_flush();
        let mut locations = Vec::with_capacity(entries.len());
        for e in &entries {
            locations.push((e.ledger_id(), e.entry_id(), self.log.append(e)?));
        }
        self.log.sync()?;
        {
            let _guard = self.index_lock.lock().unwrap_or_else(|e| e.into_inner());
            let deleted = self
                .deleted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            locations.retain(|(l, _, _)| !deleted.contains(l));
            let metas: Vec<_> = metas
                .into_iter()
                .filter(|(l, _)| !deleted.contains(l))
                .collect();
            self.index.put(&locations, &metas)?;
        }
        self.index.sync()?;
        checkpoint::write(&self.data_dir, mark)?;
        self.cache.end_flush();
        tracing::debug!(entries = entries.len(), ?mark, "checkpoint done");
        Ok(())
    }
}
