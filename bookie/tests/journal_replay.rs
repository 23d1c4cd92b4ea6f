//! Journal durability (docs/protocol.md §Durability, docs/format.md §Journal):
//! an append acknowledged by the group-commit journal survives any crash, replay of
//! a torn, zeroed or garbage tail stops at the last good record, and a bad record in
//! an older (fsynced) file is refused as damage. Files on disk are preallocated, and
//! their zero-filled end reads as the end.

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use folio_bookie::group_commit::{Apply, GroupCommitConfig, Journal};
use folio_bookie::journal::{
    self, FsJournalDir, JOURNAL_HEADER_BYTES, JOURNAL_PREALLOC_BYTES, JournalDir, JournalPos,
    JournalRecord, MemJournalDir, ScanEnd,
};
use folio_proto::{Entry, EntryHeader};
use rand::{Rng, SeedableRng, rngs::StdRng};

#[derive(Default)]
struct Recorder {
    applied: Mutex<Vec<JournalRecord>>,
    through: Mutex<JournalPos>,
}

impl Apply for Recorder {
    fn apply(&self, record: &JournalRecord) {
        self.applied.lock().expect("lock").push(record.clone());
    }
    fn applied_through(&self, pos: JournalPos) {
        *self.through.lock().expect("lock") = pos;
    }
}

fn record(i: u64, len: usize) -> JournalRecord {
    let payload: Vec<u8> = (0..len).map(|j| (i as usize * 31 + j) as u8).collect();
    JournalRecord::Add(Entry::new(
        EntryHeader {
            ledger_id: 7,
            entry_id: i,
            lac: i as i64 - 1,
            length: 0,
        },
        &payload,
    ))
}

fn replayed(dir: &dyn JournalDir) -> (Vec<JournalRecord>, journal::ReplayOutcome) {
    let mut out = Vec::new();
    let outcome = journal::replay(dir, JournalPos::default(), |r, _| out.push(r))
        .expect("replay never fails on a torn tail of the newest file");
    (out, outcome)
}

/// Many crash points, each with a torn tail that is kept in part and whose lost
/// bytes read back as zeros or as garbage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_any_crash_point() {
    let (mut some_acked, mut mid_stream) = (0, 0);
    for seed in 0..24u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = MemJournalDir::default();
        let recorder = Arc::new(Recorder::default());
        let config = GroupCommitConfig {
            group_wait: Duration::from_micros(rng.random_range(0..300)),
            group_bytes: rng.random_range(1_000..64_000),
            // Small files, so that crashes also land around rollovers.
            file_bytes: rng.random_range(4_000..40_000),
        };
        let journal = Arc::new(
            Journal::start(Arc::new(dir.clone()), 1, config, recorder.clone()).expect("start"),
        );
        let n = 400u64;
        let records: Vec<_> = (0..n)
            .map(|i| record(i, rng.random_range(0..2_000)))
            .collect();
        let waiters = Arc::new(Mutex::new(Vec::new()));
        let (j, ws, feed) = (journal.clone(), waiters.clone(), records.clone());
        let feeder = tokio::task::spawn_blocking(move || {
            for r in feed {
                let w = j.append(vec![r]);
                ws.lock().expect("lock").push(w);
                std::thread::sleep(Duration::from_micros(20));
            }
        });
        tokio::time::sleep(Duration::from_micros(rng.random_range(0..30_000))).await;
        // Crash "now": first note which appends were acknowledged, then freeze the disk.
        let fill = if seed % 2 == 0 { 0 } else { 0xA5 };
        let mut acked = Vec::new();
        for (i, w) in waiters.lock().expect("lock").iter_mut().enumerate() {
            if let Ok(Ok(())) = w.try_recv() {
                acked.push(i);
            }
        }
        some_acked += usize::from(!acked.is_empty());
        mid_stream += usize::from(acked.len() < n as usize);
        let mut keep_rng = StdRng::seed_from_u64(seed ^ 0xdead);
        let crashed = dir.crashed(|_, n| keep_rng.random_range(0..=n), fill);
        let (got, outcome) = replayed(&crashed);
        for i in &acked {
            assert!(
                got.contains(&records[*i]),
                "seed {seed}: acknowledged record {i} lost"
            );
        }
        // Replay yields appended records only, each file's in append order.
        let mut last: Option<u64> = None;
        for r in &got {
            let JournalRecord::Add(e) = r else {
                panic!("unexpected record")
            };
            assert_eq!(
                r,
                &records[e.entry_id() as usize],
                "seed {seed}: bytes differ"
            );
            if let Some(l) = last {
                assert!(e.entry_id() > l, "seed {seed}: out of order");
            }
            last = Some(e.entry_id());
        }
        // Only the newest file can be torn: the writer syncs a file before rolling.
        if let Some(t) = outcome.torn_tail {
            assert_ne!(t.end, ScanEnd::Clean);
            assert_eq!(Some(t.file_id), outcome.last_file_id, "seed {seed}");
            // Cutting it off leaves a journal that replays the same, cleanly.
            journal::repair_tail(&crashed, &t).expect("repair");
            let (again, outcome) = replayed(&crashed);
            assert_eq!(again, got, "seed {seed}");
            assert!(outcome.torn_tail.is_none(), "seed {seed}");
        }
        feeder.await.expect("feeder");
        journal.shutdown();
        // After a clean shutdown everything is durable and applied, in order.
        let (all, _) = replayed(&dir.crashed(|_, _| 0, 0));
        assert_eq!(all, records, "seed {seed}");
        assert_eq!(*recorder.applied.lock().expect("lock"), records);
    }
    // The crash points really fall while appends are in flight.
    assert!(
        some_acked > 0 && mid_stream > 0,
        "acked {some_acked}, mid-stream {mid_stream}"
    );
}

