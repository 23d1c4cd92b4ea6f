//! Claims of docs/protocol.md §"Ledger guarantees" that need real bookies and have
//! no other real-bookie test: concurrent recoverers converge (L10) while the writer
//! keeps appending, which it cannot past the fence (L5, L9); the piggybacked and the
//! explicit LAC of an idle writer (L4); a tailing reader that long-polls (L4); an
//! ensemble change is recorded only while the ledger is OPEN (L7).
//!
//! Bookies run in this process (`folio_bookie::Bookie::start`) on free loopback
//! ports; the namespace is a real embedded store. Every loop is bounded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use folio_ledger::{ClientConfig, LedgerClient, LedgerError, OpenMode, WriteError, WriterConfig};
use folio_namespace::Db;

mod common;

use common::Cluster;

/// A client whose idle writers publish their LAC after `explicit_lac_interval_ms`.
fn client(cluster: &Cluster, explicit_lac_interval_ms: u64) -> LedgerClient {
    cluster.client(ClientConfig {
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_millis(500),
        speculative_read_delay: Duration::from_millis(50),
        writer: WriterConfig {
            add_timeout_ms: 10_000,
            explicit_lac_interval_ms,
            ..WriterConfig::default()
        },
        ..ClientConfig::default()
    })
}

fn payload(i: u64) -> Bytes {
    (0..200 + (i % 13) as usize)
        .map(|j| (i as usize * 17 + j) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// L10 (concurrent recoverers converge on one result), L9 (recovery never closes
/// below an acknowledged entry) and L5 (a fenced writer stops with an unknown
/// outcome): two clients recover a ledger at the same time while its writer keeps
/// appending. Both report the same close; every entry the writer ever saw
/// acknowledged is at or below it; the writer ends with `Fenced`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_recoverers_converge_while_the_writer_appends() {
    let cluster = Cluster::start(3).await;
    let writer_client = client(&cluster, 1_000);
    let writer = writer_client.create(BTreeMap::new()).await.expect("create");
    let ledger_id = writer.ledger_id();
    // The writer appends (pipelined, 16 in flight) until something stops it.
    let acked = Arc::new(std::sync::atomic::AtomicI64::new(-1));
    let writing = {
        let acked = acked.clone();
        tokio::spawn(async move {
            let mut window = std::collections::VecDeque::new();
            for i in 0..200_000u64 {
                let pending = match writer.submit(payload(i)).await {
                    Ok(p) => p,
                    Err(e) => return e,
                };
                window.push_back(pending);
                if window.len() >= 16 {
                    let Some(p) = window.pop_front() else { break };
                    match p.await {
                        Ok(id) => acked.store(id as i64, std::sync::atomic::Ordering::SeqCst),
                        Err(e) => return e,
                    }
                }
            }
            panic!("the writer was never stopped");
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 300 {
        assert!(Instant::now() < deadline, "300 appends within 30 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (a, b) = (client(&cluster, 1_000), client(&cluster, 1_000));
    let (ra, rb) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(a.recover(ledger_id), b.recover(ledger_id))
    })
    .await
    .expect("both recoveries end within 60 s");
    let (ra, rb) = (ra.expect("recoverer a"), rb.expect("recoverer b"));
    assert_eq!(ra, rb, "concurrent recoverers report one result");

    let err = tokio::time::timeout(Duration::from_secs(30), writing)
        .await
        .expect("the writer stops within 30 s")
        .expect("writer task");
    assert!(
        matches!(err, LedgerError::Write(WriteError::Fenced { .. })),
        "the writer is fenced: {err}"
    );
    assert!(err.to_string().contains("unknown"), "{err}");
    let last_acked = acked.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        ra.last_entry_id >= last_acked,
        "closed at {} below acknowledged entry {last_acked}",
        ra.last_entry_id
    );
    let expected_length: u64 = (0..=ra.last_entry_id as u64)
        .map(|i| payload(i).len() as u64)
        .sum();
    assert_eq!(ra.length, expected_length);

    // A third client sees the same close and reads every entry.
    let reader = client(&cluster, 1_000)
        .open(ledger_id, OpenMode::Recover)
        .await
        .expect("open");
    assert!(reader.is_closed());
    assert_eq!(reader.lac(), ra.last_entry_id);
    let entries = reader
        .read_range(0, ra.last_entry_id as u64)
        .await
        .expect("read all");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e, &payload(i as u64), "entry {i}");
    }
}

/// L4: the LAC travels on every entry (after appending entries 0..=9 one at a time,
/// the bookies know LAC 8 from entry 9), and an idle writer writes it explicitly
/// (they learn 9 without another append).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_writer_publishes_its_lac() {
    let cluster = Cluster::start(3).await;
    let client = client(&cluster, 200);
    let writer = client.create(BTreeMap::new()).await.expect("create");
    let ledger_id = writer.ledger_id();
    for i in 0..10u64 {
        assert_eq!(writer.append(payload(i)).await.expect("append"), i);
    }
    let mut reader = client
        .open(ledger_id, OpenMode::NoRecover)
        .await
        .expect("open without recovery");
    assert!(!reader.is_closed());
    assert!(
        reader.lac() >= 8,
        "LAC 8 is piggybacked on entry 9: {}",
        reader.lac()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while reader.refresh_lac().await.expect("read LAC") < 9 {
        assert!(
            Instant::now() < deadline,
            "the explicit LAC reaches the bookies within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reader.read(9).await.expect("entry 9"), payload(9));
    // The writer is still the owner: it can go on.
    assert_eq!(writer.append(payload(10)).await.expect("append"), 10);
}

/// L4 (tailing read): a reader that long-polls for the LAC follows a live writer
/// entry by entry, and sees the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tailing_reader_follows_the_writer() {
    const ENTRIES: u64 = 40;
    let cluster = Cluster::start(3).await;
    let client = client(&cluster, 100);
    let writer = client.create(BTreeMap::new()).await.expect("create");
    let ledger_id = writer.ledger_id();
    let mut reader = client
        .open(ledger_id, OpenMode::NoRecover)
        .await
        .expect("open without recovery");
    assert_eq!(reader.lac(), -1);

    // A long-poll with nothing new returns after its timeout, LAC unchanged.
    let started = Instant::now();
    assert_eq!(
        reader
            .wait_lac(Duration::from_millis(300))
            .await
            .expect("poll"),
        -1
    );
    assert!(started.elapsed() >= Duration::from_millis(250));

    let writing = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for i in 0..ENTRIES {
            writer.append(payload(i)).await.expect("append");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        writer.close().await.expect("close")
    });
    // A long-poll wakes up as soon as a bookie learns a higher LAC (entry 1 carries
    // LAC 0), well before its timeout. (Normally within a fraction of a second; the
    // 30 s timeout leaves a loaded machine 20 s to do the first appends.)
    let started = Instant::now();
    let lac = reader
        .wait_lac(Duration::from_secs(30))
        .await
        .expect("poll");
    assert!(lac >= 0, "the LAC advanced");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the long-poll answered when the LAC moved, not at its timeout ({:?})",
        started.elapsed()
    );
    let mut next = 0u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut polls = 0;
    while !(reader.is_closed() && next as i64 > reader.lac()) {
        assert!(Instant::now() < deadline, "tailing ends within 30 s");
        polls += 1;
        assert!(polls < 1_000, "bounded number of polls");
        let lac = reader.wait_lac(Duration::from_secs(2)).await.expect("poll");
        if lac >= next as i64 {
            let got = reader.read_range(next, lac as u64).await.expect("read");
            for (k, e) in got.iter().enumerate() {
                assert_eq!(e, &payload(next + k as u64), "entry {}", next + k as u64);
            }
            next = lac as u64 + 1;
        }
    }
    let closed = writing.await.expect("writer");
    assert_eq!(closed.last_entry_id, ENTRIES as i64 - 1);
    assert_eq!(next, ENTRIES, "the reader read every entry");
    assert!(
        polls > 2,
        "the reader followed the writer in steps ({polls} polls)"
    );
}

