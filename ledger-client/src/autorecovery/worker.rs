//! [`ReplicationWorker`]: takes ledgers off the under-replication queue and restores
//! their lost copies (`docs/protocol.md`, "Auto-recovery: replication workers").
//!
//! For each due ledger of the queue the worker:
//!
//! 1. **claims** it for a lease (`under_replicated::claim`); a ledger another worker
//!    holds with a live lease is not touched;
//! 2. if the ledger is **not closed**, waits until it has been marked for
//!    [`WorkerConfig::open_ledger_grace`] and then fences and recovers it
//!    ([`LedgerClient::recover`]), after which it is closed;
//! 3. for every segment position that names a missing bookie: repairs the bookie **in
//!    place** if the registry says it is alive, else picks a **replacement** by
//!    placement; **copies** every entry the position must hold from a healthy replica
//!    (recovery adds, bounded window, byte-rate limit), renewing the lease and
//!    recording progress as it goes; and only once the target acknowledged every
//!    entry, **compare-and-sets** the metadata to name the replacement;
//! 4. **finishes** the queue record in a transaction that checks it still holds the
//!    claim and that the metadata is the version it last checked (or no longer names
//!    a missing bookie).
//!
//! A failure releases the claim with the error, one more attempt, and a next-attempt
//! time with exponential backoff; the marker stays.
//!
//! Why this order is crash-safe: the metadata is the only thing readers trust, and it
//! changes only after the new copy is durable on the target, in one compare-and-set
//! over the version read before copying. A worker that dies before the CAS leaves the
//! old metadata (still naming the lost bookie) and a marker that another worker picks
//! up when the lease runs out; the half-copied target holds entries nobody points at,
//! which is harmless. A worker that dies after the CAS but before finishing leaves a
//! marker whose ledger no longer names the lost bookie; the next worker finds nothing
//! to do and clears it. The metadata never names a bookie that does not hold its data.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use folio_namespace::bookies::{self, BookieState};
use folio_namespace::ledgers::{self, LedgerMetadata, LedgerState};
use folio_namespace::under_replicated::{self, Progress, UnderReplicated};
use folio_namespace::{Db, NsError, OpId};
use folio_proto::{GetLedgerEntries, Request, Response, Status};
use futures::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tracing::Instrument;

use super::copy::{self, CopyFailure, CopySpec, RateLimit};
use crate::BookieId;
use crate::bookie_client::BookiePool;
use crate::client::{LedgerClient, LedgerError, unix_ms};
use crate::placement::Candidate;
use crate::quorum::QuorumConfig;

/// Settings of a [`ReplicationWorker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerConfig {
    /// How long a claim on a ledger lasts; renewed while copying.
    pub lease: Duration,
    /// How often progress is written to the queue record (and the lease renewed).
    /// Must be well under `lease`.
    pub progress_interval: Duration,
    /// How long [`ReplicationWorker::run`] sleeps when the queue has nothing due.
    pub poll_interval: Duration,
    /// How long an OPEN ledger must have been marked before its writer is presumed
    /// gone and the worker fences and recovers it.
    pub open_ledger_grace: Duration,
    /// Entries copied at once (read from a source, then added to the target).
    pub window_entries: usize,
    /// Byte rate of the copy, per ledger; 0 means unlimited.
    pub max_bytes_per_sec: u64,
    /// Backoff after the first failure; it doubles per failed attempt.
    pub initial_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Queue records one claim looks at.
    pub scan_limit: usize,
    /// Ledgers one [`ReplicationWorker::run_once`] takes at most.
    pub max_ledgers_per_pass: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease: Duration::from_secs(60),
            progress_interval: Duration::from_secs(2),
            poll_interval: Duration::from_secs(10),
            open_ledger_grace: Duration::from_secs(300),
            window_entries: 16,
            max_bytes_per_sec: 64 << 20,
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
            scan_limit: 1000,
            max_ledgers_per_pass: 100,
        }
    }
}