/// The same on real files: a tail of zeros (a preallocated file) or a half-written
/// record after the last good one is ignored, and nothing before it is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_journal_file_with_torn_tail_replays_to_last_good_record() {
    for tail in [
        vec![0u8; 4096],
        vec![0, 0, 0, 50, 1, 2, 3, 4, 1, 9, 9],
        vec![0xFF; 100],
        vec![0, 0, 0, 1],
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = FsJournalDir::open(tmp.path()).expect("open");
        let recorder = Arc::new(Recorder::default());
        let config = GroupCommitConfig {
            group_wait: Duration::ZERO,
            group_bytes: 1 << 20,
            file_bytes: 1 << 30,
        };
        let journal = Journal::start(Arc::new(dir.clone()), 1, config, recorder).expect("start");
        let records: Vec<_> = (0..50).map(|i| record(i, 100 + i as usize)).collect();
        let waiters: Vec<_> = records
            .iter()
            .map(|r| journal.append(vec![r.clone()]))
            .collect();
        for w in waiters {
            w.await.expect("answered").expect("durable");
        }
        journal.shutdown();
        let path = tmp.path().join(format!("{:016x}.jnl", 1));
        let mut data = std::fs::read(&path).expect("read");
        // The file ends in preallocated zeros; a torn write lands right after the
        // last good record, in that space.
        let valid_end = journal::scan(&Bytes::from(data.clone()), 0).valid_end as usize;
        let torn_end = valid_end + tail.len();
        if data.len() < torn_end {
            data.resize(torn_end, 0);
        }
        data[valid_end..torn_end].copy_from_slice(&tail);
        std::fs::write(&path, &data).expect("write");
        let (got, outcome) = replayed(&dir);
        assert_eq!(got, records);
        let Some(torn) = outcome.torn_tail else {
            // Zeros to the end of the file: the unused end, nothing to cut.
            assert!(tail.iter().all(|b| *b == 0), "a torn tail was missed");
            continue;
        };
        assert!(tail.iter().any(|b| *b != 0));
        assert_eq!(torn.file_id, 1);
        assert_eq!(torn.valid_end as usize, valid_end);
        // Start-up cuts the tail off durably: the file ends after its last record.
        journal::repair_tail(&dir, &torn).expect("repair");
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len(),
            valid_end as u64
        );
        let (again, outcome) = replayed(&dir);
        assert_eq!(again, records);
        assert!(outcome.torn_tail.is_none());
    }
}

