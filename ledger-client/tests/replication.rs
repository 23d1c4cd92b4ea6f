//! The replication worker against real bookies over TCP and a real embedded namespace
//! (`docs/protocol.md`, "Auto-recovery: replication workers"). Ledgers are E=3 Qw=3
//! Qa=2; the queue is filled with `under_replicated::mark`, as the auditor would.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use folio_bookie::{Bookie, BookieConfig};
use folio_ledger::{
    BookieId, BookiePool, BookieSource, Candidate, LedgerClient, OpenMode, ReplicationWorker,
    WorkerConfig,
};
use folio_namespace::bookies::{self, BookieRecord, BookieState};
use folio_namespace::ledgers::{self, LedgerMetadata, LedgerState};
use folio_namespace::under_replicated::{self, UnderReplicated};
use folio_namespace::{Db, EmbeddedOptions, EmbeddedStore};
use folio_proto::{
    AddEntry, DeleteLedger, Entry, EntryHeader, GetLedgerEntries, MasterKey, ReadEntry, ReadTarget,
    Request, Response, ScrubReportResponse, Status,
};

mod common;

use common::{Cluster, fast_config};

const ENTRY_BYTES: usize = 1000;

fn worker_config() -> WorkerConfig {
    WorkerConfig {
        lease: Duration::from_secs(10),
        progress_interval: Duration::from_millis(50),
        poll_interval: Duration::from_millis(50),
        open_ledger_grace: Duration::from_secs(60),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        ..WorkerConfig::default()
    }
}

