//! The scrubber: a background task that walks every indexed entry at a bounded rate,
//! reads its stored copy from the entry log (bypassing read-ahead), and checks the
//! length, the CRC32C and that the header's ledger and entry ids match the index key.
//!
//! A copy that fails joins the storage's corrupt set
//! ([`crate::storage::LedgerStorage::verify_stored`]): reads of it answer `IoError`,
//! `GetScrubReport` lists it, and it stays there until an add (normal or recovery)
//! of the same entry writes a new copy, which is how a replication worker repairs it.
//! Entries still in the write cache are not scrubbed: they are in memory and the
//! journal, and are checked once a checkpoint has written them to an entry log.
//!
//! Passes run every `scrub_interval` (zero: only on request) and on a `Scrub`
//! request; a request while a pass is running or pending is a no-op. The walk reads
//! the index in batches and never holds a lock across entries, so adds, reads,
//! deletions and checkpoints go on while it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use crate::bookie::Shared;
use crate::error::StorageError;
use crate::storage::LedgerStorage;

/// Index entries read per batch of a pass.
const BATCH: usize = 256;
/// The longest single sleep of the rate limiter, so shutdown is noticed quickly.
const MAX_NAP: Duration = Duration::from_millis(100);

/// The scrubber's counters since the bookie started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrubStats {
    /// Passes that walked the whole index.
    pub passes_completed: u64,
    /// Stored copies checked (by all passes, finished or not).
    pub entries_checked: u64,
    /// Corrupt copies found by passes (each counted once per finding).
    pub corrupt_found: u64,
    /// Copies in the corrupt set now (found by a pass or a read, not yet repaired).
    pub corrupt_now: u64,
    /// Whether a pass is running or about to start.
    pub running: bool,
}

/// Scrubber state shared by the background task and the request handlers.
pub(crate) struct Scrubber {
    rate_bytes_per_sec: u64,
    interval: Duration,
    running: AtomicBool,
    wanted: Notify,
    passes: AtomicU64,
    checked: AtomicU64,
    found: AtomicU64,
}

impl Scrubber {
    /// A scrubber reading at most `rate_bytes_per_sec` (0: unlimited), with a pass
    /// every `interval` (zero: only on request).
    pub(crate) fn new(rate_bytes_per_sec: u64, interval: Duration) -> Scrubber {
        Scrubber {
            rate_bytes_per_sec,
            interval,
            running: AtomicBool::new(false),
            wanted: Notify::new(),
            passes: AtomicU64::new(0),
            checked: AtomicU64::new(0),
            found: AtomicU64::new(0),
        }
    }

    /// Asks for a pass now; a no-op if one is running or already asked for.
    pub(crate) fn request_pass(&self) {
        if self
            .running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.wanted.notify_one();
        }
    }

    /// The counters, with the current size of `storage`'s corrupt set.
    pub(crate) fn stats(&self, storage: &LedgerStorage) -> ScrubStats {
        ScrubStats {
            passes_completed: self.passes.load(Ordering::Acquire),
            entries_checked: self.checked.load(Ordering::Acquire),
            corrupt_found: self.found.load(Ordering::Acquire),
            corrupt_now: storage.corrupt_count() as u64,
            running: self.running.load(Ordering::Acquire),
        }
    }

    /// One whole pass over the index (blocking). Returns false if `stop` cut it
    /// short.
    fn run_pass(
        &self,
        storage: &LedgerStorage,
        stop: &watch::Receiver<bool>,
    ) -> Result<bool, StorageError> {
        let started = Instant::now();
        let mut bytes: u64 = 0;
        let mut from = (0u64, 0u64);
        loop {
            let batch = storage.scan_index(from, BATCH)?;
            let full = batch.len() == BATCH;
            for (ledger_id, entry_id, loc) in batch {
                if *stop.borrow() {
                    return Ok(false);
                }
                if storage.verify_stored(ledger_id, entry_id, loc)? {
                    self.found.fetch_add(1, Ordering::AcqRel);
                }
                self.checked.fetch_add(1, Ordering::AcqRel);
                bytes += u64::from(loc.len);
                self.pace(started, bytes, stop);
                from = match entry_id.checked_add(1) {
                    Some(next) => (ledger_id, next),
                    None => match ledger_id.checked_add(1) {
                        Some(next) => (next, 0),
                        None => return Ok(true),
                    },
                };
            }
            if !full {
                return Ok(true);
            }
        }
    }

    /// Sleeps until `bytes` read since `started` are within the rate.
    fn pace(&self, started: Instant, bytes: u64, stop: &watch::Receiver<bool>) {
        if self.rate_bytes_per_sec == 0 {
            return;
        }
        let due = Duration::from_secs_f64(bytes as f64 / self.rate_bytes_per_sec as f64);
        loop {
            let elapsed = started.elapsed();
            if elapsed >= due || *stop.borrow() {
                return;
            }
            std::thread::sleep((due - elapsed).min(MAX_NAP));
        }
    }
}

/// Runs passes on request and every interval until shutdown.
pub(crate) async fn scrub_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let scrubber = &shared.scrubber;
    loop {
        let periodic = async {
            if scrubber.interval.is_zero() {
                std::future::pending::<()>().await;
            } else {
                tokio::time::sleep(scrubber.interval).await;
            }
        };
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = periodic => scrubber.running.store(true, Ordering::Release),
            _ = scrubber.wanted.notified() => {}
        }
        tracing::info!("scrub pass started");
        let s = shared.clone();
        let stop = shutdown.clone();
        let result =
            tokio::task::spawn_blocking(move || s.scrubber.run_pass(&s.state.storage, &stop)).await;
        match result {
            Ok(Ok(true)) => {
                scrubber.passes.fetch_add(1, Ordering::AcqRel);
                let stats = scrubber.stats(&shared.state.storage);
                tracing::info!(
                    entries_checked = stats.entries_checked,
                    corrupt_now = stats.corrupt_now,
                    "scrub pass finished"
                );
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "scrub pass failed"),
            Err(e) => tracing::error!(error = %e, "scrub task failed"),
        }
        scrubber.running.store(false, Ordering::Release);
    }
}
