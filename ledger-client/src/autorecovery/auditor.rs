//! [`Auditor`]: finds ledgers that lost replicas and queues them for re-replication.
//!
//! Any number of auditors may run (one per gateway); a namespace lease
//! (`folio_namespace::leases::AUDITOR`) elects one, renewed every tick. Every write the
//! auditor makes runs in a transaction that first checks the lease with the epoch it
//! acquired, so an auditor that paused past its lease and was replaced cannot write
//! (see `folio_namespace::leases`).
//!
//! Each tick the holder:
//! - **lost bookies**: a registered bookie whose effective state has been DOWN for
//!   longer than `lost_bookie_recovery_delay` (since its heartbeat lease lapsed), or
//!   that is DECOMMISSIONED, is lost: every ledger with a segment naming its address
//!   is marked under-replicated for it. The ledgers are scanned in pages, one
//!   transaction each, with a pause between pages. Once a lost bookie's scan
//!   completes it is not scanned again until it comes back or the next periodic check
//!   (the marks are idempotent, so rescanning is only a cost).
//! - **fragment check** (every `check_interval`, and on the first tick of a term): for
//!   every CLOSED ledger and every live bookie of its segments, `GetLedgerEntries`
//!   against the entries that bookie must store (entry `e` of a segment is on
//!   positions `(e + i) mod E`, `i < Qw`, up to the last entry); any gap marks the
//!   ledger for that bookie. Then each live bookie's `GetScrubReport`: each ledger
//!   with a corrupt entry is marked for that bookie.
//! - **orphan scan** (every `orphan_scan_interval`): `ListLedgers` on each live bookie
//!   in pages; a ledger with no metadata, whose id the namespace allocated, is deleted
//!   from that bookie (see [`Auditor::orphan_scan`] for why this is safe).
//!
//! A bookie that cannot answer is never taken as proof of a missing copy: it is
//! skipped, and the lost-bookie check covers it if it stays down.
//!
//! All times are read from the registry (heartbeats), not from the auditor's memory,
//! so a newly elected auditor reaches the same verdicts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use folio_namespace::bookies::{self, BookieRecord, BookieState};
use folio_namespace::ids::{IDS_PER_BATCH, IdBatch, LEDGER_IDS};
use folio_namespace::kv::decode_counter;
use folio_namespace::ledgers::{self, LedgerMetadata, LedgerState};
use folio_namespace::{Db, NsError, keys, leases, under_replicated};
use folio_proto::{
    DeleteLedger, GetLedgerEntries, ListLedgers, MAX_LIST_LEDGERS, Request, Response, Status,
};
use tokio::sync::watch;

use super::{AuditorConfig, millis, unix_ms};
use crate::bookie_client::{BookiePool, ClientError};
use crate::{BookieId, LedgerClient};

/// What went wrong in an audit.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The namespace failed.
    #[error("namespace: {0}")]
    Namespace(#[from] NsError),
    /// A bookie could not be reached.
    #[error(transparent)]
    Bookie(#[from] ClientError),
    /// This auditor lost its lease (another took over) before it could write.
    #[error("auditor {holder} lost its lease (epoch {epoch})")]
    LeaseLost {
        /// This auditor's id.
        holder: String,
        /// The epoch it held.
        epoch: u64,
    },
}

/// What one [`Auditor::audit_once`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Whether this auditor held the lease and audited (`false`: another holds it).
    pub leader: bool,
    /// The lease epoch it held.
    pub epoch: u64,
    /// Addresses of bookies found lost this tick (scanned for their ledgers).
    pub lost_bookies: Vec<String>,
    /// (ledger, bookie) pairs newly marked under-replicated.
    pub ledgers_marked: u64,
    /// Whether a fragment check ran.
    pub fragment_check: bool,
    /// Whether an orphan scan ran.
    pub orphan_scan: bool,
    /// Orphan ledgers deleted from bookies ((ledger, bookie) pairs).
    pub orphans_deleted: u64,
}