fn payload(ledger: u64, i: u64) -> Bytes {
    (0..ENTRY_BYTES)
        .map(|j| (ledger.wrapping_mul(7) as usize).wrapping_add(i as usize * 31 + j) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// A client that places ledgers only on the bookies `only` (by index).
fn client_on(cluster: &Cluster, only: &[usize]) -> LedgerClient {
    let candidates = only
        .iter()
        .map(|i| Candidate {
            id: cluster.addresses[*i].clone(),
            rack: None,
        })
        .collect();
    LedgerClient::new(
        cluster.db.clone(),
        BookieSource::Static(candidates),
        fast_config(),
    )
}

/// Registers bookie `i` in the registry with `state` and a one-hour lease.
fn register(cluster: &Cluster, i: usize, state: BookieState) {
    let record = BookieRecord {
        address: cluster.addresses[i].to_string(),
        rack: None,
        state,
        last_heartbeat_ms: now_ms(),
        lease_ms: 3_600_000,
        capacity_bytes: 1 << 30,
        free_bytes: 1 << 29,
    };
    let id = format!("bookie-{i}");
    cluster
        .db
        .run(|tx, _| bookies::register(tx, &id, &record))
        .expect("register bookie");
}

/// Writes `entries` entries to a new ledger and closes it, unless `close` is false.
async fn write_ledger(client: &LedgerClient, entries: u64, close: bool) -> u64 {
    let writer = client.create(BTreeMap::new()).await.expect("create");
    let id = writer.ledger_id();
    let mut pending = Vec::new();
    for i in 0..entries {
        pending.push(writer.submit(payload(id, i)).await.expect("submit"));
    }
    for p in pending {
        p.await.expect("acknowledged");
    }
    if close {
        writer.close().await.expect("close");
    }
    id
}

fn metadata(cluster: &Cluster, ledger_id: u64) -> LedgerMetadata {
    cluster
        .db
        .run(|tx, _| ledgers::get(tx, ledger_id))
        .expect("read metadata")
        .expect("ledger exists")
        .value
}

fn mark(cluster: &Cluster, ledger_id: u64, bookie: &BookieId) {
    cluster
        .db
        .run(|tx, _| under_replicated::mark(tx, ledger_id, bookie.as_str(), now_ms()))
        .expect("mark");
}

/// Stops bookie `i` for good, registers it down, and marks `ids` as missing its copy
/// (as the auditor would). Returns its address.
async fn lose(cluster: &mut Cluster, i: usize, ids: &[u64]) -> BookieId {
    let lost = cluster.addresses[i].clone();
    cluster.stop(i).await;
    register(cluster, i, BookieState::Down);
    for id in ids {
        mark(cluster, *id, &lost);
    }
    lost
}

fn record(cluster: &Cluster, ledger_id: u64) -> Option<UnderReplicated> {
    cluster
        .db
        .run(|tx, _| under_replicated::get(tx, ledger_id))
        .expect("read queue")
}

fn queue_len(cluster: &Cluster) -> usize {
    cluster
        .db
        .run(|tx, _| under_replicated::list(tx, None, 1000))
        .expect("list queue")
        .len()
}

/// Every bookie the metadata names for an entry stores it: a plain `ReadEntry` to
/// each returns it with a good digest and the bytes that were written.
async fn assert_every_replica_stores(cluster: &Cluster, ledger_id: u64, entries: u64) {
    let meta = metadata(cluster, ledger_id);
    assert_eq!(meta.state, LedgerState::Closed);
    assert_eq!(meta.last_entry_id, entries.checked_sub(1));
    let pool = BookiePool::new(Duration::from_millis(500));
    for entry_id in 0..entries {
        let seg = meta.ensemble_for(entry_id).expect("a segment");
        let e = meta.ensemble_size as u64;
        for i in 0..meta.write_quorum as u64 {
            let bookie = BookieId::new(seg.bookies[((entry_id + i) % e) as usize].clone());
            let request = Request::ReadEntry(ReadEntry {
                ledger_id,
                target: ReadTarget::Entry(entry_id),
                fence: false,
                master_key: MasterKey::empty(),
                long_poll: None,
            });
            let answer = pool
                .call(&bookie, request, Duration::from_secs(2))
                .await
                .unwrap_or_else(|e| panic!("ledger {ledger_id} entry {entry_id} on {bookie}: {e}"));
            let Response::ReadEntry(r) = answer else {
                panic!("unexpected answer {answer:?}");
            };
            let entry = r
                .entry
                .filter(|_| r.status == Status::Ok)
                .unwrap_or_else(|| {
                    panic!(
                        "ledger {ledger_id} entry {entry_id} on {bookie}: {}",
                        r.status
                    )
                });
            entry.verify().expect("good digest");
            assert_eq!(entry.payload(), payload(ledger_id, entry_id));
        }
    }
}

/// The ledger's metadata names none of `gone`.
fn assert_names_none(cluster: &Cluster, ledger_id: u64, gone: &[&BookieId]) {
    let meta = metadata(cluster, ledger_id);
    for seg in &meta.segments {
        for b in &seg.bookies {
            assert!(
                !gone.iter().any(|g| g.as_str() == b),
                "ledger {ledger_id} still names {b}: {:?}",
                meta.segments
            );
        }
    }
}

/// Waits (at most 30 s) until every bookie the metadata names stores its whole part
/// of the ledger. With Qa = 2 of Qw = 3 an append, and so the close, may return
/// before the third copy landed; on a loaded machine it can land well after.
async fn wait_for_every_replica(cluster: &Cluster, ledger_id: u64) {
    let pool = BookiePool::new(Duration::from_millis(500));
    let started = Instant::now();
    while !replicas_complete(cluster, &pool, ledger_id).await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ledger {ledger_id}: the third copies did not land within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn read_all(client: &LedgerClient, ledger_id: u64, entries: u64) {
    let reader = client
        .open(ledger_id, OpenMode::NoRecover)
        .await
        .expect("open");
    let got = reader.read_range(0, entries - 1).await.expect("read back");
    for (i, p) in got.iter().enumerate() {
        assert_eq!(
            p,
            &payload(ledger_id, i as u64),
            "ledger {ledger_id} entry {i}"
        );
    }
}

/// A worker copying at about 30 kB/s (about 4 s for a 120-entry ledger: time to
/// change the cluster part-way), and its pass, started.
fn start_slow_pass(
    cluster: &Cluster,
    client: &LedgerClient,
) -> (
    Arc<ReplicationWorker>,
    tokio::task::JoinHandle<Result<folio_ledger::WorkerPass, folio_ledger::WorkerError>>,
) {
    let slow = Arc::new(ReplicationWorker::new(
        cluster.db.clone(),
        client.clone(),
        WorkerConfig {
            max_bytes_per_sec: 30_000,
            window_entries: 2,
            ..worker_config()
        },
        "slow".into(),
    ));
    let pass = tokio::spawn({
        let slow = slow.clone();
        async move { slow.run_once().await }
    });
    (slow, pass)
}

/// Claim: a lost bookie's position is taken by a replacement that holds every entry
/// of the position, and only then does the metadata name it; the ledger then survives
/// the loss of a second bookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaces_a_lost_bookie_and_survives_a_second_loss() {
    let mut cluster = Cluster::start(4).await;
    for i in 0..4 {
        register(&cluster, i, BookieState::ReadWrite);
    }
    let writer = client_on(&cluster, &[0, 1, 2]);
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(write_ledger(&writer, 30, true).await);
    }
    let lost = lose(&mut cluster, 0, &ids).await;

    let client = cluster.client(fast_config());
    let worker = ReplicationWorker::new(
        cluster.db.clone(),
        client.clone(),
        worker_config(),
        "w1".into(),
    );
    let pass = worker.run_once().await.expect("pass");
    assert_eq!((pass.claimed, pass.repaired, pass.failed), (4, 4, 0));
    assert_eq!(queue_len(&cluster), 0);
    let stats = worker.stats().snapshot();
    assert_eq!(stats.ledgers_repaired, 4);
    assert_eq!(
        stats.entries_copied,
        4 * 30,
        "E = Qw: a position holds every entry"
    );
    assert!(stats.bytes_copied > 4 * 30 * ENTRY_BYTES as u64);
    for id in &ids {
        assert_names_none(&cluster, *id, &[&lost]);
        assert_every_replica_stores(&cluster, *id, 30).await;
    }

    // A second bookie goes: every entry still reads back through the client.
    let second = metadata(&cluster, ids[0]).segments[0].bookies[0].clone();
    cluster.stop(cluster.index_of(&second)).await;
    for id in &ids {
        read_all(&client, *id, 30).await;
    }
}

/// Claim: two workers on one queue share the work without losing an entry; each
/// ledger is repaired once and the queue ends empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_race_on_one_queue() {
    let mut cluster = Cluster::start(4).await;
    for i in 0..4 {
        register(&cluster, i, BookieState::ReadWrite);
    }
    let writer = client_on(&cluster, &[0, 1, 2]);
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(write_ledger(&writer, 20, true).await);
    }
    let lost = lose(&mut cluster, 1, &ids).await;
    let client = cluster.client(fast_config());
    let make = |name: &str| {
        Arc::new(ReplicationWorker::new(
            cluster.db.clone(),
            client.clone(),
            worker_config(),
            name.into(),
        ))
    };
    let (a, b) = (make("a"), make("b"));
    let mut repaired = 0;
    let started = Instant::now();
    while queue_len(&cluster) > 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "queue drains");
        let (pa, pb) = tokio::join!(a.run_once(), b.run_once());
        let (pa, pb) = (pa.expect("pass a"), pb.expect("pass b"));
        assert_eq!(pa.failed + pb.failed, 0, "{pa:?} {pb:?}");
        repaired += pa.repaired + pb.repaired;
    }
    assert_eq!(repaired, 6, "each ledger repaired exactly once");
    assert_eq!(
        a.stats().snapshot().entries_copied + b.stats().snapshot().entries_copied,
        6 * 20
    );
    for id in &ids {
        assert_names_none(&cluster, *id, &[&lost]);
        assert_every_replica_stores(&cluster, *id, 20).await;
        read_all(&client, *id, 20).await;
    }
}

