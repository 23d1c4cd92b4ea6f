//! A real bookie over TCP: ListLedgers, GetLedgerEntries, Scrub and GetScrubReport
//! (docs/protocol.md §Ledger inventory and scrubbing), and durable deletion.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use folio_bookie::probe::ProbeClient;
use folio_bookie::{Bookie, BookieConfig, BookieHandle};
use folio_proto::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(dir: &Path) -> BookieConfig {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut c = BookieConfig::new(dir, listen);
    c.bookie_id = "test-bookie".into();
    c.checkpoint_interval = Duration::from_secs(3600);
    c.scrub_interval = Duration::ZERO;
    c.scrub_rate_bytes_per_sec = 0;
    c
}

async fn start(dir: &Path) -> BookieHandle {
    Bookie::start(config(dir)).await.expect("bookie starts")
}

fn key() -> MasterKey {
    MasterKey::new(&b"ledger-secret"[..]).expect("short key")
}

fn entry(ledger_id: u64, entry_id: u64) -> Entry {
    let payload: Vec<u8> = (0..200u64)
        .map(|i| (ledger_id * 7 + entry_id * 13 + i) as u8)
        .collect();
    Entry::new(
        EntryHeader {
            ledger_id,
            entry_id,
            lac: entry_id as i64 - 1,
            length: (entry_id + 1) * 200,
        },
        &payload,
    )
}

async fn add(c: &ProbeClient, ledger_id: u64, entry_id: u64, recovery: bool) -> Status {
    let req = Request::AddEntry(AddEntry {
        master_key: key(),
        recovery,
        entry: entry(ledger_id, entry_id),
    });
    c.call(req).await.expect("answered").status()
}

