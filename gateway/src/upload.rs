//! Streaming a request body into a new ledger, with bounded memory.
//!
//! The body is cut into entries of `entry_size` bytes (the last may be shorter) and
//! appended through the ledger client's pipelined window, so at most one entry being
//! filled plus the window's entries in flight are in memory, whatever the object's
//! size. Every byte passes through `observe` (MD5 for the ETag, requested checksums)
//! on its way.
//!
//! Copies: an entry is gathered as slices of the body's own buffers ([`EntryParts`],
//! no copy), and the ledger writer copies those once, straight into the encoded entry.
//! Only small pieces (under [`COALESCE_BELOW_BYTES`]) are copied into a side buffer
//! first, so that a body arriving in tiny chunks cannot make an entry out of millions
//! of slices.
//!
//! Orphans: before the ledger is created, its id is queued for GC with reason Orphan
//! and a grace period. The caller's final namespace transaction (object put, part put)
//! removes that entry with [`Written::orphan`]; if the request fails anywhere, the
//! entry stays and GC reclaims the ledger once the grace period ends. A body of zero
//! bytes creates no ledger at all.

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};
use folio_ledger::{LedgerClient, LedgerError, LedgerWriter, PendingAppend};
use folio_namespace::gc::{self, GcItem, GcReason};
use folio_namespace::objects::Segment;
use folio_namespace::{Db, NsError};
use futures::{FutureExt, Stream, StreamExt};

/// Where and how to write.
#[derive(Clone, Copy, Debug)]
pub struct UploadLimits {
    /// Bytes per ledger entry.
    pub entry_size_bytes: u32,
    /// How long an orphaned ledger is kept before GC may take it.
    pub orphan_grace_ms: u64,
    /// The largest body accepted.
    pub max_object_bytes: u64,
}

/// A body written to a ledger.
#[derive(Debug)]
pub struct Written {
    /// The ledger segment holding the bytes (`None` for an empty body).
    pub segment: Option<Segment>,
    /// Bytes written.
    pub size_bytes: u64,
    /// The GC entry that protects against an orphan; remove it in the transaction
    /// that links the ledger.
    pub orphan: Option<GcItem>,
}

/// Why a body could not be written.
#[derive(Debug, thiserror::Error)]
pub enum UploadError<E> {
    /// Reading the body failed (a client error, a bad chunk signature, …).
    #[error("read request body: {0}")]
    Body(E),
    /// The body is larger than the limit.
    #[error("body exceeds {max_bytes} bytes")]
    TooLarge {
        /// The limit.
        max_bytes: u64,
    },
    /// The ledger could not be written.
    #[error("write ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The namespace failed.
    #[error("namespace: {0}")]
    Namespace(#[from] NsError),
}

/// Writes `body` into a new ledger. See the module documentation.
pub async fn write_body<S, E>(
    ledgers: &LedgerClient,
    db: &Db,
    limits: UploadLimits,
    mut body: S,
    observe: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<Written, UploadError<E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let entry_size = limits.entry_size_bytes.max(1) as usize;
    let mut entry = EntryParts::default();
    let mut size_bytes = 0u64;
    let mut open: Option<(LedgerWriter, GcItem)> = None;
    let mut pending: VecDeque<PendingAppend> = VecDeque::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(UploadError::Body)?;
        size_bytes += chunk.len() as u64;
        if size_bytes > limits.max_object_bytes {
            return Err(UploadError::TooLarge {
                max_bytes: limits.max_object_bytes,
            });
        }
        observe(&chunk);
        while !chunk.is_empty() {
            let take = (entry_size - entry.len).min(chunk.len());
            entry.push(chunk.split_to(take));
            if entry.len == entry_size {
                let parts = entry.take();
                append(ledgers, db, limits, &mut open, &mut pending, parts).await?;
            }
        }
    }
    if entry.len > 0 {
        let parts = entry.take();
        append(ledgers, db, limits, &mut open, &mut pending, parts).await?;
    }
    let Some((writer, orphan)) = open else {
        return Ok(Written {
            segment: None,
            size_bytes: 0,
            orphan: None,
        });
    };
    for p in pending {
        p.await?;
    }
    let closed = writer.close().await?;
    debug_assert_eq!(closed.length, size_bytes, "ledger length matches the body");
    Ok(Written {
        segment: Some(Segment {
            ledger_id: closed.ledger_id,
            length_bytes: closed.length,
            entry_size_bytes: limits.entry_size_bytes.max(1),
        }),
        size_bytes,
        orphan: Some(orphan),
    })
}