/// Claim: if the target fails mid-copy the attempt fails, the metadata still names
/// the old bookie, the marker stays with the error and a backoff, and a later pass
/// copies to another target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_lost_mid_copy_fails_the_pass_and_a_later_pass_uses_another() {
    let mut cluster = Cluster::start(5).await;
    for i in 0..5 {
        register(&cluster, i, BookieState::ReadWrite);
    }
    let writer = client_on(&cluster, &[0, 1, 2]);
    let id = write_ledger(&writer, 120, true).await;
    let before = metadata(&cluster, id);
    let lost = lose(&mut cluster, 0, &[id]).await;

    let client = cluster.client(fast_config());
    let (slow, pass) = start_slow_pass(&cluster, &client);
    // Wait until the copy is under way, and learn its target from the queue record.
    let started = Instant::now();
    let target = loop {
        assert!(started.elapsed() < Duration::from_secs(20), "copy starts");
        if let Some(r) = record(&cluster, id)
            && r.entries_copied >= 5
            && let Some(to) = r.copying_to
        {
            assert_eq!(r.entries_total, 120);
            break to;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The attempt fails after this instant, so its backoff ends after it too.
    let stopping_ms = now_ms();
    cluster.stop(cluster.index_of(&target)).await;
    let pass = pass.await.expect("pass task").expect("pass");
    assert_eq!((pass.claimed, pass.repaired, pass.failed), (1, 0, 1));
    assert_eq!(metadata(&cluster, id), before, "metadata untouched");
    let r = record(&cluster, id).expect("marker stays");
    assert_eq!(r.attempts, 1);
    assert!(r.last_error.is_some());
    assert!(r.next_attempt_ms > stopping_ms, "{r:?}");
    assert_eq!(r.claim, None);
    assert!(r.entries_copied < 120, "{r:?}");
    assert_eq!(slow.stats().snapshot().failures, 1);

    // A later pass (after the backoff) picks the other spare.
    let worker = ReplicationWorker::new(
        cluster.db.clone(),
        client.clone(),
        worker_config(),
        "w2".into(),
    );
    let started = Instant::now();
    let repaired = loop {
        assert!(started.elapsed() < Duration::from_secs(20), "retried");
        let pass = worker.run_once().await.expect("pass");
        if pass.claimed > 0 {
            break pass.repaired;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(repaired, 1);
    assert_eq!(record(&cluster, id), None);
    let target = BookieId::new(target);
    assert_names_none(&cluster, id, &[&lost, &target]);
    assert_every_replica_stores(&cluster, id, 120).await;
}

/// Claim: a lost bookie that comes back while its ledger is being copied elsewhere
/// changes nothing unsafe: the copy finishes, the metadata names only bookies that
/// hold every entry, and the ledger survives the loss of another replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_bookie_returning_mid_copy_leaves_consistent_metadata() {
    let mut cluster = Cluster::start(4).await;
    for i in 0..4 {
        register(&cluster, i, BookieState::ReadWrite);
    }
    let writer = client_on(&cluster, &[0, 1, 2]);
    let id = write_ledger(&writer, 120, true).await;
    lose(&mut cluster, 0, &[id]).await;

    let client = cluster.client(fast_config());
    let (slow, pass) = start_slow_pass(&cluster, &client);
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(20), "copy starts");
        if record(&cluster, id).is_some_and(|r| r.entries_copied >= 5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The lost bookie returns (with its copy) and heartbeats again.
    cluster.restart(0).await;
    register(&cluster, 0, BookieState::ReadWrite);
    let pass = pass.await.expect("pass task").expect("pass");
    assert_eq!(pass.failed, 0, "{pass:?}");

    // Drain whatever is left (a failed or deferred attempt is retried).
    let started = Instant::now();
    while queue_len(&cluster) > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "queue drains");
        slow.run_once().await.expect("pass");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let meta = metadata(&cluster, id);
    assert_eq!(meta.state, LedgerState::Closed);
    assert_every_replica_stores(&cluster, id, 120).await;
    read_all(&client, id, 120).await;
    // Any one named replica may go now.
    let named = meta.segments[0].bookies[1].clone();
    cluster.stop(cluster.index_of(&named)).await;
    read_all(&client, id, 120).await;
}

/// Claim: an OPEN ledger is left alone during its grace period (its writer may still
/// write); after it the worker fences and recovers it, then re-replicates it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_ledger_is_recovered_after_the_grace_period() {
    let mut cluster = Cluster::start(4).await;
    for i in 0..4 {
        register(&cluster, i, BookieState::ReadWrite);
    }
    let writer = client_on(&cluster, &[0, 1, 2]);
    let id = write_ledger(&writer, 25, false).await;
    assert_eq!(metadata(&cluster, id).state, LedgerState::Open);
    let lost = lose(&mut cluster, 2, &[id]).await;

    let client = cluster.client(fast_config());
    // The grace period counts from the mark. It is long enough for the two passes
    // below to run inside it even on a loaded machine.
    let grace = Duration::from_secs(3);
    let worker = ReplicationWorker::new(
        cluster.db.clone(),
        client.clone(),
        WorkerConfig {
            open_ledger_grace: grace,
            ..worker_config()
        },
        "w1".into(),
    );
    let pass = worker.run_once().await.expect("pass");
    assert_eq!((pass.claimed, pass.deferred), (1, 1));
    assert_eq!(
        metadata(&cluster, id).state,
        LedgerState::Open,
        "writer left alone"
    );
    let r = record(&cluster, id).expect("still queued");
    assert_eq!((r.claim, r.attempts), (None, 0));
    // Not due again before the grace period ends.
    assert_eq!(worker.run_once().await.expect("pass").claimed, 0);

    // Wait until the grace period is over (by the namespace's clock), then a pass
    // recovers and repairs it.
    let due_ms = r.since_ms + grace.as_millis() as u64;
    while now_ms() <= due_ms {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pass = worker.run_once().await.expect("pass");
    assert_eq!((pass.claimed, pass.repaired), (1, 1), "{pass:?}");
    assert_eq!(record(&cluster, id), None);
    assert_names_none(&cluster, id, &[&lost]);
    assert_every_replica_stores(&cluster, id, 25).await;
    drop(writer);
}

/// Claim: a live bookie that dropped a ledger is repaired; the bookie refuses adds to
/// a ledger it deleted (until it restarts), so its position goes to a replacement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_bookie_that_deleted_the_ledger_is_replaced() {
    let cluster = Cluster::start(4).await;
    for i in 0..4 {
        register(&cluster, i, BookieState::ReadWrite);
    }
    let writer = client_on(&cluster, &[0, 1, 2]);
    let id = write_ledger(&writer, 15, true).await;
    let victim = cluster.addresses[1].clone();
    let pool = BookiePool::new(Duration::from_millis(500));
    let answer = pool
        .call(
            &victim,
            Request::DeleteLedger(DeleteLedger { ledger_id: id }),
            Duration::from_secs(2),
        )
        .await
        .expect("delete");
    assert_eq!(answer.status(), Status::Ok);
    mark(&cluster, id, &victim);

    let client = cluster.client(fast_config());
    let worker = ReplicationWorker::new(
        cluster.db.clone(),
        client.clone(),
        worker_config(),
        "w1".into(),
    );
    let pass = worker.run_once().await.expect("pass");
    assert_eq!((pass.repaired, pass.failed), (1, 0), "{pass:?}");
    assert_names_none(&cluster, id, &[&victim]);
    assert_every_replica_stores(&cluster, id, 15).await;
    assert_eq!(queue_len(&cluster), 0);
}

