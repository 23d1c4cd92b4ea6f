//! Journal preallocation (docs/format.md §Journal): a journal file on disk keeps
//! zero-filled space allocated ahead of its last record, and replay reads that space
//! as the end of the file; a torn write inside it is still cut off at the last good
//! record.

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use folio_bookie::group_commit::{Apply, GroupCommitConfig, Journal};
use folio_bookie::journal::{
    self, FsJournalDir, JOURNAL_HEADER_BYTES, JOURNAL_PREALLOC_BYTES, JournalPos, JournalRecord,
    ScanEnd,
};
use folio_proto::{Entry, EntryHeader};

#[derive(Default)]
struct Recorder {
    through: Mutex<JournalPos>,
}

impl Apply for Recorder {
    fn apply(&self, _record: &JournalRecord) {}
    fn applied_through(&self, pos: JournalPos) {
        *self.through.lock().expect("lock") = pos;
    }
}

fn record(i: u64, len: usize) -> JournalRecord {
    let payload: Vec<u8> = (0..len).map(|j| (i as usize * 31 + j) as u8).collect();
    JournalRecord::Add(Entry::new(
        EntryHeader {
            ledger_id: 3,
            entry_id: i,
            lac: i as i64 - 1,
            length: 0,
        },
        &payload,
    ))
}

fn path(dir: &std::path::Path, id: u64) -> std::path::PathBuf {
    dir.join(format!("{id:016x}.jnl"))
}

/// Writes `records` (one append each) through the group-commit journal and waits
/// until all are durable.
fn write_all(dir: &FsJournalDir, file_bytes: u64, records: &[JournalRecord]) -> JournalPos {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let recorder = Arc::new(Recorder::default());
    let config = GroupCommitConfig {
        group_wait: Duration::ZERO,
        group_bytes: 1 << 20,
        file_bytes,
    };
    let journal =
        Journal::start(Arc::new(dir.clone()), 1, config, recorder.clone()).expect("start");
    let waiters: Vec<_> = records
        .iter()
        .map(|r| journal.append(vec![r.clone()]))
        .collect();
    for w in waiters {
        rt.block_on(w).expect("answered").expect("durable");
    }
    journal.shutdown();
    *recorder.through.lock().expect("lock")
}

#[test]
fn journal_files_are_preallocated_and_replay_stops_at_the_zeroed_space() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = FsJournalDir::open(tmp.path()).expect("open");
    // Small files, so the journal rolls; one record larger than the preallocated
    // headroom, so an append must allocate before it writes.
    let mut records: Vec<_> = (0..40).map(|i| record(i, 1000 + i as usize)).collect();
    records.push(record(40, (JOURNAL_PREALLOC_BYTES as usize) + 1000));
    records.push(record(41, 10));
    let end = write_all(&dir, 16 << 10, &records);
    assert!(end.file_id >= 2, "the journal rolled: {end:?}");

    let mut replayed = Vec::new();
    let outcome =
        journal::replay(&dir, JournalPos::default(), |r, _| replayed.push(r)).expect("replay");
    assert_eq!(replayed, records);
    for id in 1..=end.file_id {
        let meta = std::fs::metadata(path(tmp.path(), id)).expect("stat");
        let data = std::fs::read(path(tmp.path(), id)).expect("read");
        let scan = journal::scan(&Bytes::from(data), 0);
        // Space past the records is allocated (blocks, not a sparse hole) and reads
        // back as zeros, which replay takes as the end.
        assert!(
            meta.len() >= scan.valid_end + JOURNAL_PREALLOC_BYTES / 2,
            "file {id}"
        );
        assert!(
            meta.blocks() * 512 >= meta.len() / 2,
            "file {id} is not sparse"
        );
        assert_eq!(scan.end, ScanEnd::Zeroed, "file {id}");
        assert!(scan.valid_end > JOURNAL_HEADER_BYTES);
    }
    // Zeros to the end of a file are its unused end, not a torn tail.
    assert!(outcome.torn_tail.is_none(), "{:?}", outcome.torn_tail);
}

/// A write torn inside the preallocated space (a record header and part of its
/// body, then zeros) loses only that record.
#[test]
fn torn_write_inside_preallocated_space_is_cut_off() {
    for torn in [
        vec![0, 0, 0, 50, 1, 2, 3, 4, 1, 9, 9],
        vec![0xFF; 100],
        vec![0, 0, 0, 1],
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = FsJournalDir::open(tmp.path()).expect("open");
        let records: Vec<_> = (0..20).map(|i| record(i, 100 + i as usize)).collect();
        let end = write_all(&dir, 1 << 30, &records);
        assert_eq!(end.file_id, 1);
        let p = path(tmp.path(), 1);
        let mut data = std::fs::read(&p).expect("read");
        let at = end.offset as usize;
        data[at..at + torn.len()].copy_from_slice(&torn);
        std::fs::write(&p, &data).expect("write");
        let mut replayed = Vec::new();
        let outcome =
            journal::replay(&dir, JournalPos::default(), |r, _| replayed.push(r)).expect("replay");
        assert_eq!(replayed, records);
        let tail = outcome.torn_tail.expect("a torn tail");
        assert_eq!(tail.file_id, 1);
        assert_ne!(tail.end, ScanEnd::Clean);
        assert_eq!(tail.valid_end, end.offset);
    }
}