impl WorkerConfig {
    /// Checks the settings, naming the first bad key: a lease of at least twice the
    /// progress interval (else the claim runs out between renewals), a window, scan
    /// limit and pass size of at least 1, and `initial_backoff <= max_backoff`.
    pub fn validate(&self) -> Result<(), WorkerError> {
        let bad =
            |key: &'static str, reason: String| Err(WorkerError::InvalidConfig { key, reason });
        if self.lease < self.progress_interval.saturating_mul(2) {
            return bad(
                "lease",
                format!(
                    "{:?} is under twice progress_interval ({:?})",
                    self.lease, self.progress_interval
                ),
            );
        }
        if self.window_entries == 0 {
            return bad("window_entries", "must be at least 1".into());
        }
        if self.scan_limit == 0 {
            return bad("scan_limit", "must be at least 1".into());
        }
        if self.max_ledgers_per_pass == 0 {
            return bad("max_ledgers_per_pass", "must be at least 1".into());
        }
        if self.initial_backoff > self.max_backoff {
            return bad(
                "initial_backoff",
                format!(
                    "{:?} exceeds max_backoff ({:?})",
                    self.initial_backoff, self.max_backoff
                ),
            );
        }
        Ok(())
    }
}

/// Counters of one worker since it started, for metrics.
#[derive(Debug, Default)]
pub struct WorkerStats {
    ledgers_repaired: AtomicU64,
    entries_copied: AtomicU64,
    bytes_copied: AtomicU64,
    failures: AtomicU64,
}

/// A copy of [`WorkerStats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Ledgers whose lost copies were all restored (queue record finished).
    pub ledgers_repaired: u64,
    /// Entries acknowledged by a target.
    pub entries_copied: u64,
    /// Bytes of those entries (header, payload and digest).
    pub bytes_copied: u64,
    /// Failed attempts on a ledger.
    pub failures: u64,
}

impl WorkerStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            ledgers_repaired: self.ledgers_repaired.load(Ordering::Relaxed),
            entries_copied: self.entries_copied.load(Ordering::Relaxed),
            bytes_copied: self.bytes_copied.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }
}

/// What one [`ReplicationWorker::run_once`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerPass {
    /// Ledgers claimed.
    pub claimed: u64,
    /// Ledgers fully re-replicated (or found deleted) and taken off the queue.
    pub repaired: u64,
    /// Open ledgers still in their grace period, left for later.
    pub deferred: u64,
    /// Ledgers whose attempt failed; they stay queued with a backoff.
    pub failed: u64,
}