/// Claim: a live bookie that still holds the ledger is repaired in place: it keeps its
/// position, the metadata does not change, and nothing needs copying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_bookie_is_repaired_in_place() {
    let cluster = Cluster::start(4).await;
    for i in 0..4 {
        register(&cluster, i, BookieState::ReadWrite);
    }
    let writer = client_on(&cluster, &[0, 1, 2]);
    let id = write_ledger(&writer, 15, true).await;
    // Bookie 2 holds the whole ledger before it is marked (else it is rightly
    // repaired by copying what had not landed yet).
    wait_for_every_replica(&cluster, id).await;
    let before = metadata(&cluster, id);
    mark(&cluster, id, &cluster.addresses[2]);
    let client = cluster.client(fast_config());
    let worker = ReplicationWorker::new(
        cluster.db.clone(),
        client.clone(),
        worker_config(),
        "w1".into(),
    );
    let pass = worker.run_once().await.expect("pass");
    assert_eq!((pass.repaired, pass.failed), (1, 0), "{pass:?}");
    assert_eq!(metadata(&cluster, id), before, "metadata unchanged");
    assert_eq!(worker.stats().snapshot().entries_copied, 0);
    assert_every_replica_stores(&cluster, id, 15).await;
    assert_eq!(queue_len(&cluster), 0);
}

