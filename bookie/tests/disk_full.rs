//! Disk full (docs/protocol.md §Read-only): the bookie measures every directory it
//! writes to, data and journal, and turns read-only when the fullest crosses the
//! threshold. A full journal disk alone is enough; reads, fences, explicit LACs and
//! recovery adds keep working, and the bookie turns read-write again once the disk
//! has room. Checkpoints that keep failing (as on a full data disk) cannot grow the
//! write cache without limit.
//!
//! The journal directory's disk is made to look full with the
//! `Bookie::start_with_disk_stats` hook: it reports the real file system's size with
//! no free space. The data directory is measured for real.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use folio_bookie::disk::{DiskSpace, DiskStats, FsDiskStats};
use folio_bookie::probe::ProbeClient;
use folio_bookie::{Bookie, BookieConfig, BookieHandle};
use folio_proto::*;

/// The real file system of a directory, reported as full while `full` is set.
struct MaybeFull {
    real: FsDiskStats,
    full: Arc<AtomicBool>,
}

impl DiskStats for MaybeFull {
    fn space(&self) -> std::io::Result<DiskSpace> {
        let real = self.real.space()?;
        Ok(if self.full.load(Ordering::SeqCst) {
            DiskSpace {
                free_bytes: 0,
                ..real
            }
        } else {
            real
        })
    }
}

fn config(data: &Path, journal: &Path) -> BookieConfig {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut c = BookieConfig::new(data, listen);
    c.bookie_id = "disk-full-bookie".into();
    c.journal_dir = journal.to_path_buf();
    c.checkpoint_interval = Duration::from_secs(3600);
    c.disk_check_interval = Duration::from_millis(50);
    // Real disks of test machines may be well used: only a disk reported full
    // crosses this.
    c.disk_usage_threshold = 0.999;
    c
}

/// Starts a bookie whose journal directory's disk reports full while `full` is set.
async fn start(data: &Path, journal: &Path, full: Arc<AtomicBool>) -> BookieHandle {
    let journal_dir: PathBuf = journal.to_path_buf();
    Bookie::start_with_disk_stats(config(data, journal), move |dir| {
        let real = FsDiskStats::new(dir);
        if dir == journal_dir {
            Box::new(MaybeFull {
                real,
                full: full.clone(),
            })
        } else {
            Box::new(real)
        }
    })
    .await
    .expect("bookie starts")
}

fn key() -> MasterKey {
    MasterKey::new(&b"ledger-secret"[..]).expect("short key")
}

fn add(ledger_id: u64, entry_id: u64, recovery: bool) -> Request {
    let payload = vec![entry_id as u8; 64];
    Request::AddEntry(AddEntry {
        master_key: key(),
        recovery,
        entry: Entry::new(
            EntryHeader {
                ledger_id,
                entry_id,
                lac: entry_id as i64 - 1,
                length: (entry_id + 1) * 64,
            },
            &payload,
        ),
    })
}

fn read(ledger_id: u64, target: ReadTarget, fence: bool) -> Request {
    Request::ReadEntry(ReadEntry {
        ledger_id,
        target,
        fence,
        master_key: key(),
        long_poll: None,
    })
}

async fn status(c: &ProbeClient, req: Request) -> Status {
    tokio::time::timeout(Duration::from_secs(30), c.call(req))
        .await
        .expect("answered within 30 s")
        .expect("answered")
        .status()
}

