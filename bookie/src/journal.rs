//! The journal: the bookie's write-ahead log.
//!
//! Every change a bookie acknowledges (an entry, a fence, an explicit LAC, a ledger's
//! master key, a deletion) is first appended here and fsynced. A journal file is:
//!
//! ```text
//! header:  "FJNL" (4 bytes) | version u32 BE (= 1)
//! record:  len u32 BE | crc u32 BE | type u8 | payload (len - 1 bytes)
//!          crc = CRC32C(type ‖ payload)
//! ```
//!
//! Replay reads records in order and stops at the first one that is cut short, has a
//! zero length, or fails its CRC. In the newest file that is the torn tail of a
//! write that was never fsynced, so never acknowledged, or the zero-filled space
//! preallocated past the last record ([`JOURNAL_PREALLOC_BYTES`]: a file on disk
//! keeps allocated space ahead of its end, so a journal write on a filling disk meets
//! ENOSPC as late as possible, like BookKeeper's `journalPreAllocSizeMB`); start-up
//! cuts it off ([`repair_tail`]) before a new file is started. Every older file was
//! fsynced whole before the next one was created (the writer syncs a file before
//! rolling), so in an older file anything but zeros to the end after the last record
//! is damage to acknowledged data, and replay refuses it ([`JournalError::Damaged`])
//! rather than answer `NoSuchEntry` for what it lost.
//!
//! An add record's CRC is computed from the entry's own CRC32C digest (verified
//! before the add was admitted) with `crc32c_combine`, not by a second pass over the
//! payload; the bytes on disk are the same either way. Large entries are written
//! straight from the request's buffer with a gathered write ([`JournalFile::append`]
//! takes the parts of a group), not copied into a group buffer first.
//!
//! This module holds the record codec, replay, and the [`JournalDir`] boundary with a
//! real and an in-memory implementation; the group-commit threads live in
//! [`crate::group_commit`].

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use folio_proto::{Entry, MAX_MASTER_KEY_BYTES, MasterKey};

use crate::error::{Context, IoContext, JournalError};

/// Magic bytes opening every journal file.
pub const JOURNAL_MAGIC: &[u8; 4] = b"FJNL";
/// Journal format version.
pub const JOURNAL_VERSION: u32 = 1;
/// Size of the journal file header.
pub const JOURNAL_HEADER_BYTES: u64 = 8;
/// Size of a record's length and CRC fields.
pub const RECORD_HEADER_BYTES: usize = 8;
/// How far ahead of its last record a journal file on disk keeps space allocated
/// (zero-filled, through `fallocate`): once a file holds less than half of this past
/// its end, the next append extends the allocation by this much.
pub const JOURNAL_PREALLOC_BYTES: u64 = 4 << 20;

const TYPE_ADD: u8 = 1;
const TYPE_FENCE: u8 = 2;
const TYPE_LAC: u8 = 3;
const TYPE_MASTER_KEY: u8 = 4;
const TYPE_DELETE: u8 = 5;

/// A position in the journal: a file id and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct JournalPos {
    /// The journal file id.
    pub file_id: u64,
    /// Byte offset within that file.
    pub offset: u64,
}

/// One change to a bookie's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalRecord {
    /// An entry was stored (the entry's header names the ledger).
    Add(Entry),
    /// The ledger was fenced.
    Fence {
        /// The ledger.
        ledger_id: u64,
    },
    /// An explicit LAC was written.
    Lac {
        /// The ledger.
        ledger_id: u64,
        /// The LAC.
        lac: i64,
    },
    /// The ledger's master key, recorded on first contact.
    MasterKey {
        /// The ledger.
        ledger_id: u64,
        /// The key.
        key: MasterKey,
    },
    /// The ledger was deleted.
    DeleteLedger {
        /// The ledger.
        ledger_id: u64,
    },
}

