//! The namespace key layout: one-byte subspace tags, then an order-preserving
//! FoundationDB tuple. Every key folio writes is built here, so that the layout can be
//! read in one place; `docs/format.md` documents it byte by byte.
//!
//! Tuple encoding preserves order: integers compare numerically, strings
//! lexicographically by their UTF-8 bytes, and a tuple sorts before the tuples that
//! extend it. So `(object, bucket_id, key)` keys of one bucket are contiguous and in S3
//! key order, and a prefix of an S3 key is a prefix of the encoded key once the
//! string's terminator is left off ([`object_key_prefix`]).

use crate::NsError;
use crate::kv::KeyRange;
use foundationdb_tuple::{TuplePack, TupleUnpack};

/// The subspace tags. The values are persisted: never change or reuse one.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subspace {
    /// `(cluster)` → cluster record (instance id, layout version).
    Cluster = 0x01,
    /// `(bookie, bookie_id)` → bookie registration.
    Bookie = 0x02,
    /// `(ledger, ledger_id)` → versioned ledger metadata.
    Ledger = 0x03,
    /// `(id_alloc, counter_name)` → 8-byte little-endian counter of id batches.
    IdAlloc = 0x04,
    /// `(bucket, name)` → bucket record (holds the bucket id).
    Bucket = 0x05,
    /// `(object, bucket_id, key)` → object record.
    Object = 0x06,
    /// `(object_segments, bucket_id, key, chunk_no)` → a chunk of a long segment list.
    ObjectSegments = 0x07,
    /// `(ledger_ref, ledger_id)` → 8-byte little-endian link count.
    LedgerRef = 0x08,
    /// `(upload, bucket_id, key, upload_id)` → multipart upload record.
    Upload = 0x09,
    /// `(part, upload_id, part_number)` → part record.
    Part = 0x0A,
    /// `(access_key, key_id)` → access key record.
    AccessKey = 0x0B,
    /// `(gc, due_ms, ledger_id)` → GC reason.
    Gc = 0x0C,
    /// `(urep, ledger_id)` → under-replication record.
    UnderReplicated = 0x0D,
    /// `(bucket_id, bucket_id)` → bucket name, to find a bucket from an id.
    BucketId = 0x0E,
    /// `(lease, name)` → named lease (holder, epoch, expiry), e.g. the auditor's.
    Lease = 0x0F,
}

impl Subspace {
    /// Every key of this subspace.
    pub fn range(self) -> KeyRange {
        KeyRange::prefix(&[self as u8])
    }
}

/// `tag` followed by the tuple encoding of `tuple`.
pub fn pack<T: TuplePack>(tag: Subspace, tuple: &T) -> Vec<u8> {
    let mut out = vec![tag as u8];
    foundationdb_tuple::pack_into(tuple, &mut out);
    out
}

/// Every key of `tag` whose tuple starts with `tuple`.
pub fn range<T: TuplePack>(tag: Subspace, tuple: &T) -> KeyRange {
    KeyRange::prefix(&pack(tag, tuple))
}

/// Decodes the tuple of a key of subspace `tag`.
pub fn unpack<'de, T: TupleUnpack<'de>>(tag: Subspace, key: &'de [u8]) -> Result<T, NsError> {
    let corrupt = |reason: String| NsError::Corrupt {
        what: "namespace key",
        reason,
    };
    match key.split_first() {
        Some((&first, rest)) if first == tag as u8 => {
            foundationdb_tuple::unpack(rest).map_err(|e| corrupt(format!("{e:?}")))
        }
        _ => Err(corrupt(format!("key is not in subspace {tag:?}"))),
    }
}

/// The cluster record's key.
pub fn cluster() -> Vec<u8> {
    vec![Subspace::Cluster as u8]
}

/// Key of a bookie's registration.
pub fn bookie(bookie_id: &str) -> Vec<u8> {
    pack(Subspace::Bookie, &(bookie_id,))
}

/// Key of a ledger's metadata.
pub fn ledger(ledger_id: u64) -> Vec<u8> {
    pack(Subspace::Ledger, &(ledger_id,))
}

/// Key of an id allocation counter.
pub fn id_alloc(counter: &str) -> Vec<u8> {
    pack(Subspace::IdAlloc, &(counter,))
}

/// Key of a bucket's record, by name.
pub fn bucket(name: &str) -> Vec<u8> {
    pack(Subspace::Bucket, &(name,))
}

/// Key mapping a bucket id to its name.
pub fn bucket_id(bucket_id: u64) -> Vec<u8> {
    pack(Subspace::BucketId, &(bucket_id,))
}

/// Key of an object's record.
pub fn object(bucket_id: u64, key: &str) -> Vec<u8> {
    pack(Subspace::Object, &(bucket_id, key))
}

/// Every object key of a bucket.
pub fn objects_of(bucket_id: u64) -> KeyRange {
    range(Subspace::Object, &(bucket_id,))
}

