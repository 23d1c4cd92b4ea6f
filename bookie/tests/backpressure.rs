//! docs/protocol.md §Backpressure against a real TCP bookie: a client that pipelines
//! many large reads and does not read its answers cannot make the bookie hold them
//! all; the bookie stops reading that socket instead, and every answer still comes,
//! intact, once the client reads.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use folio_bookie::probe::ProbeClient;
use folio_bookie::{Bookie, BookieConfig, BookieMetrics};
use folio_proto::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ENTRY_BYTES: usize = 1 << 20;
const READS: u64 = 500;
/// More entries than the bookie's read-ahead keeps blocks (16), read round-robin, so
/// reads from the entry log each make their own copy rather than share a block.
const ENTRIES: u64 = 24;
const BUDGET_BYTES: usize = 8 << 20;
const MAX_FRAME_BYTES: usize = (2 << 20) + 4096;

fn config(dir: &Path) -> BookieConfig {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut c = BookieConfig::new(dir, listen);
    c.bookie_id = "bp-bookie".into();
    c.checkpoint_interval = Duration::from_secs(3600);
    c.max_inflight_bytes_per_connection = BUDGET_BYTES;
    c.max_frame_bytes = MAX_FRAME_BYTES;
    c
}

fn key() -> MasterKey {
    MasterKey::new(&b"ledger-secret"[..]).expect("short key")
}

fn big_entry(entry_id: u64) -> Entry {
    entry(1, entry_id, ENTRY_BYTES)
}

/// Entry `entry_id` of `ledger_id`, with `len` bytes of payload.
fn entry(ledger_id: u64, entry_id: u64, len: usize) -> Entry {
    let payload: Vec<u8> = (0..len)
        .map(|i| (i as u64 * 31 + entry_id + ledger_id) as u8)
        .collect();
    Entry::new(
        EntryHeader {
            ledger_id,
            entry_id,
            lac: entry_id as i64 - 1,
            length: (entry_id + 1) * len as u64,
        },
        &payload,
    )
}

/// Adds `entries` through `probe`, each answered Ok.
async fn add_all(probe: &ProbeClient, entries: &[Entry]) {
    for entry in entries {
        let added = probe
            .call(Request::AddEntry(AddEntry {
                master_key: key(),
                recovery: false,
                entry: entry.clone(),
            }))
            .await
            .expect("add answered");
        assert_eq!(added.status(), Status::Ok);
    }
}

/// Reads entry `entry_id` of `ledger_id` over `probe`: the entry, or `None` if the
/// bookie answered without one.
async fn read_entry(probe: &ProbeClient, ledger_id: u64, entry_id: u64) -> Option<Entry> {
    let read = probe
        .call(Request::ReadEntry(ReadEntry {
            ledger_id,
            target: ReadTarget::Entry(entry_id),
            fence: false,
            master_key: key(),
            long_poll: None,
        }))
        .await
        .expect("read answered");
    let Response::ReadEntry(r) = read else {
        panic!("unexpected answer {read:?}")
    };
    r.entry
}

/// `n` ReadEntry frames (request ids 0..n) for entries 0..`entries` of ledger 1,
/// round-robin, encoded back to back to be sent at once.
fn pipelined_reads(n: u64, entries: u64) -> BytesMut {
    let mut out = BytesMut::new();
    for id in 0..n {
        Frame::new(
            id,
            Request::ReadEntry(ReadEntry {
                ledger_id: 1,
                target: ReadTarget::Entry(id % entries),
                fence: false,
                master_key: key(),
                long_poll: None,
            }),
        )
        .encode(&mut out);
    }
    out
}