/// L7: the writer records a new segment only while the ledger is OPEN. Once a
/// recoverer has moved it to IN_RECOVERY (step 1 of recovery, done here by hand), a
/// lost bookie stops the writer instead of changing the ensemble, and the metadata
/// keeps its one segment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ensemble_change_once_recovery_began() {
    use folio_namespace::ledgers;
    let mut cluster = Cluster::start(4).await;
    let client = client(&cluster, 1_000);
    let writer = client.create(BTreeMap::new()).await.expect("create");
    let ledger_id = writer.ledger_id();
    for i in 0..5u64 {
        writer.append(payload(i)).await.expect("append");
    }
    let get = |db: Db| async move {
        db.transact(move |tx, _| ledgers::get(tx, ledger_id))
            .await
            .expect("namespace read")
            .expect("ledger exists")
    };
    let found = get(cluster.db.clone()).await;
    let mut meta = found.value.clone();
    meta.state = ledgers::LedgerState::InRecovery;
    let op = folio_namespace::OpId::random();
    cluster
        .db
        .transact(move |tx, _| ledgers::compare_and_set(tx, ledger_id, found.version, &meta, op))
        .await
        .expect("CAS to IN_RECOVERY");
    let victim = found.value.segments[0].bookies[0].clone();
    let index = cluster.index_of(&victim);
    cluster.stop(index).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut err = None;
    for i in 5..200u64 {
        assert!(Instant::now() < deadline, "the writer stops within 30 s");
        if let Err(e) = writer.append(payload(i)).await {
            err = Some(e);
            break;
        }
    }
    let err = err.expect("the writer stopped");
    assert!(
        matches!(&err, LedgerError::Write(WriteError::EnsembleChangeFailed { reason, .. }) if reason.contains("not open")),
        "{err}"
    );
    let after = get(cluster.db.clone()).await.value;
    assert_eq!(after.state, ledgers::LedgerState::InRecovery);
    assert_eq!(after.segments.len(), 1, "no segment was added: {after:?}");
    assert!(after.segments[0].bookies.contains(&victim));
}