/// Waits (at most 30 s) until the bookie's read-only state is `want`.
async fn wait_read_only(b: &BookieHandle, want: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.is_read_only() != want {
        assert!(Instant::now() < deadline, "read_only never became {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn full_journal_disk_alone_turns_read_only_and_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let journal = tmp.path().join("journal-disk");
    let full = Arc::new(AtomicBool::new(false));
    let b = start(&data, &journal, full.clone()).await;
    assert!(!b.is_read_only());
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    assert_eq!(status(&c, add(1, 0, false)).await, Status::Ok);

    // Only the journal's disk fills: the bookie turns read-only.
    full.store(true, Ordering::SeqCst);
    wait_read_only(&b, true).await;
    assert_eq!(status(&c, add(1, 1, false)).await, Status::ReadOnly);
    assert_eq!(status(&c, add(2, 0, false)).await, Status::ReadOnly);
    // Reads, recovery adds, explicit LACs and fences still work.
    assert_eq!(
        status(&c, read(1, ReadTarget::Entry(0), false)).await,
        Status::Ok
    );
    assert_eq!(status(&c, add(1, 1, true)).await, Status::Ok);
    let lac = Request::WriteLac(WriteLac {
        ledger_id: 1,
        lac: 1,
        master_key: key(),
    });
    assert_eq!(status(&c, lac).await, Status::Ok);
    assert_eq!(
        status(&c, read(1, ReadTarget::Last, true)).await,
        Status::Ok
    );
    // GetBookieInfo reports the state, and the data directory's (real) space.
    match c.call(Request::GetBookieInfo).await.expect("answered") {
        Response::GetBookieInfo(info) => {
            assert_eq!(info.state, BookieState::ReadOnly);
            assert!(info.total_bytes > 0 && info.free_bytes > 0, "{info:?}");
        }
        other => panic!("unexpected {other:?}"),
    }

    // The journal's disk has room again: the bookie accepts new adds.
    full.store(false, Ordering::SeqCst);
    wait_read_only(&b, false).await;
    assert_eq!(status(&c, add(2, 0, false)).await, Status::Ok);
    // Ledger 1 was fenced while read-only: still fenced.
    assert_eq!(status(&c, add(1, 2, false)).await, Status::Fenced);
    drop(c);
    b.shutdown().await.expect("shutdown");
}

/// A bookie whose journal disk is already full at start-up comes up read-only and
/// still recovers what its journal holds.
#[tokio::test]
async fn starts_read_only_on_a_full_journal_disk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let journal = tmp.path().join("journal-disk");
    let full = Arc::new(AtomicBool::new(false));
    let b = start(&data, &journal, full.clone()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for e in 0..3 {
        assert_eq!(status(&c, add(5, e, false)).await, Status::Ok);
    }
    drop(c);
    b.shutdown().await.expect("shutdown");

    full.store(true, Ordering::SeqCst);
    let b = start(&data, &journal, full).await;
    assert!(b.is_read_only());
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    assert_eq!(status(&c, add(5, 3, false)).await, Status::ReadOnly);
    for e in 0..3 {
        assert_eq!(
            status(&c, read(5, ReadTarget::Entry(e), false)).await,
            Status::Ok
        );
    }
    drop(c);
    b.shutdown().await.expect("shutdown");
}

/// Checkpoints that keep failing (here the checkpoint mark cannot be written, as on
/// a full data disk) keep their entries in memory; the write cache's bound counts
/// them, so adds are refused with TooManyRequests instead of memory growing without
/// limit. Once checkpoints succeed again, adds are accepted, and every accepted entry
/// is readable, also after a restart.
#[tokio::test]
async fn failing_checkpoints_bound_the_write_cache() {
    const ENTRY_BYTES: usize = 8 << 10;
    const CACHE_BYTES: usize = 64 << 10;
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let journal = tmp.path().join("journal-disk");
    let mut cfg = config(&data, &journal);
    cfg.write_cache_bytes = CACHE_BYTES;
    let b = Bookie::start(cfg.clone()).await.expect("start");
    // The mark is written to `checkpoint.tmp` first: a directory there fails it.
    let blocker = data.join("checkpoint.tmp");
    std::fs::create_dir(&blocker).expect("mkdir");
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    let big_add = |e: u64| {
        Request::AddEntry(AddEntry {
            master_key: key(),
            recovery: false,
            entry: Entry::new(
                EntryHeader {
                    ledger_id: 9,
                    entry_id: e,
                    lac: e as i64 - 1,
                    length: (e + 1) * ENTRY_BYTES as u64,
                },
                &vec![e as u8; ENTRY_BYTES],
            ),
        })
    };
    let mut accepted = 0u64;
    let refused = loop {
        assert!(
            accepted < 200,
            "200 adds accepted: the cache is not bounded"
        );
        match status(&c, big_add(accepted)).await {
            Status::Ok => accepted += 1,
            other => break other,
        }
    };
    assert_eq!(refused, Status::TooManyRequests);
    // Twice the configured size, plus the add that crossed it.
    let limit = (2 * CACHE_BYTES / ENTRY_BYTES) as u64 + 1;
    assert!(
        accepted <= limit,
        "{accepted} adds held in memory, limit {limit}"
    );

    // Checkpoints work again: the cache drains and adds are accepted.
    std::fs::remove_dir(&blocker).expect("rmdir");
    assert_eq!(status(&c, big_add(accepted)).await, Status::Ok);
    accepted += 1;
    for e in 0..accepted {
        assert_eq!(
            status(&c, read(9, ReadTarget::Entry(e), false)).await,
            Status::Ok
        );
    }
    drop(c);
    b.shutdown().await.expect("shutdown");

    let b = Bookie::start(cfg).await.expect("restart");
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for e in 0..accepted {
        assert_eq!(
            status(&c, read(9, ReadTarget::Entry(e), false)).await,
            Status::Ok,
            "entry {e} after restart"
        );
    }
    drop(c);
    b.shutdown().await.expect("shutdown");
}
