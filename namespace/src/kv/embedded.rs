//! The embedded backend: fjall's `OptimisticTxDatabase` (an LSM tree with optimistic,
//! serializable snapshot transactions), a directory lock, and the batching committer
//! of [`super::group_commit`].
//!
//! Directory layout: `<dir>/folio-namespace.lock` (see [`super::lock`]) and
//! `<dir>/fjall/` (the engine's own files, one keyspace named `ns`).

use super::group_commit::{DurabilityTicket, GroupCommit, SyncFn};
use super::lock::DirLock;
use super::{
    KeyRange, KeyValue, KvStore, MAX_TRANSACTION_AGE, RangeChunk, RangeOptions, Transaction,
    WriteBudget, check_write, decode_counter,
};
use crate::KvError;
use fjall::{
    KeyspaceCreateOptions, OptimisticTxDatabase, OptimisticTxKeyspace, OptimisticWriteTx,
    PersistMode, Readable,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Options of [`EmbeddedStore::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// fsync before a commit returns (through the batching committer). Turning it off
    /// keeps commits crash-safe for process crashes only; tests and benchmarks of
    /// other layers may do that, `folio` never does.
    pub sync_commits: bool,
    /// Longest a transaction may live (FoundationDB's 5 s by default, so that code
    /// tested here fits there).
    pub max_transaction_age: Duration,
    /// Block cache size of the engine.
    pub cache_size_bytes: u64,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            sync_commits: true,
            max_transaction_age: MAX_TRANSACTION_AGE,
            cache_size_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Commit counters of an [`EmbeddedStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    /// Write transactions made durable.
    pub durable_commits: u64,
    /// fsyncs that made them durable. Fewer fsyncs than commits is group commit.
    pub fsyncs: u64,
}

/// The embedded store. Opening it locks its directory until it is dropped.
pub struct EmbeddedStore {
    db: OptimisticTxDatabase,
    keyspace: OptimisticTxKeyspace,
    /// The batching committer; `None` when commits are not synced.
    group: Option<GroupCommit>,
    options: EmbeddedOptions,
    dir: PathBuf,
    // Dropped last: the engine is closed before another process may take over.
    _lock: DirLock,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`.
    ///
    /// Fails with [`KvError::Locked`] if another process, or another open store in this
    /// process, holds the directory.
    pub fn open(dir: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self, KvError> {
        Self::open_with_sync_hook(dir, options, |sync| sync)
    }

    /// [`EmbeddedStore::open`] with the group commit's fsync wrapped by `hook`, so that
    /// tests can observe or fail fsyncs of a real store.
    pub(crate) fn open_with_sync_hook(
        dir: impl AsRef<Path>,
        options: EmbeddedOptions,
        hook: impl FnOnce(SyncFn) -> SyncFn,
    ) -> Result<Self, KvError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|source| KvError::Io {
            context: "create namespace directory",
            source,
        })?;
        let lock = DirLock::acquire(&dir)?;
        let db = OptimisticTxDatabase::builder(dir.join("fjall"))
            .cache_size(options.cache_size_bytes)
            .manual_journal_persist(true)
            .open()?;
        let keyspace = db.keyspace("ns", KeyspaceCreateOptions::default)?;
        let group = if options.sync_commits {
            let sync_db = db.clone();
            Some(GroupCommit::start(hook(Box::new(move || {
                sync_db.persist(PersistMode::SyncAll)
            })))?)
        } else {
            None
        };
        Ok(Self {
            db,
            keyspace,
            group,
            options,
            dir,
            _lock: lock,
        })
    }

    /// The directory of this store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many commits and fsyncs the batching committer has done.
    pub fn commit_stats(&self) -> CommitStats {
        let (durable_commits, fsyncs) = self.group.as_ref().map_or((0, 0), GroupCommit::counts);
        CommitStats {
            durable_commits,
            fsyncs,
        }
    }
}

impl KvStore for EmbeddedStore {
    fn begin(&self) -> Result<Box<dyn Transaction + '_>, KvError> {
        let durability = if self.options.sync_commits {
            // Written to the journal's buffer only; the group commit flushes and syncs.
            None
        } else {
            Some(PersistMode::Buffer)
        };
        let tx = self.db.write_tx()?.durability(durability);
        Ok(Box::new(EmbeddedTx {
            store: self,
            tx,
            started: Instant::now(),
            budget: WriteBudget::default(),
            wrote: false,
        }))
    }

    fn backend_name(&self) -> &'static str {
        "embedded"
    }
}

struct EmbeddedTx<'a> {
    store: &'a EmbeddedStore,
    tx: OptimisticWriteTx,
    started: Instant,
    budget: WriteBudget,
    wrote: bool,
}

impl EmbeddedTx<'_> {
    fn check_age(&self) -> Result<(), KvError> {
        let max_age = self.store.options.max_transaction_age;
        if self.started.elapsed() > max_age {
            let max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
            return Err(KvError::TransactionTooOld { max_age_ms });
        }
        Ok(())
    }

    fn read_range(&mut self, range: &KeyRange, opts: RangeOptions) -> Result<RangeChunk, KvError> {
        let mut chunk = RangeChunk::default();
        if range.is_empty() {
            return Ok(chunk);
        }
        // fjall marks the whole requested range as read for conflict checking. That is
        // stricter than FoundationDB (which marks only the part returned) and so still
        // serializable.
        let iter = self.tx.range(
            &self.store.keyspace,
            range.begin.as_slice()..range.end.as_slice(),
        );
        let mut push = |guard: fjall::Guard| -> Result<bool, KvError> {
            if opts.limit != 0 && chunk.kvs.len() == opts.limit {
                chunk.more = true;
                return Ok(false);
            }
            let (key, value) = guard.into_inner()?;
            chunk.kvs.push(KeyValue {
                key: key.to_vec(),
                value: value.to_vec(),
            });
            Ok(true)
        };
        if opts.reverse {
            for guard in iter.rev() {
                if !push(guard)? {
                    break;
                }
            }
        } else {
            for guard in iter {
                if !push(guard)? {
                    break;
                }
            }
        }
        Ok(chunk)
    }
}

impl Transaction for EmbeddedTx<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.check_age()?;
        let value = self.tx.get(&self.store.keyspace, key)?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn get_range(&mut self, range: &KeyRange, opts: RangeOptions) -> Result<RangeChunk, KvError> {
        self.check_age()?;
        range.check()?;
        self.read_range(range, opts)
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.check_age()?;
        check_write(key, value.len())?;
        self.budget.charge(key.len() + value.len())?;
        self.tx.insert(&self.store.keyspace, key, value);
        self.wrote = true;
        Ok(())
    }

    fn clear(&mut self, key: &[u8]) -> Result<(), KvError> {
        self.check_age()?;
        check_write(key, 0)?;
        self.budget.charge(key.len())?;
        self.tx.remove(&self.store.keyspace, key);
        self.wrote = true;
        Ok(())
    }

    fn clear_range(&mut self, range: &KeyRange) -> Result<(), KvError> {
        self.check_age()?;
        range.check()?;
        // The engine has no range tombstone in transactions: remove key by key.
        let mut rest = range.clone();
        loop {
            let chunk = self.read_range(&rest, RangeOptions::forward(1024))?;
            for kv in &chunk.kvs {
                self.budget.charge(kv.key.len())?;
                self.tx.remove(&self.store.keyspace, kv.key.as_slice());
                self.wrote = true;
            }
            match chunk.continuation(&rest, false) {
                Some(next) => rest = next,
                None => return Ok(()),
            }
        }
    }

    fn atomic_add(&mut self, key: &[u8], delta: i64) -> Result<(), KvError> {
        let current = self.get(key)?.map_or(0, |v| decode_counter(&v));
        self.set(key, &current.wrapping_add(delta).to_le_bytes())
    }

    fn commit(self: Box<Self>) -> Result<(), KvError> {
        self.commit_deferred()?.wait()
    }

    fn commit_deferred(self: Box<Self>) -> Result<DurabilityTicket, KvError> {
        self.check_age()?;
        let store = self.store;
        let wrote = self.wrote;
        match self.tx.commit()? {
            Err(fjall::Conflict) => Err(KvError::Conflict),
            // Numbered only now that the engine's commit has returned: the fsync that
            // resolves the ticket begins after these bytes are in the journal.
            Ok(()) => match &store.group {
                Some(group) if wrote => Ok(group.register()),
                _ => Ok(DurabilityTicket::durable()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_of_a_directory_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).expect("open");
        let err = EmbeddedStore::open(dir.path(), EmbeddedOptions::default())
            .expect_err("second open must fail");
        assert!(matches!(err, KvError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("in use by another process"));
        drop(first);
        EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).expect("reopen after close");
    }

    #[test]
    fn old_transactions_fail_as_too_old() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = EmbeddedOptions {
            max_transaction_age: Duration::from_millis(20),
            ..EmbeddedOptions::default()
        };
        let store = EmbeddedStore::open(dir.path(), options).expect("open");
        let mut tx = store.begin().expect("begin");
        std::thread::sleep(Duration::from_millis(40));
        let err = tx.get(b"k").expect_err("too old");
        assert!(matches!(err, KvError::TransactionTooOld { .. }));
        assert!(err.is_retryable());
    }
}
