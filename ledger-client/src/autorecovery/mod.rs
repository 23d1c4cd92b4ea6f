//! Auto-recovery: finding ledgers that lost replicas, and (in the replication
//! workers) copying them back.
//!
//! - [`prober`]: [`BookieProber`] keeps the bookie registry current for a gateway or
//!   standalone that knows its bookies as a static list: it asks each bookie for its
//!   state and space and heartbeats its registry record. Bookies on FoundationDB
//!   clusters heartbeat themselves with the same namespace functions.
//! - [`auditor`]: [`Auditor`], elected by a namespace lease, reads the registry and
//!   marks ledgers under-replicated: those on bookies lost for longer than a delay (or
//!   decommissioned), and those whose bookies miss or hold corrupt copies of entries
//!   they must store; it also deletes orphan ledgers from bookies.
//! - [`worker`]: [`ReplicationWorker`], which takes ledgers off the queue and copies
//!   their lost entries to the bookie that was marked missing (in place) or to a
//!   replacement, then updates the metadata;
//! - `copy`: the per-entry copy (read a verified replica, recovery-add it to the
//!   target) and the byte-rate limit.
//!
//! The under-replication queue they share is `folio_namespace::under_replicated`.

pub mod auditor;
mod copy;
pub mod prober;
pub mod worker;

use std::time::Duration;

pub use auditor::{AuditCounters, AuditError, AuditReport, Auditor};
pub use prober::{BookieProber, ProbeReport};
pub use worker::{
    ReplicationWorker, StatsSnapshot, WorkerConfig, WorkerError, WorkerPass, WorkerStats,
};

/// Settings of the [`BookieProber`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProberConfig {
    /// How often every bookie is probed (GetBookieInfo) and heartbeated.
    pub interval: Duration,
    /// The registry lease is this many intervals, so that one slow or lost probe does
    /// not make a bookie read as down.
    pub lease_intervals: u32,
    /// How long one probe waits for a bookie's answer.
    pub probe_timeout: Duration,
}

impl Default for ProberConfig {
    fn default() -> Self {
        ProberConfig {
            interval: Duration::from_secs(5),
            lease_intervals: 3,
            probe_timeout: Duration::from_secs(3),
        }
    }
}

/// Settings of the [`Auditor`]. The defaults are safe for production; tests shorten
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditorConfig {
    /// Time between audit ticks. Each tick renews the lease and looks for lost
    /// bookies. Default 10 s.
    pub tick: Duration,
    /// The auditor lease. Must exceed `tick` (it is renewed once a tick); when the
    /// holder dies, another auditor takes over after at most this long. Default 60 s.
    pub lease: Duration,
    /// How long a bookie must have been down (its registry lease lapsed) before its
    /// ledgers are marked under-replicated. Default 60 s. BookKeeper's
    /// `lostBookieRecoveryDelay` defaults to 0, which re-replicates a whole bookie on
    /// every restart or short network blip; a minute covers a process restart or a
    /// rolling upgrade while still starting recovery long before a second failure is
    /// likely. The registry lease (a few heartbeat intervals) comes on top of it.
    pub lost_bookie_recovery_delay: Duration,
    /// Time between fragment checks (every closed ledger's entries against what each
    /// live bookie stores, and the bookies' scrub reports). Default 24 h (BookKeeper:
    /// `auditorPeriodicCheckInterval`, one week).
    pub check_interval: Duration,
    /// Time between orphan scans (ledgers on bookies with no metadata). Default 24 h.
    pub orphan_scan_interval: Duration,
    /// Ledgers read per namespace transaction in scans (at most 1,000, for
    /// FoundationDB's 5 s transactions). Default 500.
    pub scan_page: usize,
    /// Pause after each page of a namespace scan, bounding the scan rate. Default
    /// 20 ms (at most 25,000 ledgers a second).
    pub scan_pause: Duration,
    /// Pause after each request to a bookie in the fragment check and orphan scan,
    /// bounding the load on bookies. Default 5 ms.
    pub bookie_request_pause: Duration,
    /// Ledger ids asked per ListLedgers request in the orphan scan (the bookie caps
    /// it at 10,000). Default 1,000.
    pub orphan_page: u32,
}

