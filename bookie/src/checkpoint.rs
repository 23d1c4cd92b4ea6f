//! The checkpoint mark: the journal position up to which every record is in the
//! entry logs and the index, so replay can start there.
//!
//! ```text
//! file `checkpoint` in the data dir (28 bytes):
//! "FCKP" | version u32 BE (= 1) | journal file id u64 BE | offset u64 BE | CRC32C of the previous 24 bytes, u32 BE
//! ```
//!
//! It is replaced atomically: written to `checkpoint.tmp`, fsynced, renamed over
//! `checkpoint`, and the directory fsynced.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Context, IoContext, StorageError};
use crate::journal::{JournalPos, sync_dir};

const MAGIC: &[u8; 4] = b"FCKP";
const VERSION: u32 = 1;
/// Size of the mark file.
pub const MARK_BYTES: usize = 28;
/// Name of the mark file in the data directory.
pub const MARK_FILE: &str = "checkpoint";

/// Encodes a mark.
pub fn encode(pos: JournalPos) -> [u8; MARK_BYTES] {
    let mut out = [0u8; MARK_BYTES];
    out[..4].copy_from_slice(MAGIC);
    out[4..8].copy_from_slice(&VERSION.to_be_bytes());
    out[8..16].copy_from_slice(&pos.file_id.to_be_bytes());
    out[16..24].copy_from_slice(&pos.offset.to_be_bytes());
    let crc = crc32c::crc32c(&out[..24]);
    out[24..].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Decodes a mark, or `None` if it is malformed.
pub fn decode(b: &[u8]) -> Option<JournalPos> {
    if b.len() != MARK_BYTES || &b[..4] != MAGIC || b[4..8] != VERSION.to_be_bytes() {
        return None;
    }
    let crc = u32::from_be_bytes(b[24..].try_into().ok()?);
    if crc32c::crc32c(&b[..24]) != crc {
        return None;
    }
    Some(JournalPos {
        file_id: u64::from_be_bytes(b[8..16].try_into().ok()?),
        offset: u64::from_be_bytes(b[16..24].try_into().ok()?),
    })
}

/// Reads the mark in `dir`; a missing mark means "replay every journal file".
pub fn read(dir: &Path) -> Result<JournalPos, StorageError> {
    let path = dir.join(MARK_FILE);
    match fs::read(&path) {
        Ok(b) => decode(&b).ok_or_else(|| {
            StorageError::Corrupt(format!("checkpoint mark {} is malformed", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(JournalPos::default()),
        Err(source) => Err(StorageError::Io(IoContext {
            context: format!("read checkpoint mark {}", path.display()),
            source,
        })),
    }
}

/// Replaces the mark in `dir` atomically and durably.
pub fn write(dir: &Path, pos: JournalPos) -> Result<(), StorageError> {
    let tmp = dir.join(format!("{MARK_FILE}.tmp"));
    let mut f = fs::File::create(&tmp).context(|| format!("create {}", tmp.display()))?;
    f.write_all(&encode(pos))
        .and_then(|()| f.sync_all())
        .context(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, dir.join(MARK_FILE)).context(|| format!("rename {}", tmp.display()))?;
    sync_dir(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_round_trips_and_rejects_damage() {
        let pos = JournalPos {
            file_id: 3,
            offset: 4096,
        };
        let b = encode(pos);
        assert_eq!(decode(&b), Some(pos));
        for i in 0..MARK_BYTES {
            let mut d = b;
            d[i] ^= 0x10;
            assert_eq!(decode(&d), None);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            read(dir.path()).expect("missing is fine"),
            JournalPos::default()
        );
        write(dir.path(), pos).expect("write");
        assert_eq!(read(dir.path()).expect("read"), pos);
    }
}
