//! The auditor, the bookie prober and decommissioning, against real bookies over TCP
//! and a real embedded namespace (`docs/protocol.md`, "Auto-recovery: the auditor").

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use folio_bookie::{Bookie, BookieConfig};
use folio_ledger::autorecovery::{Auditor, AuditorConfig, BookieProber, ProberConfig};
use folio_ledger::{
    AuditError, BookieId, BookiePool, BookieSource, Candidate, LedgerClient, OpenMode, QuorumConfig,
};
use folio_namespace::bookies::{self, BookieState};
use folio_namespace::{Db, EmbeddedOptions, EmbeddedStore, leases, ledgers, under_replicated};
use folio_proto::{DeleteLedger, GetLedgerEntries, Request, Response, Status};

mod common;

use common::{Cluster, fast_config};

/// Registry leases of 2 × 100 ms: the lease a bookie about to be stopped gets from
/// its last heartbeat, so that it lapses quickly. (A stopped bookie refuses the
/// connection at once, so the generous probe timeout costs nothing; it only keeps a
/// live bookie that answers slowly on a loaded machine from counting as unreachable.)
fn prober_config() -> ProberConfig {
    ProberConfig {
        interval: Duration::from_millis(100),
        lease_intervals: 2,
        probe_timeout: Duration::from_secs(10),
    }
}

/// Registry leases of 300 × 100 ms, for the bookies that stay up. With 200 ms leases
/// a slow tick on a loaded machine (a late timer, a slow namespace fsync between
/// the heartbeat and the check) lets a live bookie lapse to DOWN, and then be
/// counted lost next to the stopped one; 30 s leases never lapse within a test. A
/// stopped bookie is not heartbeated by any prober, so it keeps the short lease of
/// its last heartbeat from [`prober_config`].
fn steady_prober_config() -> ProberConfig {
    ProberConfig {
        lease_intervals: 300,
        ..prober_config()
    }
}

const LOST_DELAY: Duration = Duration::from_millis(600);

fn auditor_config() -> AuditorConfig {
    AuditorConfig {
        tick: Duration::from_millis(100),
        lease: Duration::from_millis(800),
        lost_bookie_recovery_delay: LOST_DELAY,
        check_interval: Duration::from_secs(3600),
        orphan_scan_interval: Duration::from_secs(3600),
        scan_page: 2,
        scan_pause: Duration::from_millis(1),
        bookie_request_pause: Duration::from_millis(1),
        orphan_page: 3,
    }
}

/// Writes and closes `n` ledgers of E = Qw = Qa = 2 over the cluster's 3 bookies;
/// returns each ledger's ensemble.
async fn write_ledgers(db: &Db, client: &LedgerClient, n: usize) -> BTreeMap<u64, Vec<String>> {
    let quorum = QuorumConfig::new(2, 2, 2).expect("quorum");
    let mut out = BTreeMap::new();
    for i in 0..n {
        let writer = client
            .create_with(quorum, BTreeMap::new())
            .await
            .expect("create");
        for e in 0..3u8 {
            writer
                .append(Bytes::from(vec![e; 100 + i]))
                .await
                .expect("append");
        }
        let id = writer.ledger_id();
        writer.close().await.expect("close");
        out.insert(id, ensemble(db, id).await);
    }
    out
}

async fn ensemble(db: &Db, id: u64) -> Vec<String> {
    let meta = db
        .transact(move |tx, _| ledgers::get(tx, id))
        .await
        .expect("get")
        .expect("exists");
    meta.value
        .segments
        .into_iter()
        .flat_map(|s| s.bookies)
        .collect()
}

/// The index of a bookie that holds some of `ledgers`, to be stopped. Placement is
/// random: a fixed index holds none of a few E=2-of-3 ledgers now and then (with
/// uniform placement, 1 run in 81 for four ledgers), and then nothing is ever
/// marked.
fn a_bookie_with_ledgers(cluster: &Cluster, ledgers: &BTreeMap<u64, Vec<String>>) -> usize {
    let (_, ensemble) = ledgers.iter().next().expect("a ledger");
    cluster.index_of(&ensemble[0])
}

