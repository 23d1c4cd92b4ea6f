//! Objects: `(object, bucket_id, key)` → [`ObjectRecord`], with long segment lists
//! continued in `(object_segments, bucket_id, key, chunk_no)` keys.
//!
//! Every write here also keeps the ledger link counts ([`crate::links`]) in the same
//! transaction: a put links the new record's ledgers and unlinks the replaced one's,
//! whose last link queues it for GC (DESIGN.md §5).

use crate::codec;
use crate::keys;
use crate::kv::{RangeOptions, Transaction};
use crate::links;
use crate::{NsError, OpId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Segments kept in the object record itself; longer lists go to chunk keys.
pub const INLINE_SEGMENTS: usize = 256;
/// Segments per chunk key (≤ 22 bytes each, so a chunk stays under 100 kB).
pub const SEGMENTS_PER_CHUNK: usize = 2048;

/// A checksum algorithm of S3's `x-amz-checksum-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (IEEE).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// CRC-64/NVME.
    Crc64Nvme,
}

/// A stored checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// The raw digest (or, for a multipart object, the digest of the part digests).
    pub value: Vec<u8>,
    /// For a multipart object's composite checksum, the number of parts.
    pub parts: Option<u32>,
}

/// Standard HTTP headers stored with an object and returned on GET and HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardHeaders {
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// Expires.
    pub expires: Option<String>,
}

/// A run of an object's bytes stored in one ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The ledger.
    pub ledger_id: u64,
    /// Bytes of the object in it.
    pub length_bytes: u64,
    /// Payload bytes per entry (every entry but the last is full). Per segment,
    /// because the parts of a multipart upload may be written with different sizes.
    pub entry_size_bytes: u32,
}

/// Where a byte offset of an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Index into [`ObjectRecord::segments`].
    pub segment: usize,
    /// The entry id in that segment's ledger.
    pub entry_id: u64,
    /// Offset within the entry's payload.
    pub offset_in_entry: u64,
}

/// An object: what HEAD returns, and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Total size.
    pub size_bytes: u64,
    /// The ETag, with its quotes (`"…"` or `"…-N"`).
    pub etag: String,
    /// Checksums.
    pub checksums: Vec<Checksum>,
    /// Content-Type.
    pub content_type: Option<String>,
    /// The other standard headers.
    pub headers: StandardHeaders,
    /// `x-amz-meta-*`, without the prefix.
    pub user_metadata: BTreeMap<String, String>,
    /// Last modified, milliseconds since the Unix epoch.
    pub mtime_ms: u64,
    /// The bytes, in order.
    pub segments: Vec<Segment>,
}

impl ObjectRecord {
    /// Maps a byte offset to its segment, entry and offset within the entry, by
    /// arithmetic. `None` past the end or for a segment with entry size 0.
    pub fn locate(&self, offset: u64) -> Option<Location> {
        let mut start = 0u64;
        for (i, s) in self.segments.iter().enumerate() {
            if offset < start + s.length_bytes {
                let within = offset - start;
                let entry_size = u64::from(s.entry_size_bytes);
                return (entry_size > 0).then(|| Location {
                    segment: i,
                    entry_id: within / entry_size,
                    offset_in_entry: within % entry_size,
                });
            }
            start += s.length_bytes;
        }
        None
    }
}

/// The precondition of a put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutCondition {
    /// None.
    Always,
    /// `If-None-Match: *`: only if no object has this key.
    IfAbsent,
    /// `If-Match`: only if the current object's ETag is this one.
    IfEtagMatches(String),
}

/// What every writing operation needs besides its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteContext {
    /// The operation's id, chosen once outside the retry loop.
    pub op: OpId,
    /// When ledgers this write unlinks may be collected (now plus a grace period for
    /// reads still streaming from them).
    pub gc_due_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    op: OpId,
    /// Segments beyond the inline ones live in this many chunk keys.
    chunks: u32,
    record: ObjectRecord,
}

const WHAT: &str = "object record";
const CHUNK: &str = "object segment chunk";

fn read(tx: &mut dyn Transaction, bucket_id: u64, key: &str) -> Result<Option<Stored>, NsError> {
    tx.get(&keys::object(bucket_id, key))?
        .map(|v| codec::decode(WHAT, &v))
        .transpose()
}

pub(crate) fn decode_listed(value: &[u8]) -> Result<ObjectRecord, NsError> {
    Ok(codec::decode::<Stored>(WHAT, value)?.record)
}

fn load_segments(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    stored: &mut Stored,
) -> Result<(), NsError> {
    if stored.chunks == 0 {
        return Ok(());
    }
    let range = keys::object_segments_of(bucket_id, key);
    let chunk = tx.get_range(&range, RangeOptions::forward(0))?;
    if chunk.kvs.len() != stored.chunks as usize {
        return Err(NsError::Corrupt {
            what: CHUNK,
            reason: format!(
                "expected {} chunks, found {}",
                stored.chunks,
                chunk.kvs.len()
            ),
        });
    }
    for kv in &chunk.kvs {
        let part: Vec<Segment> = codec::decode(CHUNK, &kv.value)?;
        stored.record.segments.extend(part);
    }
    Ok(())
}