/// A crash while creating the newest journal file (before its header was synced)
/// leaves a headerless file; replay skips it instead of refusing to start.
#[test]
fn headerless_newest_journal_file_is_skipped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = FsJournalDir::open(tmp.path()).expect("open");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let recorder = Arc::new(Recorder::default());
    let config = GroupCommitConfig {
        group_wait: Duration::ZERO,
        group_bytes: 1 << 20,
        file_bytes: 1 << 30,
    };
    let journal = Journal::start(Arc::new(dir.clone()), 1, config, recorder).expect("start");
    let w = journal.append(vec![record(0, 10)]);
    rt.block_on(w).expect("answered").expect("durable");
    journal.shutdown();
    std::fs::write(tmp.path().join(format!("{:016x}.jnl", 2)), b"FJ").expect("write");
    let (got, outcome) = replayed(&dir);
    assert_eq!(got, vec![record(0, 10)]);
    assert_eq!(outcome.last_file_id, Some(2));
    // An older file without a header is real damage, and replay says so.
    std::fs::write(tmp.path().join(format!("{:016x}.jnl", 1)), b"").expect("write");
    assert!(journal::replay(&dir, JournalPos::default(), |_, _| {}).is_err());
}

/// Writes `n` records through the journal into real files small enough to roll,
/// and returns the directory and the records.
fn rolled_journal(n: u64) -> (tempfile::TempDir, FsJournalDir, Vec<JournalRecord>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = FsJournalDir::open(tmp.path()).expect("open");
    let records: Vec<_> = (0..n).map(|i| record(i, 300)).collect();
    write_all(&dir, 2_000, &records);
    (tmp, dir, records)
}

/// A flipped byte in a journal file that is not the newest is damage to fsynced,
/// acknowledged records: replay refuses it (naming the file) instead of stopping
/// there and carrying on as if those records had never been written.
#[test]
fn damage_in_an_older_journal_file_is_refused() {
    let (tmp, dir, _) = rolled_journal(20);
    let ids = dir.list().expect("list");
    assert!(ids.len() >= 3, "the journal rolled: {ids:?}");
    let path = tmp.path().join(format!("{:016x}.jnl", ids[0]));
    let mut data = std::fs::read(&path).expect("read");
    // A byte inside the records (the file goes on with preallocated zeros).
    let valid_end = journal::scan(&Bytes::from(data.clone()), 0).valid_end as usize;
    assert!(valid_end > 1_000, "records were written: {valid_end}");
    let mid = valid_end / 2;
    data[mid] ^= 0x40;
    std::fs::write(&path, &data).expect("write");
    let err =
        journal::replay(&dir, JournalPos::default(), |_, _| {}).expect_err("damage is refused");
    let msg = err.to_string();
    assert!(
        matches!(err, folio_bookie::JournalError::Damaged { file_id, .. } if file_id == ids[0]),
        "{msg}"
    );
    assert!(
        msg.contains("damaged") && msg.contains(&format!("{:016x}.jnl", ids[0])),
        "{msg}"
    );
}

/// An older file whose end is zero-filled (preallocated space never used) is not
/// damage: every record before the zeros replays.
#[test]
fn zero_filled_end_of_an_older_journal_file_is_not_damage() {
    let (tmp, dir, records) = rolled_journal(20);
    let ids = dir.list().expect("list");
    assert!(ids.len() >= 2);
    let path = tmp.path().join(format!("{:016x}.jnl", ids[0]));
    let mut data = std::fs::read(&path).expect("read");
    data.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&path, &data).expect("write");
    let (got, outcome) = replayed(&dir);
    assert_eq!(got, records);
    assert!(outcome.torn_tail.is_none());
    // But a zeroed hole followed by more bytes is damage.
    data.extend_from_slice(&[7u8; 16]);
    std::fs::write(&path, &data).expect("write");
    assert!(journal::replay(&dir, JournalPos::default(), |_, _| {}).is_err());
}

fn path(dir: &std::path::Path, id: u64) -> std::path::PathBuf {
    dir.join(format!("{id:016x}.jnl"))
}

/// Writes `records` (one append each, each durable before the next) through the
/// group-commit journal.
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
    // One at a time, so each append is its own group and small files roll.
    for r in records {
        rt.block_on(journal.append(vec![r.clone()]))
            .expect("answered")
            .expect("durable");
    }
    journal.shutdown();
    *recorder.through.lock().expect("lock")
}

/// Journal preallocation (docs/format.md §Journal): a journal file on disk keeps
/// zero-filled space allocated ahead of its last record, and replay reads that space
/// as the end of the file.
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
