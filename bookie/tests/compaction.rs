//! Space reclamation on a real bookie over TCP (bookie/src/compaction.rs): dead
//! entry logs are deleted, sparse ones compacted, disk use stays bounded while
//! ledgers are written and deleted in a loop, and every live entry reads back
//! intact, restart included.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use folio_bookie::probe::ProbeClient;
use folio_bookie::{Bookie, BookieConfig, BookieHandle};
use folio_proto::*;

const LOG_BYTES: u64 = 64 << 10;
const PAYLOAD: usize = 1000;

fn config(dir: &Path) -> BookieConfig {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut c = BookieConfig::new(dir, listen);
    c.bookie_id = "gc-test".into();
    c.checkpoint_interval = Duration::from_secs(3600);
    c.entry_log_file_bytes = LOG_BYTES;
    c.compaction_threshold = 0.6;
    c.compaction_rate_bytes_per_sec = 0;
    c.gc_interval = Duration::ZERO;
    c.scrub_interval = Duration::ZERO;
    c
}

async fn start(dir: &Path) -> BookieHandle {
    Bookie::start(config(dir)).await.expect("bookie starts")
}

fn entry(ledger_id: u64, entry_id: u64) -> Entry {
    let payload: Vec<u8> = (0..PAYLOAD as u64)
        .map(|i| (ledger_id * 31 + entry_id * 17 + i * 3) as u8)
        .collect();
    Entry::new(
        EntryHeader {
            ledger_id,
            entry_id,
            lac: entry_id as i64 - 1,
            length: (entry_id + 1) * PAYLOAD as u64,
        },
        &payload,
    )
}

async fn add(c: &ProbeClient, ledger_id: u64, entry_id: u64) {
    let req = Request::AddEntry(AddEntry {
        master_key: MasterKey::empty(),
        recovery: false,
        entry: entry(ledger_id, entry_id),
    });
    assert_eq!(c.call(req).await.expect("answered").status(), Status::Ok);
}

async fn delete(c: &ProbeClient, ledger_id: u64) {
    let req = Request::DeleteLedger(DeleteLedger { ledger_id });
    assert_eq!(c.call(req).await.expect("answered").status(), Status::Ok);
}