/// Why re-replicating a ledger failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The namespace failed.
    #[error("namespace: {0}")]
    Namespace(#[from] NsError),
    /// Recovery, placement or a bookie call of the ledger client failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// No other replica returned an entry with a good digest.
    #[error("ledger {ledger_id} entry {entry_id}: no healthy replica to copy from: {reason}")]
    NoSource {
        /// The ledger.
        ledger_id: u64,
        /// The entry.
        entry_id: u64,
        /// What the replicas answered.
        reason: String,
    },
    /// The target bookie did not store an entry.
    #[error("ledger {ledger_id} entry {entry_id}: target bookie {bookie} failed: {reason}")]
    Target {
        /// The ledger.
        ledger_id: u64,
        /// The entry.
        entry_id: u64,
        /// The target.
        bookie: BookieId,
        /// Its status, if it answered.
        status: Option<Status>,
        /// What went wrong.
        reason: String,
    },
    /// No bookie can take the lost bookie's place.
    #[error("ledger {ledger_id}: no replacement for bookie {bookie}: {reason}")]
    NoReplacement {
        /// The ledger.
        ledger_id: u64,
        /// The lost bookie.
        bookie: BookieId,
        /// Why.
        reason: String,
    },
    /// Another worker took the ledger over (our lease ran out).
    #[error("ledger {0}: claim lost to another worker")]
    ClaimLost(u64),
    /// A [`WorkerConfig`] value is out of range.
    #[error("worker config: {key}: {reason}")]
    InvalidConfig {
        /// The setting.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// The metadata kept changing under the worker.
    #[error("ledger {0}: metadata kept changing; giving up this attempt")]
    Unsettled(u64),
}

/// How one ledger ended.
enum Outcome {
    Repaired,
    Deferred,
    /// The metadata changed after the last check; try again at once.
    Retry,
}

/// How one position was repaired.
enum Repair {
    InPlace,
    Replaced,
    /// The metadata changed since it was read: read it again.
    Conflict,
}

/// The re-replication worker. See the module documentation.
pub struct ReplicationWorker {
    db: Db,
    client: LedgerClient,
    config: WorkerConfig,
    id: String,
    pool: BookiePool,
    stats: Arc<WorkerStats>,
}

impl ReplicationWorker {
    /// A worker named `id` (unique per process, it names the worker's claims) that
    /// takes work from the queue in `db` and reaches bookies as `client` does.
    pub fn new(db: Db, client: LedgerClient, config: WorkerConfig, id: String) -> Self {
        let pool = BookiePool::new(client.config().connect_timeout);
        ReplicationWorker {
            db,
            client,
            config,
            id,
            pool,
            stats: Arc::new(WorkerStats::default()),
        }
    }

    /// The worker's counters (shared: they keep counting after this call).
    pub fn stats(&self) -> Arc<WorkerStats> {
        self.stats.clone()
    }

    /// Runs passes until `shutdown` turns true (or its sender goes away), sleeping
    /// [`WorkerConfig::poll_interval`] whenever a pass found nothing due.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let idle = match self.run_once().await {
                Ok(pass) => pass.claimed == 0,
                Err(error) => {
                    tracing::warn!(worker = %self.id, %error, "replication pass failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    changed = shutdown.changed() => if changed.is_err() { return },
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                }
            }
        }
    }

    /// One pass: claims due ledgers one at a time (at most
    /// [`WorkerConfig::max_ledgers_per_pass`]) and processes each. A failure on one
    /// ledger is recorded in its queue record and counted, and the pass goes on; only
    /// a namespace failure of the queue itself ends the pass with an error.
    pub async fn run_once(&self) -> Result<WorkerPass, WorkerError> {
        let mut pass = WorkerPass::default();
        for _ in 0..self.config.max_ledgers_per_pass {
            let (worker, now_ms) = (self.id.clone(), unix_ms());
            let (lease_ms, scan) = (duration_ms(self.config.lease), self.config.scan_limit);
            let claimed = self
                .db
                .transact(move |tx, _| under_replicated::claim(tx, &worker, now_ms, lease_ms, scan))
                .await?;
            let Some((ledger_id, record)) = claimed else {
                break;
            };
            pass.claimed += 1;
            let span = tracing::info_span!("re-replicate", ledger_id, worker = %self.id);
            match self.process(ledger_id, &record).instrument(span).await {
                Ok(Outcome::Repaired) => {
                    pass.repaired += 1;
                    self.stats.ledgers_repaired.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Outcome::Deferred) => pass.deferred += 1,
                Ok(Outcome::Retry) => self.release(ledger_id, 0, None).await?,
                Err(error) => {
                    pass.failed += 1;
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    let backoff = self
                        .config
                        .initial_backoff
                        .saturating_mul(1u32 << record.attempts.min(16))
                        .min(self.config.max_backoff);
                    let next = unix_ms().saturating_add(duration_ms(backoff));
                    tracing::warn!(ledger_id, %error, attempts = record.attempts + 1, retry_in_ms = duration_ms(backoff), "re-replication failed");
                    self.release(ledger_id, next, Some(error.to_string()))
                        .await?;
                }
            }
        }
        Ok(pass)
    }

    async fn release(
        &self,
        ledger_id: u64,
        next_attempt_ms: u64,
        error: Option<String>,
    ) -> Result<(), WorkerError> {
        let worker = self.id.clone();
        self.db
            .transact(move |tx, _| {
                under_replicated::release(tx, ledger_id, &worker, next_attempt_ms, error.as_deref())
            })
            .await?;
        Ok(())
    }

    async fn metadata(&self, ledger_id: u64) -> Result<Option<(LedgerMetadata, u64)>, NsError> {
        let found = self
            .db
            .transact(move |tx, _| ledgers::get(tx, ledger_id))
            .await?;
        Ok(found.map(|v| (v.value, v.version)))
    }

    async fn process(
        &self,
        ledger_id: u64,
        record: &UnderReplicated,
    ) -> Result<Outcome, WorkerError> {
        let missing = record.missing_bookies.clone();
        let Some((meta, _)) = self.metadata(ledger_id).await? else {
            // Deleted: nothing left to replicate.
            return self.finish(ledger_id, missing, None).await;
        };
        if meta.state != LedgerState::Closed {
            // Copying a segment of an OPEN ledger is unsafe: its writer may still add
            // entries to the last segment (which the copy would miss, while the new
            // metadata would claim the replacement holds them), change the ensemble
            // under us, or close the ledger at a last entry we have not copied. So an
            // open ledger is left alone until its writer is presumed gone; then
            // recovery fences it (no writer can add any more) and closes it, and only
            // a closed ledger, whose entries are final, is copied.
            let grace_ms = duration_ms(self.config.open_ledger_grace);
            let due = record.since_ms.saturating_add(grace_ms);
            if unix_ms() < due {
                tracing::debug!(ledger_id, state = ?meta.state, "open ledger in its grace period; later");
                self.release(ledger_id, due, None).await?;
                return Ok(Outcome::Deferred);
            }
            let closed = self.client.recover(ledger_id).await?;
            tracing::info!(
                ledger_id,
                last_entry_id = closed.last_entry_id,
                "recovered an open ledger before re-replicating it"
            );
        }
        let lost: Vec<BookieId> = missing.iter().map(BookieId::new).collect();
        let mut in_place_done: HashSet<(u64, usize)> = HashSet::new();
        // Each round repairs one position or rereads after a conflict.
        let rounds = meta.segments.len() * meta.ensemble_size as usize + 8;
        for _ in 0..rounds {
            let Some((meta, version)) = self.metadata(ledger_id).await? else {
                return self.finish(ledger_id, missing, None).await;
            };
            let next = meta.segments.iter().enumerate().find_map(|(s, seg)| {
                seg.bookies.iter().enumerate().find_map(|(p, b)| {
                    (missing.contains(b) && !in_place_done.contains(&(seg.first_entry_id, p)))
                        .then_some((s, p))
                })
            });
            let Some((segment, position)) = next else {
                return self.finish(ledger_id, missing, Some(version)).await;
            };
            match self
                .repair_position(ledger_id, &meta, version, segment, position, &lost)
                .await?
            {
                Repair::InPlace => {
                    in_place_done.insert((meta.segments[segment].first_entry_id, position));
                }
                Repair::Replaced | Repair::Conflict => {}
            }
        }
        Err(WorkerError::Unsettled(ledger_id))
    }

    /// Takes the ledger off the queue if we still hold the claim and the metadata is
    /// `version` (the one we last checked), is gone, or names none of `missing`.
    async fn finish(
        &self,
        ledger_id: u64,
        missing: Vec<String>,
        version: Option<u64>,
    ) -> Result<Outcome, WorkerError> {
        let worker = self.id.clone();
        let done = self
            .db
            .transact(move |tx, _| {
                let settled = match ledgers::get(tx, ledger_id)? {
                    None => true,
                    Some(current) => {
                        Some(current.version) == version
                            || !current
                                .value
                                .segments
                                .iter()
                                .any(|s| s.bookies.iter().any(|b| missing.contains(b)))
                    }
                };
                if !settled {
                    return Ok(None);
                }
                under_replicated::finish(tx, ledger_id, &worker, &missing).map(Some)
            })
            .await?;
        match done {
            Some(true) => Ok(Outcome::Repaired),
            Some(false) => Err(WorkerError::ClaimLost(ledger_id)),
            None => Ok(Outcome::Retry),
        }
    }

    /// Restores the copy at `position` of segment `segment`.
    async fn repair_position(
        &self,
        ledger_id: u64,
        meta: &LedgerMetadata,
        version: u64,
        segment: usize,
        position: usize,
        lost: &[BookieId],
    ) -> Result<Repair, WorkerError> {
        let quorum = QuorumConfig::new(
            meta.ensemble_size as usize,
            meta.write_quorum as usize,
            meta.ack_quorum as usize,
        )
        .map_err(LedgerError::from)?;
        let seg = &meta.segments[segment];
        let ensemble: Vec<BookieId> = seg.bookies.iter().map(BookieId::new).collect();
        let old = ensemble[position].clone();
        // The segment ends before the next one starts, and at the ledger's last entry.
        let mut last = meta.last_entry_id;
        if let Some(next) = meta.segments.get(segment + 1) {
            let before_next = next.first_entry_id.checked_sub(1);
            last = match (last, before_next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            };
        }
        let entries = copy::entries_of_position(quorum, seg.first_entry_id, last, position);
        if self.is_alive(&old).await? {
            let wanted = self.lacking(ledger_id, &old, &entries).await;
            match self
                .copy(ledger_id, quorum, &ensemble, position, lost, &old, &wanted)
                .await
            {
                Ok(()) => {
                    tracing::info!(ledger_id, bookie = %old, position, entries = wanted.len(), "repaired in place");
                    return Ok(Repair::InPlace);
                }
                // The bookie deleted the ledger (a deleted ledger's tombstone makes it
                // refuse adds for good): give its position to a replacement instead.
                Err(WorkerError::Target {
                    status: Some(Status::NoSuchLedger),
                    ..
                }) => {
                    tracing::info!(ledger_id, bookie = %old, "bookie refuses the ledger; replacing it");
                }
                Err(e) => return Err(e),
            }
        }
        let target = self
            .pick_replacement(ledger_id, quorum, &ensemble, position, lost)
            .await?;
        self.copy(
            ledger_id, quorum, &ensemble, position, lost, &target, &entries,
        )
        .await?;
        // Every entry is durable on the target: now, and only now, name it.
        let mut next = meta.clone();
        next.segments[segment].bookies[position] = target.as_str().to_owned();
        let op = OpId::random();
        let result = self
            .db
            .transact(move |tx, _| ledgers::compare_and_set(tx, ledger_id, version, &next, op))
            .await;
        match result {
            Ok(_) => {
                tracing::info!(ledger_id, first_entry_id = seg.first_entry_id, position, from = %old, to = %target, entries = entries.len(), "replaced a lost bookie");
                Ok(Repair::Replaced)
            }
            Err(NsError::VersionMismatch { .. } | NsError::LedgerNotFound(_)) => {
                tracing::info!(ledger_id, "metadata changed while copying; rereading");
                Ok(Repair::Conflict)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Of `entries`, those the live `bookie` lacks or holds corrupt, from its
    /// `GetLedgerEntries` and `GetScrubReport` answers. If it cannot tell (an error,
    /// an older bookie), all of them: re-adding an entry it holds is harmless, since
    /// a recovery add of the same bytes replaces the stored copy.
    async fn lacking(&self, ledger_id: u64, bookie: &BookieId, entries: &[u64]) -> Vec<u64> {
        if entries.is_empty() {
            return Vec::new();
        }
        let timeout = self.client.config().request_timeout;
        let request = Request::GetLedgerEntries(GetLedgerEntries { ledger_id });
        let stored = match self.pool.call(bookie, request, timeout).await {
            Ok(Response::GetLedgerEntries(r)) if r.status.is_ok() => r.ranges,
            Ok(Response::GetLedgerEntries(r)) if r.status == Status::NoSuchLedger => Vec::new(),
            answer => {
                tracing::info!(ledger_id, %bookie, ?answer, "no entry inventory; re-adding every entry");
                return entries.to_vec();
            }
        };
        let corrupt: HashSet<u64> = match self
            .pool
            .call(bookie, Request::GetScrubReport, timeout)
            .await
        {
            Ok(Response::GetScrubReport(r)) if r.status.is_ok() => r
                .corrupt
                .into_iter()
                .filter(|(l, _)| *l == ledger_id)
                .map(|(_, e)| e)
                .collect(),
            answer => {
                tracing::info!(ledger_id, %bookie, ?answer, "no scrub report; re-adding every entry");
                return entries.to_vec();
            }
        };
        copy::lacking(entries, &stored, &corrupt)
    }

    /// Whether the registry says `bookie` (a ledger names bookies by address) is
    /// serving: read-write or read-only, with a live heartbeat. Unknown or down
    /// bookies (and any state added later, such as decommissioned) are not.
    async fn is_alive(&self, bookie: &BookieId) -> Result<bool, WorkerError> {
        let records = self.db.transact(|tx, _| bookies::list(tx)).await?;
        let now = unix_ms();
        Ok(records.iter().any(|(id, r)| {
            (r.address == bookie.as_str() || id == bookie.as_str())
                && matches!(
                    r.effective_state(now),
                    BookieState::ReadWrite | BookieState::ReadOnly
                )
        }))
    }

    /// A writable bookie for `position` of `ensemble`, by the client's placement
    /// policy: not in the ensemble, not lost, not known down in the registry, and
    /// answering `GetBookieInfo` as read-write.
    async fn pick_replacement(
        &self,
        ledger_id: u64,
        quorum: QuorumConfig,
        ensemble: &[BookieId],
        position: usize,
        lost: &[BookieId],
    ) -> Result<BookieId, WorkerError> {
        let registry = self.db.transact(|tx, _| bookies::list(tx)).await?;
        let now = unix_ms();
        let mut candidates: Vec<Candidate> = match self.client.static_bookies() {
            [] => registry
                .iter()
                .filter(|(_, r)| r.effective_state(now) == BookieState::ReadWrite)
                .map(|(_, r)| Candidate {
                    id: BookieId::new(r.address.clone()),
                    rack: r.rack.clone(),
                })
                .collect(),
            list => list.to_vec(),
        };
        // A fixed list may name bookies the registry knows to be down.
        candidates.retain(|c| {
            registry
                .iter()
                .find(|(_, r)| r.address == c.id.as_str())
                .is_none_or(|(_, r)| r.effective_state(now) == BookieState::ReadWrite)
        });
        let mut exclude: Vec<BookieId> = lost.to_vec();
        let mut rng = StdRng::from_os_rng();
        let placement = self.client.config().placement;
        let timeout = self.client.config().request_timeout;
        for _ in 0..candidates.len().max(1) {
            let choice = placement
                .replacement(quorum, ensemble, position, &candidates, &exclude, &mut rng)
                .map_err(|e| WorkerError::NoReplacement {
                    ledger_id,
                    bookie: ensemble[position].clone(),
                    reason: e.to_string(),
                })?;
            match self
                .pool
                .call(&choice, Request::GetBookieInfo, timeout)
                .await
            {
                Ok(Response::GetBookieInfo(info))
                    if info.status.is_ok() && info.state == folio_proto::BookieState::ReadWrite =>
                {
                    return Ok(choice);
                }
                answer => {
                    tracing::info!(ledger_id, bookie = %choice, ?answer, "replacement candidate not writable; trying another");
                    exclude.push(choice);
                }
            }
        }
        Err(WorkerError::NoReplacement {
            ledger_id,
            bookie: ensemble[position].clone(),
            reason: "no candidate answered as writable".to_owned(),
        })
    }

    /// Copies `entries` to `target`, `window_entries` at a time under the byte-rate
    /// limit, renewing the claim and recording progress every `progress_interval`.
    /// Returns once the target acknowledged every entry and the claim is still ours.
    #[allow(clippy::too_many_arguments)]
    async fn copy(
        &self,
        ledger_id: u64,
        quorum: QuorumConfig,
        ensemble: &[BookieId],
        position: usize,
        lost: &[BookieId],
        target: &BookieId,
        entries: &[u64],
    ) -> Result<(), WorkerError> {
        let config = self.client.config();
        let spec = CopySpec {
            pool: &self.pool,
            ledger_id,
            quorum,
            ensemble,
            position,
            lost,
            target,
            master_key: &config.master_key,
            timeout: config.request_timeout,
        };
        let total = entries.len() as u64;
        self.renew(ledger_id, 0, total, target).await?;
        let mut copies = futures::stream::iter(entries.iter().copied())
            .map(|entry_id| {
                let spec = &spec;
                async move { (entry_id, copy::copy_entry(spec, entry_id).await) }
            })
            .buffer_unordered(self.config.window_entries.max(1));
        let mut rate = RateLimit::new(self.config.max_bytes_per_sec);
        let mut copied = 0u64;
        let mut last_progress = tokio::time::Instant::now();
        while let Some((entry_id, result)) = copies.next().await {
            let bytes = match result {
                Ok(bytes) => bytes,
                Err(CopyFailure::NoSource { reason }) => {
                    return Err(WorkerError::NoSource {
                        ledger_id,
                        entry_id,
                        reason,
                    });
                }
                Err(CopyFailure::Target { status, reason }) => {
                    return Err(WorkerError::Target {
                        ledger_id,
                        entry_id,
                        bookie: target.clone(),
                        status,
                        reason,
                    });
                }
            };
            copied += 1;
            self.stats.entries_copied.fetch_add(1, Ordering::Relaxed);
            self.stats.bytes_copied.fetch_add(bytes, Ordering::Relaxed);
            rate.consume(bytes).await;
            if last_progress.elapsed() >= self.config.progress_interval {
                self.renew(ledger_id, copied, total, target).await?;
                last_progress = tokio::time::Instant::now();
            }
        }
        // Also proves the claim is still ours just before the metadata changes.
        self.renew(ledger_id, copied, total, target).await
    }

    async fn renew(
        &self,
        ledger_id: u64,
        copied: u64,
        total: u64,
        target: &BookieId,
    ) -> Result<(), WorkerError> {
        let worker = self.id.clone();
        let lease_ms = duration_ms(self.config.lease);
        let progress = Progress {
            entries_copied: copied,
            entries_total: total,
            copying_to: target.as_str().to_owned(),
        };
        let held = self
            .db
            .transact(move |tx, _| {
                under_replicated::renew(
                    tx,
                    ledger_id,
                    &worker,
                    unix_ms(),
                    lease_ms,
                    Some(&progress),
                )
            })
            .await?;
        if held {
            Ok(())
        } else {
            Err(WorkerError::ClaimLost(ledger_id))
        }
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_key() {
        assert!(WorkerConfig::default().validate().is_ok());
        let short_lease = WorkerConfig {
            lease: Duration::from_secs(3),
            ..WorkerConfig::default()
        };
        let err = short_lease.validate().expect_err("lease under 2x progress");
        assert!(
            err.to_string().starts_with("worker config: lease:"),
            "{err}"
        );
        let no_window = WorkerConfig {
            window_entries: 0,
            ..WorkerConfig::default()
        };
        assert!(matches!(
            no_window.validate(),
            Err(WorkerError::InvalidConfig {
                key: "window_entries",
                ..
            })
        ));
    }
}
