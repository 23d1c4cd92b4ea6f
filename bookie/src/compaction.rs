//! Space reclamation: garbage collection of dead entry logs and compaction of
//! sparse ones.
//!
//! An entry log's *live bytes* are the records the index still points at (an entry
//! re-added since, or of a deleted ledger, is dead where it was). A pass:
//!
//! 1. waits for any running checkpoint and takes the id of the log being written
//!    ([`LedgerStorage::sealed_below`]). Every log below it is sealed and fully
//!    indexed; from now on entries there only die (deletions, re-adds, moves all
//!    point the index at logs at or above it), never come back to life;
//! 2. walks the index once, summing live bytes per log;
//! 3. **deletes dead logs** (sealed, no live record): first persists the index, so
//!    the state that makes them dead survives a crash, then unlinks them;
//! 4. **compacts sparse logs** (sealed, live/total below `compaction_threshold`),
//!    one at a time: reads every live record (checking its CRC32C), appends copies
//!    to the current log at a bounded rate, fdatasyncs it, points the index at the
//!    copies only where it still points at the copy read (an add or deletion since
//!    then wins), persists the index, and only then unlinks the old log.
//!
//! Crash safety, step by step: before the index persist of step 4 the old log is
//! untouched and the durable index points at it (the copies are unreferenced bytes in
//! a newer log, reclaimed by a later pass); after it, the copies are synced and
//! durable index state points at them, and the old log is dead, so a crash before
//! the unlink leaves a dead log that the pass run at start-up deletes. A log with a
//! record that fails its check is not compacted (it waits for repair: the bad copy
//! still counts as stored). The log being written is never touched.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::bookie::Shared;
use crate::entry_log::{ENTRY_LOG_HEADER_BYTES, Location, RECORD_LEN_BYTES};
use crate::error::StorageError;
use crate::storage::LedgerStorage;

/// Index entries read per batch of the walk.
const BATCH: usize = 4096;
/// The longest single sleep of the rate limiter, so shutdown is noticed quickly.
const MAX_NAP: Duration = Duration::from_millis(100);

/// Space reclamation counters since the bookie started, and the entry-log totals
/// the last pass measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpaceStats {
    /// Passes finished.
    pub gc_passes: u64,
    /// Bytes of entry-log files deleted (dead logs and compacted logs), minus the
    /// bytes compaction wrote elsewhere.
    pub bytes_reclaimed: u64,
    /// Dead entry logs deleted.
    pub logs_deleted: u64,
    /// Sparse entry logs compacted (and then deleted).
    pub logs_compacted: u64,
    /// Live entries copied by compaction.
    pub entries_moved: u64,
    /// Compactions started (a log whose copy is under way counts here first).
    pub compactions_started: u64,
    /// Entry-log bytes on disk when the last pass measured.
    pub entry_log_bytes: u64,
    /// Live entry-log bytes when the last pass measured.
    pub live_bytes: u64,
}

/// What a GC pass may do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GcConfig {
    /// Compact sealed logs whose live fraction is below this (0: never compact).
    pub(crate) threshold: f64,
    /// Bytes per second compaction copies at most (0: unlimited).
    pub(crate) rate_bytes_per_sec: u64,
    /// Time between passes (zero: only on request, and no start-up pass).
    pub(crate) interval: Duration,
}

/// The collector's state, shared by the background task and the handle.
pub(crate) struct Collector {
    config: GcConfig,
    /// One pass at a time.
    running: tokio::sync::Mutex<()>,
    passes: AtomicU64,
    reclaimed: AtomicU64,
    deleted: AtomicU64,
    compacted: AtomicU64,
    moved: AtomicU64,
    started: AtomicU64,
    log_bytes: AtomicU64,
    live_bytes: AtomicU64,
}

fn bump(c: &AtomicU64, by: u64) {
    c.fetch_add(by, Ordering::AcqRel);
}