/// Polls the bookie's in-flight gauge until `done` holds or `secs` pass; the caller
/// asserts on the gauge afterwards.
async fn wait_for_gauge(metrics: &BookieMetrics, done: impl Fn(u64) -> bool, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(metrics.inflight_bytes()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the in-flight gauge stops moving (unchanged for half a second, at
/// most 10 s) and returns it.
async fn settle(metrics: &BookieMetrics) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = u64::MAX;
    let mut stable_polls = 0;
    while Instant::now() < deadline && stable_polls < 10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = metrics.inflight_bytes();
        stable_polls = if now == last { stable_polls + 1 } else { 0 };
        last = now;
    }
    metrics.inflight_bytes()
}

/// Reads the answers to `pipelined_reads(n, entries.len())` from `sock` (within
/// `secs`), asserting that each read is answered once, Ok, with its entry intact.
async fn read_answers(sock: &mut TcpStream, n: u64, entries: &[Entry], secs: u64) {
    let count = entries.len() as u64;
    let mut seen = vec![false; n as usize];
    let mut inbuf = BytesMut::with_capacity(4 << 20);
    let mut got = 0;
    let read_all = async {
        while got < n {
            while let Some(raw) = RawFrame::split(&mut inbuf, MAX_FRAME_BYTES).expect("frame") {
                let frame = raw.decode::<Response>().expect("decodes");
                let Response::ReadEntry(r) = frame.body else {
                    panic!("unexpected answer {:?}", frame.body.status());
                };
                assert_eq!(r.status, Status::Ok, "read {}", frame.request_id);
                let want = &entries[(frame.request_id % count) as usize];
                assert_eq!(r.entry.as_ref(), Some(want), "read {}", frame.request_id);
                let slot = &mut seen[frame.request_id as usize];
                assert!(!*slot, "request {} answered twice", frame.request_id);
                *slot = true;
                got += 1;
            }
            if got < n {
                let read = sock.read_buf(&mut inbuf).await.expect("read answers");
                assert!(read > 0, "bookie closed the connection after {got} answers");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), read_all)
        .await
        .unwrap_or_else(|_| panic!("all {n} answers within {secs} s"));
    assert!(seen.iter().all(|s| *s));
}

/// Resident set size of this process (the bookie runs in it), from /proc.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// §Backpressure: 500 pipelined reads of 1 MiB entries, answers unread for a while.
/// The bytes the bookie holds for the connection (its in-flight gauge, and this
/// process's RSS) stay near the 8 MiB budget instead of growing towards 500 MiB;
/// then every answer arrives, correct, exactly once, and the gauge returns to 0. A
/// client that leaves with its answers unread has all of them let go too, and so
/// does one that stays without reading once the bookie shuts down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_pipelined_reads_keep_memory_bounded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = Bookie::start(config(tmp.path())).await.expect("start");
    let metrics = b.metrics();
    let entries: Vec<Entry> = (0..ENTRIES).map(big_entry).collect();
    let probe = ProbeClient::connect(b.local_addr()).await.expect("connect");
    add_all(&probe, &entries).await;
    drop(probe);
    // Reads then come from the entry log, each with its own buffer (reads from the
    // write cache would share one and could hide an unbounded queue).
    b.checkpoint().await.expect("checkpoint");

    let rss_before = rss_bytes();
    let mut sock = TcpStream::connect(b.local_addr()).await.expect("connect");
    let out = pipelined_reads(READS, ENTRIES);
    // About 20 KB of requests: the socket takes them all without our reading.
    sock.write_all(&out).await.expect("send reads");

    // Let the bookie fill the socket buffers and its budget, then stall.
    let stalled = settle(&metrics).await;
    let peak = metrics.inflight_bytes_peak();
    let rss_stalled = rss_bytes();
    eprintln!(
        "stalled: in flight {stalled} B, peak {peak} B, RSS {} -> {} MiB",
        rss_before >> 20,
        rss_stalled >> 20
    );
    // The server's bound for reads: the budget, plus the answers of the reads
    // admitted under it (at most budget / max frame of them), plus one frame.
    let bound = (2 * BUDGET_BYTES + MAX_FRAME_BYTES) as u64;
    assert!(peak <= bound, "in-flight peak {peak} above {bound}");
    assert!(
        stalled > 0,
        "answers the client has not read are held (and charged) while it stalls"
    );
    let grown = rss_stalled.saturating_sub(rss_before);
    assert!(
        grown < 128 << 20,
        "RSS grew {} MiB with 500 MiB of answers unread",
        grown >> 20
    );

    // Now read everything: each read answered once, with the entry intact.
    read_answers(&mut sock, READS, &entries, 120).await;

    wait_for_gauge(&metrics, |held| held == 0, 30).await;
    assert_eq!(metrics.inflight_bytes(), 0, "every charge released");
    assert!(metrics.inflight_bytes_peak() <= bound);
    drop(sock);

    // A client that goes away with answers unread: the bookie lets go of them all.
    let mut sock = TcpStream::connect(b.local_addr()).await.expect("connect");
    sock.write_all(&out).await.expect("send reads");
    wait_for_gauge(&metrics, |held| held > 0, 10).await;
    assert!(
        metrics.inflight_bytes() > 0,
        "answers held for the new client"
    );
    drop(sock);
    wait_for_gauge(&metrics, |held| held == 0, 10).await;
    assert_eq!(
        metrics.inflight_bytes(),
        0,
        "charges released after the client left"
    );
    assert!(metrics.inflight_bytes_peak() <= bound);

    // A client that stays but never reads does not hold the bookie's writer past
    // shutdown (plus a short grace): its answers are let go.
    let mut sock = TcpStream::connect(b.local_addr()).await.expect("connect");
    sock.write_all(&out).await.expect("send reads");
    wait_for_gauge(&metrics, |held| held > 0, 10).await;
    assert!(
        metrics.inflight_bytes() > 0,
        "answers held for the new client"
    );
    b.shutdown().await.expect("shutdown");
    wait_for_gauge(&metrics, |held| held == 0, 15).await;
    assert_eq!(
        metrics.inflight_bytes(),
        0,
        "charges released after shutdown though the client never read"
    );
    drop(sock);
}

/// A client that stays connected but stops reading its answers is disconnected once
/// they have waited `response_write_timeout`: what the bookie held for it is let go
/// while the bookie keeps running, and other clients are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_disconnected_after_the_timeout() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(tmp.path());
    // Long enough that even a slow machine sees the answers held before they go.
    let timeout = Duration::from_secs(3);
    cfg.response_write_timeout = timeout;
    let b = Bookie::start(cfg).await.expect("start");
    let metrics = b.metrics();
    let probe = ProbeClient::connect(b.local_addr()).await.expect("connect");
    let entries: Vec<Entry> = (0..4).map(big_entry).collect();
    add_all(&probe, &entries).await;

    // 100 reads of 1 MiB entries, far more than the socket buffers take unread.
    let mut sock = TcpStream::connect(b.local_addr()).await.expect("connect");
    let out = pipelined_reads(100, 4);
    // No answer can be written, let alone stall, before the reads are sent: the
    // timeout cannot fire before this instant plus the timeout. (A lower bound taken
    // when the test first sees answers held would be late on a slow machine.)
    let sent_at = Instant::now();
    sock.write_all(&out).await.expect("send reads");
    wait_for_gauge(&metrics, |held| held > 0, 30).await;
    assert!(metrics.inflight_bytes() > 0, "answers held for the client");

    // Without the client reading anything, the bookie lets go after the timeout.
    wait_for_gauge(&metrics, |held| held == 0, 30).await;
    assert_eq!(
        metrics.inflight_bytes(),
        0,
        "charges released by the timeout"
    );
    assert!(
        sent_at.elapsed() >= timeout,
        "released only after the timeout, not at once ({:?})",
        sent_at.elapsed()
    );

    // The connection is closed: reading what was sent ends in EOF or a reset, not
    // in all 100 answers.
    let mut inbuf = BytesMut::new();
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match sock.read_buf(&mut inbuf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => inbuf.clear(),
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the bookie closed the connection");

    // The bookie goes on serving.
    assert_eq!(read_entry(&probe, 1, 3).await.as_ref(), Some(&entries[3]));
    drop(probe);
    b.shutdown().await.expect("shutdown");
}

/// §Backpressure, bookie-wide budget: 8 connections each pipeline 24 reads of 1 MiB
/// entries and leave the answers unread. Each connection's budget (4 MiB) is far
/// more than its share of the bookie's (8 MiB / 8), yet what the bookie holds for
/// all of them together (the in-flight gauge, at its peak) stays within the
/// bookie-wide budget plus one frame per connection (a connection that holds
/// nothing is always admitted one request), not 8 connections' worth. Then the
/// clients read their connections one after the other, which only completes if a
/// connection is never held back by answers the others hold (no deadlock), and
/// every answer arrives intact, once; the gauge returns to 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_share_the_bookie_wide_budget() {
    const CONNECTIONS: usize = 8;
    const READS_EACH: u64 = 24;
    const CONNECTION_BUDGET_BYTES: usize = 4 << 20;
    const BOOKIE_BUDGET_BYTES: usize = 8 << 20;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(tmp.path());
    cfg.max_inflight_bytes_per_connection = CONNECTION_BUDGET_BYTES;
    cfg.max_inflight_bytes = BOOKIE_BUDGET_BYTES;
    let b = Bookie::start(cfg).await.expect("start");
    let metrics = b.metrics();
    let entries: Vec<Entry> = (0..ENTRIES).map(big_entry).collect();
    let probe = ProbeClient::connect(b.local_addr()).await.expect("connect");
    add_all(&probe, &entries).await;
    drop(probe);
    b.checkpoint().await.expect("checkpoint");

    let out = pipelined_reads(READS_EACH, ENTRIES);
    let mut socks = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut sock = TcpStream::connect(b.local_addr()).await.expect("connect");
        sock.write_all(&out).await.expect("send reads");
        socks.push(sock);
    }
    let stalled = settle(&metrics).await;
    let peak = metrics.inflight_bytes_peak();
    eprintln!("stalled: in flight {stalled} B, peak {peak} B");
    let bound = (BOOKIE_BUDGET_BYTES + CONNECTIONS * MAX_FRAME_BYTES) as u64;
    assert!(peak <= bound, "in-flight peak {peak} above {bound}");
    assert!(
        stalled > 0,
        "unread answers are held while the clients stall"
    );
    // Per connection alone, the bookie could hold 8 × (2·4 MiB + a frame) here.

    // One connection after the other: the first must finish while the others hold
    // the whole bookie-wide budget.
    for sock in &mut socks {
        read_answers(sock, READS_EACH, &entries, 120).await;
    }
    wait_for_gauge(&metrics, |held| held == 0, 5).await;
    assert_eq!(metrics.inflight_bytes(), 0, "every charge released");
    let peak = metrics.inflight_bytes_peak();
    assert!(peak <= bound, "in-flight peak {peak} above {bound}");
    drop(socks);
    b.shutdown().await.expect("shutdown");
}

