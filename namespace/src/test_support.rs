//! Helpers for the unit tests of the typed stores.

use crate::kv::{FaultConfig, FaultyStore};
use crate::{Db, EmbeddedOptions, EmbeddedStore, RetryPolicy};
use std::sync::Arc;

/// A fresh embedded store (fsync off: these tests are about logic, and
/// the conformance suite covers durability) and its directory.
pub(crate) fn db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EmbeddedOptions {
        sync_commits: false,
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open(dir.path(), options).expect("open");
    let db = Db::new(Arc::new(store)).with_policy(RetryPolicy {
        max_attempts: 1000,
        ..RetryPolicy::default()
    });
    (dir, db)
}

/// A store whose commits often conflict or end with an unknown result (applied or
/// not), to show that a store's transactions are idempotent.
pub(crate) fn faulty_db(seed: u64) -> (tempfile::TempDir, Db) {
    let (dir, db) = db();
    let faulty = FaultyStore::new(
        db.store().clone(),
        FaultConfig {
            seed,
            conflict: 0.15,
            unknown_not_applied: 0.15,
            unknown_applied: 0.2,
        },
    );
    let db = Db::new(Arc::new(faulty)).with_policy(RetryPolicy {
        max_attempts: 1000,
        ..RetryPolicy::default()
    });
    (dir, db)
}
