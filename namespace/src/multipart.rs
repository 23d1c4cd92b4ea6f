//! Multipart uploads: `(upload, bucket_id, key, upload_id)` → [`UploadRecord`] and
//! `(part, upload_id, part_number)` → [`PartRecord`].
//!
//! Each part is its own ledger. Completing an upload is one transaction that turns the
//! chosen parts into the object's segment list (no bytes copied), links their ledgers,
//! queues the ledgers of parts left out for GC, and removes the upload.

use crate::codec;
use crate::gc::{self, GcReason};
use crate::keys::{self, Subspace};
use crate::kv::{KeyRange, RangeOptions, Transaction};
use crate::objects::{
    self, Checksum, ChecksumAlgorithm, ObjectRecord, PutCondition, Segment, StandardHeaders,
    WriteContext,
};
use crate::{NsError, OpId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An upload in progress: what the object will carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Initiated, milliseconds since the Unix epoch.
    pub initiated_ms: u64,
    /// Access key id of the initiator.
    pub initiator: String,
    /// Content-Type of the object.
    pub content_type: Option<String>,
    /// Other standard headers of the object.
    pub headers: StandardHeaders,
    /// `x-amz-meta-*` of the object.
    pub user_metadata: BTreeMap<String, String>,
    /// The checksum algorithm the parts carry, if any.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
}

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// The ledger holding its bytes.
    pub ledger_id: u64,
    /// Its size.
    pub size_bytes: u64,
    /// Payload bytes per entry of its ledger.
    pub entry_size_bytes: u32,
    /// Its ETag (quoted MD5).
    pub etag: String,
    /// Its checksums.
    pub checksums: Vec<Checksum>,
    /// Uploaded, milliseconds since the Unix epoch.
    pub mtime_ms: u64,
}

/// A fresh upload id: 32 random hex digits.
pub fn new_upload_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

const UPLOAD: &str = "multipart upload record";
const PART: &str = "part record";

/// Starts an upload (idempotent for the same id and record).
pub fn create(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    upload_id: &str,
    record: &UploadRecord,
) -> Result<(), NsError> {
    tx.set(
        &keys::upload(bucket_id, key, upload_id),
        &codec::encode(UPLOAD, record)?,
    )?;
    Ok(())
}

/// Reads an upload.
pub fn get(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    upload_id: &str,
) -> Result<Option<UploadRecord>, NsError> {
    tx.get(&keys::upload(bucket_id, key, upload_id))?
        .map(|v| codec::decode(UPLOAD, &v))
        .transpose()
}

fn require(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    upload_id: &str,
) -> Result<UploadRecord, NsError> {
    get(tx, bucket_id, key, upload_id)?.ok_or_else(|| NsError::UploadNotFound(upload_id.to_owned()))
}

/// Records a part; a part uploaded again under the same number replaces the old one,
/// whose ledger is queued for GC at `gc_due_ms`. Fails with
/// [`NsError::UploadNotFound`] if the upload is gone (the caller then owns an orphan
/// ledger, which its GC registration collects).
pub fn put_part(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    upload_id: &str,
    part_number: u32,
    part: &PartRecord,
    gc_due_ms: u64,
) -> Result<(), NsError> {
    require(tx, bucket_id, key, upload_id)?;
    let part_key = keys::part(upload_id, part_number);
    if let Some(old) = tx.get(&part_key)? {
        let old: PartRecord = codec::decode(PART, &old)?;
        if old.ledger_id == part.ledger_id {
            return Ok(()); // this very part, from an attempt that was applied
        }
        gc::enqueue(tx, old.ledger_id, gc_due_ms, GcReason::UploadPart)?;
    }
    tx.set(&part_key, &codec::encode(PART, part)?)?;
    Ok(())
}

/// Up to `max_parts` parts after part number `after`, ascending, and whether more
/// follow.
pub fn list_parts(
    tx: &mut dyn Transaction,
    upload_id: &str,
    after: Option<u32>,
    max_parts: usize,
) -> Result<(Vec<(u32, PartRecord)>, bool), NsError> {
    let mut range = keys::parts_of(upload_id);
    if let Some(after) = after {
        range = range.after(&keys::part(upload_id, after), false);
    }
    let chunk = tx.get_range(&range, RangeOptions::forward(max_parts))?;
    let parts = chunk
        .kvs
        .iter()
        .map(|kv| {
            let (_, n): (String, u32) = keys::unpack(Subspace::Part, &kv.key)?;
            Ok((n, codec::decode(PART, &kv.value)?))
        })
        .collect::<Result<_, NsError>>()?;
    Ok((parts, chunk.more))
}

fn all_parts(
    tx: &mut dyn Transaction,
    upload_id: &str,
) -> Result<BTreeMap<u32, PartRecord>, NsError> {
    let mut out = BTreeMap::new();
    let mut after = None;
    loop {
        let (parts, more) = list_parts(tx, upload_id, after, 1000)?;
        after = parts.last().map(|(n, _)| *n);
        out.extend(parts);
        if !more {
            return Ok(out);
        }
    }
}

