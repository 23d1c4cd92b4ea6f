//! The transactional ordered key-value layer, shaped like FoundationDB.
//!
//! [`KvStore`] begins [`Transaction`]s. A transaction reads at one snapshot, buffers
//! its writes, and commits only if nothing it read was changed by a transaction that
//! committed in between (optimistic, serializable). [`crate::Db::run`] wraps a closure
//! in begin → body → commit and retries it on conflict.
//!
//! Both traits are synchronous and dyn-compatible. Async callers use
//! [`crate::Db::transact`], which runs each attempt's body and commit on tokio's
//! blocking pool and awaits the commit's durability ([`Transaction::commit_deferred`])
//! without holding a thread; `docs/namespace.md` explains why.
//!
//! Limits are FoundationDB's and every backend enforces them, so code that passes on
//! the embedded store fits on FoundationDB: [`MAX_KEY_BYTES`], [`MAX_VALUE_BYTES`],
//! [`MAX_TRANSACTION_BYTES`], and a transaction age of 5 s.

mod embedded;
mod faulty;
#[cfg(feature = "fdb")]
mod fdb;
mod group_commit;
mod lock;
mod range;
mod url;

pub use embedded::{CommitStats, EmbeddedOptions, EmbeddedStore};
pub use faulty::{FaultConfig, FaultyStore};
#[cfg(feature = "fdb")]
pub use fdb::{FdbOptions, FdbStore};
pub use group_commit::DurabilityTicket;
pub use range::{KeyRange, KeyValue, RangeChunk, RangeOptions, strinc};
pub use url::open_url;

use crate::KvError;
use std::time::Duration;

/// Largest key a backend accepts (FoundationDB's limit).
pub const MAX_KEY_BYTES: usize = 10_000;
/// Largest value a backend accepts (FoundationDB's limit).
pub const MAX_VALUE_BYTES: usize = 100_000;
/// Largest total of keys and values one transaction may write (FoundationDB's limit).
pub const MAX_TRANSACTION_BYTES: usize = 10_000_000;
/// Longest a transaction may live before it fails with
/// [`KvError::TransactionTooOld`] (FoundationDB's limit).
pub const MAX_TRANSACTION_AGE: Duration = Duration::from_secs(5);

/// A transactional, ordered key-value store.
pub trait KvStore: Send + Sync {
    /// Begins a transaction that reads at a fresh snapshot.
    fn begin(&self) -> Result<Box<dyn Transaction + '_>, KvError>;

    /// A short name of the backend, for logs ("embedded", "fdb").
    fn backend_name(&self) -> &'static str;
}

/// One serializable transaction.
///
/// Reads see the snapshot taken at [`KvStore::begin`] plus this transaction's own
/// writes. Writes are buffered until [`Transaction::commit`]. Dropping a transaction
/// without committing discards its writes.
pub trait Transaction: Send {
    /// Reads one key.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;

    /// Reads up to `opts.limit` pairs of `range` in key order (or reverse order).
    ///
    /// [`RangeChunk::more`] says whether the range holds more pairs; continue with
    /// [`KeyRange::after`].
    fn get_range(&mut self, range: &KeyRange, opts: RangeOptions) -> Result<RangeChunk, KvError>;

    /// Writes `value` at `key`.
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError>;

    /// Removes `key` (no error if absent).
    fn clear(&mut self, key: &[u8]) -> Result<(), KvError>;

    /// Removes every key in `range`.
    fn clear_range(&mut self, range: &KeyRange) -> Result<(), KvError>;

    /// Adds `delta` to the little-endian 8-byte integer at `key` (absent counts as 0;
    /// shorter values are zero-extended, longer ones truncated, as FoundationDB does).
    ///
    /// On FoundationDB this is a conflict-free mutation. On the embedded store it is a
    /// read-modify-write, so concurrent adds conflict and retry; the sum is the same.
    fn atomic_add(&mut self, key: &[u8], delta: i64) -> Result<(), KvError>;

    /// Commits. On success the writes are durable and visible to later transactions.
    fn commit(self: Box<Self>) -> Result<(), KvError>;

    /// Commits without waiting for durability: on success the writes are visible to
    /// later transactions, and durable once the returned ticket resolves `Ok`
    /// ([`DurabilityTicket::wait`], or [`DurabilityTicket::wait_async`] from async code,
    /// which holds no thread while the disk syncs). The caller must not acknowledge the
    /// commit before that.
    ///
    /// The default commits durably and returns an already-resolved ticket; backends
    /// whose commits are durable when they return (FoundationDB) keep it.
    fn commit_deferred(self: Box<Self>) -> Result<DurabilityTicket, KvError> {
        self.commit().map(|()| DurabilityTicket::durable())
    }
}

/// Decodes a counter written by [`Transaction::atomic_add`].
pub fn decode_counter(value: &[u8]) -> i64 {
    let mut bytes = [0u8; 8];
    let n = value.len().min(8);
    bytes[..n].copy_from_slice(&value[..n]);
    i64::from_le_bytes(bytes)
}

/// Checks a key and value against the limits every backend enforces.
pub(crate) fn check_write(key: &[u8], value_len: usize) -> Result<(), KvError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::KeyTooLarge {
            len_bytes: key.len(),
            max_bytes: MAX_KEY_BYTES,
        });
    }
    if value_len > MAX_VALUE_BYTES {
        return Err(KvError::ValueTooLarge {
            len_bytes: value_len,
            max_bytes: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

/// Tracks the bytes a transaction writes against [`MAX_TRANSACTION_BYTES`].
#[derive(Debug, Default)]
pub(crate) struct WriteBudget {
    used_bytes: usize,
}

impl WriteBudget {
    pub(crate) fn charge(&mut self, bytes: usize) -> Result<(), KvError> {
        self.used_bytes = self.used_bytes.saturating_add(bytes);
        if self.used_bytes > MAX_TRANSACTION_BYTES {
            return Err(KvError::TransactionTooLarge {
                len_bytes: self.used_bytes,
                max_bytes: MAX_TRANSACTION_BYTES,
            });
        }
        Ok(())
    }
}
