//! Id allocation for ledgers and buckets, in batches, spread over the key space.
//!
//! A counter at `(id_alloc, name)` counts batches. One transaction takes batch `b`
//! (reads the counter, writes `b + 1`), after which the caller hands out up to
//! [`IDS_PER_BATCH`] ids without touching the store. Batch `b` covers the ids
//! `spread(b) << 16 | offset` where `spread` reverses the low 47 bits of `b`.
//! Consecutive batches thus land far apart (batch 1 at 2^62, batch 2 at 2^61, batch 3
//! at 2^62 + 2^61, …), so the `(ledger, id)` keys that gateways create concurrently
//! fall into different FoundationDB shards instead of all appending to the last one.
//! `spread` is a bijection, so ids are unique; they stay below 2^63; id 0 (batch 0)
//! is never handed out.

use crate::kv::{Transaction, decode_counter};
use crate::{Db, NsError, keys};
use std::sync::Mutex;

/// Counter of ledger ids.
pub const LEDGER_IDS: &str = "ledger";
/// Counter of bucket ids.
pub const BUCKET_IDS: &str = "bucket";
/// Ids in one batch.
pub const IDS_PER_BATCH: u64 = 1 << OFFSET_BITS;

const OFFSET_BITS: u32 = 16;
const BATCH_BITS: u32 = 47;

/// The ids of one batch: `first .. first + IDS_PER_BATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdBatch {
    /// The batch number taken from the counter.
    pub batch: u64,
    /// Its first id.
    pub first: u64,
}

impl IdBatch {
    /// The batch numbered `batch`.
    pub fn numbered(batch: u64) -> Self {
        let spread = (batch & ((1 << BATCH_BITS) - 1)).reverse_bits() >> (64 - BATCH_BITS);
        Self {
            batch,
            first: spread << OFFSET_BITS,
        }
    }

    /// The `n`th id of the batch (`n < IDS_PER_BATCH`).
    pub fn id(&self, n: u64) -> Option<u64> {
        (n < IDS_PER_BATCH).then_some(self.first | n)
    }
}

/// Takes the next batch of counter `counter`. Retrying after an unknown result may
/// skip a batch, which only leaves a gap.
pub fn allocate_batch(tx: &mut dyn Transaction, counter: &str) -> Result<IdBatch, NsError> {
    let key = keys::id_alloc(counter);
    let current = tx.get(&key)?.map_or(0, |v| decode_counter(&v));
    let batch = u64::try_from(current).unwrap_or(0).max(1);
    if batch >= 1 << BATCH_BITS {
        return Err(NsError::Invalid {
            what: "id allocation",
            reason: format!("counter {counter} exhausted"),
        });
    }
    let next = i64::try_from(batch + 1).unwrap_or(i64::MAX);
    tx.set(&key, &next.to_le_bytes())?;
    Ok(IdBatch::numbered(batch))
}

/// Hands out unique ids from batches it takes from the store as needed. One per
/// process and counter is enough; it is cheap to share.
#[derive(Debug)]
pub struct IdAllocator {
    db: Db,
    counter: &'static str,
    cache: Mutex<Option<(IdBatch, u64)>>,
}

impl IdAllocator {
    /// An allocator of counter `counter` (e.g. [`LEDGER_IDS`]).
    pub fn new(db: Db, counter: &'static str) -> Self {
        Self {
            db,
            counter,
            cache: Mutex::new(None),
        }
    }

    fn take_cached(&self) -> Option<u64> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (batch, next) = cache.as_mut()?;
        let id = batch.id(*next);
        *next += 1;
        if id.is_none() {
            *cache = None;
        }
        id
    }

    fn install(&self, batch: IdBatch) -> u64 {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // A concurrent refill may have installed a batch; ours then replaces it and
        // the rest of the other one is left unused (a gap, never a duplicate).
        *cache = Some((batch, 1));
        batch.first
    }

    /// The next id, blocking on the store when a batch runs out.
    pub fn next_blocking(&self) -> Result<u64, NsError> {
        if let Some(id) = self.take_cached() {
            return Ok(id);
        }
        let counter = self.counter;
        let batch = self.db.run(|tx, _| allocate_batch(tx, counter))?;
        Ok(self.install(batch))
    }

    /// The next id; async form of [`IdAllocator::next_blocking`].
    pub async fn next(&self) -> Result<u64, NsError> {
        if let Some(id) = self.take_cached() {
            return Ok(id);
        }
        let counter = self.counter;
        let batch = self
            .db
            .transact(move |tx, _| allocate_batch(tx, counter))
            .await?;
        Ok(self.install(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{db, faulty_db};
    use std::collections::HashSet;

    #[test]
    fn batches_spread_and_never_collide() {
        assert_eq!(IdBatch::numbered(1).first, 1 << 62);
        assert_eq!(IdBatch::numbered(2).first, 1 << 61);
        assert_eq!(IdBatch::numbered(3).first, (1 << 62) | (1 << 61));
        let firsts: HashSet<u64> = (0..100_000).map(|b| IdBatch::numbered(b).first).collect();
        assert_eq!(firsts.len(), 100_000);
        assert!(
            firsts
                .iter()
                .all(|&f| f < 1 << 63 && f % IDS_PER_BATCH == 0)
        );
        // Consecutive batches fall in different 1/16ths of the id space.
        let sixteenths: HashSet<u64> = (1..17).map(|b| IdBatch::numbered(b).first >> 59).collect();
        assert!(sixteenths.len() >= 8, "{sixteenths:?}");
    }

    #[test]
    fn allocators_sharing_a_counter_hand_out_unique_ids() {
        let (_dir, db) = faulty_db(7);
        let all: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let alloc = IdAllocator::new(db.clone(), LEDGER_IDS);
                    s.spawn(move || {
                        (0..2 * IDS_PER_BATCH + 10)
                            .map(|_| alloc.next_blocking().expect("id"))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("join"))
                .collect()
        });
        let unique: HashSet<u64> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len());
        assert!(!unique.contains(&0));
    }

    #[tokio::test]
    async fn async_allocation_works() {
        let (_dir, db) = db();
        let alloc = IdAllocator::new(db, BUCKET_IDS);
        let a = alloc.next().await.expect("id");
        let b = alloc.next().await.expect("id");
        assert_eq!(b, a + 1);
    }
}
