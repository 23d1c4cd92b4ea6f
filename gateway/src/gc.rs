//! The GC worker: drains the namespace's GC queue, deleting ledgers that no object
//! name links any more (and orphans of failed uploads).
//!
//! For each due item, in order:
//! 1. **Claim** it in one transaction: if the ledger has links after all, drop the
//!    item and keep the ledger; otherwise move the item to a later due time (the retry
//!    time). Moving it means an upload that still holds the original orphan item can
//!    no longer commit ([`take_orphan`] fails), so a ledger is never deleted under an
//!    object that links it.
//! 2. **Delete** the ledger: every bookie that may hold it drops it, then its metadata
//!    goes (`LedgerClient::delete`, idempotent).
//! 3. **Complete** the claimed item.
//!
//! A crash between steps leaves the claimed item, which a later pass retries.
//!
//! Each pass also counts the queue (due or not) for the `folio_gateway_gc_queue_depth`
//! gauge, in read-only pages of [`DEPTH_PAGE`] keys, and stops at
//! [`crate::GC_QUEUE_DEPTH_CAP`] so a huge backlog costs a bounded read.

use std::sync::Arc;
use std::time::Duration;

use folio_ledger::LedgerClient;
use folio_namespace::gc::{self, GcItem};
use folio_namespace::keys::Subspace;
use folio_namespace::kv::{RangeOptions, Transaction};
use folio_namespace::{Db, NsError, keys, links};
use tokio::sync::watch;

use crate::metrics::{GC_QUEUE_DEPTH_CAP, Metrics};
use crate::upload::now_ms;

/// Keys read per transaction when counting the GC queue.
const DEPTH_PAGE: usize = 10_000;

/// Settings of the GC worker.
#[derive(Clone, Copy, Debug)]
pub struct GcConfig {
    /// How often the queue is scanned.
    pub interval: Duration,
    /// Most items taken per scan.
    pub batch: usize,
    /// How far a claimed item is pushed back (the retry delay after a failure).
    pub retry_after: Duration,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            interval: Duration::from_secs(10),
            batch: 100,
            retry_after: Duration::from_secs(600),
        }
    }
}

/// Removes the orphan item that protected a freshly written ledger, in the
/// transaction that links it. Fails with [`NsError::Invalid`] if GC already claimed
/// it (the upload outlived the orphan grace period), so the caller aborts rather than
/// link a ledger that is being deleted.
pub fn take_orphan(tx: &mut dyn Transaction, item: &GcItem) -> Result<(), NsError> {
    if tx.get(&keys::gc(item.due_ms, item.ledger_id))?.is_none() {
        return Err(NsError::Invalid {
            what: "upload",
            reason: format!(
                "ledger {} was claimed by GC: the upload took longer than the orphan grace period",
                item.ledger_id
            ),
        });
    }
    gc::complete(tx, item)
}

/// Runs GC passes until `shutdown` turns true.
pub async fn run(
    db: Db,
    ledgers: LedgerClient,
    config: GcConfig,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match queue_depth(&db, GC_QUEUE_DEPTH_CAP).await {
            Ok(depth) => metrics.set_gc_queue_depth(depth),
            Err(error) => tracing::warn!(%error, "count the GC queue"),
        }
        match pass(&db, &ledgers, config).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(ledgers = n, "GC deleted ledgers"),
            Err(error) => tracing::warn!(%error, "GC pass failed; retrying later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(config.interval) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Items in the GC queue, due or not, counted up to `cap`. Each page is its own
/// read-only transaction, so the count is not one snapshot (a gauge need not be).
pub async fn queue_depth(db: &Db, cap: u64) -> Result<u64, NsError> {
    count_keys(db, Subspace::Gc, cap, DEPTH_PAGE).await
}

/// Keys in `subspace`, counted up to `cap` in read-only pages of `page_keys`.
pub(crate) async fn count_keys(
    db: &Db,
    subspace: Subspace,
    cap: u64,
    page_keys: usize,
) -> Result<u64, NsError> {
    let mut range = subspace.range();
    let mut counted = 0u64;
    while counted < cap {
        let page = usize::try_from(cap - counted)
            .unwrap_or(page_keys)
            .min(page_keys);
        let r = range.clone();
        let chunk = db
            .transact(move |tx, _| Ok::<_, NsError>(tx.get_range(&r, RangeOptions::forward(page))?))
            .await?;
        counted += chunk.kvs.len() as u64;
        match chunk.kvs.last() {
            Some(last) if chunk.more => range = range.after(&last.key, false),
            _ => break,
        }
    }
    Ok(counted.min(cap))
}

/// One pass over the due items. Returns how many ledgers were deleted.
pub async fn pass(db: &Db, ledgers: &LedgerClient, config: GcConfig) -> Result<usize, NsError> {
    let now = now_ms();
    let batch = config.batch;
    let items = db.transact(move |tx, _| gc::due(tx, now, batch)).await?;
    let retry_ms = u64::try_from(config.retry_after.as_millis()).unwrap_or(u64::MAX);
    let mut deleted = 0;
    for item in items {
        let claimed = GcItem {
            due_ms: now.saturating_add(retry_ms),
            ..item
        };
        let claim = db
            .transact(move |tx, _| {
                if tx.get(&keys::gc(item.due_ms, item.ledger_id))?.is_none() {
                    return Ok(false); // another worker took it
                }
                gc::complete(tx, &item)?;
                if links::count(tx, item.ledger_id)? > 0 {
                    return Ok(false); // linked after all: keep the ledger
                }
                gc::enqueue(tx, claimed.ledger_id, claimed.due_ms, claimed.reason)?;
                Ok::<_, NsError>(true)
            })
            .await?;
        if !claim {
            continue;
        }
        match ledgers.delete(item.ledger_id).await {
            Ok(()) => {
                db.transact(move |tx, _| gc::complete(tx, &claimed)).await?;
                deleted += 1;
            }
            Err(error) => {
                tracing::warn!(ledger_id = item.ledger_id, %error, "GC could not delete ledger; will retry");
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_namespace::gc::GcReason;
    use folio_namespace::{EmbeddedOptions, EmbeddedStore};

    #[tokio::test]
    async fn the_queue_is_counted_across_pages_up_to_the_cap() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).expect("open");
        let db = Db::new(Arc::new(store));
        assert_eq!(
            queue_depth(&db, GC_QUEUE_DEPTH_CAP).await.expect("count"),
            0
        );
        db.transact(|tx, _| {
            for id in 0..25u64 {
                // Due or not, every item counts.
                gc::enqueue(
                    tx,
                    id,
                    if id % 2 == 0 { 1 } else { u64::MAX },
                    GcReason::Unlinked,
                )?;
            }
            Ok::<_, NsError>(())
        })
        .await
        .expect("enqueue");
        assert_eq!(
            count_keys(&db, Subspace::Gc, 1000, 7).await.expect("count"),
            25
        );
        assert_eq!(
            count_keys(&db, Subspace::Gc, 10, 7).await.expect("count"),
            10
        );
        assert_eq!(
            count_keys(&db, Subspace::Gc, 14, 7).await.expect("count"),
            14
        );
        assert_eq!(
            queue_depth(&db, GC_QUEUE_DEPTH_CAP).await.expect("count"),
            25
        );
    }
}