/// Pieces smaller than this are copied into a side buffer rather than kept as slices.
pub const COALESCE_BELOW_BYTES: usize = 16 * 1024;

/// The payload of the entry being gathered: slices of the body's buffers, in order,
/// plus a side buffer for small pieces. At most `entry_size / COALESCE_BELOW_BYTES`
/// slices plus as many side-buffer flushes, so the list stays short.
#[derive(Default)]
struct EntryParts {
    parts: Vec<Bytes>,
    /// Small pieces not yet in `parts`; they come after every element of `parts`.
    small: BytesMut,
    /// Bytes in `parts` and `small`.
    len: usize,
}

impl EntryParts {
    fn push(&mut self, piece: Bytes) {
        self.len += piece.len();
        if piece.len() < COALESCE_BELOW_BYTES {
            self.small.extend_from_slice(&piece);
            if self.small.len() >= COALESCE_BELOW_BYTES {
                self.parts.push(self.small.split().freeze());
            }
        } else {
            if !self.small.is_empty() {
                self.parts.push(self.small.split().freeze());
            }
            self.parts.push(piece);
        }
    }

    /// The pieces gathered, in order; leaves `self` empty.
    fn take(&mut self) -> Vec<Bytes> {
        if !self.small.is_empty() {
            self.parts.push(self.small.split().freeze());
        }
        self.len = 0;
        std::mem::take(&mut self.parts)
    }
}

async fn append<E>(
    ledgers: &LedgerClient,
    db: &Db,
    limits: UploadLimits,
    open: &mut Option<(LedgerWriter, GcItem)>,
    pending: &mut VecDeque<PendingAppend>,
    parts: Vec<Bytes>,
) -> Result<(), UploadError<E>> {
    let writer = match open {
        Some((writer, _)) => writer,
        None => &open.insert(create(ledgers, db, limits).await?).0,
    };
    pending.push_back(writer.submit_parts(parts).await?);
    // Reap acknowledgements that have come in, so an error surfaces early and the
    // queue stays as short as the window.
    while let Some(front) = pending.front_mut() {
        match front.now_or_never() {
            Some(result) => {
                result?;
                pending.pop_front();
            }
            None => break,
        }
    }
    Ok(())
}

/// Reserves a ledger id, records it as a possible orphan, then creates the ledger.
async fn create<E>(
    ledgers: &LedgerClient,
    db: &Db,
    limits: UploadLimits,
) -> Result<(LedgerWriter, GcItem), UploadError<E>> {
    let ledger_id = ledgers.reserve_id().await?;
    let orphan = GcItem {
        due_ms: now_ms().saturating_add(limits.orphan_grace_ms),
        ledger_id,
        reason: GcReason::Orphan,
    };
    db.transact(move |tx, _| gc::enqueue(tx, orphan.ledger_id, orphan.due_ms, orphan.reason))
        .await?;
    let quorum = ledgers.config().quorum;
    let writer = ledgers
        .create_at(ledger_id, quorum, BTreeMap::new())
        .await?;
    Ok((writer, orphan))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(parts: &[Bytes]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.iter()).copied().collect()
    }

    #[test]
    fn entry_parts_keep_order_and_slice_large_pieces() {
        let big = Bytes::from(vec![7u8; COALESCE_BELOW_BYTES * 2]);
        let mut e = EntryParts::default();
        e.push(Bytes::from_static(b"ab"));
        e.push(big.slice(..COALESCE_BELOW_BYTES));
        e.push(Bytes::from_static(b"c"));
        e.push(Bytes::from_static(b"d"));
        assert_eq!(e.len, COALESCE_BELOW_BYTES + 4);
        let parts = e.take();
        let mut expected = b"ab".to_vec();
        expected.extend_from_slice(&big[..COALESCE_BELOW_BYTES]);
        expected.extend_from_slice(b"cd");
        assert_eq!(joined(&parts), expected);
        // The large piece is passed through as a slice of the same buffer, not copied.
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1].as_ptr(), big.as_ptr());
        assert_eq!(e.len, 0);
        assert!(e.take().is_empty());
    }

    #[test]
    fn tiny_pieces_are_coalesced() {
        let mut e = EntryParts::default();
        let mut expected = Vec::new();
        for i in 0..(COALESCE_BELOW_BYTES * 3) {
            let b = (i % 251) as u8;
            e.push(Bytes::copy_from_slice(&[b]));
            expected.push(b);
        }
        let parts = e.take();
        assert!(parts.len() <= 3, "{} parts", parts.len());
        assert_eq!(joined(&parts), expected);
    }
}