/// Claim: a worker whose lease ran out loses the ledger to another worker; it notices
/// before touching the metadata, which changes once, to a bookie holding the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_lease_ran_out_does_not_change_the_metadata() {
    let mut cluster = Cluster::start(4).await;
    for i in 0..4 {
        register(&cluster, i, BookieState::ReadWrite);
    }
    let writer = client_on(&cluster, &[0, 1, 2]);
    let id = write_ledger(&writer, 40, true).await;
    let lost = lose(&mut cluster, 0, &[id]).await;
    let client = cluster.client(fast_config());
    let stale = Arc::new(ReplicationWorker::new(
        cluster.db.clone(),
        client.clone(),
        WorkerConfig {
            lease: Duration::from_millis(300),
            // Renews only when it starts and ends a copy.
            progress_interval: Duration::from_secs(600),
            // About 4 s for the 40 kB: the fresh worker below takes the ledger
            // over long before the stale one could finish, even on a loaded machine.
            max_bytes_per_sec: 10_000,
            window_entries: 1,
            ..worker_config()
        },
        "stale".into(),
    ));
    let stale_pass = tokio::spawn({
        let stale = stale.clone();
        async move { stale.run_once().await }
    });
    let started = Instant::now();
    while record(&cluster, id).and_then(|r| r.copying_to).is_none() {
        assert!(started.elapsed() < Duration::from_secs(20), "copy starts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fresh = ReplicationWorker::new(
        cluster.db.clone(),
        client.clone(),
        worker_config(),
        "fresh".into(),
    );
    let pass = fresh.run_once().await.expect("pass");
    assert_eq!((pass.claimed, pass.repaired), (1, 1), "{pass:?}");
    let after_fresh = cluster
        .db
        .run(|tx, _| ledgers::get(tx, id))
        .expect("read")
        .expect("exists");
    let stale_pass = stale_pass.await.expect("task").expect("pass");
    assert_eq!((stale_pass.repaired, stale_pass.failed), (0, 1));
    let now = cluster
        .db
        .run(|tx, _| ledgers::get(tx, id))
        .expect("read")
        .expect("exists");
    assert_eq!(now, after_fresh, "the stale worker changed nothing");
    assert_eq!(queue_len(&cluster), 0);
    assert_names_none(&cluster, id, &[&lost]);
    assert_every_replica_stores(&cluster, id, 40).await;
}

