//! Access keys: `(access_key, key_id)` → [`AccessKeyRecord`].
//!
//! The secret is stored as is: SigV4 and SigV2 verification recompute the signature
//! with it, so it cannot be hashed. Protect the namespace's storage accordingly.

use crate::NsError;
use crate::codec;
use crate::keys::{self, Subspace};
use crate::kv::{RangeOptions, Transaction};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a key may do in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// GET, HEAD, list.
    pub read: bool,
    /// PUT, DELETE, multipart.
    pub write: bool,
    /// Delete the bucket, change its settings and permissions.
    pub owner: bool,
}

/// An access key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    /// The secret key.
    pub secret: String,
    /// A human name.
    pub name: String,
    /// Created, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// May create buckets (and then owns them).
    pub allow_create_bucket: bool,
    /// Permissions by bucket id.
    pub buckets: BTreeMap<u64, Permission>,
}

impl AccessKeyRecord {
    /// The key's permission in bucket `bucket_id` (none if unlisted).
    pub fn permission(&self, bucket_id: u64) -> Permission {
        self.buckets.get(&bucket_id).copied().unwrap_or_default()
    }
}

const WHAT: &str = "access key record";

/// Creates a key, unless the id is taken (a retried attempt that finds its own
/// record, same secret, succeeds).
pub fn create(
    tx: &mut dyn Transaction,
    key_id: &str,
    record: &AccessKeyRecord,
) -> Result<(), NsError> {
    if let Some(existing) = get(tx, key_id)? {
        if existing == *record {
            return Ok(());
        }
        return Err(NsError::AccessKeyExists(key_id.to_owned()));
    }
    put(tx, key_id, record)
}

/// Reads a key.
pub fn get(tx: &mut dyn Transaction, key_id: &str) -> Result<Option<AccessKeyRecord>, NsError> {
    tx.get(&keys::access_key(key_id))?
        .map(|v| codec::decode(WHAT, &v))
        .transpose()
}

/// Writes a key's record (create or update).
pub fn put(
    tx: &mut dyn Transaction,
    key_id: &str,
    record: &AccessKeyRecord,
) -> Result<(), NsError> {
    tx.set(&keys::access_key(key_id), &codec::encode(WHAT, record)?)?;
    Ok(())
}

/// Sets a key's permission in one bucket (none: removes it).
pub fn set_permission(
    tx: &mut dyn Transaction,
    key_id: &str,
    bucket_id: u64,
    permission: Permission,
) -> Result<(), NsError> {
    let mut record =
        get(tx, key_id)?.ok_or_else(|| NsError::AccessKeyNotFound(key_id.to_owned()))?;
    if permission == Permission::default() {
        record.buckets.remove(&bucket_id);
    } else {
        record.buckets.insert(bucket_id, permission);
    }
    put(tx, key_id, &record)
}

/// Deletes a key. Returns whether it existed.
pub fn delete(tx: &mut dyn Transaction, key_id: &str) -> Result<bool, NsError> {
    let existed = get(tx, key_id)?.is_some();
    tx.clear(&keys::access_key(key_id))?;
    Ok(existed)
}

/// Every key id with its name, in id order (secrets left out).
pub fn list(tx: &mut dyn Transaction) -> Result<Vec<(String, String)>, NsError> {
    let mut out = Vec::new();
    let mut range = Subspace::AccessKey.range();
    loop {
        let chunk = tx.get_range(&range, RangeOptions::forward(1000))?;
        for kv in &chunk.kvs {
            let (id,): (String,) = keys::unpack(Subspace::AccessKey, &kv.key)?;
            let record: AccessKeyRecord = codec::decode(WHAT, &kv.value)?;
            out.push((id, record.name));
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
    use crate::test_support::db;

    fn record() -> AccessKeyRecord {
        AccessKeyRecord {
            secret: "s3cr3t".into(),
            name: "backup job".into(),
            created_ms: 1,
            allow_create_bucket: false,
            buckets: BTreeMap::new(),
        }
    }

    #[test]
    fn keys_carry_per_bucket_permissions() {
        let (_dir, db) = db();
        db.run(|tx, _| create(tx, "AK1", &record()))
            .expect("create");
        db.run(|tx, _| create(tx, "AK1", &record()))
            .expect("same record again");
        let mut other = record();
        other.secret = "different".into();
        assert!(matches!(
            db.run(|tx, _| create(tx, "AK1", &other)),
            Err(NsError::AccessKeyExists(_))
        ));
        let rw = Permission {
            read: true,
            write: true,
            owner: false,
        };
        db.run(|tx, _| set_permission(tx, "AK1", 7, rw))
            .expect("grant");
        let got = db
            .run(|tx, _| get(tx, "AK1"))
            .expect("get")
            .expect("present");
        assert_eq!(
            (got.permission(7), got.permission(8)),
            (rw, Permission::default())
        );
        db.run(|tx, _| set_permission(tx, "AK1", 7, Permission::default()))
            .expect("revoke");
        let got = db
            .run(|tx, _| get(tx, "AK1"))
            .expect("get")
            .expect("present");
        assert!(got.buckets.is_empty());
        assert!(matches!(
            db.run(|tx, _| set_permission(tx, "nope", 7, rw)),
            Err(NsError::AccessKeyNotFound(_))
        ));
        db.run(|tx, _| create(tx, "AK0", &record()))
            .expect("create");
        let ids: Vec<String> = db
            .run(|tx, _| list(tx))
            .expect("list")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["AK0", "AK1"]);
        assert!(db.run(|tx, _| delete(tx, "AK0")).expect("delete"));
        assert_eq!(db.run(|tx, _| get(tx, "AK0")).expect("get"), None);
    }
}