fn write(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    record: &ObjectRecord,
    op: OpId,
) -> Result<(), NsError> {
    let mut head = record.clone();
    let mut chunks = 0u32;
    if record.segments.len() > INLINE_SEGMENTS {
        head.segments.clear();
        for (i, part) in record.segments.chunks(SEGMENTS_PER_CHUNK).enumerate() {
            let chunk_no = u32::try_from(i).unwrap_or(u32::MAX);
            let value = codec::encode(CHUNK, &part)?;
            tx.set(&keys::object_segments(bucket_id, key, chunk_no), &value)?;
            chunks = chunk_no + 1;
        }
    }
    let stored = Stored {
        op,
        chunks,
        record: head,
    };
    tx.set(
        &keys::object(bucket_id, key),
        &codec::encode(WHAT, &stored)?,
    )?;
    Ok(())
}

/// Whether the current record of the key was written by operation `op`.
pub fn written_by(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    op: OpId,
) -> Result<bool, NsError> {
    Ok(read(tx, bucket_id, key)?.is_some_and(|s| s.op == op))
}

/// Reads an object, with its whole segment list.
pub fn get(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
) -> Result<Option<ObjectRecord>, NsError> {
    let Some(mut stored) = read(tx, bucket_id, key)? else {
        return Ok(None);
    };
    load_segments(tx, bucket_id, key, &mut stored)?;
    Ok(Some(stored.record))
}

/// Writes an object if `condition` holds: links the new record's ledgers, and unlinks
/// the replaced record's (queueing for GC those left with no link).
///
/// Idempotent: an attempt that finds the record written by `ctx.op` succeeds without
/// writing again.
pub fn put(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    record: &ObjectRecord,
    condition: &PutCondition,
    ctx: WriteContext,
) -> Result<(), NsError> {
    let existing = read(tx, bucket_id, key)?;
    if existing.as_ref().is_some_and(|s| s.op == ctx.op) {
        return Ok(());
    }
    let holds = match (condition, &existing) {
        (PutCondition::Always, _) => true,
        (PutCondition::IfAbsent, current) => current.is_none(),
        (PutCondition::IfEtagMatches(etag), Some(current)) => etag_eq(etag, &current.record.etag),
        (PutCondition::IfEtagMatches(_), None) => false,
    };
    if !holds {
        return Err(NsError::PreconditionFailed);
    }
    // Link first, so that a ledger shared by the old and new record never reaches 0.
    for s in &record.segments {
        links::link(tx, s.ledger_id)?;
    }
    if let Some(mut old) = existing {
        load_segments(tx, bucket_id, key, &mut old)?;
        unlink_all(tx, &old.record, ctx.gc_due_ms)?;
        if old.chunks > 0 {
            tx.clear_range(&keys::object_segments_of(bucket_id, key))?;
        }
    }
    write(tx, bucket_id, key, record, ctx.op)
}

/// Deletes an object and unlinks its ledgers. Returns whether it existed (an attempt
/// retried after an unknown result may find it already gone).
pub fn delete(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    gc_due_ms: u64,
) -> Result<bool, NsError> {
    let Some(mut old) = read(tx, bucket_id, key)? else {
        return Ok(false);
    };
    load_segments(tx, bucket_id, key, &mut old)?;
    unlink_all(tx, &old.record, gc_due_ms)?;
    tx.clear(&keys::object(bucket_id, key))?;
    if old.chunks > 0 {
        tx.clear_range(&keys::object_segments_of(bucket_id, key))?;
    }
    Ok(true)
}

/// CopyObject: writes `dst` with the source's ledgers (each gains a link; no bytes are
/// copied). `edit` may change the copy's metadata; `mtime_ms` is the copy's. Returns
/// the new record.
#[allow(clippy::too_many_arguments)]
pub fn copy(
    tx: &mut dyn Transaction,
    src: (u64, &str),
    dst: (u64, &str),
    mtime_ms: u64,
    condition: &PutCondition,
    ctx: WriteContext,
    edit: impl FnOnce(&mut ObjectRecord),
) -> Result<ObjectRecord, NsError> {
    let mut record = get(tx, src.0, src.1)?.ok_or(NsError::ObjectNotFound)?;
    record.mtime_ms = mtime_ms;
    edit(&mut record);
    put(tx, dst.0, dst.1, &record, condition, ctx)?;
    Ok(record)
}

fn unlink_all(
    tx: &mut dyn Transaction,
    record: &ObjectRecord,
    gc_due_ms: u64,
) -> Result<(), NsError> {
    for s in &record.segments {
        links::unlink(tx, s.ledger_id, gc_due_ms)?;
    }
    Ok(())
}

/// Compares ETags, ignoring surrounding quotes (clients send both forms).
pub fn etag_eq(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

#[cfg(test)]
mod tests;
