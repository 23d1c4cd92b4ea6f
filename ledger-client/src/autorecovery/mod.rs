//! Auto-recovery: restoring the replicas of ledgers that lost a bookie.
//!
//! - [`worker`]: [`ReplicationWorker`], which takes ledgers off the namespace's
//!   under-replication queue and copies their lost entries to the bookie that was
//!   marked missing (in place) or to a replacement, then updates the metadata;
//! - `copy`: the per-entry copy (read a verified replica, recovery-add it to the
//!   target) and the byte-rate limit.

mod copy;
pub mod worker;

pub use worker::{
    ReplicationWorker, StatsSnapshot, WorkerConfig, WorkerError, WorkerPass, WorkerStats,
};
