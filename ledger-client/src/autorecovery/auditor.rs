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
//!
//! All times are read from the registry (heartbeats), not from the auditor's memory,
//! so a newly elected auditor reaches the same verdicts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use folio_namespace::bookies::{self, BookieRecord, BookieState};
use folio_namespace::{Db, NsError, leases, under_replicated};
use tokio::sync::watch;

use super::{AuditorConfig, millis, unix_ms};
use crate::LedgerClient;
use crate::bookie_client::ClientError;

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
}

/// The auditor. See the module header.
pub struct Auditor {
    db: Db,
    /// Its connection pool reaches the bookies in the fragment check and orphan scan.
    #[allow(dead_code)] // used once the bookie inspection requests land
    client: LedgerClient,
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
        Auditor {
            db,
            client,
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

    /// Audits every tick until `shutdown` turns true, then releases the lease.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
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
                    ..State::default()
                };
            }
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
                if folio_namespace::ledgers::get(tx, ledger_id)?.is_none() {
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

    fn lease_lost(&self, epoch: u64) -> AuditError {
        lock(&self.state).epoch = None;
        AuditError::LeaseLost {
            holder: self.id.clone(),
            epoch,
        }
    }

    /// Whether `record` is lost at `now_ms`: decommissioned, or down for longer than
    /// the recovery delay (down since its heartbeat lease lapsed).
    fn is_lost(&self, record: &BookieRecord, now_ms: u64) -> bool {
        match record.effective_state(now_ms) {
            BookieState::Decommissioned => true,
            BookieState::Down => {
                let down_since = record.last_heartbeat_ms.saturating_add(record.lease_ms);
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
            // A bookie that is back is forgotten, so that losing it again rescans.
            state.scanned_lost.retain(|address, _| {
                registry
                    .iter()
                    .any(|(_, r)| &r.address == address && self.is_lost(r, now_ms))
            });
            registry
                .iter()
                .filter(|(_, r)| self.is_lost(r, now_ms))
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
}
