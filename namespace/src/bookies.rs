//! The bookie registry: `(bookie, bookie_id)` → [`BookieRecord`].
//!
//! Bookies register at start and renew a heartbeat lease. A bookie whose lease ran out
//! reads as [`BookieState::Down`], whatever it last reported, so placement never picks
//! a bookie that stopped heartbeating.
//!
//! An admin [`decommission`]s a bookie to retire it: its state becomes
//! [`BookieState::Decommissioned`] and stays so through heartbeats and re-registration
//! (only [`remove`] ends it), placement never picks it, and every ledger with a
//! segment on it is marked under-replicated so that auto-recovery copies its entries
//! elsewhere. The bookie keeps serving reads meanwhile.
//!
//! Ledger metadata names bookies by address ([`BookieRecord::address`]), so the ledger
//! scans here match segments against the address, and the under-replication queue
//! holds addresses too.

use crate::codec;
use crate::keys::{self, Subspace};
use crate::kv::{RangeOptions, Transaction};
use crate::{Db, NsError, ledgers, under_replicated};
use serde::{Deserialize, Serialize};

/// A bookie's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookieState {
    /// Accepts new ledgers and reads.
    ReadWrite,
    /// Serves reads, fences and recovery writes only (disk full, draining).
    ReadOnly,
    /// Not serving: its heartbeat lease expired.
    Down,
    /// Retired by an admin ([`decommission`]): never placed, its ledgers are
    /// re-replicated elsewhere. Heartbeats and re-registration keep this state.
    /// (Added after the first three; postcard encodes variants by index, so old
    /// records still decode.)
    Decommissioned,
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
    /// The state at `now_ms`: [`BookieState::Decommissioned`] if decommissioned,
    /// else [`BookieState::Down`] once the lease has expired.
    pub fn effective_state(&self, now_ms: u64) -> BookieState {
        if self.state == BookieState::Decommissioned {
            BookieState::Decommissioned
        } else if now_ms > self.last_heartbeat_ms.saturating_add(self.lease_ms) {
            BookieState::Down
        } else {
            self.state
        }
    }
}

const WHAT: &str = "bookie record";

/// Registers a bookie, or replaces its registration. A decommissioned bookie stays
/// [`BookieState::Decommissioned`], whatever `record` says.
pub fn register(
    tx: &mut dyn Transaction,
    bookie_id: &str,
    record: &BookieRecord,
) -> Result<(), NsError> {
    let mut record = record.clone();
    if get(tx, bookie_id)?.is_some_and(|r| r.state == BookieState::Decommissioned) {
        record.state = BookieState::Decommissioned;
    }
    put(tx, bookie_id, &record)
}

fn put(tx: &mut dyn Transaction, bookie_id: &str, record: &BookieRecord) -> Result<(), NsError> {
    tx.set(&keys::bookie(bookie_id), &codec::encode(WHAT, record)?)?;
    Ok(())
}

/// Renews a registered bookie's lease and reports its state and free space. A
/// decommissioned bookie keeps [`BookieState::Decommissioned`].
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
    if record.state != BookieState::Decommissioned {
        record.state = state;
    }
    record.free_bytes = free_bytes;
    put(tx, bookie_id, &record)
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

/// Most ledgers one transaction of [`mark_ledgers_on`] reads (FoundationDB keeps a
/// transaction under 5 s; 1,000 small metadata records read well within that).
pub const MAX_LEDGER_PAGE: usize = 1_000;

/// What one page of [`mark_ledgers_on`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MarkPage {
    /// The last ledger id read, to pass as `after` for the next page; `None` when the
    /// page was empty.
    pub last: Option<u64>,
    /// Ledgers read.
    pub scanned: usize,
    /// (ledger, bookie) pairs newly marked (not already in the queue).
    pub marked: u64,
}

impl MarkPage {
    /// Whether the scan reached the end of the ledgers.
    pub fn is_last(&self, limit: usize) -> bool {
        self.scanned < limit.clamp(1, MAX_LEDGER_PAGE)
    }
}

/// Reads up to `limit` (at most [`MAX_LEDGER_PAGE`]) ledgers after `after` and marks
/// each one with a segment on one of `addresses` under-replicated for that address.
/// One page of a scan; the caller loops on [`MarkPage::last`] until
/// [`MarkPage::is_last`], each page in its own transaction.
pub fn mark_ledgers_on(
    tx: &mut dyn Transaction,
    addresses: &[String],
    after: Option<u64>,
    limit: usize,
    now_ms: u64,
) -> Result<MarkPage, NsError> {
    let ids = ledgers::list_ids(tx, after, limit.clamp(1, MAX_LEDGER_PAGE))?;
    let mut page = MarkPage {
        last: ids.last().copied(),
        scanned: ids.len(),
        marked: 0,
    };
    for id in ids {
        let Some(meta) = ledgers::get(tx, id)? else {
            continue;
        };
        for address in addresses {
            let on_it = meta
                .value
                .segments
                .iter()
                .any(|s| s.bookies.iter().any(|b| b == address));
            if !on_it {
                continue;
            }
            let known = under_replicated::get(tx, id)?
                .is_some_and(|r| r.missing_bookies.iter().any(|b| b == address));
            if !known {
                under_replicated::mark(tx, id, address, now_ms)?;
                page.marked += 1;
            }
        }
    }
    Ok(page)
}

