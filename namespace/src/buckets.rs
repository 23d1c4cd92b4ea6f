//! Buckets: `(bucket, name)` → [`BucketRecord`], and `(bucket_id, id)` → name.
//!
//! Objects are keyed by the bucket's id, not its name, so a bucket deleted and created
//! again under the same name starts empty, and a rename would touch one key.

use crate::codec;
use crate::keys::{self, Subspace};
use crate::kv::{RangeOptions, Transaction};
use crate::{NsError, OpId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// Its id (from [`crate::ids::BUCKET_IDS`]).
    pub id: u64,
    /// Access key id of its owner.
    pub owner: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub ctime_ms: u64,
    /// Settings by name (region, …).
    pub settings: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    op: OpId,
    record: BucketRecord,
}

const WHAT: &str = "bucket record";

fn read(tx: &mut dyn Transaction, name: &str) -> Result<Option<Stored>, NsError> {
    tx.get(&keys::bucket(name))?
        .map(|v| codec::decode(WHAT, &v))
        .transpose()
}

/// Creates a bucket, unless the name is taken ([`NsError::BucketExists`]).
pub fn create(
    tx: &mut dyn Transaction,
    name: &str,
    record: &BucketRecord,
    op: OpId,
) -> Result<(), NsError> {
    if let Some(existing) = read(tx, name)? {
        if existing.op == op {
            return Ok(()); // our own earlier attempt was applied
        }
        return Err(NsError::BucketExists(name.to_owned()));
    }
    let stored = Stored {
        op,
        record: record.clone(),
    };
    tx.set(&keys::bucket(name), &codec::encode(WHAT, &stored)?)?;
    tx.set(&keys::bucket_id(record.id), name.as_bytes())?;
    Ok(())
}

/// Reads a bucket by name.
pub fn get(tx: &mut dyn Transaction, name: &str) -> Result<Option<BucketRecord>, NsError> {
    Ok(read(tx, name)?.map(|s| s.record))
}

/// The name of the bucket with id `bucket_id`.
pub fn name_of(tx: &mut dyn Transaction, bucket_id: u64) -> Result<Option<String>, NsError> {
    tx.get(&keys::bucket_id(bucket_id))?
        .map(|v| {
            String::from_utf8(v).map_err(|e| NsError::Corrupt {
                what: "bucket name",
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// Deletes a bucket that holds no object and no multipart upload.
pub fn delete_if_empty(tx: &mut dyn Transaction, name: &str) -> Result<(), NsError> {
    let record = get(tx, name)?.ok_or_else(|| NsError::BucketNotFound(name.to_owned()))?;
    let one = RangeOptions::forward(1);
    let has_objects = !tx
        .get_range(&keys::objects_of(record.id), one)?
        .kvs
        .is_empty();
    let has_uploads = !tx
        .get_range(&keys::uploads_of(record.id), one)?
        .kvs
        .is_empty();
    if has_objects || has_uploads {
        return Err(NsError::BucketNotEmpty(name.to_owned()));
    }
    tx.clear(&keys::bucket(name))?;
    tx.clear(&keys::bucket_id(record.id))?;
    Ok(())
}

/// Every bucket, by name.
pub fn list(tx: &mut dyn Transaction) -> Result<Vec<(String, BucketRecord)>, NsError> {
    let mut out = Vec::new();
    let mut range = Subspace::Bucket.range();
    loop {
        let chunk = tx.get_range(&range, RangeOptions::forward(1000))?;
        for kv in &chunk.kvs {
            let (name,): (String,) = keys::unpack(Subspace::Bucket, &kv.key)?;
            let stored: Stored = codec::decode(WHAT, &kv.value)?;
            out.push((name, stored.record));
        }
        match chunk.continuation(&range, false) {
            Some(next) => range = next,
            None => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{db, faulty_db};

    pub(crate) fn record(id: u64) -> BucketRecord {
        BucketRecord {
            id,
            owner: "AKIDROOT".into(),
            ctime_ms: 1,
            settings: BTreeMap::new(),
        }
    }

    #[test]
    fn create_get_list_delete() {
        let (_dir, db) = db();
        db.run(|tx, _| create(tx, "photos", &record(2), OpId(1)))
            .expect("create");
        db.run(|tx, _| create(tx, "logs", &record(3), OpId(2)))
            .expect("create");
        let err = db
            .run(|tx, _| create(tx, "photos", &record(4), OpId(3)))
            .expect_err("taken");
        assert!(matches!(err, NsError::BucketExists(_)));
        assert_eq!(
            db.run(|tx, _| get(tx, "photos")).expect("get"),
            Some(record(2))
        );
        assert_eq!(
            db.run(|tx, _| name_of(tx, 3)).expect("name"),
            Some("logs".into())
        );
        let names: Vec<String> = db
            .run(|tx, _| list(tx))
            .expect("list")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["logs", "photos"]);
        db.run(|tx, _| delete_if_empty(tx, "logs")).expect("delete");
        assert!(matches!(
            db.run(|tx, _| delete_if_empty(tx, "logs")),
            Err(NsError::BucketNotFound(_))
        ));
        assert_eq!(db.run(|tx, _| name_of(tx, 3)).expect("name"), None);
    }

    #[test]
    fn non_empty_bucket_is_not_deleted() {
        let (_dir, db) = db();
        db.run(|tx, _| create(tx, "b", &record(2), OpId(1)))
            .expect("create");
        db.run(|tx, _| tx.set(&keys::object(2, "k"), b"x").map_err(NsError::from))
            .expect("fake object");
        assert!(matches!(
            db.run(|tx, _| delete_if_empty(tx, "b")),
            Err(NsError::BucketNotEmpty(_))
        ));
        db.run(|tx, _| tx.clear(&keys::object(2, "k")).map_err(NsError::from))
            .expect("clear");
        db.run(|tx, _| {
            tx.set(&keys::upload(2, "k", "u"), b"x")
                .map_err(NsError::from)
        })
        .expect("fake upload");
        assert!(db.run(|tx, _| delete_if_empty(tx, "b")).is_err());
    }

    #[test]
    fn create_is_idempotent_under_unknown_results() {
        for seed in 0..10 {
            let (_dir, db) = faulty_db(seed);
            db.run(|tx, _| create(tx, "b", &record(2), OpId(9)))
                .expect("create");
        }
    }
}
