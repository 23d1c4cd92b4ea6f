//! Streaming an object's bytes out of its ledgers, whole or by range.
//! (Range headers are parsed by `folio_s3::router::ByteRange`.)
//!
//! A byte range maps to entries by arithmetic, since each segment stores its entry
//! size: only the entries that overlap the range are read, the first and last trimmed.
//! Entries are read with the ledger client's read-ahead window, so memory is bounded
//! whatever the object's size. Every entry's digest is verified by the client.

use std::ops::Range;

use bytes::Bytes;
use folio_ledger::{LedgerClient, LedgerError, OpenMode};
use folio_namespace::objects::Segment;
use futures::{Stream, StreamExt, TryStreamExt};

/// The bytes `range` (a half-open byte range within the object) of an object made of
/// `segments`, as a stream.
pub fn stream_object(
    ledgers: LedgerClient,
    segments: Vec<Segment>,
    range: Range<u64>,
) -> impl Stream<Item = Result<Bytes, LedgerError>> + Send + 'static {
    // The part of each segment that overlaps the range, in segment-local inclusive
    // offsets.
    let mut pieces = Vec::new();
    let mut start = 0u64;
    for segment in segments {
        let end = start + segment.length_bytes; // exclusive
        if range.start < end && range.end > start && range.start < range.end {
            let first = range.start.max(start) - start;
            let last = range.end.min(end) - 1 - start;
            pieces.push((segment, first, last));
        }
        start = end;
    }
    futures::stream::iter(pieces)
        .then(move |(segment, first, last)| {
            let ledgers = ledgers.clone();
            async move { segment_stream(ledgers, segment, first, last).await }
        })
        .try_flatten()
}

/// Bytes `first..=last` of one segment.
async fn segment_stream(
    ledgers: LedgerClient,
    segment: Segment,
    first: u64,
    last: u64,
) -> Result<impl Stream<Item = Result<Bytes, LedgerError>> + Send + 'static, LedgerError> {
    let entry_size = u64::from(segment.entry_size_bytes.max(1));
    let first_entry = first / entry_size;
    let last_entry = last / entry_size;
    let reader = ledgers.open(segment.ledger_id, OpenMode::NoRecover).await?;
    let entries = reader.stream(first_entry, last_entry)?;
    Ok(entries.enumerate().map(move |(i, payload)| {
        let payload = payload?;
        let entry_id = first_entry + i as u64;
        let entry_start = entry_id * entry_size;
        let from = first.saturating_sub(entry_start) as usize;
        let to = ((last + 1).saturating_sub(entry_start) as usize).min(payload.len());
        Ok(payload.slice(from.min(to)..to))
    }))
}
