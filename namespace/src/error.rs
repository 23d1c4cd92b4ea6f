//! Errors, one enum per layer: [`KvError`] for the key-value layer and [`NsError`] for
//! the typed schemas on top of it.

use std::path::PathBuf;

/// An error of the transactional key-value layer ([`crate::kv`]).
///
/// [`KvError::is_retryable`] tells [`crate::Db::run`] whether running the transaction
/// again may succeed.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The transaction read something that a concurrent transaction changed before it
    /// committed. Nothing was written. Retryable.
    #[error("transaction conflict: a concurrent transaction changed what this one read")]
    Conflict,
    /// The commit may or may not have been applied (FoundationDB's
    /// `commit_unknown_result`, or an embedded fsync that failed after the write).
    /// Retryable only by idempotent transactions: see `docs/namespace.md`.
    #[error("commit result unknown: the transaction may or may not have been applied")]
    CommitUnknownResult,
    /// The transaction lived longer than the backend allows (5 s on FoundationDB).
    /// Nothing was written. Retryable.
    #[error("transaction too old: it ran for longer than {max_age_ms} ms")]
    TransactionTooOld {
        /// The limit that was exceeded.
        max_age_ms: u64,
    },
    /// A backend-specific transient error (for example FoundationDB's
    /// `future_version`). Nothing was written. Retryable.
    #[error("transient backend error {code}: {message}")]
    Transient {
        /// Backend error code.
        code: i32,
        /// Backend message.
        message: String,
    },
    /// [`crate::Db::run`] gave up after this many attempts.
    #[error("gave up after {attempts} attempts; last error: {last}")]
    RetryLimitReached {
        /// Attempts made.
        attempts: u32,
        /// The last retryable error.
        last: Box<KvError>,
    },
    /// [`crate::Db::run`] gave up because its time budget ran out.
    #[error("gave up after {elapsed_ms} ms ({attempts} attempts); last error: {last}")]
    TimedOut {
        /// Time spent.
        elapsed_ms: u64,
        /// Attempts made.
        attempts: u32,
        /// The last retryable error.
        last: Box<KvError>,
    },
    /// A key longer than [`crate::kv::MAX_KEY_BYTES`].
    #[error("key of {len_bytes} bytes exceeds the {max_bytes}-byte limit")]
    KeyTooLarge {
        /// Length of the key.
        len_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// A value longer than [`crate::kv::MAX_VALUE_BYTES`].
    #[error("value of {len_bytes} bytes exceeds the {max_bytes}-byte limit")]
    ValueTooLarge {
        /// Length of the value.
        len_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// The transaction wrote more than [`crate::kv::MAX_TRANSACTION_BYTES`].
    #[error("transaction of {len_bytes} bytes exceeds the {max_bytes}-byte limit")]
    TransactionTooLarge {
        /// Bytes written so far.
        len_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// Another process holds the embedded store's directory.
    #[error(
        "namespace directory {} is in use by another process (lock file {} is held); \
         stop that process or choose another directory",
        dir.display(),
        lock_file.display()
    )]
    Locked {
        /// The store directory.
        dir: PathBuf,
        /// The lock file that is held.
        lock_file: PathBuf,
    },
    /// An I/O error outside the engine.
    #[error("{context}: {source}")]
    Io {
        /// What was being done ("open lock file").
        context: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// An error of the embedded engine (fjall).
    #[error("embedded store: {0}")]
    Embedded(#[from] fjall::Error),
    /// A non-retryable FoundationDB error.
    #[error("foundationdb error {code}: {message}")]
    Fdb {
        /// FoundationDB error code.
        code: i32,
        /// FoundationDB message.
        message: String,
    },
    /// A metadata URL that names no known backend or is malformed.
    #[error("invalid metadata URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An invalid range or argument passed to the key-value layer.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

impl KvError {
    /// Whether running the whole transaction again may succeed.
    ///
    /// [`KvError::CommitUnknownResult`] counts as retryable: every transaction in this
    /// crate is written to be idempotent, and [`crate::Attempt::maybe_committed`] tells
    /// the closure that a previous attempt may have been applied.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            KvError::Conflict
                | KvError::CommitUnknownResult
                | KvError::TransactionTooOld { .. }
                | KvError::Transient { .. }
        )
    }
}

/// An error type that [`crate::Db::run`] can retry: it wraps [`KvError`] and can tell
/// whether it is one.
pub trait TxError: From<KvError> {
    /// The key-value error inside, if this error is one.
    fn as_kv(&self) -> Option<&KvError>;
}

impl TxError for KvError {
    fn as_kv(&self) -> Option<&KvError> {
        Some(self)
    }
}

/// An error of the typed schemas (ledgers, bookies, buckets, objects, …).
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    /// The key-value layer failed.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// A stored value or key could not be decoded. The store holds data this version
    /// does not understand, or it is corrupt.
    #[error("corrupt {what} in namespace: {reason}")]
    Corrupt {
        /// What was being decoded ("ledger metadata").
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// No ledger with this id.
    #[error("ledger {0} not found")]
    LedgerNotFound(u64),
    /// A ledger with this id already exists.
    #[error("ledger {0} already exists")]
    LedgerExists(u64),
    /// A compare-and-set found another version.
    #[error("version mismatch: expected {expected}, found {actual}")]
    VersionMismatch {
        /// Version the caller expected.
        expected: u64,
        /// Version stored.
        actual: u64,
    },
    /// Metadata that breaks an invariant (E ≥ Qw ≥ Qa ≥ 1, …).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What is invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// No bookie with this id is registered.
    #[error("bookie {0} not registered")]
    BookieNotFound(String),
    /// No bucket with this name.
    #[error("bucket {0} not found")]
    BucketNotFound(String),
    /// A bucket with this name exists.
    #[error("bucket {0} already exists")]
    BucketExists(String),
    /// The bucket still holds objects or uploads.
    #[error("bucket {0} is not empty")]
    BucketNotEmpty(String),
    /// No object with this key.
    #[error("object not found")]
    ObjectNotFound,
    /// A conditional write's precondition does not hold.
    #[error("precondition failed")]
    PreconditionFailed,
    /// No multipart upload with this id (for this bucket and key).
    #[error("multipart upload {0} not found")]
    UploadNotFound(String),
    /// A part named in CompleteMultipartUpload is missing, or its ETag differs.
    #[error("invalid part {part_number}: {reason}")]
    InvalidPart {
        /// The part number.
        part_number: u32,
        /// Why.
        reason: &'static str,
    },
    /// Parts of CompleteMultipartUpload are not in ascending order.
    #[error("parts are not in ascending order")]
    InvalidPartOrder,
    /// No access key with this id.
    #[error("access key {0} not found")]
    AccessKeyNotFound(String),
    /// An access key with this id exists.
    #[error("access key {0} already exists")]
    AccessKeyExists(String),
}

impl TxError for NsError {
    fn as_kv(&self) -> Option<&KvError> {
        match self {
            NsError::Kv(e) => Some(e),
            _ => None,
        }
    }
}