/// Decommissions bookie `bookie_id`: sets [`BookieState::Decommissioned`], then marks
/// every ledger with a segment on its address under-replicated (missing that
/// address), scanning the ledgers in pages of `page` (one transaction each). Returns
/// how many ledgers were newly marked. Blocks; from async code run it on the blocking
/// pool.
///
/// Crash-safe: the state is set first, in its own transaction, and the marks are
/// idempotent. If the process dies mid-scan, running `decommission` again finishes
/// it; so does the auditor, which treats a decommissioned bookie as lost and marks
/// all its ledgers.
pub fn decommission(db: &Db, bookie_id: &str, page: usize, now_ms: u64) -> Result<u64, NsError> {
    let address = db.run(|tx, _| {
        let mut record =
            get(tx, bookie_id)?.ok_or_else(|| NsError::BookieNotFound(bookie_id.to_owned()))?;
        record.state = BookieState::Decommissioned;
        put(tx, bookie_id, &record)?;
        Ok::<_, NsError>(record.address)
    })?;
    let addresses = [address];
    let limit = page.clamp(1, MAX_LEDGER_PAGE);
    let mut after = None;
    let mut marked = 0;
    loop {
        let page = db.run(|tx, _| mark_ledgers_on(tx, &addresses, after, limit, now_ms))?;
        marked += page.marked;
        if page.is_last(limit) {
            return Ok(marked);
        }
        after = page.last;
    }
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

    fn ledger_on(bookies: &[&str]) -> ledgers::LedgerMetadata {
        ledgers::LedgerMetadata {
            ensemble_size: 2,
            write_quorum: 2,
            ack_quorum: 2,
            state: ledgers::LedgerState::Closed,
            last_entry_id: Some(3),
            length_bytes: 4,
            ctime_ms: 0,
            digest: ledgers::DigestType::Crc32c,
            segments: vec![ledgers::EnsembleSegment {
                first_entry_id: 0,
                bookies: bookies.iter().map(|b| (*b).to_owned()).collect(),
            }],
            custom: Default::default(),
        }
    }

    #[test]
    fn decommission_sticks_and_marks_exactly_the_ledgers_on_the_bookie() {
        let (_dir, db) = db();
        db.run(|tx, _| register(tx, "b1", &record(1_000)))
            .expect("register");
        let address = "127.0.0.1:3181";
        for id in 1..=5u64 {
            let on = if id % 2 == 1 {
                [address, "other:1"]
            } else {
                ["x:1", "other:1"]
            };
            db.run(|tx, _| ledgers::create(tx, id, &ledger_on(&on), crate::OpId::random()))
                .expect("create");
        }
        // Pages of 2 ledgers: the scan crosses transactions.
        let marked = decommission(&db, "b1", 2, 5_000).expect("decommission");
        assert_eq!(marked, 3);
        let queued: Vec<(u64, Vec<String>)> = db
            .run(|tx, _| under_replicated::list(tx, None, 100))
            .expect("list")
            .into_iter()
            .map(|(id, r)| (id, r.missing_bookies))
            .collect();
        let want: Vec<(u64, Vec<String>)> = [1, 3, 5]
            .iter()
            .map(|&id| (id, vec![address.to_owned()]))
            .collect();
        assert_eq!(queued, want);
        // Again: idempotent, nothing new.
        assert_eq!(decommission(&db, "b1", 2, 6_000).expect("again"), 0);
        // Heartbeats and re-registration keep the state; a lapsed lease too.
        db.run(|tx, _| heartbeat(tx, "b1", 7_000, BookieState::ReadWrite, 9))
            .expect("heartbeat");
        db.run(|tx, _| register(tx, "b1", &record(7_000)))
            .expect("register");
        let r = db
            .run(|tx, _| get(tx, "b1"))
            .expect("get")
            .expect("present");
        assert_eq!(r.state, BookieState::Decommissioned);
        assert_eq!(r.effective_state(7_000), BookieState::Decommissioned);
        assert_eq!(r.effective_state(u64::MAX), BookieState::Decommissioned);
        let err = decommission(&db, "nope", 2, 0).expect_err("unknown");
        assert!(matches!(err, NsError::BookieNotFound(_)));
    }
}
