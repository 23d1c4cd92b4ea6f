//! Fault injection for tests and fire drills: damage a stored entry copy on disk the
//! way a bad sector would, so that reads, the scrubber and auto-recovery can be
//! exercised against real data. The bookie itself never calls this.
//!
//! The damage is one payload byte flipped in place in an entry log (`docs/format.md`,
//! "Entry logs": an 8-byte file header, then `[u32 BE length][entry]` records). Only
//! that byte is written, so a running bookie appending to the same file is not
//! disturbed.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use folio_proto::{ENTRY_DIGEST_BYTES, ENTRY_HEADER_BYTES};

use crate::entry_log::{ENTRY_LOG_HEADER_BYTES, RECORD_LEN_BYTES};

/// Which byte of the payload is flipped.
const PAYLOAD_OFFSET: usize = 10;

/// Flips one payload byte of the stored copy of `(ledger_id, entry_id)` in the entry
/// logs of the bookie data directory `data_dir`. Returns whether a copy was found
/// (an entry still in the write cache is not in any log yet).
pub fn corrupt_stored_entry(
    data_dir: &Path,
    ledger_id: u64,
    entry_id: u64,
) -> std::io::Result<bool> {
    corrupt_first(data_dir, |l, e| l == ledger_id && e == entry_id).map(|hit| hit.is_some())
}

/// Flips one payload byte of the first stored entry (in log order) whose payload is
/// longer than 10 bytes, and returns its `(ledger_id, entry_id)`.
pub fn corrupt_any_stored_entry(data_dir: &Path) -> std::io::Result<Option<(u64, u64)>> {
    corrupt_first(data_dir, |_, _| true)
}

fn corrupt_first(
    data_dir: &Path,
    mut wanted: impl FnMut(u64, u64) -> bool,
) -> std::io::Result<Option<(u64, u64)>> {
    let start = ENTRY_LOG_HEADER_BYTES as usize;
    let len_bytes = RECORD_LEN_BYTES as usize;
    for path in entry_logs(data_dir)? {
        let data = std::fs::read(&path)?;
        let mut pos = start;
        while pos + len_bytes <= data.len() {
            let mut len = [0u8; 4];
            len.copy_from_slice(&data[pos..pos + len_bytes]);
            let len = u32::from_be_bytes(len) as usize;
            let body = pos + len_bytes;
            if len == 0 || body + len > data.len() {
                break; // the end of what is written so far
            }
            let long_enough = len > ENTRY_HEADER_BYTES + ENTRY_DIGEST_BYTES + PAYLOAD_OFFSET;
            if long_enough {
                let id = |at: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&data[body + at..body + at + 8]);
                    u64::from_be_bytes(b)
                };
                let (ledger_id, entry_id) = (id(0), id(8));
                if wanted(ledger_id, entry_id) {
                    let at = body + ENTRY_HEADER_BYTES + PAYLOAD_OFFSET;
                    let mut file = OpenOptions::new().write(true).open(&path)?;
                    file.seek(SeekFrom::Start(at as u64))?;
                    file.write_all(&[data[at] ^ 0xff])?;
                    file.sync_all()?;
                    return Ok(Some((ledger_id, entry_id)));
                }
            }
            pos = body + len;
        }
    }
    Ok(None)
}

/// The entry-log files of a data directory, in order.
fn entry_logs(data_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let dir = data_dir.join("ledgers");
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    Ok(logs)
}