/// Writes a closed ledger by hand: its metadata names bookies `on` (E=3 Qw=3 Qa=2),
/// every entry goes to each of them, except that `partial` gets only the entries
/// below `partial_upto` (a live bookie that missed some entries).
async fn hand_written_ledger(
    cluster: &Cluster,
    ledger_id: u64,
    entries: u64,
    on: [usize; 3],
    partial: usize,
    partial_upto: u64,
) {
    let meta = LedgerMetadata {
        ensemble_size: 3,
        write_quorum: 3,
        ack_quorum: 2,
        state: LedgerState::Closed,
        last_entry_id: entries.checked_sub(1),
        length_bytes: entries * ENTRY_BYTES as u64,
        ctime_ms: now_ms(),
        digest: ledgers::DigestType::Crc32c,
        segments: vec![ledgers::EnsembleSegment {
            first_entry_id: 0,
            bookies: on
                .iter()
                .map(|i| cluster.addresses[*i].to_string())
                .collect(),
        }],
        custom: BTreeMap::new(),
    };
    cluster
        .db
        .run(|tx, _| ledgers::create(tx, ledger_id, &meta, folio_namespace::OpId::random()))
        .expect("create metadata");
    let pool = BookiePool::new(Duration::from_millis(500));
    for entry_id in 0..entries {
        let entry = Entry::new(
            EntryHeader {
                ledger_id,
                entry_id,
                lac: entry_id as i64 - 1,
                length: (entry_id + 1) * ENTRY_BYTES as u64,
            },
            &payload(ledger_id, entry_id),
        );
        for i in on {
            if i == partial && entry_id >= partial_upto {
                continue;
            }
            let request = Request::AddEntry(AddEntry {
                master_key: MasterKey::empty(),
                recovery: false,
                entry: entry.clone(),
            });
            let answer = pool
                .call(&cluster.addresses[i], request, Duration::from_secs(2))
                .await
                .expect("add");
            assert_eq!(answer.status(), Status::Ok);
        }
    }
}

/// Claim: a live bookie that lacks some entries is repaired in place, with exactly the
/// entries its `GetLedgerEntries` answer does not list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_bookie_missing_entries_gets_exactly_those() {
    let cluster = Cluster::start(4).await;
    for i in 0..4 {
        register(&cluster, i, BookieState::ReadWrite);
    }
    let id = 4242;
    hand_written_ledger(&cluster, id, 20, [0, 1, 2], 2, 12).await;
    let before = metadata(&cluster, id);
    mark(&cluster, id, &cluster.addresses[2]);
    let worker = ReplicationWorker::new(
        cluster.db.clone(),
        cluster.client(fast_config()),
        worker_config(),
        "w1".into(),
    );
    let pass = worker.run_once().await.expect("pass");
    assert_eq!((pass.repaired, pass.failed), (1, 0), "{pass:?}");
    assert_eq!(
        worker.stats().snapshot().entries_copied,
        8,
        "entries 12..=19"
    );
    assert_eq!(metadata(&cluster, id), before, "repaired in place");
    assert_every_replica_stores(&cluster, id, 20).await;
    assert_eq!(queue_len(&cluster), 0);
}

/// Flips one payload byte of the stored copy of (ledger, entry) in the entry logs of
/// a bookie's data directory (docs/format.md §Entry logs).
fn flip_stored_byte(data_dir: &Path, ledger_id: u64, entry_id: u64) {
    let found = folio_bookie::fault::corrupt_stored_entry(data_dir, ledger_id, entry_id)
        .expect("read the entry logs");
    assert!(
        found,
        "entry {ledger_id}/{entry_id} not found in any entry log"
    );
}