impl JournalRecord {
    /// Bytes this record takes in the journal.
    pub fn encoded_len(&self) -> usize {
        RECORD_HEADER_BYTES
            + 1
            + match self {
                JournalRecord::Add(e) => e.encoded_len(),
                JournalRecord::Fence { .. } | JournalRecord::DeleteLedger { .. } => 8,
                JournalRecord::Lac { .. } => 16,
                JournalRecord::MasterKey { key, .. } => 9 + key.as_bytes().len(),
            }
    }

    /// Appends the encoded record to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let start = dst.len();
        dst.put_u32(0);
        dst.put_u32(0);
        match self {
            JournalRecord::Add(e) => {
                dst.put_u8(TYPE_ADD);
                dst.put_slice(e.as_bytes());
            }
            JournalRecord::Fence { ledger_id } => {
                dst.put_u8(TYPE_FENCE);
                dst.put_u64(*ledger_id);
            }
            JournalRecord::Lac { ledger_id, lac } => {
                dst.put_u8(TYPE_LAC);
                dst.put_u64(*ledger_id);
                dst.put_i64(*lac);
            }
            JournalRecord::MasterKey { ledger_id, key } => {
                dst.put_u8(TYPE_MASTER_KEY);
                dst.put_u64(*ledger_id);
                let k = key.as_bytes();
                dst.put_u8(u8::try_from(k.len()).unwrap_or(u8::MAX));
                dst.put_slice(&k[..k.len().min(MAX_MASTER_KEY_BYTES)]);
            }
            JournalRecord::DeleteLedger { ledger_id } => {
                dst.put_u8(TYPE_DELETE);
                dst.put_u64(*ledger_id);
            }
        }
        let body = start + RECORD_HEADER_BYTES;
        let len = u32::try_from(dst.len() - body).unwrap_or(u32::MAX);
        let crc = match self {
            JournalRecord::Add(e) => add_record_crc(e),
            _ => crc32c::crc32c(&dst[body..]),
        };
        dst[start..start + 4].copy_from_slice(&len.to_be_bytes());
        dst[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
    }

    /// Encodes the record for a gathered write: small records (and the headers of
    /// large adds) go into `buf`; a large add's entry bytes are pushed to `parts` as
    /// they are, without a copy, after whatever `buf` holds so far. The bytes of
    /// `parts` then `buf`, in order, equal [`JournalRecord::encode`]'s.
    pub fn encode_parts(&self, buf: &mut BytesMut, parts: &mut Vec<Bytes>) {
        match self {
            JournalRecord::Add(e) if e.encoded_len() >= GATHER_MIN_BYTES => {
                put_add_header(e, buf);
                parts.push(buf.split().freeze());
                parts.push(e.as_bytes().clone());
            }
            _ => self.encode(buf),
        }
    }

    fn decode(body: Bytes) -> Option<JournalRecord> {
        let (&kind, payload) = body.split_first()?;
        let u64_at = |i: usize| -> Option<u64> {
            let b: [u8; 8] = payload.get(i..i + 8)?.try_into().ok()?;
            Some(u64::from_be_bytes(b))
        };
        let exact = |n: usize| (payload.len() == n).then_some(());
        Some(match kind {
            TYPE_ADD => JournalRecord::Add(Entry::decode_verified(body.slice(1..)).ok()?),
            TYPE_FENCE => {
                exact(8)?;
                JournalRecord::Fence {
                    ledger_id: u64_at(0)?,
                }
            }
            TYPE_LAC => {
                exact(16)?;
                JournalRecord::Lac {
                    ledger_id: u64_at(0)?,
                    lac: u64_at(8)? as i64,
                }
            }
            TYPE_MASTER_KEY => {
                let len = usize::from(*payload.get(8)?);
                exact(9 + len)?;
                JournalRecord::MasterKey {
                    ledger_id: u64_at(0)?,
                    key: MasterKey::new(body.slice(10..10 + len)).ok()?,
                }
            }
            TYPE_DELETE => {
                exact(8)?;
                JournalRecord::DeleteLedger {
                    ledger_id: u64_at(0)?,
                }
            }
            _ => return None,
        })
    }
}

