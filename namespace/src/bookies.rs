//! The bookie registry: `(bookie, bookie_id)` → [`BookieRecord`].
//!
//! Bookies register at start and renew a heartbeat lease. A bookie whose lease ran out
//! reads as [`BookieState::Down`], whatever it last reported, so placement never picks
//! a bookie that stopped heartbeating.

use crate::NsError;
use crate::codec;
use crate::keys::{self, Subspace};
use crate::kv::{RangeOptions, Transaction};
use serde::{Deserialize, Serialize};

/// A bookie's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookieState {
    /// Accepts new ledgers and reads.
    ReadWrite,
    /// Serves reads, fences and recovery writes only (disk full, draining).
    ReadOnly,
    /// Not serving: lease expired, or decommissioned by an admin.
    Down,
}

/// What the registry holds for a bookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookieRecord {
    /// `host:port` of its protocol listener.
    pub address: String,
    /// Rack or failure domain, for placement.
    pub rack: Option<String>,
    /// The state it reported.
    pub state: BookieState,
    /// Last heartbeat, milliseconds since the Unix epoch.
    pub last_heartbeat_ms: u64,
    /// How long a heartbeat stays valid.
    pub lease_ms: u64,
    /// Disk capacity.
    pub capacity_bytes: u64,
    /// Free disk space at the last heartbeat.
    pub free_bytes: u64,
}

impl BookieRecord {
    /// The state at `now_ms`: [`BookieState::Down`] once the lease has expired.
    pub fn effective_state(&self, now_ms: u64) -> BookieState {
        if now_ms > self.last_heartbeat_ms.saturating_add(self.lease_ms) {
            BookieState::Down
        } else {
            self.state
        }
    }
}

const WHAT: &str = "bookie record";

/// Registers a bookie, or replaces its registration.
pub fn register(
    tx: &mut dyn Transaction,
    bookie_id: &str,
    record: &BookieRecord,
) -> Result<(), NsError> {
    tx.set(&keys::bookie(bookie_id), &codec::encode(WHAT, record)?)?;
    Ok(())
}

/// Renews a registered bookie's lease and reports its state and free space.
pub fn heartbeat(
    tx: &mut dyn Transaction,
    bookie_id: &str,
    now_ms: u64,
    state: BookieState,
    free_bytes: u64,
) -> Result<(), NsError> {
    let mut record =
        get(tx, bookie_id)?.ok_or_else(|| NsError::BookieNotFound(bookie_id.to_owned()))?;
    record.last_heartbeat_ms = record.last_heartbeat_ms.max(now_ms);
    record.state = state;
    record.free_bytes = free_bytes;
    register(tx, bookie_id, &record)
}

/// Reads a bookie's registration.
pub fn get(tx: &mut dyn Transaction, bookie_id: &str) -> Result<Option<BookieRecord>, NsError> {
    tx.get(&keys::bookie(bookie_id))?
        .map(|v| codec::decode(WHAT, &v))
        .transpose()
}

/// Every registered bookie, by id.
pub fn list(tx: &mut dyn Transaction) -> Result<Vec<(String, BookieRecord)>, NsError> {
    let mut out = Vec::new();
    let mut range = Subspace::Bookie.range();
    loop {
        let chunk = tx.get_range(&range, RangeOptions::forward(1000))?;
        for kv in &chunk.kvs {
            let (id,): (String,) = keys::unpack(Subspace::Bookie, &kv.key)?;
            out.push((id, codec::decode(WHAT, &kv.value)?));
        }
        match chunk.continuation(&range, false) {
            Some(next) => range = next,
            None => return Ok(out),
        }
    }
}

/// Removes a bookie's registration. Returns whether it existed.
pub fn remove(tx: &mut dyn Transaction, bookie_id: &str) -> Result<bool, NsError> {
    let key = keys::bookie(bookie_id);
    let existed = tx.get(&key)?.is_some();
    tx.clear(&key)?;
    Ok(existed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::db;

    fn record(now_ms: u64) -> BookieRecord {
        BookieRecord {
            address: "127.0.0.1:3181".into(),
            rack: Some("r1".into()),
            state: BookieState::ReadWrite,
            last_heartbeat_ms: now_ms,
            lease_ms: 10_000,
            capacity_bytes: 1 << 40,
            free_bytes: 1 << 39,
        }
    }

    #[test]
    fn expired_lease_reads_as_down_until_the_next_heartbeat() {
        let (_dir, db) = db();
        db.run(|tx, _| register(tx, "b1", &record(1_000)))
            .expect("register");
        let r = db
            .run(|tx, _| get(tx, "b1"))
            .expect("get")
            .expect("present");
        assert_eq!(r.effective_state(11_000), BookieState::ReadWrite);
        assert_eq!(r.effective_state(11_001), BookieState::Down);
        db.run(|tx, _| heartbeat(tx, "b1", 20_000, BookieState::ReadOnly, 5))
            .expect("heartbeat");
        let r = db
            .run(|tx, _| get(tx, "b1"))
            .expect("get")
            .expect("present");
        assert_eq!(r.effective_state(21_000), BookieState::ReadOnly);
        assert_eq!(r.free_bytes, 5);
        assert_eq!(r.rack.as_deref(), Some("r1"));
    }

    #[test]
    fn heartbeat_of_unknown_bookie_fails_and_list_is_by_id() {
        let (_dir, db) = db();
        let err = db
            .run(|tx, _| heartbeat(tx, "nope", 1, BookieState::ReadWrite, 0))
            .expect_err("unknown");
        assert!(matches!(err, NsError::BookieNotFound(_)));
        for id in ["b3", "b1", "b2"] {
            db.run(|tx, _| register(tx, id, &record(0)))
                .expect("register");
        }
        let ids: Vec<String> = db
            .run(|tx, _| list(tx))
            .expect("list")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["b1", "b2", "b3"]);
        assert!(db.run(|tx, _| remove(tx, "b2")).expect("remove"));
        assert_eq!(db.run(|tx, _| list(tx)).expect("list").len(), 2);
    }
}