async fn scrub_report(pool: &BookiePool, bookie: &BookieId) -> ScrubReportResponse {
    match pool
        .call(bookie, Request::GetScrubReport, Duration::from_secs(2))
        .await
        .expect("report")
    {
        Response::GetScrubReport(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

/// Claim: a copy the scrubber found corrupt is re-added in place from a healthy
/// replica, and only that entry is copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_copy_is_repaired_in_place() {
    // Bookies of our own, to reach one's data directory and checkpoint it.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut handles = Vec::new();
    let mut candidates = Vec::new();
    for i in 0..3 {
        let mut config = BookieConfig::new(
            dir.path().join(format!("bookie-{i}")),
            "127.0.0.1:0".parse().expect("address"),
        );
        config.bookie_id = format!("bookie-{i}");
        config.scrub_interval = Duration::ZERO;
        let handle = Bookie::start(config).await.expect("bookie starts");
        candidates.push(Candidate {
            id: BookieId::new(handle.local_addr().to_string()),
            rack: None,
        });
        handles.push(handle);
    }
    let store = EmbeddedStore::open(dir.path().join("ns"), EmbeddedOptions::default())
        .expect("namespace opens");
    let db = Db::new(Arc::new(store));
    for (i, c) in candidates.iter().enumerate() {
        let record = BookieRecord {
            address: c.id.to_string(),
            rack: None,
            state: BookieState::ReadWrite,
            last_heartbeat_ms: now_ms(),
            lease_ms: 3_600_000,
            capacity_bytes: 1 << 30,
            free_bytes: 1 << 29,
        };
        db.run(|tx, _| bookies::register(tx, &format!("bookie-{i}"), &record))
            .expect("register");
    }
    let client = LedgerClient::new(
        db.clone(),
        BookieSource::Static(candidates.clone()),
        fast_config(),
    );
    let id = write_ledger(&client, 10, true).await;
    let victim = &candidates[1].id;
    let pool = BookiePool::new(Duration::from_millis(500));
    // Qa = 2: the close may come before the third copy landed. Wait until the victim
    // stores every entry, so that the checkpoint puts them all in its entry log.
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "third copy lands"
        );
        let request = Request::GetLedgerEntries(GetLedgerEntries { ledger_id: id });
        let answer = pool
            .call(victim, request, Duration::from_secs(2))
            .await
            .expect("inventory");
        if matches!(&answer, Response::GetLedgerEntries(r) if r.ranges == vec![(0, 9)]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handles[1].checkpoint().await.expect("checkpoint");
    flip_stored_byte(&dir.path().join("bookie-1"), id, 4);
    let before = scrub_report(&pool, victim).await.passes_completed;
    pool.call(victim, Request::Scrub, Duration::from_secs(2))
        .await
        .expect("scrub");
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "scrub pass ends"
        );
        let r = scrub_report(&pool, victim).await;
        if r.passes_completed > before {
            assert_eq!(r.corrupt, vec![(id, 4)]);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    db.run(|tx, _| under_replicated::mark(tx, id, victim.as_str(), now_ms()))
        .expect("mark");
    let before = db
        .run(|tx, _| ledgers::get(tx, id))
        .expect("read")
        .expect("exists");
    let worker = ReplicationWorker::new(db.clone(), client.clone(), worker_config(), "w1".into());
    let pass = worker.run_once().await.expect("pass");
    assert_eq!((pass.repaired, pass.failed), (1, 0), "{pass:?}");
    assert_eq!(
        worker.stats().snapshot().entries_copied,
        1,
        "only the corrupt entry"
    );
    let after = db
        .run(|tx, _| ledgers::get(tx, id))
        .expect("read")
        .expect("exists");
    assert_eq!(after, before, "repaired in place");
    assert!(scrub_report(&pool, victim).await.corrupt.is_empty());
    for entry_id in 0..10 {
        let request = Request::ReadEntry(ReadEntry {
            ledger_id: id,
            target: ReadTarget::Entry(entry_id),
            fence: false,
            master_key: MasterKey::empty(),
            long_poll: None,
        });
        match pool
            .call(victim, request, Duration::from_secs(2))
            .await
            .expect("read")
        {
            Response::ReadEntry(r) => {
                let entry = r.entry.expect("stored");
                entry.verify().expect("good digest");
                assert_eq!(entry.payload(), payload(id, entry_id));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for h in handles {
        h.shutdown().await.expect("bookie shuts down");
    }
}

/// `run` drains the queue on its own and stops when told to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_drains_the_queue_and_stops_on_shutdown() {
    let mut cluster = Cluster::start(4).await;
    for i in 0..4 {
        register(&cluster, i, BookieState::ReadWrite);
    }
    let writer = client_on(&cluster, &[0, 1, 2]);
    let id = write_ledger(&writer, 10, true).await;
    let lost = lose(&mut cluster, 1, &[]).await;
    let worker = ReplicationWorker::new(
        cluster.db.clone(),
        cluster.client(fast_config()),
        worker_config(),
        "w1".into(),
    );
    let stats = worker.stats();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(shutdown));
    // Marked after the worker started: it finds the ledger on a later poll.
    tokio::time::sleep(Duration::from_millis(100)).await;
    mark(&cluster, id, &lost);
    // The worker counts a repair just after the transaction that empties the queue:
    // wait for both.
    let started = Instant::now();
    while queue_len(&cluster) > 0 || stats.snapshot().ledgers_repaired == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "queue drains");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.snapshot().ledgers_repaired, 1);
    assert_names_none(&cluster, id, &[&lost]);
    assert_every_replica_stores(&cluster, id, 10).await;
    stop.send(true).expect("worker listens");
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("worker stops")
        .expect("worker task");
}

/// Whether every bookie the metadata names holds every entry its position must (E =
/// Qw here, so every entry of its segment), by `GetLedgerEntries`; `false` on any
/// doubt (a bookie that does not answer).
async fn replicas_complete(cluster: &Cluster, pool: &BookiePool, ledger_id: u64) -> bool {
    let meta = metadata(cluster, ledger_id);
    let Some(last) = meta.last_entry_id else {
        return true;
    };
    for (i, seg) in meta.segments.iter().enumerate() {
        let first = seg.first_entry_id;
        let end = meta
            .segments
            .get(i + 1)
            .map_or(last, |next| next.first_entry_id.saturating_sub(1));
        if first > end {
            continue;
        }
        for bookie in &seg.bookies {
            let request = Request::GetLedgerEntries(GetLedgerEntries { ledger_id });
            let held = match pool
                .call(
                    &BookieId::new(bookie.clone()),
                    request,
                    Duration::from_secs(1),
                )
                .await
            {
                Ok(Response::GetLedgerEntries(r)) if r.status == Status::Ok => r.ranges,
                _ => return false,
            };
            if !held.iter().any(|(a, b)| *a <= first && end <= *b) {
                return false;
            }
        }
    }
    true
}

/// Prints the seed of a failing race run and the command that replays it.
struct SeedGuard(u64);

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "race seed {} failed; replay: FOLIO_AR_SEED_BASE={} FOLIO_AR_SEEDS=1 cargo test -p folio-ledger --test replication seeded_races_of_auditor",
                self.0, self.0
            );
        }
    }
}