/// Counters since the auditor started, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditCounters {
    /// Ticks this auditor ran as the lease holder.
    pub ticks_as_leader: u64,
    /// (ledger, bookie) pairs newly marked under-replicated.
    pub ledgers_marked: u64,
    /// Lost bookies whose ledgers were scanned.
    pub bookies_lost: u64,
    /// Orphan ledgers deleted from bookies.
    pub orphans_deleted: u64,
}

#[derive(Default)]
struct Counters {
    ticks_as_leader: AtomicU64,
    ledgers_marked: AtomicU64,
    bookies_lost: AtomicU64,
    orphans_deleted: AtomicU64,
}

#[derive(Default)]
struct State {
    /// The lease epoch held at the last tick.
    epoch: Option<u64>,
    /// Lost bookies whose ledgers were fully scanned, by address, with the heartbeat
    /// they were lost at (a bookie that comes back and is lost again is rescanned).
    scanned_lost: HashMap<String, u64>,
    /// When the lease was last acquired or renewed.
    renewed_at: Option<Instant>,
    /// When the last fragment check and orphan scan ran (Unix ms).
    last_check_ms: Option<u64>,
    last_orphan_scan_ms: Option<u64>,
    /// When this term began (Unix ms). A bookie counts as down from no earlier than
    /// this, so a freshly elected auditor (say, after the whole cluster restarted)
    /// gives bookies the full recovery delay to heartbeat again before it marks
    /// their ledgers, as BookKeeper's auditor does.
    term_started_ms: u64,
}

/// The auditor. See the module header.
pub struct Auditor {
    db: Db,
    client: LedgerClient,
    /// The auditor's own connections, so that its scans do not queue behind writes.
    pool: BookiePool,
    config: AuditorConfig,
    id: String,
    state: Mutex<State>,
    counters: Counters,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // The state is a cache of progress: a panic while holding it leaves nothing that
    // a later tick cannot redo.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Auditor {
    /// An auditor over namespace `db` and bookies reached like `client`'s, named `id`
    /// (unique per process: it is the lease holder's name).
    pub fn new(db: Db, client: LedgerClient, config: AuditorConfig, id: String) -> Auditor {
        let pool = BookiePool::new(client.config().connect_timeout);
        Auditor {
            db,
            client,
            pool,
            config,
            id,
            state: Mutex::new(State::default()),
            counters: Counters::default(),
        }
    }

    /// This auditor's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Counters since start.
    pub fn counters(&self) -> AuditCounters {
        AuditCounters {
            ticks_as_leader: self.counters.ticks_as_leader.load(Ordering::Relaxed),
            ledgers_marked: self.counters.ledgers_marked.load(Ordering::Relaxed),
            bookies_lost: self.counters.bookies_lost.load(Ordering::Relaxed),
            orphans_deleted: self.counters.orphans_deleted.load(Ordering::Relaxed),
        }
    }

