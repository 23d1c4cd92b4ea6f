//! An exclusive lock on the embedded store's directory, so that a second process (or a
//! second open in this one) fails with a clear error instead of corrupting the store.

use crate::KvError;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the lock, inside the store directory.
pub(crate) const LOCK_FILE_NAME: &str = "folio-namespace.lock";

/// Holds an advisory exclusive lock (`flock`) until dropped. The file holds the
/// holder's process id, for people; the lock itself is what counts.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Locks `dir`, failing at once with [`KvError::Locked`] if it is held.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, KvError> {
        let lock_file: PathBuf = dir.join(LOCK_FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_file)
            .map_err(|source| KvError::Io {
                context: "open namespace lock file",
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(KvError::Locked {
                    dir: dir.to_path_buf(),
                    lock_file,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(KvError::Io {
                    context: "lock namespace directory",
                    source,
                });
            }
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(|source| KvError::Io {
                context: "write namespace lock file",
                source,
            })?;
        Ok(Self { _file: file })
    }
}