impl Collector {
    pub(crate) fn new(config: GcConfig) -> Collector {
        Collector {
            config,
            running: tokio::sync::Mutex::new(()),
            passes: AtomicU64::new(0),
            reclaimed: AtomicU64::new(0),
            deleted: AtomicU64::new(0),
            compacted: AtomicU64::new(0),
            moved: AtomicU64::new(0),
            started: AtomicU64::new(0),
            log_bytes: AtomicU64::new(0),
            live_bytes: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> SpaceStats {
        let get = |c: &AtomicU64| c.load(Ordering::Acquire);
        SpaceStats {
            gc_passes: get(&self.passes),
            bytes_reclaimed: get(&self.reclaimed),
            logs_deleted: get(&self.deleted),
            logs_compacted: get(&self.compacted),
            entries_moved: get(&self.moved),
            compactions_started: get(&self.started),
            entry_log_bytes: get(&self.log_bytes),
            live_bytes: get(&self.live_bytes),
        }
    }

    /// One pass (blocking); see the module docs. Returns early, leaving every
    /// live entry where the durable index says it is, when `stop` turns true.
    fn pass(
        &self,
        storage: &LedgerStorage,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), StorageError> {
        let sealed_below = storage.sealed_below();
        let files = storage.log_files()?;
        let mut live: HashMap<u64, u64> = HashMap::new();
        let mut from = (0u64, 0u64);
        loop {
            let batch = storage.scan_index(from, BATCH)?;
            let full = batch.len() == BATCH;
            for (l, e, loc) in &batch {
                *live.entry(loc.log_id).or_default() += RECORD_LEN_BYTES + u64::from(loc.len);
                from = next_key(*l, *e);
            }
            if !full || from == (u64::MAX, u64::MAX) {
                break;
            }
        }
        let total: u64 = files.iter().map(|(_, len)| len).sum();
        self.log_bytes.store(total, Ordering::Release);
        self.live_bytes
            .store(live.values().sum(), Ordering::Release);

        let sealed = files.iter().filter(|(id, _)| *id < sealed_below);
        let dead: Vec<(u64, u64)> = sealed
            .clone()
            .filter(|(id, _)| !live.contains_key(id))
            .copied()
            .collect();
        let mut sparse: Vec<(f64, u64, u64)> = Vec::new();
        if self.config.threshold > 0.0 {
            for (id, len) in sealed {
                let Some(l) = live.get(id) else { continue };
                let data = len.saturating_sub(ENTRY_LOG_HEADER_BYTES).max(1);
                let ratio = *l as f64 / data as f64;
                if ratio < self.config.threshold {
                    sparse.push((ratio, *id, *len));
                }
            }
        }
        if !dead.is_empty() {
            // Dead only in the index as it is now: persist it before unlinking.
            storage.sync_index()?;
            for (id, len) in dead {
                storage.remove_log(id)?;
                bump(&self.deleted, 1);
                bump(&self.reclaimed, len);
                tracing::info!(log_id = id, bytes = len, "deleted dead entry log");
            }
        }
        sparse.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (ratio, id, len) in sparse {
            if *stop.borrow() {
                return Ok(());
            }
            self.compact(storage, id, len, ratio, stop)?;
        }
        Ok(())
    }

    /// Compacts one sealed log (see the module docs, step 4).
    fn compact(
        &self,
        storage: &LedgerStorage,
        log_id: u64,
        log_len: u64,
        ratio: f64,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), StorageError> {
        let mut entries: Vec<(u64, u64, Location)> = Vec::new();
        let mut from = (0u64, 0u64);
        loop {
            let batch = storage.scan_index(from, BATCH)?;
            let full = batch.len() == BATCH;
            for (l, e, loc) in &batch {
                if loc.log_id == log_id {
                    entries.push((*l, *e, *loc));
                }
                from = next_key(*l, *e);
            }
            if !full || from == (u64::MAX, u64::MAX) {
                break;
            }
        }
        tracing::info!(
            log_id,
            live_ratio = ratio,
            entries = entries.len(),
            "compaction started"
        );
        bump(&self.started, 1);
        let started = Instant::now();
        let mut copied: u64 = 0;
        let mut moves = Vec::with_capacity(entries.len());
        for (l, e, loc) in entries {
            if *stop.borrow() {
                // Nothing points at the copies made so far; a later pass reclaims
                // them with the rest of the log they landed in.
                return Ok(());
            }
            let entry = match storage.read_stored(l, e, loc) {
                Ok(entry) => entry,
                Err(err) => {
                    if storage.scan_index((l, e), 1)?.first() != Some(&(l, e, loc)) {
                        continue; // deleted or re-added since the walk
                    }
                    tracing::warn!(error = %err, log_id, ledger_id = l, entry_id = e,
                        "entry log not compacted: a live record fails its check");
                    return Ok(());
                }
            };
            let new = storage.append_copy(&entry)?;
            moves.push((l, e, loc, new));
            copied += RECORD_LEN_BYTES + u64::from(loc.len);
            pace(self.config.rate_bytes_per_sec, started, copied, stop);
        }
        // The copies must be on disk before any index state can point at them.
        storage.sync_log()?;
        let moved = storage.relocate(&moves)?;
        // Every record of the old log that was live is now either moved or dead
        // (re-added or deleted since): make that durable before unlinking.
        storage.sync_index()?;
        storage.remove_log(log_id)?;
        bump(&self.compacted, 1);
        bump(&self.moved, moved as u64);
        bump(&self.reclaimed, log_len.saturating_sub(copied));
        tracing::info!(
            log_id,
            moved,
            bytes = log_len,
            copied,
            "compaction finished"
        );
        Ok(())
    }
}

/// The index key after (l, e), or (MAX, MAX) past the end.
fn next_key(l: u64, e: u64) -> (u64, u64) {
    match e.checked_add(1) {
        Some(e) => (l, e),
        None => l.checked_add(1).map_or((u64::MAX, u64::MAX), |l| (l, 0)),
    }
}

/// Sleeps until `bytes` since `started` are within `rate` (0: unlimited).
fn pace(rate: u64, started: Instant, bytes: u64, stop: &watch::Receiver<bool>) {
    if rate == 0 {
        return;
    }
    let due = Duration::from_secs_f64(bytes as f64 / rate as f64);
    loop {
        let elapsed = started.elapsed();
        if elapsed >= due || *stop.borrow() {
            return;
        }
        std::thread::sleep((due - elapsed).min(MAX_NAP));
    }
}

/// Runs one pass now, after any running one.
pub(crate) async fn run_pass(
    shared: &Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> Result<(), StorageError> {
    let _one = shared.collector.running.lock().await;
    let s = shared.clone();
    tokio::task::spawn_blocking(move || s.collector.pass(&s.state.storage, &stop))
        .await
        .map_err(|e| StorageError::Corrupt(format!("gc task failed: {e}")))??;
    bump(&shared.collector.passes, 1);
    Ok(())
}

/// A pass at start-up (removing logs left dead by a crash), then every interval,
/// until shutdown. A zero interval disables the task.
pub(crate) async fn gc_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let interval = shared.collector.config.interval;
    if interval.is_zero() {
        return;
    }
    loop {
        if let Err(e) = run_pass(&shared, shutdown.clone()).await {
            tracing::error!(error = %e, "entry log gc pass failed");
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