/// Entries at least this large are written from their own buffer (a gathered
/// write) instead of being copied into the group's buffer.
const GATHER_MIN_BYTES: usize = 16 << 10;

/// Writes an add record's length, CRC ([`add_record_crc`]) and type.
fn put_add_header(e: &Entry, dst: &mut BytesMut) {
    dst.put_u32(u32::try_from(1 + e.as_bytes().len()).unwrap_or(u32::MAX));
    dst.put_u32(add_record_crc(e));
    dst.put_u8(TYPE_ADD);
}

/// CRC32C of an add record's body (type byte, then the entry's bytes). For a large
/// entry it is derived from the entry's digest (CRC32C over everything but the
/// digest), which the bookie verified before admitting the add, instead of a second
/// pass over the payload. Were the digest wrong, replay's own check of the entry
/// would still refuse the record.
fn add_record_crc(e: &Entry) -> u32 {
    let bytes = e.as_bytes();
    let n = bytes.len();
    if n < GATHER_MIN_BYTES {
        return crc32c::crc32c_append(crc32c::crc32c(&[TYPE_ADD]), bytes);
    }
    let digest_len = folio_proto::ENTRY_DIGEST_BYTES;
    let body = crc32c::crc32c_combine(crc32c::crc32c(&[TYPE_ADD]), e.digest(), n - digest_len);
    crc32c::crc32c_append(body, &bytes[n - digest_len..])
}

/// The journal file header.
pub fn file_header() -> [u8; JOURNAL_HEADER_BYTES as usize] {
    let mut h = [0u8; JOURNAL_HEADER_BYTES as usize];
    h[..4].copy_from_slice(JOURNAL_MAGIC);
    h[4..].copy_from_slice(&JOURNAL_VERSION.to_be_bytes());
    h
}

/// Why a scan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanEnd {
    /// The file ended exactly after a record.
    Clean,
    /// A zero length field: the unwritten (or zeroed) tail.
    Zeroed,
    /// A record runs past the end of the file.
    Truncated,
    /// A record's CRC or contents are wrong.
    Corrupt,
}

/// The records read from one journal file.
#[derive(Debug)]
pub struct Scan {
    /// Each record with the offset just after it.
    pub records: Vec<(JournalRecord, u64)>,
    /// Offset just after the last good record.
    pub valid_end: u64,
    /// Why the scan stopped.
    pub end: ScanEnd,
}