/// The under-replication queue as ledger → missing bookies.
async fn queue(db: &Db) -> BTreeMap<u64, Vec<String>> {
    db.transact(|tx, _| under_replicated::list(tx, None, 10_000))
        .await
        .expect("list")
        .into_iter()
        .map(|(id, r)| (id, r.missing_bookies))
        .collect()
}

fn on(ledgers: &BTreeMap<u64, Vec<String>>, address: &str) -> BTreeMap<u64, Vec<String>> {
    ledgers
        .iter()
        .filter(|(_, e)| e.iter().any(|b| b == address))
        .map(|(&id, _)| (id, vec![address.to_owned()]))
        .collect()
}

async fn state_of(db: &Db, address: &str) -> BookieState {
    let id = address.to_owned();
    let record = db
        .transact(move |tx, _| bookies::get(tx, &id))
        .await
        .expect("get")
        .expect("registered");
    record.effective_state(unix_ms())
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// The prober heartbeats a bookie that answers as read-write, and a bookie that stops
/// answering lapses to DOWN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prober_marks_a_dead_bookie_down_and_a_live_one_rw() {
    let mut cluster = Cluster::start(2).await;
    let client = cluster.client(fast_config());
    let prober = BookieProber::new(cluster.db.clone(), client.clone(), prober_config());
    let report = prober.probe_once().await.expect("probe");
    assert_eq!(report.alive.len(), 2);
    let (a, b) = (cluster.addresses[0].clone(), cluster.addresses[1].clone());
    // Both registered read-write. (The record as written: its 200 ms lease may have
    // lapsed by now on a loaded machine.)
    for address in [&a, &b] {
        let id = address.as_str().to_owned();
        let record = cluster
            .db
            .transact(move |tx, _| bookies::get(tx, &id))
            .await
            .expect("get")
            .expect("registered");
        assert_eq!(
            (record.state, record.lease_ms),
            (BookieState::ReadWrite, 200)
        );
    }
    cluster.stop(1).await;
    // From now on a keeps being heartbeated (with long leases); b is not.
    let steady = BookieProber::new(cluster.db.clone(), client.clone(), steady_prober_config());
    let started = Instant::now();
    loop {
        let report = steady.probe_once().await.expect("probe");
        assert_eq!(report.alive, std::slice::from_ref(&a));
        assert_eq!(report.unreachable, std::slice::from_ref(&b));
        if state_of(&cluster.db, b.as_str()).await == BookieState::Down {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "lease never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        state_of(&cluster.db, a.as_str()).await,
        BookieState::ReadWrite
    );
}

/// Only the lease holder audits; a second auditor marks nothing while the first
/// holds the lease; once deposed, the first cannot write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_marks_and_a_deposed_auditor_cannot_write() {
    let mut cluster = Cluster::start(3).await;
    let client = cluster.client(fast_config());
    let ledgers = write_ledgers(&cluster.db, &client, 4).await;
    let prober = BookieProber::new(cluster.db.clone(), client.clone(), prober_config());
    prober.probe_once().await.expect("probe");
    // A 5 s auditor lease: b must never find it lapsed while a renews it every loop
    // turn, however slow a turn is on a loaded machine.
    let config = AuditorConfig {
        lease: Duration::from_secs(5),
        ..auditor_config()
    };
    let a = Auditor::new(cluster.db.clone(), client.clone(), config, "a".into());
    let b = Auditor::new(cluster.db.clone(), client.clone(), config, "b".into());
    let ra = a.audit_once().await.expect("audit a");
    assert!(ra.leader);
    assert_eq!(ra.epoch, 1);
    let rb = b.audit_once().await.expect("audit b");
    assert!(!rb.leader);

    let victim = a_bookie_with_ledgers(&cluster, &ledgers);
    cluster.stop(victim).await;
    let lost = cluster.addresses[victim].as_str().to_owned();
    // The live bookies keep heartbeating, with leases that cannot lapse meanwhile.
    let steady = BookieProber::new(cluster.db.clone(), client.clone(), steady_prober_config());
    let started = Instant::now();
    loop {
        steady.probe_once().await.expect("probe");
        let rb = b.audit_once().await.expect("audit b");
        assert!(!rb.leader, "b never holds the lease while a renews it");
        assert_eq!(rb.ledgers_marked, 0);
        let ra = a.audit_once().await.expect("audit a");
        if ra.ledgers_marked > 0 {
            assert_eq!(ra.lost_bookies, std::slice::from_ref(&lost));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never marked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let marked = queue(&cluster.db).await;
    assert_eq!(marked, on(&ledgers, &lost));
    assert_eq!(b.counters().ledgers_marked, 0);
    assert_eq!(a.counters().bookies_lost, 1);

    // a stops renewing; its lease lapses and b takes over with a higher epoch.
    tokio::time::sleep(config.lease + Duration::from_millis(100)).await;
    let rb = b.audit_once().await.expect("audit b");
    assert!(rb.leader);
    assert_eq!(rb.epoch, 2);
    // a still believes it holds epoch 1: its write is fenced and changes nothing.
    // (Its queue record, if any, names only the lost bookie, never a live one.)
    let unmarked = *ledgers.keys().next().expect("a ledger");
    let live = cluster.addresses[(victim + 1) % 3].as_str().to_owned();
    let err = a.mark(unmarked, &live).await.expect_err("deposed");
    assert!(
        matches!(err, AuditError::LeaseLost { epoch: 1, .. }),
        "{err}"
    );
    assert_eq!(queue(&cluster.db).await, marked);
    // b, the holder, can.
    assert!(b.mark(unmarked, &live).await.expect("holder marks"));
}

/// A stopped bookie is lost only after its registry lease and the recovery delay;
/// then exactly its ledgers are queued, missing exactly it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_bookie_is_lost_only_after_the_delay() {
    let mut cluster = Cluster::start(3).await;
    let client = cluster.client(fast_config());
    let ledgers = write_ledgers(&cluster.db, &client, 8).await;
    let prober = BookieProber::new(cluster.db.clone(), client.clone(), prober_config());
    // The registry's heartbeat is taken after this instant.
    let last_heartbeat = Instant::now();
    prober.probe_once().await.expect("probe");
    let auditor = Auditor::new(
        cluster.db.clone(),
        client.clone(),
        auditor_config(),
        "a".into(),
    );
    assert_eq!(auditor.audit_once().await.expect("audit").ledgers_marked, 0);

    let victim = a_bookie_with_ledgers(&cluster, &ledgers);
    let lost = cluster.addresses[victim].as_str().to_owned();
    cluster.stop(victim).await;
    let lease = prober_config().interval * prober_config().lease_intervals;
    // The live bookies keep heartbeating, with leases that cannot lapse meanwhile.
    let steady = BookieProber::new(cluster.db.clone(), client.clone(), steady_prober_config());
    loop {
        steady.probe_once().await.expect("probe");
        let report = auditor.audit_once().await.expect("audit");
        if report.ledgers_marked > 0 {
            // (Registry times are whole milliseconds.)
            assert!(
                last_heartbeat.elapsed() + Duration::from_millis(2) >= lease + LOST_DELAY,
                "marked after {:?}, before lease + delay",
                last_heartbeat.elapsed()
            );
            break;
        }
        assert!(queue(&cluster.db).await.is_empty());
        assert!(
            last_heartbeat.elapsed() < Duration::from_secs(30),
            "never marked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let want = on(&ledgers, &lost);
    assert!(!want.is_empty());
    assert_eq!(queue(&cluster.db).await, want);
    // Further ticks rescan nothing and mark nothing new.
    let again = auditor.audit_once().await.expect("audit");
    assert_eq!((again.ledgers_marked, again.lost_bookies.len()), (0, 0));
    assert_eq!(auditor.counters().ledgers_marked, want.len() as u64);
}

/// A newly elected auditor gives a bookie that has been down for a long time (say,
/// the whole cluster was stopped) the full delay to heartbeat again, counted from the
/// start of its term, before it marks that bookie's ledgers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_auditor_waits_the_delay_even_for_a_long_dead_bookie() {
    let mut cluster = Cluster::start(3).await;
    let client = cluster.client(fast_config());
    let ledgers = write_ledgers(&cluster.db, &client, 6).await;
    let prober = BookieProber::new(cluster.db.clone(), client.clone(), prober_config());
    prober.probe_once().await.expect("probe");
    let victim = a_bookie_with_ledgers(&cluster, &ledgers);
    let lost = cluster.addresses[victim].as_str().to_owned();
    cluster.stop(victim).await;
    // Its registry lease lapses long before any auditor runs.
    let lease = prober_config().interval * prober_config().lease_intervals;
    tokio::time::sleep(lease + LOST_DELAY * 2).await;
    // The live bookies heartbeat again, from now on with leases that cannot lapse
    // while the test runs: with 200 ms leases a slow tick would find them lost
    // alongside the victim.
    let steady = BookieProber::new(cluster.db.clone(), client.clone(), steady_prober_config());
    steady.probe_once().await.expect("probe");
    assert_eq!(state_of(&cluster.db, &lost).await, BookieState::Down);

    let auditor = Auditor::new(
        cluster.db.clone(),
        client.clone(),
        auditor_config(),
        "late".into(),
    );
    let term = Instant::now();
    loop {
        steady.probe_once().await.expect("probe");
        let report = auditor.audit_once().await.expect("audit");
        if report.ledgers_marked > 0 {
            assert!(
                term.elapsed() + Duration::from_millis(2) >= LOST_DELAY,
                "marked {:?} into the term, before the delay",
                term.elapsed()
            );
            break;
        }
        assert!(queue(&cluster.db).await.is_empty());
        assert!(term.elapsed() < Duration::from_secs(30), "never marked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(queue(&cluster.db).await, on(&ledgers, &lost));
}

/// Decommissioning marks the bookie's ledgers at once, heartbeats keep the state, and
/// placement from the registry never picks it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decommission_marks_ledgers_and_placement_avoids_the_bookie() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(fast_config());
    let ledgers = write_ledgers(&cluster.db, &client, 6).await;
    let prober = BookieProber::new(cluster.db.clone(), client.clone(), steady_prober_config());
    prober.probe_once().await.expect("probe");
    let retired = cluster.addresses[0].as_str().to_owned();
    assert_eq!(cluster.index_of(&retired), 0);
    let (db, id) = (cluster.db.clone(), retired.clone());
    let marked = tokio::task::spawn_blocking(move || bookies::decommission(&db, &id, 2, unix_ms()))
        .await
        .expect("join")
        .expect("decommission");
    let want = on(&ledgers, &retired);
    assert_eq!(marked, want.len() as u64);
    assert_eq!(queue(&cluster.db).await, want);
    // The prober's heartbeats keep it decommissioned.
    prober.probe_once().await.expect("probe");
    assert_eq!(
        state_of(&cluster.db, &retired).await,
        BookieState::Decommissioned
    );

    let registry = LedgerClient::new(cluster.db.clone(), BookieSource::Registry, fast_config());
    let quorum = QuorumConfig::new(2, 2, 2).expect("quorum");
    let mut used = BTreeSet::new();
    for _ in 0..8 {
        let writer = registry
            .create_with(quorum, BTreeMap::new())
            .await
            .expect("create");
        writer
            .append(Bytes::from_static(b"x"))
            .await
            .expect("append");
        let id = writer.ledger_id();
        writer.close().await.expect("close");
        used.extend(ensemble(&cluster.db, id).await);
    }
    assert!(
        !used.contains(&retired),
        "placed on a decommissioned bookie"
    );
    assert_eq!(used.len(), 2);
}

async fn call(pool: &BookiePool, bookie: &str, request: Request) -> Response {
    pool.call(&BookieId::new(bookie), request, Duration::from_secs(2))
        .await
        .expect("bookie answers")
}

/// Entries a bookie stores of a ledger (empty when none).
async fn stored(pool: &BookiePool, bookie: &str, ledger_id: u64) -> Vec<(u64, u64)> {
    match call(
        pool,
        bookie,
        Request::GetLedgerEntries(GetLedgerEntries { ledger_id }),
    )
    .await
    {
        Response::GetLedgerEntries(r) if r.status == Status::Ok => r.ranges,
        Response::GetLedgerEntries(r) if r.status == Status::NoSuchLedger => Vec::new(),
        other => panic!("unexpected answer {other:?}"),
    }
}

/// A bookie that lost a closed ledger's entries (here: told to delete it) is found by
/// the fragment check, for exactly that ledger and bookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragment_check_marks_exactly_the_bookie_that_lost_a_ledger() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(fast_config());
    let ledgers = write_ledgers(&cluster.db, &client, 4).await;
    let prober = BookieProber::new(cluster.db.clone(), client.clone(), steady_prober_config());
    prober.probe_once().await.expect("probe");
    // A fragment check every tick.
    let config = AuditorConfig {
        check_interval: Duration::ZERO,
        ..auditor_config()
    };
    let auditor = Auditor::new(cluster.db.clone(), client.clone(), config, "a".into());
    // First tick: everything is fully replicated.
    let report = auditor.audit_once().await.expect("audit");
    assert!(report.fragment_check && report.orphan_scan);
    assert_eq!((report.ledgers_marked, report.orphans_deleted), (0, 0));

    let (&victim, ensemble) = ledgers.iter().nth(1).expect("a ledger");
    let bookie = ensemble[1].clone();
    let pool = BookiePool::new(Duration::from_millis(500));
    let answer = call(
        &pool,
        &bookie,
        Request::DeleteLedger(DeleteLedger { ledger_id: victim }),
    )
    .await;
    assert_eq!(answer.status(), Status::Ok);
    assert!(stored(&pool, &bookie, victim).await.is_empty());

    let report = auditor.audit_once().await.expect("audit");
    assert!(report.leader && report.fragment_check);
    assert_eq!(report.ledgers_marked, 1);
    // Marks are not counted twice.
    assert_eq!(auditor.audit_once().await.expect("audit").ledgers_marked, 0);
    assert_eq!(
        queue(&cluster.db).await,
        BTreeMap::from([(victim, vec![bookie])])
    );
}

/// An orphan (entries on bookies, metadata gone) is deleted from its bookies; a live
/// ledger is never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_scan_deletes_orphans_and_keeps_live_ledgers() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(fast_config());
    let ledgers = write_ledgers(&cluster.db, &client, 5).await;
    let prober = BookieProber::new(cluster.db.clone(), client.clone(), steady_prober_config());
    prober.probe_once().await.expect("probe");
    let (&orphan, orphan_ensemble) = ledgers.iter().nth(2).expect("a ledger");
    // The metadata goes while the bookies keep the entries (a delete that missed them).
    cluster
        .db
        .transact(move |tx, _| ledgers::delete(tx, orphan, None))
        .await
        .expect("delete metadata");
    let pool = BookiePool::new(Duration::from_millis(500));
    for bookie in orphan_ensemble {
        assert!(!stored(&pool, bookie, orphan).await.is_empty());
    }
    let auditor = Auditor::new(
        cluster.db.clone(),
        client.clone(),
        auditor_config(),
        "a".into(),
    );
    let report = auditor.audit_once().await.expect("audit");
    assert!(report.orphan_scan);
    assert_eq!(report.orphans_deleted, orphan_ensemble.len() as u64);
    assert_eq!(
        auditor.counters().orphans_deleted,
        orphan_ensemble.len() as u64
    );
    for bookie in orphan_ensemble {
        assert!(
            stored(&pool, bookie, orphan).await.is_empty(),
            "orphan left on {bookie}"
        );
    }
    // Every live ledger is still whole on every bookie of its ensemble, and readable.
    for (&id, ensemble) in ledgers.iter().filter(|(id, _)| **id != orphan) {
        for bookie in ensemble {
            assert_eq!(
                stored(&pool, bookie, id).await,
                [(0, 2)],
                "ledger {id} on {bookie}"
            );
        }
        let reader = client.open(id, OpenMode::NoRecover).await.expect("open");
        assert_eq!(reader.lac(), 2);
    }
    assert!(queue(&cluster.db).await.is_empty());
}

/// Flips one payload byte of the stored copy of (ledger, entry) in whichever entry
/// log of bookie data directory `dir` holds it (docs/format.md §Entry logs).
fn flip_stored_byte(dir: &Path, ledger_id: u64, entry_id: u64) {
    let found = folio_bookie::fault::corrupt_stored_entry(dir, ledger_id, entry_id)
        .expect("read the entry logs");
    assert!(
        found,
        "entry {ledger_id}/{entry_id} not found in any entry log"
    );
}

/// A copy the bookie's scrubber found corrupt (it still counts as stored) is marked
/// through the scrub report, for exactly that ledger and bookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_copy_found_by_the_scrubber_is_marked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut handles = Vec::new();
    let mut candidates = Vec::new();
    for i in 0..3 {
        let listen = "127.0.0.1:0".parse().expect("address");
        let mut config = BookieConfig::new(dir.path().join(format!("bookie-{i}")), listen);
        config.bookie_id = format!("bookie-{i}");
        config.scrub_interval = Duration::ZERO;
        config.scrub_rate_bytes_per_sec = 0;
        let handle = Bookie::start(config).await.expect("bookie starts");
        candidates.push(Candidate {
            id: BookieId::new(handle.local_addr().to_string()),
            rack: None,
        });
        handles.push(handle);
    }
    let store = EmbeddedStore::open(dir.path().join("ns"), EmbeddedOptions::default())
        .expect("namespace opens");
    let db = Db::new(std::sync::Arc::new(store));
    let client = LedgerClient::new(db.clone(), BookieSource::Static(candidates), fast_config());
    let ledgers = write_ledgers(&db, &client, 3).await;

    let (&victim, ensemble) = ledgers.iter().next().expect("a ledger");
    let bookie = ensemble[0].clone();
    let index = handles
        .iter()
        .position(|h| h.local_addr().to_string() == bookie)
        .expect("a bookie of the cluster");
    handles[index].checkpoint().await.expect("checkpoint");
    flip_stored_byte(&dir.path().join(format!("bookie-{index}")), victim, 1);
    let pool = BookiePool::new(Duration::from_millis(500));
    assert_eq!(
        call(&pool, &bookie, Request::Scrub).await.status(),
        Status::Ok
    );
    let started = Instant::now();
    loop {
        match call(&pool, &bookie, Request::GetScrubReport).await {
            Response::GetScrubReport(r) if r.passes_completed > 0 => {
                assert_eq!(r.corrupt, [(victim, 1)]);
                break;
            }
            Response::GetScrubReport(_) => {}
            other => panic!("unexpected answer {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "scrub never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Still counted as stored, so only the scrub report can reveal it.
    assert_eq!(stored(&pool, &bookie, victim).await, [(0, 2)]);

    let prober = BookieProber::new(db.clone(), client.clone(), steady_prober_config());
    prober.probe_once().await.expect("probe");
    let auditor = Auditor::new(db.clone(), client.clone(), auditor_config(), "a".into());
    let report = auditor.audit_once().await.expect("audit");
    assert!(report.fragment_check);
    assert_eq!(report.ledgers_marked, 1);
    assert_eq!(queue(&db).await, BTreeMap::from([(victim, vec![bookie])]));
    for handle in handles {
        handle.shutdown().await.expect("bookie shuts down");
    }
}

/// The background loops: the prober registers bookies, the auditor holds the lease
/// while it runs and releases it on shutdown, so another takes over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_stop_on_shutdown_and_the_auditor_releases_its_lease() {
    let cluster = Cluster::start(2).await;
    let client = cluster.client(fast_config());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let prober = BookieProber::new(cluster.db.clone(), client.clone(), prober_config());
    let prober = tokio::spawn(prober.run(stopped.clone()));
    // A 30 s lease: the second auditor cannot find it lapsed however slowly the
    // running one ticks, and it can only be free at the end because it was released.
    let config = AuditorConfig {
        lease: Duration::from_secs(30),
        ..auditor_config()
    };
    let auditor = Auditor::new(cluster.db.clone(), client.clone(), config, "a".into());
    let auditor = tokio::spawn(std::sync::Arc::new(auditor).run(stopped));
    let started = Instant::now();
    loop {
        let held = cluster
            .db
            .transact(|tx, _| leases::get(tx, leases::AUDITOR))
            .await
            .expect("get lease");
        let registered = cluster
            .db
            .transact(|tx, _| bookies::list(tx))
            .await
            .expect("list")
            .len();
        if held.is_some_and(|l| l.holder == "a") && registered == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "loops never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = Auditor::new(cluster.db.clone(), client.clone(), config, "b".into());
    assert!(!second.audit_once().await.expect("audit").leader);
    stop.send(true).expect("loops listening");
    tokio::time::timeout(Duration::from_secs(30), prober)
        .await
        .expect("prober stops")
        .expect("prober task");
    tokio::time::timeout(Duration::from_secs(30), auditor)
        .await
        .expect("auditor stops")
        .expect("auditor task");
    let report = second.audit_once().await.expect("audit");
    assert!(report.leader, "the released lease is free at once");
    assert_eq!(report.epoch, 2);
}