/// §Backpressure, bookie-wide budget for adds: two connections pipeline 64 adds of
/// 32 KiB each. Their own budgets (16 MiB) hold all of them, but the bookie's
/// (64 KiB) does not: adds that would pass it are answered TooManyRequests, each
/// connection still gets adds through (one is always admitted on a connection that
/// holds nothing), every add gets exactly one answer, and what was acknowledged is
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_past_the_bookie_wide_budget_get_too_many_requests() {
    const ADDS: u64 = 64;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(tmp.path());
    cfg.max_inflight_bytes_per_connection = 16 << 20;
    cfg.max_inflight_bytes = 64 << 10;
    let b = Bookie::start(cfg).await.expect("start");
    let metrics = b.metrics();
    let clients = [
        ProbeClient::connect(b.local_addr()).await.expect("connect"),
        ProbeClient::connect(b.local_addr()).await.expect("connect"),
    ];
    let mut pending = Vec::new();
    for e in 0..ADDS {
        for (ledger, client) in (10..).zip(&clients) {
            let req = Request::AddEntry(AddEntry {
                master_key: key(),
                recovery: false,
                entry: entry(ledger, e, 32 << 10),
            });
            pending.push((ledger, e, client.send(req).await.expect("send")));
        }
    }
    let mut ok = [0; 2];
    let mut busy = 0;
    let mut acknowledged = Vec::new();
    for (ledger, e, rx) in pending {
        let resp = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("answered within 30 s")
            .expect("answered");
        match resp.status() {
            Status::Ok => {
                ok[(ledger - 10) as usize] += 1;
                acknowledged.push((ledger, e));
            }
            Status::TooManyRequests => busy += 1,
            s => panic!("unexpected {s}"),
        }
    }
    eprintln!("adds: ok {ok:?}, busy {busy}");
    assert!(
        ok[0] >= 1 && ok[1] >= 1 && busy >= 1,
        "ok {ok:?}, busy {busy}"
    );
    for (ledger, e) in acknowledged {
        let read = read_entry(&clients[0], ledger, e).await;
        assert_eq!(read, Some(entry(ledger, e, 32 << 10)), "{ledger}/{e}");
    }
    wait_for_gauge(&metrics, |held| held == 0, 5).await;
    assert_eq!(metrics.inflight_bytes(), 0, "every charge released");
    drop(clients);
    b.shutdown().await.expect("shutdown");
}