/// Reads the records of one journal file, starting at `from` (at least the header
/// size), up to the first bad record.
pub fn scan(data: &Bytes, from: u64) -> Scan {
    let mut pos = usize::try_from(from.max(JOURNAL_HEADER_BYTES)).unwrap_or(usize::MAX);
    let mut records = Vec::new();
    let end = loop {
        // checked_add: `from` comes from the checkpoint mark, so may be anything.
        let head = pos
            .checked_add(RECORD_HEADER_BYTES)
            .and_then(|end| data.get(pos..end));
        let Some(head) = head else {
            break if pos == data.len() {
                ScanEnd::Clean
            } else {
                ScanEnd::Truncated
            };
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if len == 0 {
            break ScanEnd::Zeroed;
        }
        let body_start = pos + RECORD_HEADER_BYTES;
        let Some(body_end) = body_start.checked_add(len).filter(|e| *e <= data.len()) else {
            break ScanEnd::Truncated;
        };
        if crc32c::crc32c(&data[body_start..body_end]) != crc {
            break ScanEnd::Corrupt;
        }
        let Some(record) = JournalRecord::decode(data.slice(body_start..body_end)) else {
            break ScanEnd::Corrupt;
        };
        pos = body_end;
        records.push((record, pos as u64));
    };
    Scan {
        records,
        valid_end: pos as u64,
        end,
    }
}

/// An open journal file that the group-commit threads append to and sync.
pub trait JournalFile: Send + Sync {
    /// Appends `parts`, in order, at the end of the file (not durable until
    /// [`JournalFile::sync`]).
    fn append(&self, parts: &[Bytes]) -> std::io::Result<()>;
    /// Makes every appended byte durable (fdatasync).
    fn sync(&self) -> std::io::Result<()>;
}

/// The directory of journal files: the boundary faked by tests.
pub trait JournalDir: Send + Sync {
    /// Ids of the journal files present, ascending.
    fn list(&self) -> Result<Vec<u64>, JournalError>;
    /// Creates a new, empty file (header included) and makes its existence durable.
    fn create(&self, id: u64) -> Result<Arc<dyn JournalFile>, JournalError>;
    /// Reads a whole file.
    fn read(&self, id: u64) -> Result<Bytes, JournalError>;
    /// Deletes a file (durably: the directory is synced).
    fn remove(&self, id: u64) -> Result<(), JournalError>;
    /// Cuts a file to `len` bytes, durably.
    fn truncate(&self, id: u64, len: u64) -> Result<(), JournalError>;
}

/// Journal files in a directory of the real file system, named `{id:016x}.jnl`.
#[derive(Debug, Clone)]
pub struct FsJournalDir {
    dir: PathBuf,
}

impl FsJournalDir {
    /// Uses (and creates if needed) `dir`.
    pub fn open(dir: &Path) -> Result<FsJournalDir, JournalError> {
        fs::create_dir_all(dir).context(|| format!("create journal dir {}", dir.display()))?;
        Ok(FsJournalDir {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016x}.jnl"))
    }
}

/// A journal file on disk. It is written at its cursor (not in append mode): the
/// file's size is its allocated space, zero-filled past the last record.
struct FsJournalFile {
    file: File,
    path: PathBuf,
    space: Mutex<FileSpace>,
}

/// Bytes written to a journal file (the header included) and bytes allocated.
struct FileSpace {
    len: u64,
    allocated: u64,
    /// False once the file system said it cannot preallocate: plain writes then.
    preallocate: bool,
    /// A failed extension ahead of need was logged (it is logged once per file).
    warned: bool,
    /// Pages below this offset were synced and dropped from the page cache.
    dropped: u64,
}

impl FsJournalFile {
    /// Extends the allocated space to `len` bytes.
    fn allocate(&self, space: &mut FileSpace, len: u64) -> std::io::Result<()> {
        use fs4::fs_std::FileExt;
        match self.file.allocate(len) {
            Ok(()) => {
                space.allocated = len;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                tracing::info!(
                    path = %self.path.display(),
                    "journal: file system cannot preallocate; plain appends"
                );
                space.preallocate = false;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

impl JournalFile for FsJournalFile {
    fn append(&self, parts: &[Bytes]) -> std::io::Result<()> {
        let mut space = lock(&self.space);
        let end = space.len + parts.iter().map(|p| p.len() as u64).sum::<u64>();
        if space.preallocate && end > space.allocated {
            // The write does not fit the allocated space: allocate it first, so
            // that ENOSPC (if the disk is full) comes before anything is written.
            self.allocate(&mut space, end + JOURNAL_PREALLOC_BYTES)
                .or_else(|_| self.allocate(&mut space, end))?;
        } else if space.preallocate && space.allocated - end < JOURNAL_PREALLOC_BYTES / 2 {
            // Running low: extend ahead of need. A failure is only a warning, since
            // the write still fits; the disk check turns the bookie read-only.
            if let Err(e) = self.allocate(&mut space, end + JOURNAL_PREALLOC_BYTES)
                && !space.warned
            {
                space.warned = true;
                tracing::warn!(
                    error = %e,
                    path = %self.path.display(),
                    "journal: cannot preallocate ahead"
                );
            }
        }
        // At most IOV_MAX (1024 on Linux) slices per call.
        for chunk in parts.chunks(1024) {
            let mut slices: Vec<IoSlice<'_>> = chunk.iter().map(|p| IoSlice::new(p)).collect();
            let mut rest = &mut slices[..];
            while !rest.is_empty() {
                match (&self.file).write_vectored(rest) {
                    Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(n) => IoSlice::advance_slices(&mut rest, n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        space.len = end;
        Ok(())
    }

    fn sync(&self) -> std::io::Result<()> {
        let (from, synced) = {
            let space = lock(&self.space);
            (space.dropped, space.len)
        };
        self.file.sync_data()?;
        // The synced pages are read again only by a replay after a crash: drop them
        // from the page cache now (BookKeeper's `journalRemovePagesFromCache`), so
        // the journal does not push the write cache's and readers' pages out. Only
        // the range synced since the last time; only advice: a failure changes
        // nothing on disk.
        if let Some(len) = std::num::NonZeroU64::new(synced.saturating_sub(from)) {
            match rustix::fs::fadvise(&self.file, from, Some(len), rustix::fs::Advice::DontNeed) {
                Ok(()) => {
                    let mut space = lock(&self.space);
                    space.dropped = space.dropped.max(synced);
                }
                Err(e) => {
                    tracing::debug!(error = %e, path = %self.path.display(), "journal: fadvise failed")
                }
            }
        }
        Ok(())
    }
}

/// Makes a directory's entries (created, renamed or removed files) durable.
pub fn sync_dir(dir: &Path) -> Result<(), IoContext> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .context(|| format!("sync directory {}", dir.display()))
}

impl JournalDir for FsJournalDir {
    fn list(&self) -> Result<Vec<u64>, JournalError> {
        let mut ids = Vec::new();
        let rd = fs::read_dir(&self.dir).context(|| format!("list {}", self.dir.display()))?;
        for item in rd {
            let item = item.context(|| format!("list {}", self.dir.display()))?;
            let name = item.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".jnl")) else {
                continue;
            };
            if let Ok(id) = u64::from_str_radix(stem, 16) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Creates the file, writes the header and preallocates
    /// [`JOURNAL_PREALLOC_BYTES`] past it (best effort: on a full disk the file is
    /// still created, so a bookie can start, read-only, and serve reads), then syncs
    /// the file and the directory.
    fn create(&self, id: u64) -> Result<Arc<dyn JournalFile>, JournalError> {
        let path = self.path(id);
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .context(|| format!("create journal file {}", path.display()))?;
        file.write_all(&file_header())
            .context(|| format!("write journal header {}", path.display()))?;
        let f = FsJournalFile {
            file,
            path,
            space: Mutex::new(FileSpace {
                len: JOURNAL_HEADER_BYTES,
                allocated: JOURNAL_HEADER_BYTES,
                preallocate: true,
                warned: false,
                dropped: 0,
            }),
        };
        {
            let mut space = lock(&f.space);
            if let Err(e) = f.allocate(&mut space, JOURNAL_HEADER_BYTES + JOURNAL_PREALLOC_BYTES) {
                space.warned = true;
                tracing::warn!(
                    error = %e,
                    path = %f.path.display(),
                    "journal: cannot preallocate a new file"
                );
            }
        }
        // The size and the header are durable before any record is written, so
        // replay never mistakes the preallocated zeros for anything but the end.
        f.file
            .sync_all()
            .context(|| format!("sync journal file {}", f.path.display()))?;
        sync_dir(&self.dir)?;
        Ok(Arc::new(f))
    }

    fn read(&self, id: u64) -> Result<Bytes, JournalError> {
        let path = self.path(id);
        let data = fs::read(&path).context(|| format!("read journal file {}", path.display()))?;
        if data.len() < JOURNAL_HEADER_BYTES as usize || data[..4] != JOURNAL_MAGIC[..] {
            return Err(JournalError::BadHeader { path });
        }
        Ok(Bytes::from(data))
    }

    fn remove(&self, id: u64) -> Result<(), JournalError> {
        let path = self.path(id);
        fs::remove_file(&path).context(|| format!("remove journal file {}", path.display()))?;
        sync_dir(&self.dir)?;
        Ok(())
    }

    fn truncate(&self, id: u64, len: u64) -> Result<(), JournalError> {
        let path = self.path(id);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(len).and_then(|()| f.sync_all()))
            .context(|| format!("truncate journal file {} to {len} bytes", path.display()))?;
        Ok(())
    }
}

/// One in-memory journal file: what was written, and how much of it was synced.
#[derive(Debug, Default, Clone)]
struct MemFile {
    written: Vec<u8>,
    synced_len: usize,
}

/// An in-memory journal directory that tells written bytes from synced ones, so a
/// simulated crash loses exactly what a real one could.
#[derive(Debug, Default, Clone)]
pub struct MemJournalDir {
    files: Arc<Mutex<BTreeMap<u64, MemFile>>>,
}

struct MemJournalFile {
    id: u64,
    files: Arc<Mutex<BTreeMap<u64, MemFile>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl JournalFile for MemJournalFile {
    fn append(&self, parts: &[Bytes]) -> std::io::Result<()> {
        let mut files = lock(&self.files);
        let f = files
            .get_mut(&self.id)
            .ok_or(std::io::ErrorKind::NotFound)?;
        for p in parts {
            f.written.extend_from_slice(p);
        }
        Ok(())
    }

    fn sync(&self) -> std::io::Result<()> {
        let mut files = lock(&self.files);
        let f = files
            .get_mut(&self.id)
            .ok_or(std::io::ErrorKind::NotFound)?;
        f.synced_len = f.written.len();
        Ok(())
    }
}

impl MemJournalDir {
    /// The directory as a crash now would leave it, as a new directory (this one
    /// is untouched, so the writer may keep running). Each file keeps its synced
    /// bytes plus the first `keep_unsynced(id, n)` of its `n` unsynced bytes (a torn
    /// write); the rest of the unsynced bytes read back as `fill` (zeros from a
    /// preallocated file, or garbage).
    pub fn crashed(
        &self,
        mut keep_unsynced: impl FnMut(u64, usize) -> usize,
        fill: u8,
    ) -> MemJournalDir {
        let files = lock(&self.files);
        let mut out = BTreeMap::new();
        for (id, f) in files.iter() {
            let unsynced = f.written.len() - f.synced_len;
            let keep = keep_unsynced(*id, unsynced).min(unsynced);
            let mut written = f.written[..f.synced_len + keep].to_vec();
            written.extend(std::iter::repeat_n(fill, unsynced - keep));
            out.insert(
                *id,
                MemFile {
                    synced_len: written.len(),
                    written,
                },
            );
        }
        MemJournalDir {
            files: Arc::new(Mutex::new(out)),
        }
    }
}

impl JournalDir for MemJournalDir {
    fn list(&self) -> Result<Vec<u64>, JournalError> {
        Ok(lock(&self.files).keys().copied().collect())
    }

    fn create(&self, id: u64) -> Result<Arc<dyn JournalFile>, JournalError> {
        let mut files = lock(&self.files);
        let header = file_header().to_vec();
        files.insert(
            id,
            MemFile {
                synced_len: header.len(),
                written: header,
            },
        );
        Ok(Arc::new(MemJournalFile {
            id,
            files: self.files.clone(),
        }))
    }

    fn read(&self, id: u64) -> Result<Bytes, JournalError> {
        let files = lock(&self.files);
        let f = files.get(&id).ok_or_else(|| JournalError::BadHeader {
            path: PathBuf::from(format!("mem:{id}")),
        })?;
        Ok(Bytes::from(f.written.clone()))
    }

    fn remove(&self, id: u64) -> Result<(), JournalError> {
        lock(&self.files).remove(&id);
        Ok(())
    }

    fn truncate(&self, id: u64, len: u64) -> Result<(), JournalError> {
        let mut files = lock(&self.files);
        if let Some(f) = files.get_mut(&id) {
            let len = usize::try_from(len)
                .unwrap_or(usize::MAX)
                .min(f.written.len());
            f.written.truncate(len);
            f.synced_len = f.synced_len.min(len);
        }
        Ok(())
    }
}

/// The torn end of the newest journal file, found by replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// The file.
    pub file_id: u64,
    /// Why its scan stopped.
    pub end: ScanEnd,
    /// Offset just after its last good record (0: the file has no valid header).
    pub valid_end: u64,
}

/// What replay found.
#[derive(Debug, Default)]
pub struct ReplayOutcome {
    /// Records replayed.
    pub records: u64,
    /// The highest journal file id seen (new files must use a higher one).
    pub last_file_id: Option<u64>,
    /// The newest file's torn tail (unacknowledged writes; not its zero-filled,
    /// preallocated end), if it has one: cut it off with [`repair_tail`] before
    /// writing a newer file.
    pub torn_tail: Option<TornTail>,
}

/// Replays every record at or after `from`, in journal order, into `apply`.
///
/// A scan may stop early at a file's zero-filled unused end, or in the newest file
/// at its torn tail (reported in [`ReplayOutcome::torn_tail`]).
/// Anything else in an older file is damage to fsynced records, answered
/// [`JournalError::Damaged`].
pub fn replay(
    dir: &dyn JournalDir,
    from: JournalPos,
    mut apply: impl FnMut(JournalRecord, JournalPos),
) -> Result<ReplayOutcome, JournalError> {
    let mut outcome = ReplayOutcome::default();
    let ids = dir.list()?;
    let last = ids.last().copied();
    for id in ids {
        outcome.last_file_id = Some(id);
        if id < from.file_id {
            continue;
        }
        let newest = Some(id) == last;
        let data = match dir.read(id) {
            Ok(data) => data,
            // A crash while creating the newest file can leave it without its header
            // (creation syncs the header before any record is written to it).
            Err(JournalError::BadHeader { .. }) if newest => {
                outcome.torn_tail = Some(TornTail {
                    file_id: id,
                    end: ScanEnd::Truncated,
                    valid_end: 0,
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        let start = if id == from.file_id { from.offset } else { 0 };
        let s = scan(&data, start);
        for (record, end) in s.records {
            outcome.records += 1;
            apply(
                record,
                JournalPos {
                    file_id: id,
                    offset: end,
                },
            );
        }
        let unused_end = s.end == ScanEnd::Zeroed
            && usize::try_from(s.valid_end)
                .ok()
                .and_then(|v| data.get(v..))
                .is_some_and(|rest| rest.iter().all(|b| *b == 0));
        match s.end {
            ScanEnd::Clean => {}
            _ if unused_end => {}
            _ if newest => {
                outcome.torn_tail = Some(TornTail {
                    file_id: id,
                    end: s.end,
                    valid_end: s.valid_end,
                });
            }
            _ if unused_end => {}
            end => {
                return Err(JournalError::Damaged {
                    file_id: id,
                    offset: s.valid_end,
                    end,
                });
            }
        }
    }
    Ok(outcome)
}

/// Cuts the newest file's torn tail off (or removes the file if it has no valid
/// header), durably, so that once a newer file exists every older one ends cleanly
/// and a bad record in it can only mean damage.
pub fn repair_tail(dir: &dyn JournalDir, tail: &TornTail) -> Result<(), JournalError> {
    if tail.valid_end == 0 {
        dir.remove(tail.file_id)
    } else {
        dir.truncate(tail.file_id, tail.valid_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_proto::EntryHeader;

    fn entry(ledger_id: u64, entry_id: u64, len: usize) -> Entry {
        let payload = vec![entry_id as u8; len];
        Entry::new(
            EntryHeader {
                ledger_id,
                entry_id,
                lac: entry_id as i64 - 1,
                length: 0,
            },
            &payload,
        )
    }

    fn all_kinds() -> Vec<JournalRecord> {
        vec![
            JournalRecord::MasterKey {
                ledger_id: 1,
                key: MasterKey::new(&b"secret"[..]).expect("short"),
            },
            JournalRecord::Add(entry(1, 0, 100)),
            JournalRecord::Lac {
                ledger_id: 1,
                lac: 0,
            },
            JournalRecord::Fence { ledger_id: 1 },
            JournalRecord::DeleteLedger { ledger_id: 2 },
        ]
    }

    #[test]
    fn records_round_trip() {
        let mut buf = BytesMut::from(&file_header()[..]);
        for r in all_kinds() {
            let before = buf.len();
            r.encode(&mut buf);
            assert_eq!(buf.len() - before, r.encoded_len());
        }
        let s = scan(&buf.freeze(), 0);
        assert_eq!(s.end, ScanEnd::Clean);
        let got: Vec<_> = s.records.into_iter().map(|(r, _)| r).collect();
        assert_eq!(got, all_kinds());
    }

    #[test]
    fn every_truncation_stops_at_the_last_whole_record() {
        let mut buf = BytesMut::from(&file_header()[..]);
        let mut ends = vec![buf.len()];
        for r in all_kinds() {
            r.encode(&mut buf);
            ends.push(buf.len());
        }
        let full = buf.freeze();
        for cut in JOURNAL_HEADER_BYTES as usize..full.len() {
            let s = scan(&full.slice(..cut), 0);
            let whole = ends.iter().filter(|e| **e <= cut).count() - 1;
            assert_eq!(s.records.len(), whole, "cut at {cut}");
            assert_eq!(s.valid_end as usize, ends[whole]);
        }
    }

    /// The gathered encoding (large entries written from their own buffers, their
    /// record CRC derived from the entry digest) writes exactly the bytes of the
    /// plain one, and they scan back with every CRC checked.
    #[test]
    fn gathered_encoding_equals_plain_and_scans_back() {
        let mut records = all_kinds();
        for len in [0, 1, GATHER_MIN_BYTES - 5, GATHER_MIN_BYTES, 1 << 20] {
            records.push(JournalRecord::Add(entry(3, len as u64, len)));
            records.push(JournalRecord::Fence { ledger_id: 3 });
        }
        let mut plain = BytesMut::from(&file_header()[..]);
        let mut buf = BytesMut::from(&file_header()[..]);
        let mut parts = Vec::new();
        for r in &records {
            r.encode(&mut plain);
            r.encode_parts(&mut buf, &mut parts);
        }
        parts.push(buf.split().freeze());
        assert!(parts.len() > 3, "large entries were gathered, not copied");
        let gathered: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        assert_eq!(gathered, plain.to_vec());
        let s = scan(&Bytes::from(gathered), 0);
        assert_eq!(s.end, ScanEnd::Clean);
        let got: Vec<_> = s.records.into_iter().map(|(r, _)| r).collect();
        assert_eq!(got, records);
    }

    /// A large add whose payload changed after encoding fails the record CRC.
    #[test]
    fn a_changed_payload_in_a_large_add_fails_its_crc() {
        let r = JournalRecord::Add(entry(3, 9, 1 << 16));
        let mut buf = BytesMut::from(&file_header()[..]);
        r.encode(&mut buf);
        let mid = buf.len() / 2;
        buf[mid] ^= 1;
        let s = scan(&buf.freeze(), 0);
        assert_eq!(s.end, ScanEnd::Corrupt);
        assert!(s.records.is_empty());
    }
}
