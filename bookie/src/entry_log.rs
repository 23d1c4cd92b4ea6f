//! Entry logs: large files that hold the entries of all ledgers, written
//! sequentially at checkpoints.
//!
//! ```text
//! file:    "FLOG" (4 bytes) | version u32 BE (= 1)
//! record:  len u32 BE | entry (len bytes: header, payload, CRC32C; see folio-proto)
//! ```
//!
//! A [`Location`] names a record by log id and the offset of its length field. Only
//! one log is open for writing; it rolls past `file_bytes`. A bookie never appends to
//! a log it did not create in this run: after a crash, a log may end in a partial
//! record, which no index entry points to, and the entries since the last checkpoint
//! come back from the journal into a new log.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use folio_proto::Entry;

use crate::error::{Context, StorageError};
use crate::journal::sync_dir;

/// Magic bytes opening every entry log.
pub const ENTRY_LOG_MAGIC: &[u8; 4] = b"FLOG";
/// Entry log format version.
pub const ENTRY_LOG_VERSION: u32 = 1;
/// Size of the entry log header.
pub const ENTRY_LOG_HEADER_BYTES: u64 = 8;
/// Size of a record's length field.
pub const RECORD_LEN_BYTES: u64 = 4;

/// Where an entry is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// The entry log id.
    pub log_id: u64,
    /// Offset of the record's length field in the log.
    pub offset: u64,
    /// Length of the encoded entry.
    pub len: u32,
}

impl Location {
    /// Size of the encoded location.
    pub const ENCODED_BYTES: usize = 20;

    /// Encodes the location: log id u64 BE, offset u64 BE, len u32 BE.
    pub fn to_bytes(self) -> [u8; Self::ENCODED_BYTES] {
        let mut out = [0u8; Self::ENCODED_BYTES];
        out[..8].copy_from_slice(&self.log_id.to_be_bytes());
        out[8..16].copy_from_slice(&self.offset.to_be_bytes());
        out[16..].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    /// Decodes a location, or `None` if `b` has the wrong size.
    pub fn from_bytes(b: &[u8]) -> Option<Location> {
        if b.len() != Self::ENCODED_BYTES {
            return None;
        }
        Some(Location {
            log_id: u64::from_be_bytes(b[..8].try_into().ok()?),
            offset: u64::from_be_bytes(b[8..16].try_into().ok()?),
            len: u32::from_be_bytes(b[16..].try_into().ok()?),
        })
    }
}

struct Current {
    id: u64,
    writer: BufWriter<File>,
    len: u64,
}

/// The entry logs of one ledger directory.
pub struct EntryLog {
    dir: PathBuf,
    file_bytes: u64,
    current: Mutex<Current>,
    readers: Mutex<HashMap<u64, Arc<File>>>,
}

fn path_of(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}.log"))
}

fn create(dir: &Path, id: u64) -> Result<Current, StorageError> {
    let path = path_of(dir, id);
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .context(|| format!("create entry log {}", path.display()))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    writer
        .write_all(ENTRY_LOG_MAGIC)
        .and_then(|()| writer.write_all(&ENTRY_LOG_VERSION.to_be_bytes()))
        .context(|| format!("write entry log header {}", path.display()))?;
    sync_dir(dir)?;
    Ok(Current {
        id,
        writer,
        len: ENTRY_LOG_HEADER_BYTES,
    })
}