/// The encoded prefix shared by the keys of every object of `bucket_id` whose S3 key
/// starts with `prefix`: the tuple encoding of `(bucket_id, prefix)` without the
/// string's `0x00` terminator. [`KeyRange::prefix`] of it holds exactly those objects.
pub fn object_key_prefix(bucket_id: u64, prefix: &str) -> Vec<u8> {
    let mut out = pack(Subspace::Object, &(bucket_id,));
    out.push(0x02); // tuple type code of a string
    for &b in prefix.as_bytes() {
        out.push(b);
        if b == 0x00 {
            out.push(0xFF); // tuple escape of a NUL inside a string
        }
    }
    out
}

/// Key of chunk `chunk_no` of an object's segment list.
pub fn object_segments(bucket_id: u64, key: &str, chunk_no: u32) -> Vec<u8> {
    pack(Subspace::ObjectSegments, &(bucket_id, key, chunk_no))
}

/// Every segment chunk of one object.
pub fn object_segments_of(bucket_id: u64, key: &str) -> KeyRange {
    range(Subspace::ObjectSegments, &(bucket_id, key))
}

/// Key of a ledger's link count.
pub fn ledger_ref(ledger_id: u64) -> Vec<u8> {
    pack(Subspace::LedgerRef, &(ledger_id,))
}

/// Key of a multipart upload.
pub fn upload(bucket_id: u64, key: &str, upload_id: &str) -> Vec<u8> {
    pack(Subspace::Upload, &(bucket_id, key, upload_id))
}

/// Every multipart upload of a bucket.
pub fn uploads_of(bucket_id: u64) -> KeyRange {
    range(Subspace::Upload, &(bucket_id,))
}

/// Key of a part of a multipart upload.
pub fn part(upload_id: &str, part_number: u32) -> Vec<u8> {
    pack(Subspace::Part, &(upload_id, part_number))
}

/// Every part of a multipart upload.
pub fn parts_of(upload_id: &str) -> KeyRange {
    range(Subspace::Part, &(upload_id,))
}

/// Key of an access key.
pub fn access_key(key_id: &str) -> Vec<u8> {
    pack(Subspace::AccessKey, &(key_id,))
}

/// Key of a GC queue item.
pub fn gc(due_ms: u64, ledger_id: u64) -> Vec<u8> {
    pack(Subspace::Gc, &(due_ms, ledger_id))
}

/// Key of a named lease.
pub fn lease(name: &str) -> Vec<u8> {
    pack(Subspace::Lease, &(name,))
}

/// Key of an under-replicated ledger.
pub fn under_replicated(ledger_id: u64) -> Vec<u8> {
    pack(Subspace::UnderReplicated, &(ledger_id,))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_are_stable() {
        // These bytes are on disk. This test fails if someone renumbers the enum.
        let tags = [
            (Subspace::Cluster, 0x01),
            (Subspace::Bookie, 0x02),
            (Subspace::Ledger, 0x03),
            (Subspace::IdAlloc, 0x04),
            (Subspace::Bucket, 0x05),
            (Subspace::Object, 0x06),
            (Subspace::ObjectSegments, 0x07),
            (Subspace::LedgerRef, 0x08),
            (Subspace::Upload, 0x09),
            (Subspace::Part, 0x0A),
            (Subspace::AccessKey, 0x0B),
            (Subspace::Gc, 0x0C),
            (Subspace::UnderReplicated, 0x0D),
            (Subspace::BucketId, 0x0E),
            (Subspace::Lease, 0x0F),
        ];
        for (tag, byte) in tags {
            assert_eq!(tag as u8, byte, "{tag:?}");
        }
    }

    #[test]
    fn object_key_bytes_are_as_documented() {
        // docs/format.md: 06 | 15 07 (int 7) | 02 'a' 00 'b' ... | 00
        assert_eq!(
            object(7, "a\0b"),
            vec![0x06, 0x15, 0x07, 0x02, b'a', 0x00, 0xFF, b'b', 0x00]
        );
        assert_eq!(ledger(0), vec![0x03, 0x14]);
    }

    proptest! {
        #[test]
        fn object_keys_sort_like_s3_keys(a in "\\PC{0,12}", b in "\\PC{0,12}", id in 0u64..5) {
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), object(id, &a).cmp(&object(id, &b)));
        }

        #[test]
        fn prefix_range_holds_exactly_the_prefixed_keys(
            p in "[a\\x00/]{0,4}", k in "[a\\x00/]{0,6}", id in 0u64..3, other in 0u64..3,
        ) {
            let range = KeyRange::prefix(&object_key_prefix(id, &p));
            prop_assert_eq!(range.contains(&object(other, &k)), other == id && k.starts_with(&p));
        }

        #[test]
        fn ledger_keys_sort_numerically(a: u64, b: u64) {
            prop_assert_eq!(a.cmp(&b), ledger(a).cmp(&ledger(b)));
            let back: (u64,) = unpack(Subspace::Ledger, &ledger(a)).expect("unpack");
            prop_assert_eq!(back.0, a);
        }
    }
}