async fn read(c: &ProbeClient, ledger_id: u64, entry_id: u64) -> ReadEntryResponse {
    let req = Request::ReadEntry(ReadEntry {
        ledger_id,
        target: ReadTarget::Entry(entry_id),
        fence: false,
        master_key: key(),
        long_poll: None,
    });
    match c.call(req).await.expect("answered") {
        Response::ReadEntry(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

async fn list(c: &ProbeClient, start: u64, limit: u32) -> Vec<u64> {
    match c
        .call(Request::ListLedgers(ListLedgers { start, limit }))
        .await
        .expect("answered")
    {
        Response::ListLedgers(r) => {
            assert_eq!(r.status, Status::Ok);
            r.ledger_ids
        }
        other => panic!("unexpected {other:?}"),
    }
}

async fn entries(c: &ProbeClient, ledger_id: u64) -> (Status, Vec<(u64, u64)>) {
    match c
        .call(Request::GetLedgerEntries(GetLedgerEntries { ledger_id }))
        .await
        .expect("answered")
    {
        Response::GetLedgerEntries(r) => (r.status, r.ranges),
        other => panic!("unexpected {other:?}"),
    }
}

async fn report(c: &ProbeClient) -> ScrubReportResponse {
    match c.call(Request::GetScrubReport).await.expect("answered") {
        Response::GetScrubReport(r) => {
            assert_eq!(r.status, Status::Ok);
            r
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// Sends Scrub and waits (at most 30 s) until a pass more than `before` finished.
async fn scrub(c: &ProbeClient, before: u64) -> ScrubReportResponse {
    let resp = c.call(Request::Scrub).await.expect("answered");
    assert_eq!(resp, Response::Scrub(ScrubResponse { status: Status::Ok }));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = report(c).await;
        if r.passes_completed > before {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "scrub pass did not finish in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Acknowledged entries show up at once (write cache), stay after a checkpoint
/// (index), merge across both, and a deleted ledger disappears for good, restart
/// included: its adds stay refused.
#[tokio::test]
async fn inventory_sees_cache_and_index_and_deletion_is_durable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    assert_eq!(list(&c, 0, 100).await, Vec::<u64>::new());
    assert_eq!(entries(&c, 5).await, (Status::NoSuchLedger, vec![]));
    for e in 0..3 {
        assert_eq!(add(&c, 3, e, false).await, Status::Ok);
    }
    for e in [0, 1, 2, 3, 4, 7, 8] {
        assert_eq!(add(&c, 5, e, false).await, Status::Ok);
    }
    assert_eq!(add(&c, 7, 0, false).await, Status::Ok);
    // Not checkpointed yet: straight from the write cache.
    assert_eq!(entries(&c, 5).await, (Status::Ok, vec![(0, 4), (7, 8)]));
    assert_eq!(list(&c, 0, 100).await, vec![3, 5, 7]);
    b.checkpoint().await.expect("checkpoint");
    assert_eq!(list(&c, 0, 100).await, vec![3, 5, 7]);
    assert_eq!(list(&c, 0, 2).await, vec![3, 5]);
    assert_eq!(list(&c, 4, 2).await, vec![5, 7]);
    assert_eq!(list(&c, 8, 2).await, Vec::<u64>::new());
    // Half in the index, half in the cache.
    assert_eq!(add(&c, 5, 5, false).await, Status::Ok);
    assert_eq!(add(&c, 5, 10, false).await, Status::Ok);
    assert_eq!(add(&c, 9, 0, false).await, Status::Ok);
    assert_eq!(
        entries(&c, 5).await,
        (Status::Ok, vec![(0, 5), (7, 8), (10, 10)])
    );
    assert_eq!(list(&c, 0, 100).await, vec![3, 5, 7, 9]);
    assert_eq!(list(&c, 6, 1).await, vec![7]);

    let del = c
        .call(Request::DeleteLedger(DeleteLedger { ledger_id: 3 }))
        .await
        .expect("answered");
    assert_eq!(del.status(), Status::Ok);
    assert_eq!(list(&c, 0, 100).await, vec![5, 7, 9]);
    assert_eq!(entries(&c, 3).await, (Status::NoSuchLedger, vec![]));
    assert_eq!(add(&c, 3, 3, true).await, Status::NoSuchLedger);
    drop(c);
    b.shutdown().await.expect("shutdown");

    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    assert_eq!(list(&c, 0, 100).await, vec![5, 7, 9]);
    assert_eq!(
        entries(&c, 5).await,
        (Status::Ok, vec![(0, 5), (7, 8), (10, 10)])
    );
    assert_eq!(entries(&c, 3).await, (Status::NoSuchLedger, vec![]));
    // The tombstone keeps the deleted ledger's adds refused after a restart.
    assert_eq!(add(&c, 3, 0, false).await, Status::NoSuchLedger);
    assert_eq!(add(&c, 3, 0, true).await, Status::NoSuchLedger);
    assert_eq!(read(&c, 3, 0).await.status, Status::NoSuchLedger);
    b.shutdown().await.expect("shutdown");
}

/// Malformed bodies of the new requests are answered BadRequest, not a panic or a
/// closed connection.
#[tokio::test]
async fn malformed_inventory_requests_get_bad_request() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let mut s = tokio::net::TcpStream::connect(b.local_addr())
        .await
        .expect("connect");
    let short = |req: Request, id: u64| {
        let mut f = Frame::new(id, req).to_bytes().to_vec();
        f.pop();
        let len = (f.len() - FRAME_LENGTH_BYTES) as u32;
        f[..4].copy_from_slice(&len.to_be_bytes());
        f
    };
    let long = |req: Request, id: u64| {
        let mut f = Frame::new(id, req).to_bytes().to_vec();
        f.push(7);
        let len = (f.len() - FRAME_LENGTH_BYTES) as u32;
        f[..4].copy_from_slice(&len.to_be_bytes());
        f
    };
    s.write_all(&short(
        Request::ListLedgers(ListLedgers { start: 0, limit: 5 }),
        1,
    ))
    .await
    .expect("write");
    s.write_all(&short(
        Request::GetLedgerEntries(GetLedgerEntries { ledger_id: 1 }),
        2,
    ))
    .await
    .expect("write");
    s.write_all(&long(Request::Scrub, 3)).await.expect("write");
    s.write_all(&long(Request::GetScrubReport, 4))
        .await
        .expect("write");
    s.write_all(
        &Frame::new(5, Request::ListLedgers(ListLedgers { start: 0, limit: 5 })).to_bytes(),
    )
    .await
    .expect("write");
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < 5 {
        if let Some(raw) = RawFrame::split(&mut buf, DEFAULT_MAX_FRAME_BYTES).expect("valid") {
            let f: Frame<Response> = raw.decode().expect("valid response");
            got.push((f.request_id, f.body.status()));
            continue;
        }
        let n = tokio::time::timeout_at(deadline.into(), s.read_buf(&mut buf))
            .await
            .expect("answered in time")
            .expect("read");
        assert!(n > 0, "connection closed");
    }
    got.sort_unstable_by_key(|(id, _)| *id);
    assert_eq!(
        got,
        vec![
            (1, Status::BadRequest),
            (2, Status::BadRequest),
            (3, Status::BadRequest),
            (4, Status::BadRequest),
            (5, Status::Ok)
        ]
    );
    b.shutdown().await.expect("shutdown");
}

/// Flips one payload byte of the stored copy of (ledger, entry) in whichever entry
/// log holds it, walking the records (docs/format.md §Entry logs).
fn flip_stored_byte(dir: &Path, ledger_id: u64, entry_id: u64) {
    let found = folio_bookie::fault::corrupt_stored_entry(dir, ledger_id, entry_id)
        .expect("read the entry logs");
    assert!(
        found,
        "entry {ledger_id}/{entry_id} not found in any entry log"
    );
}

/// The scrubber finds exactly the entry whose bytes were flipped on disk; a read of
/// it answers IoError while it still counts as stored; a read that meets another bad
/// copy reports it too; a recovery re-add of the good bytes repairs both.
#[tokio::test]
async fn scrub_finds_flipped_bytes_and_recovery_add_repairs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for l in [1, 2] {
        for e in 0..10 {
            assert_eq!(add(&c, l, e, false).await, Status::Ok);
        }
    }
    b.checkpoint().await.expect("checkpoint");
    let clean = scrub(&c, 0).await;
    assert_eq!(clean.passes_completed, 1);
    assert_eq!(clean.entries_checked, 20);
    assert!(clean.corrupt.is_empty());

    flip_stored_byte(tmp.path(), 2, 4);
    let found = scrub(&c, 1).await;
    assert_eq!(found.entries_checked, 40);
    assert_eq!(found.corrupt, vec![(2, 4)]);
    let stats = b.scrub_stats();
    assert_eq!(stats.passes_completed, 2);
    assert_eq!(stats.corrupt_found, 1);
    assert_eq!(stats.corrupt_now, 1);
    assert_eq!(read(&c, 2, 4).await.status, Status::IoError);
    assert_eq!(read(&c, 2, 3).await.status, Status::Ok);
    assert_eq!(entries(&c, 2).await, (Status::Ok, vec![(0, 9)]));

    // A read that meets a bad digest adds the entry to the corrupt set as well.
    flip_stored_byte(tmp.path(), 1, 7);
    assert_eq!(read(&c, 1, 7).await.status, Status::IoError);
    assert_eq!(report(&c).await.corrupt, vec![(1, 7), (2, 4)]);

    // Repair: re-add the good bytes with the recovery flag (as a replication worker
    // does after reading them from a healthy replica).
    assert_eq!(add(&c, 2, 4, true).await, Status::Ok);
    assert_eq!(add(&c, 1, 7, true).await, Status::Ok);
    assert!(report(&c).await.corrupt.is_empty());
    for (l, e) in [(2, 4), (1, 7)] {
        let r = read(&c, l, e).await;
        assert_eq!(r.status, Status::Ok);
        assert_eq!(r.entry.expect("entry"), entry(l, e));
    }
    // After a checkpoint the index points at the new copies and a pass stays clean.
    b.checkpoint().await.expect("checkpoint");
    let after = scrub(&c, 2).await;
    assert!(after.corrupt.is_empty());
    assert_eq!(b.scrub_stats().corrupt_now, 0);
    drop(c);
    b.shutdown().await.expect("shutdown");

    // The repaired copies survive a restart.
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for (l, e) in [(2, 4), (1, 7)] {
        assert_eq!(read(&c, l, e).await.entry.expect("entry"), entry(l, e));
    }
    assert!(scrub(&c, 0).await.corrupt.is_empty());
    b.shutdown().await.expect("shutdown");
}

/// A Scrub while a pass is running is a no-op that answers Ok: no second pass is
/// queued behind it.
#[tokio::test]
async fn scrub_while_running_is_a_no_op() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(tmp.path());
    // About 5 KiB of records at 2 KiB/s: a pass takes about 2.5 s, so the five
    // Scrub calls below land inside it even on a loaded machine (at 10 KiB/s, half
    // a second, a slow machine could finish the pass before the last call, which
    // then rightly started a second one).
    cfg.scrub_rate_bytes_per_sec = 2 << 10;
    let b = Bookie::start(cfg).await.expect("bookie starts");
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for e in 0..25 {
        assert_eq!(add(&c, 1, e, false).await, Status::Ok);
    }
    b.checkpoint().await.expect("checkpoint");
    for _ in 0..5 {
        let resp = c.call(Request::Scrub).await.expect("answered");
        assert_eq!(resp, Response::Scrub(ScrubResponse { status: Status::Ok }));
    }
    assert!(b.scrub_stats().running);
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.scrub_stats().running {
        assert!(
            Instant::now() < deadline,
            "scrub pass did not finish in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = b.scrub_stats();
    assert_eq!(stats.passes_completed, 1, "{stats:?}");
    assert_eq!(stats.entries_checked, 25, "{stats:?}");
    assert!(!stats.running);
    b.shutdown().await.expect("shutdown");
}
