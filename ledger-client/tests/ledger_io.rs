//! The ledger client against real bookies over TCP and a real embedded namespace.
//!
//! Bookies run in this process (`folio_bookie::Bookie::start`) on free loopback ports,
//! each with its own data directory. Each test cites the claim of `docs/protocol.md`
//! ("Ledger guarantees") it checks.

use std::collections::BTreeMap;

use bytes::Bytes;
use folio_ledger::{LedgerError, OpenMode, QuorumConfig, WriteError};

mod common;

use common::{Cluster, fast_config};

fn payload(i: u64, len: usize) -> Bytes {
    (0..len)
        .map(|j| (i as usize * 31 + j) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Protocol §"Ledger guarantees": an acknowledged entry is readable with the same
/// bytes; LAC and length are recorded at close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_close_and_read_back() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(fast_config());
    let writer = client.create(BTreeMap::new()).await.expect("create");
    let ledger_id = writer.ledger_id();
    // Pipelined: submit everything, then wait for the acknowledgements in order.
    let mut pending = Vec::new();
    for i in 0..200u64 {
        pending.push(writer.submit(payload(i, 1000)).await.expect("submit"));
    }
    for (i, p) in pending.into_iter().enumerate() {
        assert_eq!(p.await.expect("acknowledged"), i as u64);
    }
    let closed = writer.close().await.expect("close");
    assert_eq!(closed.last_entry_id, 199);
    assert_eq!(closed.length, 200 * 1000);

    let reader = client
        .open(ledger_id, OpenMode::NoRecover)
        .await
        .expect("open");
    assert!(reader.is_closed());
    assert_eq!(reader.lac(), 199);
    let entries = reader.read_range(0, 199).await.expect("read");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e, &payload(i as u64, 1000), "entry {i}");
    }
    assert!(matches!(
        reader.read(200).await,
        Err(LedgerError::BeyondLac { .. })
    ));
}

/// Quorum validation comes with a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_bad_quorums_and_too_few_bookies() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(fast_config());
    let err = QuorumConfig::new(2, 3, 1).expect_err("Qw > E");
    assert!(
        err.to_string().contains("ensemble size >= write quorum"),
        "{err}"
    );
    let four = QuorumConfig::new(4, 3, 2).expect("valid");
    let err = client
        .create_with(four, BTreeMap::new())
        .await
        .err()
        .expect("4 bookies needed, 3 exist");
    assert!(matches!(err, LedgerError::NotEnoughBookies(_)), "{err}");
}

/// Protocol §"Recovery": a ledger whose writer stopped mid-stream closes at or above
/// its last acknowledged entry, and the old writer is then fenced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_closes_at_or_above_the_last_ack_and_fences_the_writer() {
    let cluster = Cluster::start(3).await;
    let writer_client = cluster.client(fast_config());
    let writer = writer_client.create(BTreeMap::new()).await.expect("create");
    let ledger_id = writer.ledger_id();
    let mut last_acked = -1i64;
    for i in 0..50u64 {
        last_acked = writer.append(payload(i, 100)).await.expect("append") as i64;
    }
    // A second client recovers the ledger while the writer is still alive.
    let recoverer = cluster.client(fast_config());
    let closed = recoverer.recover(ledger_id).await.expect("recover");
    assert!(
        closed.last_entry_id >= last_acked,
        "{closed:?} < {last_acked}"
    );
    assert_eq!(closed.length, (closed.last_entry_id + 1) as u64 * 100);
    let reader = recoverer
        .open(ledger_id, OpenMode::NoRecover)
        .await
        .expect("open");
    let entries = reader
        .read_range(0, closed.last_entry_id as u64)
        .await
        .expect("read all");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e, &payload(i as u64, 100));
    }
    // The old writer is fenced: its next append fails with an unknown outcome.
    let err = writer.append(payload(99, 100)).await.expect_err("fenced");
    assert!(
        matches!(err, LedgerError::Write(WriteError::Fenced { .. })),
        "{err}"
    );
    // Recovering again is a no-op that agrees.
    let again = recoverer.recover(ledger_id).await.expect("recover again");
    assert_eq!(again, closed);
}

/// Protocol §"Ensemble change": when a bookie is lost mid-write, the writer replaces
/// it and every acknowledged entry stays readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_bookie_triggers_an_ensemble_change() {
    let mut cluster = Cluster::start(4).await;
    let client = cluster.client(fast_config());
    let writer = client.create(BTreeMap::new()).await.expect("create");
    let ledger_id = writer.ledger_id();
    for i in 0..20u64 {
        writer.append(payload(i, 500)).await.expect("append");
    }
    // Stop one bookie of the ensemble (E=3 of 4).
    let in_use = {
        let (meta, _) = metadata(&cluster, ledger_id).await;
        meta.segments[0].bookies[0].clone()
    };
    let victim = cluster.index_of(&in_use);
    cluster.stop(victim).await;
    for i in 20..60u64 {
        writer
            .append(payload(i, 500))
            .await
            .expect("append after loss");
    }
    let closed = writer.close().await.expect("close");
    assert_eq!(closed.last_entry_id, 59);
    let (meta, _) = metadata(&cluster, ledger_id).await;
    assert!(
        meta.segments.len() >= 2,
        "a new segment was added: {meta:?}"
    );
    assert!(
        !meta
            .segments
            .last()
            .expect("segments")
            .bookies
            .contains(&in_use),
        "the lost bookie was replaced"
    );
    let reader = client
        .open(ledger_id, OpenMode::NoRecover)
        .await
        .expect("open");
    let entries = reader.read_range(0, 59).await.expect("read all");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e, &payload(i as u64, 500), "entry {i}");
    }
}

/// Deleting a ledger removes it from bookies and the namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_ledger() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client(fast_config());
    let writer = client.create(BTreeMap::new()).await.expect("create");
    let ledger_id = writer.ledger_id();
    writer.append(payload(0, 10)).await.expect("append");
    writer.close().await.expect("close");
    client.delete(ledger_id).await.expect("delete");
    assert!(matches!(
        client.open(ledger_id, OpenMode::NoRecover).await,
        Err(LedgerError::NoSuchLedger(id)) if id == ledger_id
    ));
    // Idempotent.
    client.delete(ledger_id).await.expect("delete again");
}

async fn metadata(
    cluster: &Cluster,
    ledger_id: u64,
) -> (folio_namespace::ledgers::LedgerMetadata, u64) {
    let found = cluster
        .db
        .transact(move |tx, _| folio_namespace::ledgers::get(tx, ledger_id))
        .await
        .expect("namespace read")
        .expect("ledger exists");
    (found.value, found.version)
}
