//! The metadata layer of folio: names map to ledger ids here, the way a file system
//! maps names to inodes.
//!
//! Two layers:
//!
//! - [`kv`]: a transactional, ordered key-value trait shaped like FoundationDB
//!   ([`KvStore`], [`Transaction`]) with two backends: [`EmbeddedStore`] (fjall, the
//!   default, with a batching committer) and `FdbStore` (FoundationDB, cargo feature
//!   `fdb`). [`Db`] runs closures as transactions and retries them on conflict;
//!   [`conformance`] is the suite every backend passes.
//! - The typed schemas on top, one module each, as functions over a
//!   `&mut dyn Transaction` so that callers compose them into one transaction:
//!   [`ledgers`] (ledger metadata, with [`ids`] for id allocation), [`bookies`] (the
//!   bookie registry), [`buckets`], [`objects`] (with [`links`] counting the names of
//!   each ledger and [`list`] for S3 listing), [`multipart`], [`access_keys`], the
//!   [`gc`] and [`under_replicated`] queues, and named [`leases`] (the auditor's).
//!
//! Keys are laid out by [`keys`] (tuple encoding under one-byte subspace tags); values
//! are encoded by [`codec`] (a version byte, then postcard). `docs/format.md` has both,
//! byte by byte, and `docs/namespace.md` the design.

pub mod access_keys;
pub mod bookies;
pub mod buckets;
pub mod codec;
pub mod conformance;
mod db;
mod error;
pub mod gc;
pub mod ids;
pub mod keys;
pub mod kv;
pub mod leases;
pub mod ledgers;
pub mod links;
pub mod list;
pub mod multipart;
pub mod objects;
mod op_id;
#[cfg(test)]
mod test_support;
pub mod under_replicated;

pub use db::{Attempt, Db, RetryPolicy};
pub use error::{KvError, NsError, TxError};
pub use kv::{EmbeddedOptions, EmbeddedStore, KvStore, Transaction};
pub use op_id::OpId;
