//! Auto-recovery in the gateway process: the tasks that keep every ledger at full
//! replication without an operator (`folio_ledger::autorecovery`), and their metrics.
//!
//! - A `BookieProber` heartbeats the registry records of the bookies the gateway
//!   was configured with (a static list), so that a bookie that stops answering reads
//!   as down. With no static list the bookies heartbeat themselves.
//! - An `Auditor` takes the cluster's auditor lease (one auditor per cluster, so
//!   several gateways may run this) and marks the ledgers of lost bookies, and those
//!   with missing or corrupt copies, in the under-replication queue.
//! - A `ReplicationWorker` drains the queue: it copies lost entries to a replacement
//!   (or back to the bookie that lost them) and then updates the ledger metadata.
//!
//! Metrics (`folio_autorecovery_*`, listed in `docs/operations.md`): the queue length
//! (counted every probe interval, up to [`URE_COUNT_CAP`]), and the auditor's and
//! worker's counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use folio_ledger::LedgerClient;
use folio_ledger::autorecovery::{self, AutoRecoveryConfig};
use folio_metrics::{Kind, header, sample};
use folio_namespace::Db;
use folio_namespace::keys::Subspace;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::gc::count_keys;
use crate::metrics::Metrics;

/// The queue length gauge stops counting here, so a huge backlog costs a bounded read.
pub(crate) const URE_COUNT_CAP: u64 = 100_000;

/// Starts [`folio_ledger::autorecovery::start`]'s tasks, plus the queue count for
/// the gauge, all stopping when `shutdown` turns true, and adds their metrics to
/// `metrics`. `id` names this process in leases and claims.
pub(crate) fn start(
    config: AutoRecoveryConfig,
    db: &Db,
    ledgers: &LedgerClient,
    metrics: &Metrics,
    id: &str,
    shutdown: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let running = autorecovery::start(db, ledgers, config, id, shutdown);
    let mut tasks = running.tasks;
    let (auditor, worker_stats) = (running.auditor, running.worker_stats);
    let queued = Arc::new(AtomicU64::new(0));
    tasks.push(tokio::spawn(count_queue(
        db.clone(),
        queued.clone(),
        config.prober.interval,
        shutdown.clone(),
    )));
    metrics.add_source(Arc::new(move |out: &mut String| {
        let audit = auditor.counters();
        let work = worker_stats.snapshot();
        let families: [(&str, &str, Kind, u64); 8] = [
            (
                "folio_autorecovery_under_replicated_ledgers",
                "Ledgers in the under-replication queue (counted up to 100000).",
                Kind::Gauge,
                queued.load(Ordering::Relaxed),
            ),
            (
                "folio_autorecovery_ledgers_marked_total",
                "Ledgers this process's auditor marked under-replicated.",
                Kind::Counter,
                audit.ledgers_marked,
            ),
            (
                "folio_autorecovery_bookies_lost_total",
                "Bookies this process's auditor found lost (down past the delay, or decommissioned).",
                Kind::Counter,
                audit.bookies_lost,
            ),
            (
                "folio_autorecovery_orphan_ledgers_deleted_total",
                "Ledgers deleted from bookies because the namespace no longer has them.",
                Kind::Counter,
                audit.orphans_deleted,
            ),
            (
                "folio_autorecovery_ledgers_repaired_total",
                "Ledgers whose lost copies this process's worker restored.",
                Kind::Counter,
                work.ledgers_repaired,
            ),
            (
                "folio_autorecovery_entries_replicated_total",
                "Entries copied to a replacement or repaired bookie.",
                Kind::Counter,
                work.entries_copied,
            ),
            (
                "folio_autorecovery_replicated_bytes_total",
                "Bytes of entries copied to a replacement or repaired bookie.",
                Kind::Counter,
                work.bytes_copied,
            ),
            (
                "folio_autorecovery_failures_total",
                "Failed attempts to re-replicate a ledger (each retried with backoff).",
                Kind::Counter,
                work.failures,
            ),
        ];
        for (name, help, kind, value) in families {
            header(out, name, help, kind);
            sample(out, name, &[], value);
        }
    }));
    tasks
}

/// Counts the under-replication queue every `interval` for the gauge.
async fn count_queue(
    db: Db,
    queued: Arc<AtomicU64>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match count_keys(&db, Subspace::UnderReplicated, URE_COUNT_CAP, 10_000).await {
            Ok(n) => queued.store(n, Ordering::Relaxed),
            Err(error) => tracing::warn!(%error, "count the under-replication queue"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
