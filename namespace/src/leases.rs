//! Named leases: `(lease, name)` → [`Lease`] (holder, epoch, expiry).
//!
//! A lease elects one holder among processes that share the namespace, such as the
//! auditor ([`AUDITOR`]). A holder [`acquire`]s it and renews it (the same call) well
//! before it runs out. A new holder gets the previous epoch + 1; renewing keeps the
//! epoch.
//!
//! **Fencing.** Being the holder when a tick started proves nothing later: the process
//! may pause past its lease while another takes over. So every write a holder makes
//! runs in a transaction that also calls [`check`] with the epoch it acquired. `check`
//! reads the lease key, which puts it in the transaction's read set; if another holder
//! acquires the lease before the write commits, the serializable store aborts one of
//! the two transactions (a conflict), and the retry of the deposed holder's write then
//! sees the new holder and writes nothing. A deposed holder therefore cannot write.
//!
//! [`release`] expires the lease but keeps the record, so epochs never go back (a
//! cleared record would restart at epoch 1).

use crate::NsError;
use crate::codec;
use crate::keys;
use crate::kv::Transaction;
use serde::{Deserialize, Serialize};

/// Name of the auditor's lease.
pub const AUDITOR: &str = "auditor";

/// A named lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it (a process-unique id).
    pub holder: String,
    /// Grows by one each time the lease changes holder; starts at 1.
    pub epoch: u64,
    /// Valid up to and including this time, milliseconds since the Unix epoch.
    pub until_ms: u64,
}

impl Lease {
    /// Whether `holder` holds it with `epoch` at `now_ms`.
    pub fn held_by(&self, holder: &str, epoch: u64, now_ms: u64) -> bool {
        self.holder == holder && self.epoch == epoch && now_ms <= self.until_ms
    }
}

const WHAT: &str = "lease";

/// Reads a lease.
pub fn get(tx: &mut dyn Transaction, name: &str) -> Result<Option<Lease>, NsError> {
    tx.get(&keys::lease(name))?
        .map(|v| codec::decode(WHAT, &v))
        .transpose()
}

fn put(tx: &mut dyn Transaction, name: &str, lease: &Lease) -> Result<(), NsError> {
    tx.set(&keys::lease(name), &codec::encode(WHAT, lease)?)?;
    Ok(())
}

/// Takes or renews lease `name` for `holder` until `now_ms + duration_ms`.
///
/// Succeeds when the lease is free, expired, or already `holder`'s (a renewal keeps
/// the epoch; a new holder gets epoch + 1). Returns `None`, writing nothing, when
/// someone else holds it. Idempotent: a retry after an unknown commit result finds the
/// lease already `holder`'s and renews it again with the same epoch.
pub fn acquire(
    tx: &mut dyn Transaction,
    name: &str,
    holder: &str,
    now_ms: u64,
    duration_ms: u64,
) -> Result<Option<Lease>, NsError> {
    let until_ms = now_ms.saturating_add(duration_ms);
    let next = match get(tx, name)? {
        None => Lease {
            holder: holder.to_owned(),
            epoch: 1,
            until_ms,
        },
        Some(current) if current.holder == holder => Lease {
            until_ms: until_ms.max(current.until_ms),
            ..current
        },
        Some(current) if current.until_ms < now_ms => Lease {
            holder: holder.to_owned(),
            epoch: current.epoch + 1,
            until_ms,
        },
        Some(_) => return Ok(None),
    };
    put(tx, name, &next)?;
    Ok(Some(next))
}

/// Whether `holder` still holds lease `name` with `epoch` at `now_ms`. Call it in the
/// transaction of every write the lease guards, and write nothing when it is `false`
/// (see the module header for why this fences a deposed holder).
pub fn check(
    tx: &mut dyn Transaction,
    name: &str,
    holder: &str,
    epoch: u64,
    now_ms: u64,
) -> Result<bool, NsError> {
    Ok(get(tx, name)?.is_some_and(|l| l.held_by(holder, epoch, now_ms)))
}

/// Gives lease `name` up if `holder` holds it with `epoch`: it expires at once, and
/// the record stays so that the next holder's epoch is higher. Returns whether it
/// was released.
pub fn release(
    tx: &mut dyn Transaction,
    name: &str,
    holder: &str,
    epoch: u64,
) -> Result<bool, NsError> {
    match get(tx, name)? {
        Some(current) if current.holder == holder && current.epoch == epoch => {
            put(
                tx,
                name,
                &Lease {
                    until_ms: 0,
                    ..current
                },
            )?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{db, faulty_db};

    #[test]
    fn one_holder_at_a_time_and_epochs_grow_on_takeover() {
        let (_dir, db) = db();
        let a = db
            .run(|tx, _| acquire(tx, AUDITOR, "a", 1_000, 100))
            .expect("acquire")
            .expect("free");
        assert_eq!((a.epoch, a.until_ms), (1, 1_100));
        // Held by a: b is refused, and writes nothing.
        assert!(
            db.run(|tx, _| acquire(tx, AUDITOR, "b", 1_050, 100))
                .expect("acquire")
                .is_none()
        );
        // a renews: same epoch, later expiry.
        let a2 = db
            .run(|tx, _| acquire(tx, AUDITOR, "a", 1_090, 100))
            .expect("acquire")
            .expect("ours");
        assert_eq!((a2.epoch, a2.until_ms), (1, 1_190));
        assert!(
            db.run(|tx, _| check(tx, AUDITOR, "a", 1, 1_190))
                .expect("check")
        );
        // Expired: b takes over with a higher epoch, and a's check fails from then on.
        let b = db
            .run(|tx, _| acquire(tx, AUDITOR, "b", 1_191, 100))
            .expect("acquire")
            .expect("expired");
        assert_eq!(b.epoch, 2);
        assert!(
            !db.run(|tx, _| check(tx, AUDITOR, "a", 1, 1_195))
                .expect("check")
        );
        assert!(
            db.run(|tx, _| check(tx, AUDITOR, "b", 2, 1_195))
                .expect("check")
        );
        // An old epoch of the right holder is not enough either.
        assert!(
            !db.run(|tx, _| check(tx, AUDITOR, "b", 1, 1_195))
                .expect("check")
        );
    }

    #[test]
    fn release_expires_but_keeps_the_epoch_growing() {
        let (_dir, db) = db();
        let a = db
            .run(|tx, _| acquire(tx, AUDITOR, "a", 10, 1_000))
            .expect("acquire")
            .expect("free");
        assert!(
            !db.run(|tx, _| release(tx, AUDITOR, "b", 1))
                .expect("release")
        );
        assert!(
            db.run(|tx, _| release(tx, AUDITOR, "a", a.epoch))
                .expect("release")
        );
        assert!(
            !db.run(|tx, _| check(tx, AUDITOR, "a", 1, 20))
                .expect("check")
        );
        let b = db
            .run(|tx, _| acquire(tx, AUDITOR, "b", 20, 1_000))
            .expect("acquire")
            .expect("released");
        assert_eq!(b.epoch, 2);
    }

    #[test]
    fn acquire_is_idempotent_under_unknown_commit_results() {
        let (_dir, db) = faulty_db(11);
        for i in 0..50u64 {
            let got = db
                .run(|tx, _| acquire(tx, AUDITOR, "a", 100 + i, 1_000))
                .expect("acquire")
                .expect("ours");
            assert_eq!(got.epoch, 1, "renewals by one holder keep the epoch");
        }
    }
}