/// One seeded race: a prober, an auditor and two workers run their real loops over
/// five real bookies while bookies stop and come back at moments drawn from `seed`
/// (at most one down at a time, for long enough to be replaced or not).
async fn race(seed: u64) -> u64 {
    use folio_ledger::autorecovery::{Auditor, AuditorConfig, BookieProber, ProberConfig};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    let _guard = SeedGuard(seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cluster = Cluster::start(5).await;
    let client = cluster.client(fast_config());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let prober = BookieProber::new(
        cluster.db.clone(),
        client.clone(),
        ProberConfig {
            interval: Duration::from_millis(100),
            lease_intervals: 3,
            probe_timeout: Duration::from_millis(100),
        },
    );
    prober.probe_once().await.expect("first probe");
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(write_ledger(&client, 15, true).await);
    }
    let mut tasks = vec![tokio::spawn(prober.run(stopped.clone()))];
    let auditor = Arc::new(Auditor::new(
        cluster.db.clone(),
        client.clone(),
        AuditorConfig {
            tick: Duration::from_millis(100),
            lease: Duration::from_secs(2),
            lost_bookie_recovery_delay: Duration::from_millis(300),
            check_interval: Duration::from_millis(500),
            orphan_scan_interval: Duration::from_secs(3600),
            scan_pause: Duration::ZERO,
            bookie_request_pause: Duration::ZERO,
            ..AuditorConfig::default()
        },
        "auditor".into(),
    ));
    tasks.push(tokio::spawn(auditor.run(stopped.clone())));
    let mut stats = Vec::new();
    for name in ["a", "b"] {
        let worker = ReplicationWorker::new(
            cluster.db.clone(),
            client.clone(),
            worker_config(),
            name.into(),
        );
        stats.push(worker.stats());
        tasks.push(tokio::spawn(worker.run(stopped.clone())));
    }

    for _ in 0..4 {
        let victim = rng.random_range(0..5);
        cluster.stop(victim).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..1500))).await;
        cluster.restart(victim).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..500))).await;
    }

    // With every bookie back, the queue drains and every named replica is complete.
    let pool = BookiePool::new(Duration::from_millis(500));
    let started = Instant::now();
    loop {
        let mut done = queue_len(&cluster) == 0;
        for id in &ids {
            done = done && replicas_complete(&cluster, &pool, *id).await;
        }
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "seed {seed}: not repaired within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    for task in tasks {
        task.await.expect("task");
    }
    for id in &ids {
        assert_every_replica_stores(&cluster, *id, 15).await;
        read_all(&client, *id, 15).await;
    }
    stats.iter().map(|s| s.snapshot().ledgers_repaired).sum()
}

/// Claim (R1–R7 together): seeded races of the auditor, two workers and bookies
/// that stop and come back never lose an entry and never leave metadata naming a
/// bookie without the data. `FOLIO_AR_SEEDS` (default 3) runs, from
/// `FOLIO_AR_SEED_BASE` (default 0); a failure prints its seed and replay command.
/// The schedule is seeded; the bookies and tasks are real, so the interleavings
/// within it also depend on timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_races_of_auditor_workers_and_returning_bookies() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let base = env("FOLIO_AR_SEED_BASE", 0);
    let mut repaired = 0;
    for seed in base..base + env("FOLIO_AR_SEEDS", 3) {
        repaired += race(seed).await;
    }
    assert!(
        repaired > 0,
        "the schedules lost a bookie long enough to repair"
    );
}