/// Reads back every entry of `live` ((ledger, entries)) and checks its bytes, and
/// that every ledger of `gone` answers NoSuchLedger.
async fn verify(c: &ProbeClient, live: &[(u64, u64)], gone: &[u64]) {
    for (l, n) in live {
        for e in 0..*n {
            let req = Request::ReadEntry(ReadEntry {
                ledger_id: *l,
                target: ReadTarget::Entry(e),
                fence: false,
                master_key: MasterKey::empty(),
                long_poll: None,
            });
            match c.call(req).await.expect("answered") {
                Response::ReadEntry(r) => {
                    assert_eq!(r.status, Status::Ok, "entry {l}/{e}");
                    assert_eq!(r.entry.expect("entry"), entry(*l, e), "entry {l}/{e}");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    for l in gone {
        let req = Request::GetLedgerEntries(GetLedgerEntries { ledger_id: *l });
        assert_eq!(
            c.call(req).await.expect("answered").status(),
            Status::NoSuchLedger,
            "deleted ledger {l}"
        );
    }
}

fn entry_log_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("ledgers"))
        .expect("list ledgers dir")
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().expect("stat").len())
        .sum()
}

/// Write and delete ledgers in a loop: a long-lived ledger gets a few entries each
/// round, so the logs hold a mix of live and dead records and only compaction can
/// free them. Disk use stays bounded and every live entry reads back.
#[tokio::test]
async fn write_delete_loop_stays_bounded_and_live_entries_survive() {
    const KEEP: u64 = 1_000_000;
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    let mut keep_entries = 0;
    let mut gone = Vec::new();
    let rounds = 24u64;
    let per_ledger = 40u64;
    for round in 1..=rounds {
        for e in 0..per_ledger {
            add(&c, round, e).await;
            if e % 8 == 0 {
                add(&c, KEEP, keep_entries).await;
                keep_entries += 1;
            }
        }
        b.checkpoint().await.expect("checkpoint");
        if round > 2 {
            delete(&c, round - 2).await;
            gone.push(round - 2);
        }
        b.checkpoint().await.expect("checkpoint");
        b.run_gc().await.expect("gc");
        // Live: two short-lived ledgers and the long-lived one.
        let record = (PAYLOAD + ENTRY_OVERHEAD_BYTES + 4) as u64;
        let live = (2 * per_ledger + keep_entries) * record;
        let on_disk = entry_log_bytes(tmp.path());
        // A sparse log is below 60 % live; plus the log being written and one
        // just rolled.
        let bound = live * 100 / 60 + 3 * LOG_BYTES;
        assert!(
            on_disk <= bound,
            "round {round}: {on_disk} bytes of entry logs for {live} live bytes (bound {bound})"
        );
        if round % 6 == 0 {
            let mut live_ledgers = vec![(KEEP, keep_entries)];
            live_ledgers.extend((round.saturating_sub(1)..=round).map(|l| (l, per_ledger)));
            verify(&c, &live_ledgers, &gone).await;
        }
    }
    let stats = b.space_stats();
    assert_eq!(stats.gc_passes, rounds);
    assert!(stats.logs_compacted > 0, "{stats:?}");
    assert!(stats.entries_moved > 0, "{stats:?}");
    assert!(stats.bytes_reclaimed > 0, "{stats:?}");
    assert!(stats.live_bytes <= stats.entry_log_bytes, "{stats:?}");
    let live_ledgers = vec![
        (KEEP, keep_entries),
        (rounds - 1, per_ledger),
        (rounds, per_ledger),
    ];
    verify(&c, &live_ledgers, &gone).await;
    drop(c);
    b.shutdown().await.expect("shutdown");

    // After a restart (index, tombstones and moved locations from disk) too.
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    verify(&c, &live_ledgers, &gone).await;
    b.run_gc().await.expect("gc");
    verify(&c, &live_ledgers, &gone).await;
    b.shutdown().await.expect("shutdown");
}

/// Flips one payload byte of the stored copy of (ledger, entry) in whichever entry
/// log holds it (docs/format.md §Entry log file).
fn flip_stored_byte(dir: &Path, ledger_id: u64, entry_id: u64) {
    let found = folio_bookie::fault::corrupt_stored_entry(dir, ledger_id, entry_id)
        .expect("read the entry logs");
    assert!(
        found,
        "entry {ledger_id}/{entry_id} not found in any entry log"
    );
}

async fn add_recovery(c: &ProbeClient, ledger_id: u64, entry_id: u64) {
    let req = Request::AddEntry(AddEntry {
        master_key: MasterKey::empty(),
        recovery: true,
        entry: entry(ledger_id, entry_id),
    });
    assert_eq!(c.call(req).await.expect("answered").status(), Status::Ok);
}

/// A dead log is deleted; a sparse log with a record that fails its check is left
/// alone (the bad copy still counts as stored, awaiting repair) and compacted once
/// repaired; a re-add made before the pass wins over the old copy.
#[tokio::test]
async fn dead_logs_go_corrupt_logs_wait_for_repair_and_readds_win() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    // Log A: ledgers 1 (10 entries) and 2 (50); log B: ledger 4; log C: ledger 3
    // (each run of the bookie starts a new log).
    for e in 0..10 {
        add(&c, 1, e).await;
    }
    for e in 0..50 {
        add(&c, 2, e).await;
    }
    drop(c);
    b.shutdown().await.expect("shutdown");
    let mut b = start(tmp.path()).await;
    for l in [4, 3] {
        let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
        for e in 0..60 {
            add(&c, l, e).await;
        }
        drop(c);
        b.shutdown().await.expect("shutdown");
        b = start(tmp.path()).await;
    }
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    delete(&c, 2).await;
    delete(&c, 4).await;
    add(&c, 1, 3).await;
    b.checkpoint().await.expect("checkpoint");
    flip_stored_byte(tmp.path(), 1, 5);

    b.run_gc().await.expect("gc");
    let stats = b.space_stats();
    assert!(stats.logs_deleted >= 1, "{stats:?}");
    assert_eq!(stats.logs_compacted, 0, "{stats:?}");
    let read_1_5 = Request::ReadEntry(ReadEntry {
        ledger_id: 1,
        target: ReadTarget::Entry(5),
        fence: false,
        master_key: MasterKey::empty(),
        long_poll: None,
    });
    assert_eq!(
        c.call(read_1_5.clone()).await.expect("answered").status(),
        Status::IoError
    );
    let req = Request::GetLedgerEntries(GetLedgerEntries { ledger_id: 1 });
    match c.call(req).await.expect("answered") {
        Response::GetLedgerEntries(r) => assert_eq!(r.ranges, vec![(0, 9)]),
        other => panic!("unexpected {other:?}"),
    }

    // Repair, then the sparse log is compacted: 8 records move (1/3 and 1/5 have
    // newer copies already).
    add_recovery(&c, 1, 5).await;
    b.checkpoint().await.expect("checkpoint");
    b.run_gc().await.expect("gc");
    let stats = b.space_stats();
    assert_eq!(stats.logs_compacted, 1, "{stats:?}");
    assert_eq!(stats.entries_moved, 8, "{stats:?}");
    verify(&c, &[(1, 10), (3, 60)], &[2, 4]).await;
    drop(c);
    b.shutdown().await.expect("shutdown");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    verify(&c, &[(1, 10), (3, 60)], &[2, 4]).await;
    b.shutdown().await.expect("shutdown");
}

