//! The FoundationDB backend (cargo feature `fdb`; API version 7.3).
//!
//! The client network is booted once per process, on the first open, and runs until
//! the process exits. Each transaction carries FoundationDB's own timeout and retry
//! limit options as a backstop; [`crate::Db::run`] creates a fresh transaction per
//! attempt and applies its [`crate::RetryPolicy`]. The trait is synchronous: each call
//! blocks its thread on the FoundationDB future, which the client's network thread
//! completes, so callers run transactions on blocking threads ([`crate::Db::transact`]).
//!
//! Error mapping: `not_committed` (1020) is [`KvError::Conflict`], errors for which
//! `fdb_error_predicate(MAYBE_COMMITTED)` holds (`commit_unknown_result`, 1021) are
//! [`KvError::CommitUnknownResult`], `transaction_too_old` (1007) is
//! [`KvError::TransactionTooOld`], other retryable codes are [`KvError::Transient`],
//! and the rest (including `transaction_timed_out`, 1031) are [`KvError::Fdb`].

use super::{
    KeyRange, KeyValue, KvStore, MAX_TRANSACTION_AGE, RangeChunk, RangeOptions, Transaction,
    WriteBudget, check_write,
};
use crate::KvError;
use foundationdb::options::{MutationType, StreamingMode, TransactionOption};
use foundationdb::{Database, FdbError, KeySelector, RangeOption};
use futures::executor::block_on;
use std::sync::OnceLock;

/// Options of the FoundationDB backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdbOptions {
    /// FoundationDB's per-transaction timeout (`TransactionOption::Timeout`).
    pub transaction_timeout_ms: i32,
    /// FoundationDB's per-transaction retry limit (`TransactionOption::RetryLimit`).
    pub retry_limit: i32,
}

impl Default for FdbOptions {
    fn default() -> Self {
        Self {
            transaction_timeout_ms: i32::try_from(MAX_TRANSACTION_AGE.as_millis()).unwrap_or(5_000),
            retry_limit: 100,
        }
    }
}

/// A FoundationDB cluster.
pub struct FdbStore {
    db: Database,
    options: FdbOptions,
}

impl std::fmt::Debug for FdbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FdbStore")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

static NETWORK: OnceLock<Result<foundationdb::api::NetworkAutoStop, i32>> = OnceLock::new();

fn fdb_error(e: FdbError) -> KvError {
    let message = e.message().to_owned();
    match e.code() {
        1020 => KvError::Conflict,
        1007 => KvError::TransactionTooOld {
            max_age_ms: MAX_TRANSACTION_AGE.as_millis() as u64,
        },
        code if e.is_maybe_committed() => {
            tracing::debug!(code, "foundationdb commit result unknown");
            KvError::CommitUnknownResult
        }
        code if e.is_retryable() => KvError::Transient { code, message },
        code => KvError::Fdb { code, message },
    }
}

impl FdbStore {
    /// Boots the client network if this process has not yet done so. Called by
    /// [`FdbStore::open`]; the network then runs until the process exits.
    pub fn boot_network() -> Result<(), KvError> {
        let booted = NETWORK.get_or_init(|| {
            // SAFETY: `boot` must run at most once per process, which the OnceLock
            // guarantees, and its guard must outlive every FoundationDB object, which a
            // static that is never dropped does.
            #[allow(unsafe_code)]
            let network = unsafe {
                foundationdb::api::FdbApiBuilder::default()
                    .build()
                    .and_then(|builder| builder.boot())
            };
            network.map_err(|e| e.code())
        });
        match booted {
            Ok(_) => Ok(()),
            Err(code) => Err(fdb_error(FdbError::from_code(*code))),
        }
    }

    /// Opens the cluster of `cluster_file` (`None`: the default cluster file).
    pub fn open(cluster_file: Option<&str>) -> Result<Self, KvError> {
        Self::open_with(cluster_file, FdbOptions::default())
    }

    /// [`FdbStore::open`] with options.
    pub fn open_with(cluster_file: Option<&str>, options: FdbOptions) -> Result<Self, KvError> {
        Self::boot_network()?;
        let db = Database::new(cluster_file).map_err(fdb_error)?;
        Ok(Self { db, options })
    }
}

impl KvStore for FdbStore {
    fn begin(&self) -> Result<Box<dyn Transaction + '_>, KvError> {
        let tx = self.db.create_trx().map_err(fdb_error)?;
        tx.set_option(TransactionOption::Timeout(
            self.options.transaction_timeout_ms,
        ))
        .map_err(fdb_error)?;
        tx.set_option(TransactionOption::RetryLimit(self.options.retry_limit))
            .map_err(fdb_error)?;
        Ok(Box::new(FdbTx {
            tx,
            budget: WriteBudget::default(),
        }))
    }

    fn backend_name(&self) -> &'static str {
        "fdb"
    }
}

struct FdbTx {
    tx: foundationdb::Transaction,
    budget: WriteBudget,
}

impl Transaction for FdbTx {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let value = block_on(self.tx.get(key, false)).map_err(fdb_error)?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn get_range(&mut self, range: &KeyRange, opts: RangeOptions) -> Result<RangeChunk, KvError> {
        range.check()?;
        let mut chunk = RangeChunk::default();
        if range.is_empty() {
            return Ok(chunk);
        }
        let mut option = Some(RangeOption {
            begin: KeySelector::first_greater_or_equal(range.begin.as_slice()),
            end: KeySelector::first_greater_or_equal(range.end.as_slice()),
            limit: (opts.limit != 0).then_some(opts.limit),
            mode: StreamingMode::WantAll,
            reverse: opts.reverse,
            ..RangeOption::default()
        });
        let mut iteration = 1;
        while let Some(current) = option {
            let values =
                block_on(self.tx.get_range(&current, iteration, false)).map_err(fdb_error)?;
            chunk.kvs.extend(values.iter().map(|kv| KeyValue {
                key: kv.key().to_vec(),
                value: kv.value().to_vec(),
            }));
            chunk.more = values.more();
            option = current.next_range(&values);
            iteration += 1;
        }
        Ok(chunk)
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        check_write(key, value.len())?;
        self.budget.charge(key.len() + value.len())?;
        self.tx.set(key, value);
        Ok(())
    }

    fn clear(&mut self, key: &[u8]) -> Result<(), KvError> {
        check_write(key, 0)?;
        self.budget.charge(key.len())?;
        self.tx.clear(key);
        Ok(())
    }

    fn clear_range(&mut self, range: &KeyRange) -> Result<(), KvError> {
        range.check()?;
        self.budget.charge(range.begin.len() + range.end.len())?;
        self.tx.clear_range(&range.begin, &range.end);
        Ok(())
    }

    fn atomic_add(&mut self, key: &[u8], delta: i64) -> Result<(), KvError> {
        check_write(key, 8)?;
        self.budget.charge(key.len() + 8)?;
        self.tx
            .atomic_op(key, &delta.to_le_bytes(), MutationType::Add);
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), KvError> {
        match block_on(self.tx.commit()) {
            Ok(_) => Ok(()),
            Err(e) => Err(fdb_error(*e)),
        }
    }
}