impl Default for AuditorConfig {
    fn default() -> Self {
        AuditorConfig {
            tick: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            lost_bookie_recovery_delay: Duration::from_secs(60),
            check_interval: Duration::from_secs(24 * 3600),
            orphan_scan_interval: Duration::from_secs(24 * 3600),
            scan_page: 500,
            scan_pause: Duration::from_millis(20),
            bookie_request_pause: Duration::from_millis(5),
            orphan_page: 1_000,
        }
    }
}

/// Settings of all the auto-recovery tasks a process runs ([`start`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoRecoveryConfig {
    /// The registry prober (run when the client has a static bookie list).
    pub prober: ProberConfig,
    /// The auditor.
    pub auditor: AuditorConfig,
    /// The replication worker.
    pub worker: WorkerConfig,
}

/// The auto-recovery tasks of one process, started by [`start`].
pub struct Running {
    /// The spawned tasks; each ends when the shutdown signal turns true.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The auditor, for its counters.
    pub auditor: std::sync::Arc<Auditor>,
    /// The replication worker's counters.
    pub worker_stats: std::sync::Arc<WorkerStats>,
}

/// Starts a process's share of auto-recovery on the current tokio runtime: a
/// [`BookieProber`] for the client's static bookie list (if it has one), an
/// [`Auditor`] (which audits only while it holds the cluster's lease) and a
/// [`ReplicationWorker`]. `id` names this process in the lease and in claims; it must
/// be unique among the processes sharing the namespace.
pub fn start(
    db: &folio_namespace::Db,
    client: &crate::LedgerClient,
    config: AutoRecoveryConfig,
    id: &str,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> Running {
    let mut tasks = Vec::new();
    if !client.static_bookies().is_empty() {
        let prober = BookieProber::new(db.clone(), client.clone(), config.prober);
        tasks.push(tokio::spawn(prober.run(shutdown.clone())));
    }
    let auditor = std::sync::Arc::new(Auditor::new(
        db.clone(),
        client.clone(),
        config.auditor,
        format!("auditor@{id}"),
    ));
    tasks.push(tokio::spawn(auditor.clone().run(shutdown.clone())));
    let worker = ReplicationWorker::new(
        db.clone(),
        client.clone(),
        config.worker,
        format!("worker@{id}"),
    );
    let worker_stats = worker.stats();
    tasks.push(tokio::spawn(worker.run(shutdown.clone())));
    Running {
        tasks,
        auditor,
        worker_stats,
    }
}

/// A setting of [`AuditorConfig`] or [`ProberConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {key}: {reason}")]
pub struct InvalidConfig {
    /// The setting.
    pub key: &'static str,
    /// Why.
    pub reason: String,
}

impl AuditorConfig {
    /// Checks the settings: a non-zero tick, a lease longer than the tick (it is
    /// renewed once a tick), and a scan page of 1 to 1,000 ledgers.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if self.tick.is_zero() {
            return Err(InvalidConfig {
                key: "tick",
                reason: "must be positive".into(),
            });
        }
        if self.lease <= self.tick {
            return Err(InvalidConfig {
                key: "lease",
                reason: format!(
                    "{:?} must exceed the tick ({:?}), which renews it",
                    self.lease, self.tick
                ),
            });
        }
        if !(1..=folio_namespace::bookies::MAX_LEDGER_PAGE).contains(&self.scan_page) {
            return Err(InvalidConfig {
                key: "scan_page",
                reason: format!(
                    "{} is not within 1..={}",
                    self.scan_page,
                    folio_namespace::bookies::MAX_LEDGER_PAGE
                ),
            });
        }
        Ok(())
    }
}

impl ProberConfig {
    /// Checks the settings: a non-zero interval and at least one interval of lease.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if self.interval.is_zero() {
            return Err(InvalidConfig {
                key: "interval",
                reason: "must be positive".into(),
            });
        }
        if self.lease_intervals == 0 {
            return Err(InvalidConfig {
                key: "lease_intervals",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch (registry and lease times are wall-clock, shared
/// between processes).
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_a_lease_shorter_than_the_tick_is_not() {
        assert_eq!(AuditorConfig::default().validate(), Ok(()));
        assert_eq!(ProberConfig::default().validate(), Ok(()));
        let bad = AuditorConfig {
            lease: Duration::from_secs(10),
            ..AuditorConfig::default()
        };
        assert_eq!(bad.validate().map_err(|e| e.key), Err("lease"));
        let bad = ProberConfig {
            lease_intervals: 0,
            ..ProberConfig::default()
        };
        assert_eq!(bad.validate().map_err(|e| e.key), Err("lease_intervals"));
    }
}