/// What CompleteMultipartUpload is asked to assemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion<'a> {
    /// Part numbers and ETags, in strictly ascending part order.
    pub parts: &'a [(u32, String)],
    /// The object's ETag (the S3 multipart form `"md5-of-md5s-N"`, which the gateway
    /// computes).
    pub etag: String,
    /// The object's checksums, if the parts carried them.
    pub checksums: Vec<Checksum>,
    /// The object's mtime.
    pub mtime_ms: u64,
    /// Precondition on the key (conditional complete).
    pub condition: PutCondition,
}

/// Completes an upload into an object. See the module documentation. Idempotent: an
/// attempt that finds the upload gone and the object written by `ctx.op` returns that
/// object.
pub fn complete(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    upload_id: &str,
    completion: &Completion<'_>,
    ctx: WriteContext,
) -> Result<ObjectRecord, NsError> {
    let Some(upload) = get(tx, bucket_id, key, upload_id)? else {
        return already_completed(tx, bucket_id, key, upload_id, ctx.op);
    };
    let mut stored = all_parts(tx, upload_id)?;
    let mut segments = Vec::with_capacity(completion.parts.len());
    let mut previous = 0u32;
    for (number, etag) in completion.parts {
        if *number <= previous && !segments.is_empty() || *number == 0 {
            return Err(NsError::InvalidPartOrder);
        }
        previous = *number;
        let part = stored.remove(number).ok_or(NsError::InvalidPart {
            part_number: *number,
            reason: "not uploaded",
        })?;
        if !objects::etag_eq(etag, &part.etag) {
            return Err(NsError::InvalidPart {
                part_number: *number,
                reason: "ETag does not match",
            });
        }
        segments.push(Segment {
            ledger_id: part.ledger_id,
            length_bytes: part.size_bytes,
            entry_size_bytes: part.entry_size_bytes,
        });
    }
    let record = ObjectRecord {
        size_bytes: segments.iter().map(|s| s.length_bytes).sum(),
        etag: completion.etag.clone(),
        checksums: completion.checksums.clone(),
        content_type: upload.content_type,
        headers: upload.headers,
        user_metadata: upload.user_metadata,
        mtime_ms: completion.mtime_ms,
        segments,
    };
    objects::put(tx, bucket_id, key, &record, &completion.condition, ctx)?;
    for unused in stored.values() {
        gc::enqueue(tx, unused.ledger_id, ctx.gc_due_ms, GcReason::UploadPart)?;
    }
    remove(tx, bucket_id, key, upload_id)?;
    Ok(record)
}

fn already_completed(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    upload_id: &str,
    op: OpId,
) -> Result<ObjectRecord, NsError> {
    if objects::written_by(tx, bucket_id, key, op)?
        && let Some(record) = objects::get(tx, bucket_id, key)?
    {
        return Ok(record);
    }
    Err(NsError::UploadNotFound(upload_id.to_owned()))
}

fn remove(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    upload_id: &str,
) -> Result<(), NsError> {
    tx.clear(&keys::upload(bucket_id, key, upload_id))?;
    tx.clear_range(&keys::parts_of(upload_id))?;
    Ok(())
}

/// Aborts an upload: its parts' ledgers are queued for GC and the upload removed.
pub fn abort(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    key: &str,
    upload_id: &str,
    gc_due_ms: u64,
) -> Result<(), NsError> {
    require(tx, bucket_id, key, upload_id)?;
    for part in all_parts(tx, upload_id)?.values() {
        gc::enqueue(tx, part.ledger_id, gc_due_ms, GcReason::UploadPart)?;
    }
    remove(tx, bucket_id, key, upload_id)
}

/// An upload in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUpload {
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// The upload.
    pub record: UploadRecord,
}

/// Up to `max_uploads` uploads of a bucket whose key starts with `prefix`, in (key,
/// upload id) order, after the (`key_marker`, `upload_id_marker`) position; and
/// whether more follow.
pub fn list_uploads(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    prefix: &str,
    marker: Option<(&str, Option<&str>)>,
    max_uploads: usize,
) -> Result<(Vec<ListedUpload>, bool), NsError> {
    let mut prefix_key = keys::pack(Subspace::Upload, &(bucket_id,));
    prefix_key.push(0x02);
    for &b in prefix.as_bytes() {
        prefix_key.push(b);
        if b == 0 {
            prefix_key.push(0xFF);
        }
    }
    let mut range = KeyRange::prefix(&prefix_key);
    if let Some((key_marker, upload_marker)) = marker {
        let after = match upload_marker {
            // After this upload of the key.
            Some(id) => [keys::upload(bucket_id, key_marker, id).as_slice(), &[0]].concat(),
            // After every upload of the key.
            None => KeyRange::prefix(&keys::pack(Subspace::Upload, &(bucket_id, key_marker))).end,
        };
        range.begin = range.begin.max(after);
    }
    if range.is_empty() {
        return Ok((Vec::new(), false));
    }
    let chunk = tx.get_range(&range, RangeOptions::forward(max_uploads))?;
    let uploads = chunk
        .kvs
        .iter()
        .map(|kv| {
            let (_, key, upload_id): (u64, String, String) =
                keys::unpack(Subspace::Upload, &kv.key)?;
            Ok(ListedUpload {
                key,
                upload_id,
                record: codec::decode(UPLOAD, &kv.value)?,
            })
        })
        .collect::<Result<_, NsError>>()?;
    Ok((uploads, chunk.more))
}

#[cfg(test)]
mod tests;
