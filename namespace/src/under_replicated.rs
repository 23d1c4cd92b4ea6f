//! The under-replication queue: `(urep, ledger_id)` → [`UnderReplicated`].
//!
//! The auditor (or a client that saw a bookie fail) marks a ledger with the bookies
//! whose copies are missing. Auto-recovery workers [`claim`] a ledger for a lease,
//! re-replicate it, and [`finish`] (or [`clear`]) it; a worker that dies lets its lease
//! run out and another takes over. While it copies, a worker [`renew`]s its lease and
//! records its progress, so that `folio urep ls` can show it; a worker that fails
//! [`release`]s the ledger with the error and a next-attempt time (exponential
//! backoff), and [`claim`] passes over ledgers that are not due yet.

use crate::NsError;
use crate::codec;
use crate::keys::{self, Subspace};
use crate::kv::{RangeOptions, Transaction};
use serde::{Deserialize, Serialize};

/// Why and since when a ledger is under-replicated, who works on it, and how far
/// they got. The fields after `claim` are written by replication workers
/// (`docs/format.md` has the byte layout).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnderReplicated {
    /// Bookies whose copies are missing.
    pub missing_bookies: Vec<String>,
    /// First marked, milliseconds since the Unix epoch.
    pub since_ms: u64,
    /// The worker holding it, and until when.
    pub claim: Option<Claim>,
    /// Entries copied so far by the current (or last) copy.
    pub entries_copied: u64,
    /// Entries the current (or last) copy has to copy.
    pub entries_total: u64,
    /// The bookie the current (or last) copy writes to.
    pub copying_to: Option<String>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// No worker claims it before this time (ms since the Unix epoch); 0 = at once.
    pub next_attempt_ms: u64,
}

/// How far a worker's copy got, for [`renew`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Entries copied so far.
    pub entries_copied: u64,
    /// Entries to copy.
    pub entries_total: u64,
    /// The bookie being written to.
    pub copying_to: String,
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
        since_ms: now_ms,
        ..UnderReplicated::default()
    });
    if !record.missing_bookies.iter().any(|b| b == bookie) {
        record.missing_bookies.push(bookie.to_owned());
    }
    put(tx, ledger_id, &record)
}

/// Claims the first ledger that is due (`next_attempt_ms <= now_ms`) and that nobody
/// holds (or whose lease ran out) for `worker` until `now_ms + lease_ms`. Scans at
/// most `scan_limit` records.
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
        if record.next_attempt_ms > now_ms {
            continue;
        }
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

fn held_by(record: &UnderReplicated, worker: &str) -> bool {
    record.claim.as_ref().is_some_and(|c| c.worker == worker)
}

/// Extends `worker`'s lease on a ledger to `now_ms + lease_ms` and records its
/// progress. Returns false (and changes nothing) if `worker` no longer holds it: the
/// record is gone, or another worker claimed it after our lease ran out.
pub fn renew(
    tx: &mut dyn Transaction,
    ledger_id: u64,
    worker: &str,
    now_ms: u64,
    lease_ms: u64,
    progress: Option<&Progress>,
) -> Result<bool, NsError> {
    let Some(mut record) = get(tx, ledger_id)?.filter(|r| held_by(r, worker)) else {
        return Ok(false);
    };
    record.claim = Some(Claim {
        worker: worker.to_owned(),
        until_ms: now_ms.saturating_add(lease_ms),
    });
    if let Some(p) = progress {
        record.entries_copied = p.entries_copied;
        record.entries_total = p.entries_total;
        record.copying_to = Some(p.copying_to.clone());
    }
    put(tx, ledger_id, &record)?;
    Ok(true)
}