    /// Audits every tick until `shutdown` turns true, then releases the lease. Takes
    /// an `Arc` so that the host can keep reading [`Auditor::counters`] meanwhile.
    pub async fn run(self: std::sync::Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            match self.audit_once().await {
                Ok(r) if r.ledgers_marked > 0 || r.orphans_deleted > 0 => tracing::info!(
                    auditor = %self.id,
                    lost_bookies = ?r.lost_bookies,
                    ledgers_marked = r.ledgers_marked,
                    orphans_deleted = r.orphans_deleted,
                    "audit marked ledgers under-replicated"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(auditor = %self.id, %error, "audit failed; retrying next tick")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.tick) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        self.release().await;
    }

    async fn release(&self) {
        let Some(epoch) = lock(&self.state).epoch.take() else {
            return;
        };
        let holder = self.id.clone();
        let released = self
            .db
            .transact(move |tx, _| leases::release(tx, leases::AUDITOR, &holder, epoch))
            .await;
        if let Err(error) = released {
            tracing::warn!(auditor = %self.id, %error, "could not release the auditor lease; it will expire");
        }
    }

    /// One tick: takes or renews the lease and, if held, audits. Returns what it did.
    pub async fn audit_once(&self) -> Result<AuditReport, AuditError> {
        let now_ms = unix_ms();
        let holder = self.id.clone();
        let lease_ms = millis(self.config.lease);
        let lease = self
            .db
            .transact(move |tx, _| leases::acquire(tx, leases::AUDITOR, &holder, now_ms, lease_ms))
            .await?;
        let Some(lease) = lease else {
            lock(&self.state).epoch = None;
            return Ok(AuditReport::default());
        };
        {
            let mut state = lock(&self.state);
            if state.epoch != Some(lease.epoch) {
                // A new term: forget progress made under another.
                *state = State {
                    epoch: Some(lease.epoch),
                    term_started_ms: now_ms,
                    ..State::default()
                };
            }
            state.renewed_at = Some(Instant::now());
        }
        self.counters
            .ticks_as_leader
            .fetch_add(1, Ordering::Relaxed);
        let mut report = AuditReport {
            leader: true,
            epoch: lease.epoch,
            ..AuditReport::default()
        };
        self.check_lost_bookies(lease.epoch, &mut report).await?;
        let (check_due, orphans_due) = {
            let state = lock(&self.state);
            let due = |last: Option<u64>, every| {
                last.is_none_or(|l| now_ms.saturating_sub(l) >= millis(every))
            };
            (
                due(state.last_check_ms, self.config.check_interval),
                due(state.last_orphan_scan_ms, self.config.orphan_scan_interval),
            )
        };
        if check_due || orphans_due {
            let alive = self.alive_bookies().await?;
            if check_due {
                self.fragment_check(lease.epoch, &alive, &mut report)
                    .await?;
                let mut state = lock(&self.state);
                state.last_check_ms = Some(now_ms);
                // The periodic check also rescans lost bookies next tick.
                state.scanned_lost.clear();
            }
            if orphans_due {
                self.orphan_scan(lease.epoch, &alive, &mut report).await?;
                lock(&self.state).last_orphan_scan_ms = Some(now_ms);
            }
        }
        Ok(report)
    }

    /// Marks `bookie`'s copy of `ledger_id` missing, if this auditor still holds the
    /// lease with the epoch of its last tick and the ledger still exists. Returns
    /// whether the pair was newly marked.
    pub async fn mark(&self, ledger_id: u64, bookie: &str) -> Result<bool, AuditError> {
        let epoch = lock(&self.state)
            .epoch
            .ok_or_else(|| AuditError::LeaseLost {
                holder: self.id.clone(),
                epoch: 0,
            })?;
        let marked = self.fenced_mark(epoch, ledger_id, bookie).await?;
        if marked {
            self.counters.ledgers_marked.fetch_add(1, Ordering::Relaxed);
        }
        Ok(marked)
    }

    async fn fenced_mark(
        &self,
        epoch: u64,
        ledger_id: u64,
        bookie: &str,
    ) -> Result<bool, AuditError> {
        let holder = self.id.clone();
        let bookie = bookie.to_owned();
        let outcome = self
            .db
            .transact(move |tx, _| {
                let now_ms = unix_ms();
                if !leases::check(tx, leases::AUDITOR, &holder, epoch, now_ms)? {
                    return Ok(None);
                }
                if ledgers::get(tx, ledger_id)?.is_none() {
                    return Ok(Some(false)); // deleted meanwhile: nothing to repair
                }
                let known = under_replicated::get(tx, ledger_id)?
                    .is_some_and(|r| r.missing_bookies.contains(&bookie));
                if !known {
                    under_replicated::mark(tx, ledger_id, &bookie, now_ms)?;
                }
                Ok::<_, NsError>(Some(!known))
            })
            .await?;
        outcome.ok_or_else(|| self.lease_lost(epoch))
    }

    /// Renews the lease if a tick has passed since the last renewal, so that a scan
    /// longer than the lease keeps it. Fails with [`AuditError::LeaseLost`] if another
    /// auditor took it meanwhile.
    async fn renew_if_due(&self, epoch: u64) -> Result<(), AuditError> {
        let due = lock(&self.state)
            .renewed_at
            .is_none_or(|at| at.elapsed() >= self.config.tick);
        if !due {
            return Ok(());
        }
        let holder = self.id.clone();
        let lease_ms = millis(self.config.lease);
        let lease = self
            .db
            .transact(move |tx, _| {
                leases::acquire(tx, leases::AUDITOR, &holder, unix_ms(), lease_ms)
            })
            .await?;
        match lease {
            Some(l) if l.epoch == epoch => {
                lock(&self.state).renewed_at = Some(Instant::now());
                Ok(())
            }
            _ => Err(self.lease_lost(epoch)),
        }
    }

    fn lease_lost(&self, epoch: u64) -> AuditError {
        lock(&self.state).epoch = None;
        AuditError::LeaseLost {
            holder: self.id.clone(),
            epoch,
        }
    }

    /// Whether `record` is lost at `now_ms`: decommissioned, or down for longer than
    /// the recovery delay (down since its heartbeat lease lapsed, or since this term
    /// began if that is later).
    fn is_lost(&self, record: &BookieRecord, now_ms: u64, term_started_ms: u64) -> bool {
        match record.effective_state(now_ms) {
            BookieState::Decommissioned => true,
            BookieState::Down => {
                let lapsed = record.last_heartbeat_ms.saturating_add(record.lease_ms);
                let down_since = lapsed.max(term_started_ms);
                now_ms.saturating_sub(down_since) > millis(self.config.lost_bookie_recovery_delay)
            }
            BookieState::ReadWrite | BookieState::ReadOnly => false,
        }
    }

    async fn check_lost_bookies(
        &self,
        epoch: u64,
        report: &mut AuditReport,
    ) -> Result<(), AuditError> {
        let now_ms = unix_ms();
        let registry = self.db.transact(|tx, _| bookies::list(tx)).await?;
        let lost: Vec<(String, u64)> = {
            let mut state = lock(&self.state);
            let term_started_ms = state.term_started_ms;
            // A bookie that is back is forgotten, so that losing it again rescans.
            state.scanned_lost.retain(|address, _| {
                registry
                    .iter()
                    .any(|(_, r)| &r.address == address && self.is_lost(r, now_ms, term_started_ms))
            });
            registry
                .iter()
                .filter(|(_, r)| self.is_lost(r, now_ms, term_started_ms))
                .filter(|(_, r)| state.scanned_lost.get(&r.address) != Some(&r.last_heartbeat_ms))
                .map(|(_, r)| (r.address.clone(), r.last_heartbeat_ms))
                .collect()
        };
        if lost.is_empty() {
            return Ok(());
        }
        let addresses: Vec<String> = lost.iter().map(|(a, _)| a.clone()).collect();
        tracing::info!(auditor = %self.id, bookies = ?addresses, "bookies lost; marking their ledgers");
        let marked = self.mark_ledgers_on(epoch, &addresses).await?;
        report.ledgers_marked += marked;
        report.lost_bookies.extend(addresses);
        self.counters
            .ledgers_marked
            .fetch_add(marked, Ordering::Relaxed);
        self.counters
            .bookies_lost
            .fetch_add(lost.len() as u64, Ordering::Relaxed);
        let mut state = lock(&self.state);
        state.scanned_lost.extend(lost);
        Ok(())
    }

    /// Scans every ledger in pages and marks those on `addresses`, each page in a
    /// fenced transaction. Returns the pairs newly marked.
    async fn mark_ledgers_on(&self, epoch: u64, addresses: &[String]) -> Result<u64, AuditError> {
        let limit = self.config.scan_page.clamp(1, bookies::MAX_LEDGER_PAGE);
        let mut after = None;
        let mut marked = 0;
        loop {
            let holder = self.id.clone();
            let addresses = addresses.to_vec();
            let page = self
                .db
                .transact(move |tx, _| {
                    let now_ms = unix_ms();
                    if !leases::check(tx, leases::AUDITOR, &holder, epoch, now_ms)? {
                        return Ok(None);
                    }
                    bookies::mark_ledgers_on(tx, &addresses, after, limit, now_ms).map(Some)
                })
                .await?
                .ok_or_else(|| self.lease_lost(epoch))?;
            marked += page.marked;
            if page.is_last(limit) {
                return Ok(marked);
            }
            after = page.last;
            tokio::time::sleep(self.config.scan_pause).await;
        }
    }

    /// Addresses of registered bookies that are READ_WRITE or READ_ONLY now.
    async fn alive_bookies(&self) -> Result<Vec<String>, AuditError> {
        let now_ms = unix_ms();
        let registry = self.db.transact(|tx, _| bookies::list(tx)).await?;
        let mut alive: Vec<String> = registry
            .into_iter()
            .filter(|(_, r)| {
                matches!(
                    r.effective_state(now_ms),
                    BookieState::ReadWrite | BookieState::ReadOnly
                )
            })
            .map(|(_, r)| r.address)
            .collect();
        alive.sort();
        alive.dedup();
        Ok(alive)
    }

    async fn call(&self, bookie: &str, request: Request) -> Result<Response, ClientError> {
        let answer = self
            .pool
            .call(
                &BookieId::new(bookie),
                request,
                self.client.config().request_timeout,
            )
            .await;
        tokio::time::sleep(self.config.bookie_request_pause).await;
        answer
    }

    /// The fragment check: every closed ledger's entries against what each of its
    /// live bookies stores, then each live bookie's scrub report.
    async fn fragment_check(
        &self,
        epoch: u64,
        alive: &[String],
        report: &mut AuditReport,
    ) -> Result<(), AuditError> {
        report.fragment_check = true;
        let limit = self.config.scan_page.clamp(1, bookies::MAX_LEDGER_PAGE);
        let mut after = None;
        loop {
            let page = self
                .db
                .transact(move |tx, _| {
                    let ids = ledgers::list_ids(tx, after, limit)?;
                    let mut metas = Vec::with_capacity(ids.len());
                    for id in &ids {
                        if let Some(m) = ledgers::get(tx, *id)? {
                            metas.push((*id, m.value));
                        }
                    }
                    Ok::<_, NsError>((ids.last().copied(), ids.len(), metas))
                })
                .await?;
            let (last, scanned, metas) = page;
            for (ledger_id, meta) in metas {
                self.check_ledger(epoch, ledger_id, &meta, alive, report)
                    .await?;
                self.renew_if_due(epoch).await?;
            }
            if scanned < limit {
                break;
            }
            after = last;
            tokio::time::sleep(self.config.scan_pause).await;
        }
        for bookie in alive {
            let answer = self.call(bookie, Request::GetScrubReport).await;
            let corrupt = match answer {
                Ok(Response::GetScrubReport(r)) if r.status.is_ok() => r.corrupt,
                Ok(other) => {
                    tracing::warn!(bookie = %bookie, status = %other.status(), "scrub report refused");
                    continue;
                }
                Err(error) => {
                    tracing::warn!(bookie = %bookie, %error, "scrub report failed");
                    continue;
                }
            };
            let mut ledger_ids: Vec<u64> = corrupt.into_iter().map(|(l, _)| l).collect();
            ledger_ids.dedup(); // sorted by (ledger, entry)
            for ledger_id in ledger_ids {
                if self.fenced_mark(epoch, ledger_id, bookie).await? {
                    self.counted_mark(report);
                }
            }
        }
        Ok(())
    }

    fn counted_mark(&self, report: &mut AuditReport) {
        report.ledgers_marked += 1;
        self.counters.ledgers_marked.fetch_add(1, Ordering::Relaxed);
    }

    /// Asks each live bookie of a closed ledger which entries it stores, and marks
    /// the ledger for each bookie that misses one it must hold. A bookie that cannot
    /// answer is left alone (the lost-bookie check covers dead ones).
    async fn check_ledger(
        &self,
        epoch: u64,
        ledger_id: u64,
        meta: &LedgerMetadata,
        alive: &[String],
        report: &mut AuditReport,
    ) -> Result<(), AuditError> {
        let (LedgerState::Closed, Some(last)) = (meta.state, meta.last_entry_id) else {
            return Ok(()); // open ledgers are still being written; empty ones hold nothing
        };
        let mut members: Vec<&String> = meta.segments.iter().flat_map(|s| &s.bookies).collect();
        members.sort();
        members.dedup();
        for bookie in members {
            if !alive.contains(bookie) {
                continue;
            }
            let request = Request::GetLedgerEntries(GetLedgerEntries { ledger_id });
            let ranges = match self.call(bookie, request).await {
                Ok(Response::GetLedgerEntries(r)) if r.status.is_ok() => r.ranges,
                Ok(Response::GetLedgerEntries(r)) if r.status == Status::NoSuchLedger => Vec::new(),
                Ok(other) => {
                    tracing::warn!(ledger_id, bookie = %bookie, status = %other.status(), "ledger entries refused");
                    continue;
                }
                Err(error) => {
                    tracing::warn!(ledger_id, bookie = %bookie, %error, "ledger entries failed");
                    continue;
                }
            };
            if misses_entries(meta, last, bookie, &ranges)
                && self.fenced_mark(epoch, ledger_id, bookie).await?
            {
                tracing::info!(ledger_id, bookie = %bookie, "bookie misses entries it must store");
                self.counted_mark(report);
            }
        }
        Ok(())
    }

    /// The orphan scan: ledgers a live bookie stores that have no metadata, and whose
    /// id the namespace did hand out, are deleted from that bookie.
    ///
    /// Why this cannot delete a ledger being created: the ledger client records a
    /// ledger's metadata (`LedgerClient::create_at`) before it sends any entry to a
    /// bookie, and the metadata goes only after the bookies dropped the ledger
    /// (`LedgerClient::delete`) or never (a GC claim deletes bookies first too). Here
    /// the bookie's list is read first and the metadata after, so a ledger the bookie
    /// listed had its metadata committed before the list was read; finding none later
    /// means it was deleted: the entries are garbage (a delete that missed this bookie,
    /// or a writer that kept writing after its ledger was deleted). An id whose batch
    /// the namespace never allocated (at or above the allocation watermark, see
    /// `folio_namespace::ids`) cannot come from this namespace's clients: the data is
    /// kept and reported, since deleting it would be a guess.
    async fn orphan_scan(
        &self,
        epoch: u64,
        alive: &[String],
        report: &mut AuditReport,
    ) -> Result<(), AuditError> {
        report.orphan_scan = true;
        let limit = self.config.orphan_page.clamp(1, MAX_LIST_LEDGERS);
        for bookie in alive {
            let mut start = 0u64;
            loop {
                let request = Request::ListLedgers(ListLedgers { start, limit });
                self.renew_if_due(epoch).await?;
                let ids = match self.call(bookie, request).await {
                    Ok(Response::ListLedgers(r)) if r.status.is_ok() => r.ledger_ids,
                    Ok(other) => {
                        tracing::warn!(bookie = %bookie, status = %other.status(), "ledger list refused");
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(bookie = %bookie, %error, "ledger list failed");
                        break;
                    }
                };
                let orphans = self.orphans_among(epoch, ids.clone()).await?;
                for ledger_id in orphans {
                    let request = Request::DeleteLedger(DeleteLedger { ledger_id });
                    match self.call(bookie, request).await {
                        Ok(Response::DeleteLedger(r))
                            if r.status.is_ok() || r.status == Status::NoSuchLedger =>
                        {
                            tracing::info!(ledger_id, bookie = %bookie, "deleted orphan ledger");
                            report.orphans_deleted += 1;
                            self.counters
                                .orphans_deleted
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(other) => {
                            tracing::warn!(ledger_id, bookie = %bookie, status = %other.status(), "orphan delete refused");
                        }
                        Err(error) => {
                            tracing::warn!(ledger_id, bookie = %bookie, %error, "orphan delete failed");
                        }
                    }
                }
                match ids.last() {
                    Some(&last) if ids.len() >= limit as usize => match last.checked_add(1) {
                        Some(next) => start = next,
                        None => break,
                    },
                    _ => break,
                }
            }
        }
        Ok(())
    }

    /// Which of `ids` have no metadata and an id from an allocated batch; in a fenced
    /// transaction (a deposed auditor stops here).
    async fn orphans_among(&self, epoch: u64, ids: Vec<u64>) -> Result<Vec<u64>, AuditError> {
        let holder = self.id.clone();
        let found = self
            .db
            .transact(move |tx, _| {
                if !leases::check(tx, leases::AUDITOR, &holder, epoch, unix_ms())? {
                    return Ok(None);
                }
                let counter = tx
                    .get(&keys::id_alloc(LEDGER_IDS))?
                    .map_or(0, |v| decode_counter(&v));
                let allocated = u64::try_from(counter).unwrap_or(0);
                let mut orphans = Vec::new();
                for &id in &ids {
                    if ledgers::get(tx, id)?.is_some() {
                        continue;
                    }
                    match batch_of(id) {
                        Some(batch) if batch >= 1 && batch < allocated => orphans.push(id),
                        _ => tracing::warn!(
                            ledger_id = id,
                            "a bookie stores a ledger whose id this namespace never allocated; keeping it"
                        ),
                    }
                }
                Ok::<_, NsError>(Some(orphans))
            })
            .await?;
        found.ok_or_else(|| self.lease_lost(epoch))
    }
}

/// The id batch that handed out `ledger_id` (the inverse of
/// `folio_namespace::ids::IdBatch::numbered`), or `None` if no batch covers it.
fn batch_of(ledger_id: u64) -> Option<u64> {
    const BATCH_BITS: u32 = 47;
    let spread = ledger_id / IDS_PER_BATCH;
    if spread >= 1 << BATCH_BITS {
        return None;
    }
    let batch = spread.reverse_bits() >> (64 - BATCH_BITS);
    // Checked against the forward mapping, so a change there cannot go unnoticed.
    (IdBatch::numbered(batch).first == ledger_id - ledger_id % IDS_PER_BATCH).then_some(batch)
}

/// Whether `bookie` misses an entry it must store: in each segment of a closed
/// ledger (up to `last`), entry `e` lives on ensemble positions `(e + i) mod E` for
/// `i < Qw`; `ranges` are the entries the bookie stores (sorted, disjoint, inclusive).
fn misses_entries(meta: &LedgerMetadata, last: u64, bookie: &str, ranges: &[(u64, u64)]) -> bool {
    let e = u64::from(meta.ensemble_size.max(1));
    let qw = u64::from(meta.write_quorum);
    for (i, segment) in meta.segments.iter().enumerate() {
        let first = segment.first_entry_id;
        let end = match meta.segments.get(i + 1) {
            Some(next) => next.first_entry_id.saturating_sub(1).min(last),
            None => last,
        };
        if first > end {
            continue;
        }
        for (position, _) in segment
            .bookies
            .iter()
            .enumerate()
            .filter(|(_, b)| *b == bookie)
        {
            let position = position as u64;
            let holds = |entry: u64| (position + e - entry % e) % e < qw;
            for (g0, g1) in gaps(ranges, first, end) {
                // A gap of E entries or more covers every position.
                if g1 - g0 + 1 >= e || (g0..=g1).any(holds) {
                    return true;
                }
            }
        }
    }
    false
}

/// The entries of `first..=last` not in `ranges`, as inclusive ranges.
fn gaps(ranges: &[(u64, u64)], first: u64, last: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut next = first;
    for &(a, b) in ranges {
        if b < next {
            continue;
        }
        if a > last {
            break;
        }
        if a > next {
            out.push((next, a - 1));
        }
        match b.checked_add(1) {
            Some(n) => next = n,
            None => return out,
        }
        if next > last {
            return out;
        }
    }
    out.push((next, last));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_namespace::ledgers::{DigestType, EnsembleSegment};

    fn meta(e: u32, qw: u32, segments: &[(u64, &[&str])], last: u64) -> LedgerMetadata {
        LedgerMetadata {
            ensemble_size: e,
            write_quorum: qw,
            ack_quorum: qw,
            state: LedgerState::Closed,
            last_entry_id: Some(last),
            length_bytes: 0,
            ctime_ms: 0,
            digest: DigestType::Crc32c,
            segments: segments
                .iter()
                .map(|(f, b)| EnsembleSegment {
                    first_entry_id: *f,
                    bookies: b.iter().map(|s| (*s).to_owned()).collect(),
                })
                .collect(),
            custom: Default::default(),
        }
    }

    #[test]
    fn gaps_are_the_complement_within_bounds() {
        assert_eq!(gaps(&[], 0, 9), [(0, 9)]);
        assert_eq!(gaps(&[(0, 9)], 0, 9), []);
        assert_eq!(gaps(&[(2, 3), (6, 20)], 0, 9), [(0, 1), (4, 5)]);
        assert_eq!(gaps(&[(0, 3)], 2, 5), [(4, 5)]);
    }

    #[test]
    fn striping_decides_which_entries_a_bookie_must_hold() {
        // E = 3, Qw = 2: position 0 holds entries e with (0 - e) mod 3 < 2: 0, 2, 3, 5, ...
        let m = meta(3, 2, &[(0, &["a", "b", "c"])], 5);
        assert!(!misses_entries(&m, 5, "a", &[(0, 0), (2, 3), (5, 5)]));
        assert!(misses_entries(&m, 5, "a", &[(0, 0), (2, 3)]));
        // b (position 1) holds 0, 1, 3, 4.
        assert!(!misses_entries(&m, 5, "b", &[(0, 1), (3, 4)]));
        assert!(misses_entries(&m, 5, "b", &[]));
        // Not in the ledger: never misses.
        assert!(!misses_entries(&m, 5, "z", &[]));
    }

    #[test]
    fn a_replaced_bookie_owes_only_its_segment() {
        // c was replaced by d from entry 4 on; the ledger ends at 6.
        let m = meta(3, 3, &[(0, &["a", "b", "c"]), (4, &["a", "b", "d"])], 6);
        assert!(!misses_entries(&m, 6, "c", &[(0, 3)]));
        assert!(misses_entries(&m, 6, "c", &[(0, 2)]));
        assert!(!misses_entries(&m, 6, "d", &[(4, 6)]));
        assert!(misses_entries(&m, 6, "d", &[(4, 5)]));
    }

    #[test]
    fn batch_of_inverts_the_allocator() {
        for b in [1u64, 2, 3, 1000, (1 << 47) - 1] {
            let first = IdBatch::numbered(b).first;
            assert_eq!(batch_of(first), Some(b));
            assert_eq!(batch_of(first + IDS_PER_BATCH - 1), Some(b));
        }
        assert_eq!(batch_of(u64::MAX), None);
    }
}
