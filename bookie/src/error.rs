//! Error types, one per layer.

use std::io;
use std::path::PathBuf;

/// An I/O failure with what the bookie was doing when it happened.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct IoContext {
    /// A verb phrase: "open journal file", "read entry log".
    pub context: String,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// Attaches a context to `io::Result`s.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, IoContext>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, IoContext> {
        self.map_err(|source| IoContext {
            context: what(),
            source,
        })
    }
}

/// Failures of the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing a journal file failed.
    #[error(transparent)]
    Io(#[from] IoContext),
    /// An earlier write or fsync failed; the journal accepts nothing more, because
    /// what reached the disk is unknown.
    #[error("journal is broken by an earlier failure; restart the bookie")]
    Broken,
    /// The journal is shutting down.
    #[error("journal is shut down")]
    ShutDown,
    /// A journal file older than the newest has a bad record: it was fsynced whole
    /// before the next file was created, so this is damage to acknowledged data.
    #[error(
        "journal file {file_id:016x}.jnl is damaged at offset {offset} ({end:?}); a newer journal file exists, so this part was fsynced and acknowledged. Refusing to start rather than lose acknowledged entries: see docs/operations.md, \"A damaged journal\""
    )]
    Damaged {
        /// The file id.
        file_id: u64,
        /// Offset just after its last good record.
        offset: u64,
        /// Why the scan stopped.
        end: crate::journal::ScanEnd,
    },
    /// A journal file does not start with the journal header.
    #[error("journal file {path} has a bad header")]
    BadHeader {
        /// The file.
        path: PathBuf,
    },
}

/// Failures of the ledger storage (entry logs, index, checkpoint mark).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] IoContext),
    /// The index store failed.
    #[error("index: {0}")]
    Index(#[from] fjall::Error),
    /// Stored bytes fail their digest or do not match their index entry.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// Why a data directory's cookie does not allow start-up.
#[derive(Debug, thiserror::Error)]
pub enum CookieError {
    /// Reading or writing the cookie failed.
    #[error(transparent)]
    Io(#[from] IoContext),
    /// The directory holds data but no cookie: it may belong to another bookie or
    /// have lost files, so serving it could answer "no such entry" for lost entries.
    #[error(
        "{dir} is not empty but has no cookie; refusing to start. If this directory \
         really is new, empty it; if it held this bookie's data, restore its COOKIE file"
    )]
    MissingCookie {
        /// The directory.
        dir: PathBuf,
    },
    /// The cookie names another bookie, cluster or directory set.
    #[error(
        "cookie in {dir} does not match: {field} is {found:?} on disk but {expected:?} in the configuration; refusing to start"
    )]
    Mismatch {
        /// The directory.
        dir: PathBuf,
        /// Which field differs.
        field: &'static str,
        /// Value on disk.
        found: String,
        /// Value configured.
        expected: String,
    },
    /// Two of the bookie's directories carry cookies that disagree. Checked also
    /// when no instance id is configured (which accepts any one instance): the
    /// directories then come from different clusters, and serving them together
    /// would mix their data.
    #[error(
        "cookies disagree: {field} is {found:?} in {dir} but {other_found:?} in {other_dir}; refusing to start"
    )]
    Disagree {
        /// A directory.
        dir: PathBuf,
        /// Another directory of the same bookie, whose cookie says otherwise.
        other_dir: PathBuf,
        /// Which field differs.
        field: &'static str,
        /// The value in `dir`.
        found: String,
        /// The value in `other_dir`.
        other_found: String,
    },
    /// A directory path or the bookie id cannot be written into a cookie so that
    /// it reads back the same (the cookie is line- and comma-separated text).
    #[error(
        "{what} {value:?} cannot be stored in a cookie: it must be UTF-8 without ',' or line breaks; refusing to start"
    )]
    Unstorable {
        /// Which setting (`data_dir`, `journal_dir` or `bookie_id`).
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// The cookie file cannot be parsed.
    #[error("cookie in {dir} is unreadable: {reason}")]
    Malformed {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Why a bookie could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A cookie check failed.
    #[error(transparent)]
    Cookie(#[from] CookieError),
    /// Opening or replaying the journal failed.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// Opening the ledger storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Binding the listening socket or another start-up I/O step failed.
    #[error(transparent)]
    Io(#[from] IoContext),
}
