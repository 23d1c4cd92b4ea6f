//! `/v1/keys`: access keys and their per-bucket permissions. A key's secret is in the
//! answer to its creation and nowhere else (not in listings, not in logs).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use folio_namespace::NsError;
use folio_namespace::access_keys::{self, AccessKeyRecord, Permission};
use folio_namespace::buckets;
use http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, json, ns, ok, parse_body};
use crate::app::App;
use crate::upload::now_ms;

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_string(prefix: &str, alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    let mut s = prefix.to_owned();
    s.extend((0..len).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])));
    s
}

#[derive(Serialize)]
struct Grant {
    bucket: String,
    bucket_id: u64,
    read: bool,
    write: bool,
    owner: bool,
}

#[derive(Serialize)]
struct KeySummary {
    access_key_id: String,
    name: String,
    created_ms: u64,
    allow_create_bucket: bool,
    buckets: Vec<Grant>,
}

fn summary(
    tx: &mut dyn folio_namespace::Transaction,
    id: String,
    record: AccessKeyRecord,
) -> Result<KeySummary, NsError> {
    let mut grants = Vec::new();
    for (bucket_id, p) in record.buckets {
        // A bucket deleted since the grant shows by id only.
        let bucket = buckets::name_of(tx, bucket_id)?.unwrap_or_default();
        grants.push(Grant {
            bucket,
            bucket_id,
            read: p.read,
            write: p.write,
            owner: p.owner,
        });
    }
    Ok(KeySummary {
        access_key_id: id,
        name: record.name,
        created_ms: record.created_ms,
        allow_create_bucket: record.allow_create_bucket,
        buckets: grants,
    })
}

/// `GET /v1/keys`: every key with its grants, without secrets.
pub(crate) async fn list(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let keys = app
        .db
        .transact(|tx, _| {
            let mut out = Vec::new();
            for (id, _) in access_keys::list(tx)? {
                if let Some(record) = access_keys::get(tx, &id)? {
                    out.push(summary(tx, id, record)?);
                }
            }
            Ok::<_, NsError>(out)
        })
        .await
        .map_err(|e| ns("list access keys", e))?;
    #[derive(Serialize)]
    struct Answer {
        keys: Vec<KeySummary>,
    }
    ok(&Answer { keys })
}

#[derive(Deserialize)]
struct CreateKey {
    name: String,
}

/// `POST /v1/keys` `{name}` → `{access_key_id, secret, name}`.
pub(crate) async fn create(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let req: CreateKey = parse_body(&body)?;
    if req.name.trim().is_empty() {
        return Err(ApiError::BadRequest("name: must not be empty".into()));
    }
    let id = random_string("FK", ID_ALPHABET, 18);
    let record = AccessKeyRecord {
        secret: random_string("", SECRET_ALPHABET, 40),
        name: req.name,
        created_ms: now_ms(),
        allow_create_bucket: false,
        buckets: BTreeMap::new(),
    };
    let (key_id, stored) = (id.clone(), record.clone());
    app.db
        .transact(move |tx, _| access_keys::create(tx, &key_id, &stored))
        .await
        .map_err(|e| ns("create access key", e))?;
    tracing::info!(access_key_id = %id, "admin API created access key");
    #[derive(Serialize)]
    struct Answer {
        access_key_id: String,
        secret: String,
        name: String,
    }
    Ok(json(
        StatusCode::CREATED,
        &Answer {
            access_key_id: id,
            secret: record.secret,
            name: record.name,
        },
    ))
}

/// `DELETE /v1/keys/{id}`.
pub(crate) async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key_id = id.clone();
    let existed = app
        .db
        .transact(move |tx, _| access_keys::delete(tx, &key_id))
        .await
        .map_err(|e| ns("delete access key", e))?;
    if !existed {
        return Err(ApiError::NotFound(format!("no access key {id:?}")));
    }
    tracing::info!(access_key_id = %id, "admin API deleted access key");
    #[derive(Serialize)]
    struct Answer {
        deleted: String,
    }
    ok(&Answer { deleted: id })
}

#[derive(Deserialize)]
struct Change {
    bucket: String,
    #[serde(default)]
    read: bool,
    #[serde(default)]
    write: bool,
    #[serde(default)]
    owner: bool,
}

/// `POST /v1/keys/{id}/allow` `{bucket, read, write, owner}`: adds the flags given.
pub(crate) async fn allow(
    state: State<Arc<App>>,
    path: Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    change(state, path, body, true).await
}

/// `POST /v1/keys/{id}/deny` `{bucket, read, write, owner}`: removes the flags given
/// (every permission in the bucket if none is given).
pub(crate) async fn deny(
    state: State<Arc<App>>,
    path: Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    change(state, path, body, false).await
}

async fn change(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
    allow: bool,
) -> Result<Response, ApiError> {
    let req: Change = parse_body(&body)?;
    let key_id = id.clone();
    let bucket = req.bucket.clone();
    let (permission, bucket_id) = app
        .db
        .transact(move |tx, _| {
            let b = buckets::get(tx, &bucket)?
                .ok_or_else(|| NsError::BucketNotFound(bucket.clone()))?;
            let record = access_keys::get(tx, &key_id)?
                .ok_or_else(|| NsError::AccessKeyNotFound(key_id.clone()))?;
            let mut p = record.permission(b.id);
            if allow {
                p.read |= req.read;
                p.write |= req.write;
                p.owner |= req.owner;
            } else if !(req.read || req.write || req.owner) {
                p = Permission::default();
            } else {
                p.read &= !req.read;
                p.write &= !req.write;
                p.owner &= !req.owner;
            }
            access_keys::set_permission(tx, &key_id, b.id, p)?;
            Ok::<_, NsError>((p, b.id))
        })
        .await
        .map_err(|e| ns("change permission", e))?;
    tracing::info!(access_key_id = %id, bucket = %req.bucket, ?permission, "admin API changed permission");
    ok(&Grant {
        bucket: req.bucket,
        bucket_id,
        read: permission.read,
        write: permission.write,
        owner: permission.owner,
    })
}