/// Gives up `worker`'s claim: nobody claims the ledger again before
/// `next_attempt_ms`. With `error`, the attempt failed: `attempts` grows by one and
/// `last_error` keeps it. Returns false if `worker` did not hold the claim.
pub fn release(
    tx: &mut dyn Transaction,
    ledger_id: u64,
    worker: &str,
    next_attempt_ms: u64,
    error: Option<&str>,
) -> Result<bool, NsError> {
    let Some(mut record) = get(tx, ledger_id)?.filter(|r| held_by(r, worker)) else {
        return Ok(false);
    };
    record.claim = None;
    record.next_attempt_ms = next_attempt_ms;
    if let Some(error) = error {
        record.attempts = record.attempts.saturating_add(1);
        record.last_error = Some(error.to_owned());
    }
    put(tx, ledger_id, &record)?;
    Ok(true)
}

/// `worker` re-replicated the copies of the bookies in `handled`: removes them from
/// the record, and the record itself once no missing bookie is left (a bookie marked
/// while the worker copied stays queued). Returns false, changing nothing, if
/// `worker` does not hold the claim.
pub fn finish(
    tx: &mut dyn Transaction,
    ledger_id: u64,
    worker: &str,
    handled: &[String],
) -> Result<bool, NsError> {
    let Some(mut record) = get(tx, ledger_id)?.filter(|r| held_by(r, worker)) else {
        return Ok(false);
    };
    record.missing_bookies.retain(|b| !handled.contains(b));
    if record.missing_bookies.is_empty() {
        clear(tx, ledger_id)?;
    } else {
        record.claim = None;
        record.next_attempt_ms = 0;
        put(tx, ledger_id, &record)?;
    }
    Ok(true)
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

    #[test]
    fn release_backs_off_and_finish_keeps_late_marks() {
        let (_dir, db) = db();
        db.run(|tx, _| mark(tx, 5, "b1", 100)).expect("mark");
        db.run(|tx, _| claim(tx, "w1", 1000, 50, 10))
            .expect("claim")
            .expect("some");
        // Only the holder renews, releases or finishes.
        assert!(
            !db.run(|tx, _| renew(tx, 5, "w2", 1010, 50, None))
                .expect("renew")
        );
        let p = Progress {
            entries_copied: 3,
            entries_total: 9,
            copying_to: "b4".into(),
        };
        assert!(
            db.run(|tx, _| renew(tx, 5, "w1", 1010, 50, Some(&p)))
                .expect("renew")
        );
        assert!(
            !db.run(|tx, _| release(tx, 5, "w2", 0, None))
                .expect("release")
        );
        assert!(
            db.run(|tx, _| release(tx, 5, "w1", 2000, Some("bookie b4 lost")))
                .expect("release")
        );
        let r = db.run(|tx, _| get(tx, 5)).expect("get").expect("present");
        assert_eq!((r.attempts, r.next_attempt_ms), (1, 2000));
        assert_eq!(r.last_error.as_deref(), Some("bookie b4 lost"));
        assert_eq!((r.entries_copied, r.entries_total), (3, 9));
        assert_eq!(r.claim, None);
        // Not due before 2000.
        assert!(
            db.run(|tx, _| claim(tx, "w2", 1999, 50, 10))
                .expect("claim")
                .is_none()
        );
        db.run(|tx, _| claim(tx, "w2", 2000, 50, 10))
            .expect("claim")
            .expect("due");
        // A bookie marked while w2 copied stays queued.
        db.run(|tx, _| mark(tx, 5, "b2", 2010)).expect("mark");
        assert!(
            !db.run(|tx, _| finish(tx, 5, "w1", &["b1".into()]))
                .expect("finish")
        );
        assert!(
            db.run(|tx, _| finish(tx, 5, "w2", &["b1".into()]))
                .expect("finish")
        );
        let r = db.run(|tx, _| get(tx, 5)).expect("get").expect("present");
        assert_eq!(r.missing_bookies, ["b2"]);
        assert!(
            db.run(|tx, _| claim(tx, "w2", 2020, 50, 10))
                .expect("claim")
                .is_some()
        );
        assert!(
            db.run(|tx, _| finish(tx, 5, "w2", &["b2".into()]))
                .expect("finish")
        );
        assert_eq!(db.run(|tx, _| get(tx, 5)).expect("get"), None);
    }
}
