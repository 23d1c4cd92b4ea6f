//! The GC queue: `(gc, due_ms, ledger_id)` → [`GcReason`].
//!
//! A ledger enters the queue when its last link goes ([`crate::links::unlink`]), when
//! an upload is aborted or a part replaced, or when a gateway registers a ledger it is
//! about to write (an orphan if the request fails). The due time leaves a grace period
//! for reads that are still streaming from the ledger.
//!
//! A GC worker takes [`due`] items, and for each, in one transaction, checks that
//! [`crate::links::count`] is 0 (a ledger that was linked after all is kept), deletes
//! the ledger metadata and calls [`complete`]; then tells the bookies to drop the
//! ledger. Items are keyed by due time, so [`due`] is one range read.

use crate::NsError;
use crate::codec;
use crate::keys::{self, Subspace};
use crate::kv::{KeyRange, RangeOptions, Transaction};
use serde::{Deserialize, Serialize};

/// Why a ledger is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GcReason {
    /// Its last name was deleted or overwritten.
    Unlinked,
    /// Written for a request that may fail: collect unless linked by then.
    Orphan,
    /// Part of an aborted (or completed-without-it) multipart upload.
    UploadPart,
}

/// One queued ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcItem {
    /// When it may be collected, milliseconds since the Unix epoch.
    pub due_ms: u64,
    /// The ledger.
    pub ledger_id: u64,
    /// Why it is queued.
    pub reason: GcReason,
}

const WHAT: &str = "gc item";

/// Queues a ledger for collection at `due_ms`.
pub fn enqueue(
    tx: &mut dyn Transaction,
    ledger_id: u64,
    due_ms: u64,
    reason: GcReason,
) -> Result<(), NsError> {
    tx.set(&keys::gc(due_ms, ledger_id), &codec::encode(WHAT, &reason)?)?;
    Ok(())
}

/// Up to `limit` items due at or before `now_ms`, oldest first.
pub fn due(tx: &mut dyn Transaction, now_ms: u64, limit: usize) -> Result<Vec<GcItem>, NsError> {
    let range = KeyRange::new(
        Subspace::Gc.range().begin,
        keys::pack(Subspace::Gc, &(now_ms.saturating_add(1),)),
    );
    let chunk = tx.get_range(&range, RangeOptions::forward(limit))?;
    chunk
        .kvs
        .iter()
        .map(|kv| {
            let (due_ms, ledger_id): (u64, u64) = keys::unpack(Subspace::Gc, &kv.key)?;
            let reason = codec::decode(WHAT, &kv.value)?;
            Ok(GcItem {
                due_ms,
                ledger_id,
                reason,
            })
        })
        .collect()
}

/// Removes an item (collected, or found linked).
pub fn complete(tx: &mut dyn Transaction, item: &GcItem) -> Result<(), NsError> {
    tx.clear(&keys::gc(item.due_ms, item.ledger_id))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::db;

    #[test]
    fn due_items_come_oldest_first_and_complete_removes_them() {
        let (_dir, db) = db();
        db.run(|tx, _| {
            enqueue(tx, 1, 300, GcReason::Unlinked)?;
            enqueue(tx, 2, 100, GcReason::Orphan)?;
            enqueue(tx, 3, 200, GcReason::UploadPart)
        })
        .expect("enqueue");
        let items = db.run(|tx, _| due(tx, 200, 10)).expect("due");
        let ids: Vec<u64> = items.iter().map(|i| i.ledger_id).collect();
        assert_eq!(ids, [2, 3]);
        assert_eq!(items[0].reason, GcReason::Orphan);
        db.run(|tx, _| complete(tx, &items[0])).expect("complete");
        let ids: Vec<u64> = db
            .run(|tx, _| due(tx, u64::MAX, 10))
            .expect("due")
            .iter()
            .map(|i| i.ledger_id)
            .collect();
        assert_eq!(ids, [3, 1]);
    }
}
