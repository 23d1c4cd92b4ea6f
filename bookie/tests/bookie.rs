//! A real bookie over TCP, in-process: one test per promise of docs/protocol.md.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use folio_bookie::probe::ProbeClient;
use folio_bookie::{Bookie, BookieConfig, BookieHandle, CookieError, StartError};
use folio_proto::*;

fn config(dir: &Path) -> BookieConfig {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut c = BookieConfig::new(dir, listen);
    c.bookie_id = "test-bookie".into();
    c.checkpoint_interval = Duration::from_secs(3600);
    c
}

async fn start(dir: &Path) -> BookieHandle {
    Bookie::start(config(dir)).await.expect("bookie starts")
}

fn key() -> MasterKey {
    MasterKey::new(&b"ledger-secret"[..]).expect("short key")
}

fn payload(ledger_id: u64, entry_id: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (ledger_id * 7 + entry_id * 13 + i as u64) as u8)
        .collect()
}

fn entry(ledger_id: u64, entry_id: u64, len: usize) -> Entry {
    Entry::new(
        EntryHeader {
            ledger_id,
            entry_id,
            lac: entry_id as i64 - 1,
            length: (entry_id + 1) * len as u64,
        },
        &payload(ledger_id, entry_id, len),
    )
}

fn add(ledger_id: u64, entry_id: u64, recovery: bool) -> Request {
    Request::AddEntry(AddEntry {
        master_key: key(),
        recovery,
        entry: entry(ledger_id, entry_id, 100 + entry_id as usize),
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

/// Waits for a pipelined response, at most 30 s.
async fn answer(rx: tokio::sync::oneshot::Receiver<Response>) -> Response {
    tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("answered within 30 s")
        .expect("answered")
}

async fn status(c: &ProbeClient, req: Request) -> Status {
    c.call(req).await.expect("answered").status()
}

async fn read_entry(c: &ProbeClient, req: Request) -> ReadEntryResponse {
    match c.call(req).await.expect("answered") {
        Response::ReadEntry(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

/// §Durability: an acknowledged add reads back byte for byte, from the write cache,
/// after a checkpoint from the entry log, and after a restart.
#[tokio::test]
async fn acknowledged_adds_read_back_from_cache_log_and_after_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for e in 0..20 {
        assert_eq!(status(&c, add(1, e, false)).await, Status::Ok);
    }
    let check = |r: ReadEntryResponse, e: u64| {
        assert_eq!(r.status, Status::Ok);
        assert_eq!(r.entry.expect("entry"), entry(1, e, 100 + e as usize));
    };
    check(
        read_entry(&c, read(1, ReadTarget::Entry(5), false)).await,
        5,
    );
    b.checkpoint().await.expect("checkpoint");
    for e in 0..20 {
        check(
            read_entry(&c, read(1, ReadTarget::Entry(e), false)).await,
            e,
        );
    }
    let last = read_entry(&c, read(1, ReadTarget::Last, false)).await;
    assert_eq!(last.lac, 18);
    check(last, 19);
    assert_eq!(
        status(&c, read(1, ReadTarget::Entry(20), false)).await,
        Status::NoSuchEntry
    );
    assert_eq!(
        status(&c, read(2, ReadTarget::Entry(0), false)).await,
        Status::NoSuchLedger
    );
    drop(c);
    b.shutdown().await.expect("shutdown");

    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for e in 0..20 {
        check(
            read_entry(&c, read(1, ReadTarget::Entry(e), false)).await,
            e,
        );
    }
    b.shutdown().await.expect("shutdown");
}

/// §Frames: requests are pipelined and each response carries its request's id.
#[tokio::test]
async fn pipelined_requests_are_answered_by_request_id() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    let mut pending = Vec::new();
    for e in 0..64 {
        pending.push((e, c.send(add(3, e, false)).await.expect("send")));
        // Reads of entries not yet written mix in.
        pending.push((
            1000 + e,
            c.send(read(3, ReadTarget::Entry(e), false))
                .await
                .expect("send"),
        ));
    }
    for (tag, rx) in pending {
        let resp = answer(rx).await;
        match resp {
            Response::AddEntry(r) => {
                assert_eq!((r.entry_id, r.status), (tag, Status::Ok));
            }
            Response::ReadEntry(r) => {
                assert_eq!(r.target, ReadTarget::Entry(tag - 1000));
                assert!(matches!(
                    r.status,
                    Status::Ok | Status::NoSuchEntry | Status::NoSuchLedger
                ));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    b.shutdown().await.expect("shutdown");
}

/// §Fencing: once a fencing read is answered, normal adds get Fenced and recovery
/// adds are accepted, and this holds after a restart.
#[tokio::test]
async fn fence_refuses_adds_admits_recovery_and_survives_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for e in 0..3 {
        assert_eq!(status(&c, add(4, e, false)).await, Status::Ok);
    }
    let fenced = read_entry(&c, read(4, ReadTarget::Last, true)).await;
    assert_eq!(fenced.status, Status::Ok);
    assert_eq!(fenced.entry.expect("last").entry_id(), 2);
    assert_eq!(status(&c, add(4, 3, false)).await, Status::Fenced);
    assert_eq!(status(&c, add(4, 3, true)).await, Status::Ok);
    // A fence on a ledger this bookie never saw is durable too, and says "nothing here".
    assert_eq!(
        status(&c, read(5, ReadTarget::Last, true)).await,
        Status::NoSuchEntry
    );
    drop(c);
    b.shutdown().await.expect("shutdown");

    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    assert_eq!(status(&c, add(4, 4, false)).await, Status::Fenced);
    assert_eq!(status(&c, add(5, 0, false)).await, Status::Fenced);
    assert_eq!(status(&c, add(4, 4, true)).await, Status::Ok);
    b.shutdown().await.expect("shutdown");
}

/// §Authorization: a ledger's master key is fixed by its first writer.
#[tokio::test]
async fn foreign_master_key_is_unauthorized_and_bad_digest_is_bad_request() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    assert_eq!(status(&c, add(6, 0, false)).await, Status::Ok);
    let foreign = Request::AddEntry(AddEntry {
        master_key: MasterKey::new(&b"other"[..]).expect("short"),
        recovery: false,
        entry: entry(6, 1, 10),
    });
    assert_eq!(status(&c, foreign).await, Status::Unauthorized);
    let mut raw = entry(6, 1, 10).into_bytes().to_vec();
    raw[40] ^= 1;
    let corrupt = Request::AddEntry(AddEntry {
        master_key: key(),
        recovery: false,
        entry: Entry::decode(raw.into()).expect("shape ok"),
    });
    assert_eq!(status(&c, corrupt).await, Status::BadRequest);
    assert_eq!(
        status(&c, read(6, ReadTarget::Entry(1), false)).await,
        Status::NoSuchEntry
    );
    b.shutdown().await.expect("shutdown");
}

/// §No false negatives: an entry whose stored bytes are damaged reads as IoError,
/// never NoSuchEntry.
#[tokio::test]
async fn corrupted_entry_on_disk_reads_as_io_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for e in 0..4 {
        assert_eq!(status(&c, add(7, e, false)).await, Status::Ok);
    }
    drop(c);
    b.shutdown()
        .await
        .expect("shutdown (checkpoints into the entry log)");

    // Flip one payload byte of entry 2 in the entry log.
    let logs: Vec<_> = std::fs::read_dir(tmp.path().join("ledgers"))
        .expect("ledgers dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    let target = entry(7, 2, 102);
    let needle = &target.as_bytes()[..ENTRY_HEADER_BYTES];
    let mut corrupted = 0;
    for path in logs {
        let mut data = std::fs::read(&path).expect("read log");
        if let Some(pos) = data.windows(needle.len()).position(|w| w == needle) {
            data[pos + ENTRY_HEADER_BYTES + 5] ^= 0xFF;
            std::fs::write(&path, &data).expect("write log");
            corrupted += 1;
        }
    }
    assert_eq!(corrupted, 1, "entry 2 found in exactly one log");

    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    assert_eq!(
        status(&c, read(7, ReadTarget::Entry(2), false)).await,
        Status::IoError
    );
    assert_eq!(
        status(&c, read(7, ReadTarget::Entry(1), false)).await,
        Status::Ok
    );
    assert_eq!(
        status(&c, read(7, ReadTarget::Entry(3), false)).await,
        Status::Ok
    );
    b.shutdown().await.expect("shutdown");
}

/// §Cookies: a bookie refuses a directory stamped for another bookie, and a
/// non-empty directory without a cookie.
#[tokio::test]
async fn cookie_mismatch_or_missing_cookie_refuses_to_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    b.shutdown().await.expect("shutdown");

    let mut other = config(tmp.path());
    other.bookie_id = "another-bookie".into();
    match Bookie::start(other).await {
        Err(StartError::Cookie(CookieError::Mismatch { field, .. })) => {
            assert_eq!(field, "bookie_id")
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("started on a foreign cookie"),
    }
    std::fs::remove_file(tmp.path().join("COOKIE")).expect("remove cookie");
    match Bookie::start(config(tmp.path())).await {
        Err(StartError::Cookie(CookieError::MissingCookie { .. })) => {}
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("started without a cookie"),
    }
}

/// §Read-only: above the disk threshold, normal adds get ReadOnly while reads,
/// fences and recovery adds still work.
#[tokio::test]
async fn full_disk_turns_read_only_but_serves_reads_fences_and_recovery() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    assert_eq!(status(&c, add(8, 0, false)).await, Status::Ok);
    drop(c);
    b.shutdown().await.expect("shutdown");

    let mut full = config(tmp.path());
    full.disk_usage_threshold = 1e-9;
    let b = Bookie::start(full).await.expect("start");
    assert!(b.is_read_only());
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    assert_eq!(status(&c, add(8, 1, false)).await, Status::ReadOnly);
    assert_eq!(status(&c, add(9, 0, false)).await, Status::ReadOnly);
    assert_eq!(
        status(&c, read(8, ReadTarget::Entry(0), false)).await,
        Status::Ok
    );
    assert_eq!(status(&c, add(8, 1, true)).await, Status::Ok);
    assert_eq!(
        status(&c, read(8, ReadTarget::Last, true)).await,
        Status::Ok
    );
    match c.call(Request::GetBookieInfo).await.expect("answered") {
        Response::GetBookieInfo(info) => {
            assert_eq!(info.state, BookieState::ReadOnly);
            assert!(info.total_bytes > 0);
        }
        other => panic!("unexpected {other:?}"),
    }
    b.shutdown().await.expect("shutdown");
}

/// §Long poll: a read waits for the LAC to pass the reader's, and returns at the
/// timeout otherwise.
#[tokio::test]
async fn long_poll_read_waits_for_lac_to_advance() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    assert_eq!(status(&c, add(10, 0, false)).await, Status::Ok);
    let poll = |timeout_ms| {
        Request::ReadEntry(ReadEntry {
            ledger_id: 10,
            target: ReadTarget::Entry(0),
            fence: false,
            master_key: MasterKey::empty(),
            long_poll: Some(LongPoll {
                previous_lac: -1,
                timeout_ms,
            }),
        })
    };
    // Times out: LAC is still -1.
    let started = Instant::now();
    let r = read_entry(&c, poll(200)).await;
    assert!(started.elapsed() >= Duration::from_millis(190));
    assert_eq!(r.lac, -1);
    // Woken by an explicit LAC write well before the timeout. (It takes a fraction
    // of a second; the 25 s timeout leaves a loaded machine 20 s for the write and
    // its fsync while still telling a wake-up from a timeout.)
    let started = Instant::now();
    let waiting = c.send(poll(25_000)).await.expect("send");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let lac = Request::WriteLac(WriteLac {
        ledger_id: 10,
        lac: 0,
        master_key: key(),
    });
    assert_eq!(status(&c, lac).await, Status::Ok);
    let Response::ReadEntry(r) = answer(waiting).await else {
        panic!("wrong response")
    };
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "woken by the LAC, not the timeout ({:?})",
        started.elapsed()
    );
    assert_eq!((r.status, r.lac), (Status::Ok, 0));
    match c
        .call(Request::ReadLac(ReadLac { ledger_id: 10 }))
        .await
        .expect("answered")
    {
        Response::ReadLac(r) => assert_eq!(r.lac, 0),
        other => panic!("unexpected {other:?}"),
    }
    b.shutdown().await.expect("shutdown");
}

/// §Backpressure: past the per-connection in-flight bound, adds are refused with
/// TooManyRequests (other requests wait unread), and every request gets exactly one
/// answer.
#[tokio::test]
async fn too_many_bytes_in_flight_get_too_many_requests() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(tmp.path());
    cfg.max_inflight_bytes_per_connection = 64 << 10;
    let b = Bookie::start(cfg).await.expect("start");
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    let mut pending = Vec::new();
    for e in 0..64 {
        let req = Request::AddEntry(AddEntry {
            master_key: key(),
            recovery: false,
            entry: entry(11, e, 32 << 10),
        });
        pending.push(c.send(req).await.expect("send"));
    }
    let (mut ok, mut busy) = (0, 0);
    for rx in pending {
        match answer(rx).await.status() {
            Status::Ok => ok += 1,
            Status::TooManyRequests => busy += 1,
            s => panic!("unexpected {s}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
    b.shutdown().await.expect("shutdown");
}

/// §DeleteLedger: a deleted ledger is gone, also after a restart.
#[tokio::test]
async fn deleted_ledger_is_gone_after_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for e in 0..3 {
        assert_eq!(status(&c, add(12, e, false)).await, Status::Ok);
    }
    b.checkpoint().await.expect("checkpoint");
    assert_eq!(status(&c, add(12, 3, false)).await, Status::Ok);
    let del = Request::DeleteLedger(DeleteLedger { ledger_id: 12 });
    assert_eq!(status(&c, del).await, Status::Ok);
    assert_eq!(
        status(&c, read(12, ReadTarget::Entry(0), false)).await,
        Status::NoSuchLedger
    );
    drop(c);
    b.shutdown().await.expect("shutdown");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    assert_eq!(
        status(&c, read(12, ReadTarget::Entry(3), false)).await,
        Status::NoSuchLedger
    );
    b.shutdown().await.expect("shutdown");
}

/// §DeleteLedger: an add to a deleted ledger is refused rather than acknowledged, since
/// the next checkpoint drops a deleted ledger's entries (an acknowledged add would be
/// lost). Regression test: such adds used to get Ok and vanish at the checkpoint.
#[tokio::test]
async fn adds_to_a_deleted_ledger_are_refused_not_lost() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for e in 0..3 {
        assert_eq!(status(&c, add(13, e, false)).await, Status::Ok);
    }
    let del = Request::DeleteLedger(DeleteLedger { ledger_id: 13 });
    assert_eq!(status(&c, del).await, Status::Ok);
    assert_eq!(status(&c, add(13, 0, false)).await, Status::NoSuchLedger);
    assert_eq!(status(&c, add(13, 1, true)).await, Status::NoSuchLedger);
    b.checkpoint().await.expect("checkpoint");
    // Nothing was acknowledged, so nothing can have been lost; other ledgers go on.
    assert_eq!(
        status(&c, read(13, ReadTarget::Entry(0), false)).await,
        Status::NoSuchLedger
    );
    assert_eq!(status(&c, add(14, 0, false)).await, Status::Ok);
    b.checkpoint().await.expect("checkpoint");
    assert_eq!(
        status(&c, read(14, ReadTarget::Entry(0), false)).await,
        Status::Ok
    );
    b.shutdown().await.expect("shutdown");
}

/// §Frames: a malformed body is answered BadRequest under its request id and the
/// connection stays usable; an oversized frame closes the connection.
#[tokio::test]
async fn malformed_frames_get_bad_request_and_oversized_frames_close() {
    use bytes::BytesMut;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn read_frame(
        s: &mut tokio::net::TcpStream,
        buf: &mut BytesMut,
    ) -> Option<Frame<Response>> {
        loop {
            if let Some(raw) = RawFrame::split(buf, DEFAULT_MAX_FRAME_BYTES).expect("valid") {
                return Some(raw.decode().expect("valid response"));
            }
            if s.read_buf(buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let mut s = tokio::net::TcpStream::connect(b.local_addr())
        .await
        .expect("connect");
    // A ReadLac frame whose body is one byte short.
    let mut bad = Frame::new(41, Request::ReadLac(ReadLac { ledger_id: 1 }))
        .to_bytes()
        .to_vec();
    bad.pop();
    let len = (bad.len() - FRAME_LENGTH_BYTES) as u32;
    bad[..4].copy_from_slice(&len.to_be_bytes());
    // An unknown op.
    let mut unknown = Frame::new(42, Request::GetBookieInfo).to_bytes().to_vec();
    unknown[5] = 0x33;
    s.write_all(&bad).await.expect("write");
    s.write_all(&unknown).await.expect("write");
    s.write_all(&Frame::new(43, Request::GetBookieInfo).to_bytes())
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut buf = BytesMut::new();
    for _ in 0..3 {
        let f = tokio::time::timeout(Duration::from_secs(30), read_frame(&mut s, &mut buf))
            .await
            .expect("answered in time")
            .expect("answered");
        got.push((f.request_id, f.body.status()));
    }
    got.sort_unstable_by_key(|(id, _)| *id);
    assert_eq!(
        got,
        vec![
            (41, Status::BadRequest),
            (42, Status::BadRequest),
            (43, Status::Ok)
        ]
    );
    // A length prefix far above the cap: the bookie closes the connection.
    s.write_all(&(1u32 << 31).to_be_bytes())
        .await
        .expect("write");
    let closed = tokio::time::timeout(Duration::from_secs(30), read_frame(&mut s, &mut buf)).await;
    assert!(closed.expect("closed in time").is_none());
    b.shutdown().await.expect("shutdown");
}

/// Checkpoints triggered by the write-cache size (not the timer) keep every entry
/// readable while adds continue, across a restart.
#[tokio::test]
async fn size_triggered_checkpoints_keep_entries_readable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(tmp.path());
    cfg.write_cache_bytes = 64 << 10;
    cfg.entry_log_file_bytes = 256 << 10;
    let b = Bookie::start(cfg.clone()).await.expect("start");
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    let big = |e| {
        Request::AddEntry(AddEntry {
            master_key: key(),
            recovery: false,
            entry: entry(13, e, 16 << 10),
        })
    };
    for e in 0..200 {
        assert_eq!(status(&c, big(e)).await, Status::Ok);
    }
    for e in (0..200).step_by(7) {
        let r = read_entry(&c, read(13, ReadTarget::Entry(e), false)).await;
        assert_eq!(r.entry.expect("entry"), entry(13, e, 16 << 10));
    }
    let logs = std::fs::read_dir(tmp.path().join("ledgers"))
        .expect("ledgers")
        .count();
    assert!(logs > 2, "entry logs rolled ({logs})");
    drop(c);
    b.shutdown().await.expect("shutdown");
    let b = Bookie::start(cfg).await.expect("restart");
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    for e in 0..200 {
        let r = read_entry(&c, read(13, ReadTarget::Entry(e), false)).await;
        assert_eq!(r.entry.expect("entry"), entry(13, e, 16 << 10));
    }
    b.shutdown().await.expect("shutdown");
}

/// §Fencing, under concurrency: with adds pipelined around a fencing read, every add
/// answered Ok is covered by the fencing read's answer (its id is at most the last
/// entry the fencing read returned), and every add answered otherwise got Fenced.
/// This is what makes recovery safe: no add the writer sees acknowledged by this
/// bookie can be missed by the recoverer.
///
/// The bookie handles the requests of a connection concurrently, so the fencing
/// read is admitted somewhere among the adds around it, not necessarily where it was
/// sent: on a loaded machine it can overtake every add (its read then finds no entry
/// and every add is fenced) or come after all of them. Rounds go on until eight of
/// them had both acknowledged and fenced adds (at most 40 rounds); every round is
/// checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_add_is_acknowledged_past_a_concurrent_fence() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = start(tmp.path()).await;
    let c = ProbeClient::connect(b.local_addr()).await.expect("connect");
    let mut mixed = 0;
    for round in 0..40u64 {
        if mixed == 8 {
            break;
        }
        let ledger = 100 + round;
        let mut adds = Vec::new();
        let mut fence = None;
        let fence_at = 20 + (round % 8) * 20;
        for e in 0..200 {
            adds.push((e, c.send(add(ledger, e, false)).await.expect("send")));
            if e == fence_at {
                fence = Some(
                    c.send(read(ledger, ReadTarget::Last, true))
                        .await
                        .expect("send"),
                );
            }
        }
        let Response::ReadEntry(f) = answer(fence.expect("fence sent")).await else {
            panic!("wrong response")
        };
        let last_seen = match f.status {
            Status::Ok => f.entry.expect("entry").entry_id() as i64,
            // Admitted before every add: the bookie stores none of them.
            Status::NoSuchEntry => -1,
            s => panic!("round {round}: the fencing read answered {s}"),
        };
        let (mut ok, mut fenced) = (0, 0);
        for (e, rx) in adds {
            match answer(rx).await.status() {
                Status::Ok => {
                    assert!(
                        e as i64 <= last_seen,
                        "round {round}: add {e} acknowledged past the fence (last {last_seen})"
                    );
                    ok += 1;
                }
                Status::Fenced => fenced += 1,
                s => panic!("unexpected {s}"),
            }
        }
        if ok > 0 && fenced > 0 {
            mixed += 1;
        }
    }
    assert_eq!(
        mixed, 8,
        "fewer than 8 of 40 rounds had the fence land among the adds"
    );
    b.shutdown().await.expect("shutdown");
}
