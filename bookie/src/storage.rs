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

use std::collections::{HashSet, VecDeque};
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

/// Entries of all ledgers, their index and the checkpoint mark.
pub struct LedgerStorage {
    data_dir: PathBuf,
    cache: WriteCache,
    log: EntryLog,
    index: Box<dyn EntryIndex>,
    read_ahead: ReadAhead,
    /// Ledgers deleted since start-up; a checkpoint that races a deletion must not
    /// put their entries back into the index. Ledger ids are never reused.
    deleted: Mutex<HashSet<u64>>,
    /// Serialises index writes of checkpoints and deletions.
    index_lock: Mutex<()>,
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
        Ok(LedgerStorage {
            data_dir: data_dir.to_path_buf(),
            cache: WriteCache::default(),
            log,
            index,
            read_ahead: ReadAhead {
                block_bytes: read_ahead_bytes,
                blocks: Mutex::new(VecDeque::new()),
            },
            deleted: Mutex::new(HashSet::new()),
            index_lock: Mutex::new(()),
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

    /// Adds a durable entry to the write cache.
    pub fn insert(&self, entry: Entry) {
        self.cache.insert(entry);
    }

    /// Bytes waiting in the write cache.
    pub fn cache_bytes(&self) -> usize {
        self.cache.active_bytes()
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
        let Some(loc) = self.index.get(ledger_id, entry_id)? else {
            return Ok(None);
        };
        let block = match self.read_ahead.lookup(loc) {
            Some(b) => b,
            None => {
                let want =
                    (RECORD_LEN_BYTES as usize + loc.len as usize).max(self.read_ahead.block_bytes);
                let block = self.log.read_block(loc.log_id, loc.offset, want)?;
                self.read_ahead
                    .remember(loc.log_id, loc.offset, block.clone());
                block
            }
        };
        parse_record(&block, loc, ledger_id, entry_id).map(Some)
    }

    /// Drops a ledger from the cache and the index.
    pub fn delete_ledger(&self, ledger_id: u64) -> Result<(), StorageError> {
        let _guard = self.index_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.deleted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ledger_id);
        self.cache.remove_ledger(ledger_id);
        self.index.delete_ledger(ledger_id)
    }

    /// Runs steps 2–4 of a checkpoint (see the module docs) for `mark`, which the
    /// caller read from the journal before calling, with `metas` read after it.
    pub fn checkpoint(
        &self,
        mark: JournalPos,
        metas: Vec<(u64, LedgerMeta)>,
    ) -> Result<(), StorageError> {
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
