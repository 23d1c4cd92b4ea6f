//! The thick ledger client.
//!
//! It carries the replication protocol: write sets and ack quorums, in-order
//! acknowledgement, LAC, ensemble change, fencing and recovery, and verified reads.
//! The protocol cores are state machines without I/O, driven by tokio tasks from
//! outside, so that a deterministic simulation runs the same code:
//!
//! - [`quorum`]: [`QuorumConfig`] and the quorum arithmetic every other module uses
//!   (write sets, ack quorum, coverage, the absent-entry threshold);
//! - [`writer`]: [`Writer`], the write path of one ledger (pipelined appends, in-order
//!   acknowledgement, piggybacked and explicit LAC, timeouts, ensemble change, fencing);
//! - [`recovery`]: [`Recovery`], which fences a ledger and closes it at the right entry;
//! - [`reader`]: [`EntryRead`], one verified read with speculative retries;
//! - [`placement`]: [`PlacementPolicy`], random or rack-aware choice of bookies;
//! - [`bookie_client`]: [`BookiePool`], pipelined TCP connections to bookies;
//! - [`metrics`]: [`LedgerMetrics`], append and read latency and ensemble changes;
//! - [`autorecovery`]: the [`autorecovery::Auditor`] that finds under-replicated
//!   ledgers, the [`autorecovery::BookieProber`] that heartbeats static bookies, and
//!   the [`ReplicationWorker`] that re-replicates the ledgers of the queue.
//!
//! On top of them, [`LedgerClient`] is the API applications use: `create` returns a
//! [`LedgerWriter`] (pipelined `submit`/`append`, `close`), `open` a [`LedgerReader`]
//! (verified `read`, `read_range` and `stream` with read-ahead, `wait_lac` for
//! tailing with a long-poll, recovery on open),
//! and `delete`. Ledger metadata and the bookie registry live in the namespace
//! (`folio-namespace`).
//!
//! `tests/simulation.rs` runs these cores under a seeded, simulated network and disk.

pub mod autorecovery;
pub mod bookie_client;
mod client;
pub mod metrics;
pub mod placement;
pub mod quorum;
mod read_handle;
pub mod reader;
pub mod recovery;
mod write_handle;
pub mod writer;

pub use autorecovery::{
    AuditError, Auditor, AuditorConfig, BookieProber, InvalidConfig, ProberConfig,
    ReplicationWorker, StatsSnapshot, WorkerConfig, WorkerError, WorkerPass, WorkerStats,
};
pub use bookie_client::{BookieClient, BookiePool, ClientError};
pub use client::{BookieSource, ClientConfig, ClosedLedger, LedgerClient, LedgerError, OpenMode};
pub use metrics::LedgerMetrics;
pub use placement::{Candidate, NotEnoughBookies, PlacementPolicy};
pub use read_handle::LedgerReader;
pub use reader::{EntryRead, ReadAction, ReadError};
pub use write_handle::{LedgerWriter, PendingAppend};

pub use quorum::{InvalidQuorum, PositionSet, QuorumConfig, WriteSet};
pub use recovery::{ReadOutcome, Recovery, RecoveryAction, RecoveryError, Segment};
pub use writer::{AddOutcome, WriteAction, WriteError, Writer, WriterConfig};

use std::fmt;

/// A bookie's identity: the address it serves on, as registered in the namespace
/// (`host:port`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BookieId(String);

impl BookieId {
    /// Wraps a bookie address.
    pub fn new(id: impl Into<String>) -> BookieId {
        BookieId(id.into())
    }

    /// The address as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BookieId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
