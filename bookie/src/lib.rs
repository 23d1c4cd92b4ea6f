//! The bookie: the storage server that holds ledger entries durably.
//!
//! A bookie journals every add (group commit, fsync before acknowledgement), writes
//! entries from all ledgers sequentially into shared entry logs, and keeps an index from
//! (ledger, entry) to location. It enforces fencing, tracks LAC, refuses to start on a
//! foreign or missing cookie, and turns read-only when its disk fills. See
//! `docs/format.md` for the on-disk layout and `docs/protocol.md` for the promises.
//!
//! How the modules fit:
//! - [`bookie`]: [`Bookie::start`] → [`BookieHandle`]; start-up, checkpoints, disk checks.
//! - `server` (TCP, pipelining, backpressure with the `budget`s) → `handler` (one function per
//!   operation) → [`fencing`] (the pure ledger table: keys, fences, LAC, admission).
//! - [`group_commit`] runs the [`journal`] (record format, replay) on two threads and
//!   applies durable records to the ledger table and the [`storage`].
//! - [`storage`] = [`write_cache`] + [`entry_log`] + [`index`], with read-ahead and
//!   the [`checkpoint`] mark.
//! - [`compaction`] deletes dead entry logs and compacts sparse ones.
//! - [`scrub`] walks the index at a bounded rate and checks every stored copy.
//! - [`cookie`] stamps data directories; [`disk`] measures free space.
//! - [`metrics`]: [`BookieMetrics`], fsync, add and read latency and disk usage.
//! - [`machine`]: [`BookieCore`], the same request handling as a synchronous state
//!   machine (journal fsyncs driven by its owner) for deterministic simulation, and
//!   the helpers the server's handlers share with it.
//!
//! Boundaries that tests fake are traits: [`journal::JournalDir`] (with
//! [`journal::MemJournalDir`], which knows written from synced bytes),
//! [`index::EntryIndex`] (with [`index::MemIndex`]), [`disk::DiskStats`].

pub mod bookie;
mod budget;
pub mod checkpoint;
pub mod compaction;
pub mod config;
pub mod cookie;
pub mod disk;
pub mod entry_log;
pub mod error;
pub mod fault;
pub mod fencing;
pub mod group_commit;
mod handler;
pub mod index;
pub mod journal;
pub mod machine;
pub mod metrics;
pub mod probe;
pub mod scrub;
mod server;
pub mod storage;
pub mod write_cache;

pub use bookie::{Bookie, BookieHandle};
pub use compaction::SpaceStats;
pub use config::BookieConfig;
pub use error::{CookieError, JournalError, StartError, StorageError};
pub use group_commit::GroupCommitConfig;
pub use machine::{BookieCore, Handled};
pub use metrics::BookieMetrics;
pub use scrub::ScrubStats;