impl EntryLog {
    /// Opens the logs in `dir` and starts a new one after the highest existing id.
    pub fn open(dir: &Path, file_bytes: u64) -> Result<EntryLog, StorageError> {
        fs::create_dir_all(dir).context(|| format!("create ledger dir {}", dir.display()))?;
        let mut max_id = 0;
        for item in fs::read_dir(dir).context(|| format!("list {}", dir.display()))? {
            let item = item.context(|| format!("list {}", dir.display()))?;
            let name = item.file_name();
            if let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|s| u64::from_str_radix(s, 16).ok())
            {
                max_id = max_id.max(id);
            }
        }
        let current = create(dir, max_id + 1)?;
        Ok(EntryLog {
            dir: dir.to_path_buf(),
            file_bytes,
            current: Mutex::new(current),
            readers: Mutex::new(HashMap::new()),
        })
    }

    /// Appends an entry (buffered: durable only after [`EntryLog::sync`]).
    pub fn append(&self, entry: &Entry) -> Result<Location, StorageError> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = entry.as_bytes();
        let len = u32::try_from(bytes.len())
            .map_err(|_| StorageError::Corrupt("entry larger than 4 GiB".into()))?;
        if cur.len > ENTRY_LOG_HEADER_BYTES
            && cur.len + RECORD_LEN_BYTES + u64::from(len) > self.file_bytes
        {
            Self::seal(&self.dir, &mut cur)?;
            *cur = create(&self.dir, cur.id + 1)?;
        }
        let loc = Location {
            log_id: cur.id,
            offset: cur.len,
            len,
        };
        let id = cur.id;
        cur.writer
            .write_all(&len.to_be_bytes())
            .and_then(|()| cur.writer.write_all(bytes))
            .context(|| format!("append to entry log {id:016x}"))?;
        cur.len += RECORD_LEN_BYTES + u64::from(len);
        Ok(loc)
    }

    fn seal(dir: &Path, cur: &mut Current) -> Result<(), StorageError> {
        let id = cur.id;
        cur.writer
            .flush()
            .and_then(|()| cur.writer.get_ref().sync_data())
            .context(|| format!("sync entry log {}", path_of(dir, id).display()))?;
        Ok(())
    }

    /// Writes buffered records and fdatasyncs the current log (sealed logs were
    /// synced when they rolled).
    pub fn sync(&self) -> Result<(), StorageError> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        Self::seal(&self.dir, &mut cur)
    }

    /// The id of the log being written (never removed while current).
    pub fn current_id(&self) -> u64 {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).id
    }

    /// Every entry log on disk with its size in bytes, by id.
    pub fn list(&self) -> Result<Vec<(u64, u64)>, StorageError> {
        let mut out = Vec::new();
        for item in fs::read_dir(&self.dir).context(|| format!("list {}", self.dir.display()))? {
            let item = item.context(|| format!("list {}", self.dir.display()))?;
            let name = item.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|s| u64::from_str_radix(s, 16).ok())
            else {
                continue;
            };
            let len = item
                .metadata()
                .context(|| format!("stat entry log {}", item.path().display()))?
                .len();
            out.push((id, len));
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Deletes a sealed log. The caller guarantees that no durable index state
    /// points into it. Refuses the current log.
    pub fn remove(&self, log_id: u64) -> Result<(), StorageError> {
        if log_id >= self.current_id() {
            return Err(StorageError::Corrupt(format!(
                "refusing to remove entry log {log_id:016x}: not sealed"
            )));
        }
        self.readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&log_id);
        let path = path_of(&self.dir, log_id);
        fs::remove_file(&path).context(|| format!("remove entry log {}", path.display()))?;
        sync_dir(&self.dir)?;
        Ok(())
    }

    fn reader(&self, log_id: u64) -> Result<Arc<File>, StorageError> {
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = readers.get(&log_id) {
            return Ok(f.clone());
        }
        let path = path_of(&self.dir, log_id);
        let f =
            Arc::new(File::open(&path).context(|| format!("open entry log {}", path.display()))?);
        readers.insert(log_id, f.clone());
        Ok(f)
    }

    /// Fault injection for tests and simulation: flips every bit of the byte at
    /// `offset` of log `log_id` on disk, as a failing disk would. Buffered records
    /// are written out first, so the byte is on disk.
    pub fn flip_byte(&self, log_id: u64, offset: u64) -> Result<(), StorageError> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .writer
            .flush()
            .context(|| format!("flush entry log {log_id:016x}"))?;
        let path = path_of(&self.dir, log_id);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .context(|| format!("open entry log {}", path.display()))?;
        let mut byte = [0u8; 1];
        file.read_exact_at(&mut byte, offset)
            .and_then(|()| file.write_all_at(&[!byte[0]], offset))
            .context(|| format!("flip a byte of entry log {}", path.display()))?;
        Ok(())
    }

    /// Reads up to `max_bytes` from `offset` of log `log_id` (fewer at the end of the
    /// file). Used for read-ahead.
    pub fn read_block(
        &self,
        log_id: u64,
        offset: u64,
        max_bytes: usize,
    ) -> Result<Bytes, StorageError> {
        let file = self.reader(log_id)?;
        let mut buf = vec![0u8; max_bytes];
        let mut filled = 0;
        while filled < max_bytes {
            let n = file
                .read_at(&mut buf[filled..], offset + filled as u64)
                .context(|| {
                    format!("read entry log {log_id:016x} at {}", offset + filled as u64)
                })?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        Ok(Bytes::from(buf))
    }
}

/// Parses the record at the start of `block` as the entry `loc` points to, checking
/// its length, digest, ledger and entry id.
pub fn parse_record(
    block: &Bytes,
    loc: Location,
    ledger_id: u64,
    entry_id: u64,
) -> Result<Entry, StorageError> {
    let corrupt = |what: String| {
        StorageError::Corrupt(format!(
            "entry {ledger_id}/{entry_id} in log {:016x} at {}: {what}",
            loc.log_id, loc.offset
        ))
    };
    let len_field: [u8; 4] = block
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt("record cut short".into()))?;
    if u32::from_be_bytes(len_field) != loc.len {
        return Err(corrupt("length differs from the index".into()));
    }
    let end = 4 + loc.len as usize;
    if block.len() < end {
        return Err(corrupt("record cut short".into()));
    }
    let entry = Entry::decode_verified(block.slice(4..end)).map_err(|e| corrupt(e.to_string()))?;
    if entry.ledger_id() != ledger_id || entry.entry_id() != entry_id {
        return Err(corrupt(format!(
            "holds entry {}/{}",
            entry.ledger_id(),
            entry.entry_id()
        )));
    }
    Ok(entry)
}
