//! Ledger link counts: `(ledger_ref, ledger_id)` → 8-byte little-endian count of the
//! object names whose segments use the ledger.
//!
//! PutObject and CompleteMultipartUpload link their ledgers; CopyObject links the
//! source's ledgers once more (no bytes copied); overwrite and DeleteObject unlink.
//! The unlink that takes a count to zero removes the counter and queues the ledger for
//! GC, in the caller's transaction.

use crate::gc::{self, GcReason};
use crate::kv::{Transaction, decode_counter};
use crate::{NsError, keys};

/// Adds a link. On FoundationDB this is a conflict-free atomic add.
pub fn link(tx: &mut dyn Transaction, ledger_id: u64) -> Result<(), NsError> {
    tx.atomic_add(&keys::ledger_ref(ledger_id), 1)?;
    Ok(())
}

/// The number of links of a ledger (0 if it has none).
pub fn count(tx: &mut dyn Transaction, ledger_id: u64) -> Result<u64, NsError> {
    let n = tx
        .get(&keys::ledger_ref(ledger_id))?
        .map_or(0, |v| decode_counter(&v));
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Removes a link; the last one queues the ledger for GC at `gc_due_ms`. Returns the
/// links left.
pub fn unlink(tx: &mut dyn Transaction, ledger_id: u64, gc_due_ms: u64) -> Result<u64, NsError> {
    let key = keys::ledger_ref(ledger_id);
    let left = count(tx, ledger_id)?.saturating_sub(1);
    if left == 0 {
        tx.clear(&key)?;
        gc::enqueue(tx, ledger_id, gc_due_ms, GcReason::Unlinked)?;
    } else {
        let left_i64 = i64::try_from(left).unwrap_or(i64::MAX);
        tx.set(&key, &left_i64.to_le_bytes())?;
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::db;

    #[test]
    fn last_unlink_queues_gc() {
        let (_dir, db) = db();
        db.run(|tx, _| {
            link(tx, 5)?;
            link(tx, 5)
        })
        .expect("link twice");
        assert_eq!(db.run(|tx, _| count(tx, 5)).expect("count"), 2);
        assert_eq!(db.run(|tx, _| unlink(tx, 5, 10)).expect("unlink"), 1);
        assert!(
            db.run(|tx, _| gc::due(tx, u64::MAX, 10))
                .expect("due")
                .is_empty()
        );
        assert_eq!(db.run(|tx, _| unlink(tx, 5, 10)).expect("unlink"), 0);
        let due = db.run(|tx, _| gc::due(tx, 10, 10)).expect("due");
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].ledger_id, due[0].reason), (5, GcReason::Unlinked));
        assert_eq!(db.run(|tx, _| count(tx, 5)).expect("count"), 0);
    }
}