/// GC passes run back to back while a writer adds, re-adds (repairs) and deletes
/// concurrently with frequent checkpoints: liveness is re-checked at copy time, so
/// no live entry is lost, no deleted ledger comes back, and re-added copies win.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_races_adds_readds_and_deletes() {
    const KEEP: u64 = 7;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(tmp.path());
    cfg.checkpoint_interval = Duration::from_millis(20);
    cfg.compaction_threshold = 0.9;
    let b = std::sync::Arc::new(Bookie::start(cfg).await.expect("bookie starts"));
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for e in 0..30 {
        add(&c, KEEP, e).await;
    }
    let writer = {
        let addr = b.local_addr();
        tokio::spawn(async move {
            let c = ProbeClient::connect(addr).await.expect("connect");
            let mut gone = Vec::new();
            for round in 0..30u64 {
                let l = 100 + round;
                for e in 0..20 {
                    add(&c, l, e).await;
                }
                // Re-add (as a repair would) a few entries of the long-lived ledger.
                for e in (round % 5..30).step_by(5) {
                    add_recovery(&c, KEEP, e).await;
                }
                if round > 0 {
                    delete(&c, l - 1).await;
                    gone.push(l - 1);
                }
            }
            gone
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !writer.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "writer did not finish"
        );
        b.run_gc().await.expect("gc");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let gone = writer.await.expect("writer");
    b.checkpoint().await.expect("checkpoint");
    b.run_gc().await.expect("gc");
    verify(&c, &[(KEEP, 30), (129, 20)], &gone).await;
    let stats = b.space_stats();
    assert!(stats.logs_compacted + stats.logs_deleted > 0, "{stats:?}");
    drop(c);
    let b = std::sync::Arc::into_inner(b).expect("sole owner");
    b.shutdown().await.expect("shutdown");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    verify(&c, &[(KEEP, 30), (129, 20)], &gone).await;
    b.shutdown().await.expect("shutdown");
}
