//! The under-replication queue: `(urep, ledger_id)` → [`UnderReplicated`].
//!
//! The auditor (or a client that saw a bookie fail) marks a ledger with the bookies
//! whose copies are missing. Auto-recovery workers [`claim`] a ledger for a lease,
//! re-replicate it, and [`clear`] it; a worker that dies lets its lease run out and
//! another takes over.

use crate::NsError;
use crate::codec;
use crate::keys::{self, Subspace};
use crate::kv::{RangeOptions, Transaction};
use serde::{Deserialize, Serialize};

/// Why and since when a ledger is under-replicated, and who works on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnderReplicated {
    /// Bookies whose copies are missing.
    pub missing_bookies: Vec<String>,
    /// First marked, milliseconds since the Unix epoch.
    pub since_ms: u64,
    /// The worker holding it, and until when.
    pub claim: Option<Claim>,
}

/// A worker's lease on a ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// Worker id.
    pub worker: String,
    /// Lease end, milliseconds since the Unix epoch.
    pub until_ms: u64,
}

const WHAT: &str = "under-replication record";

/// Reads a ledger's record.
pub fn get(tx: &mut dyn Transaction, ledger_id: u64) -> Result<Option<UnderReplicated>, NsError> {
    tx.get(&keys::under_replicated(ledger_id))?
        .map(|v| codec::decode(WHAT, &v))
        .transpose()
}

fn put(tx: &mut dyn Transaction, ledger_id: u64, r: &UnderReplicated) -> Result<(), NsError> {
    tx.set(&keys::under_replicated(ledger_id), &codec::encode(WHAT, r)?)?;
    Ok(())
}

/// Marks `bookie`'s copy of a ledger missing (idempotent; keeps the first `since_ms`).
pub fn mark(
    tx: &mut dyn Transaction,
    ledger_id: u64,
    bookie: &str,
    now_ms: u64,
) -> Result<(), NsError> {
    let mut record = get(tx, ledger_id)?.unwrap_or(UnderReplicated {
        missing_bookies: Vec::new(),
        since_ms: now_ms,
        claim: None,
    });
    if !record.missing_bookies.iter().any(|b| b == bookie) {
        record.missing_bookies.push(bookie.to_owned());
    }
    put(tx, ledger_id, &record)
}

/// Claims the first ledger that nobody holds (or whose lease ran out) for `worker`
/// until `now_ms + lease_ms`. Scans at most `scan_limit` records.
pub fn claim(
    tx: &mut dyn Transaction,
    worker: &str,
    now_ms: u64,
    lease_ms: u64,
    scan_limit: usize,
) -> Result<Option<(u64, UnderReplicated)>, NsError> {
    let chunk = tx.get_range(
        &Subspace::UnderReplicated.range(),
        RangeOptions::forward(scan_limit),
    )?;
    for kv in &chunk.kvs {
        let mut record: UnderReplicated = codec::decode(WHAT, &kv.value)?;
        let free = record
            .claim
            .as_ref()
            .is_none_or(|c| c.until_ms < now_ms || c.worker == worker);
        if free {
            let (ledger_id,): (u64,) = keys::unpack(Subspace::UnderReplicated, &kv.key)?;
            record.claim = Some(Claim {
                worker: worker.to_owned(),
                until_ms: now_ms.saturating_add(lease_ms),
            });
            put(tx, ledger_id, &record)?;
            return Ok(Some((ledger_id, record)));
        }
    }
    Ok(None)
}

/// Removes a ledger from the queue (re-replicated, or deleted).
pub fn clear(tx: &mut dyn Transaction, ledger_id: u64) -> Result<(), NsError> {
    tx.clear(&keys::under_replicated(ledger_id))?;
    Ok(())
}

/// Up to `limit` queued ledgers after `after`, ascending by id.
pub fn list(
    tx: &mut dyn Transaction,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<(u64, UnderReplicated)>, NsError> {
    let mut range = Subspace::UnderReplicated.range();
    if let Some(after) = after {
        range = range.after(&keys::under_replicated(after), false);
    }
    let chunk = tx.get_range(&range, RangeOptions::forward(limit))?;
    chunk
        .kvs
        .iter()
        .map(|kv| {
            let (id,): (u64,) = keys::unpack(Subspace::UnderReplicated, &kv.key)?;
            Ok((id, codec::decode(WHAT, &kv.value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::db;

    #[test]
    fn mark_merges_and_claims_expire() {
        let (_dir, db) = db();
        db.run(|tx, _| {
            mark(tx, 8, "b1", 100)?;
            mark(tx, 8, "b2", 200)?;
            mark(tx, 8, "b1", 300)?;
            mark(tx, 3, "b1", 400)
        })
        .expect("mark");
        let r = db.run(|tx, _| get(tx, 8)).expect("get").expect("present");
        assert_eq!(r.missing_bookies, ["b1", "b2"]);
        assert_eq!(r.since_ms, 100);

        let (a, _) = db
            .run(|tx, _| claim(tx, "w1", 1000, 50, 10))
            .expect("claim")
            .expect("some");
        let (b, _) = db
            .run(|tx, _| claim(tx, "w2", 1000, 50, 10))
            .expect("claim")
            .expect("some");
        assert_eq!((a, b), (3, 8));
        assert!(
            db.run(|tx, _| claim(tx, "w3", 1010, 50, 10))
                .expect("claim")
                .is_none()
        );
        let (c, r) = db
            .run(|tx, _| claim(tx, "w3", 1100, 50, 10))
            .expect("claim")
            .expect("expired");
        assert_eq!((c, r.claim.map(|c| c.worker)), (3, Some("w3".to_owned())));
        db.run(|tx, _| clear(tx, 3)).expect("clear");
        let left: Vec<u64> = db
            .run(|tx, _| list(tx, None, 10))
            .expect("list")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(left, [8]);
    }
}
