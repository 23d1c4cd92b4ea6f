//! `/v1/buckets`: list, create, inspect and delete buckets.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use folio_namespace::access_keys::{self, Permission};
use folio_namespace::buckets::{self, BucketRecord};
use folio_namespace::{NsError, OpId};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, internal, json, ns, ok, parse_body};
use super::ns::{INFO_SCAN_LIMIT_OBJECTS, Totals, scan_totals};
use crate::app::App;
use crate::upload::now_ms;

#[derive(Serialize)]
struct BucketSummary {
    name: String,
    id: u64,
    owner: String,
    ctime_ms: u64,
}

impl BucketSummary {
    fn new(name: String, record: BucketRecord) -> BucketSummary {
        BucketSummary {
            name,
            id: record.id,
            owner: record.owner,
            ctime_ms: record.ctime_ms,
        }
    }
}

/// `GET /v1/buckets`.
pub(crate) async fn list(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let all = app
        .db
        .transact(|tx, _| buckets::list(tx))
        .await
        .map_err(|e| ns("list buckets", e))?;
    #[derive(Serialize)]
    struct Answer {
        buckets: Vec<BucketSummary>,
    }
    ok(&Answer {
        buckets: all
            .into_iter()
            .map(|(name, r)| BucketSummary::new(name, r))
            .collect(),
    })
}

#[derive(Deserialize)]
struct CreateBucket {
    name: String,
    owner: Option<String>,
}

/// `POST /v1/buckets` `{name, owner?}`: the owner (default: the root key) gets full
/// permissions on it.
pub(crate) async fn create(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let req: CreateBucket = parse_body(&body)?;
    folio_s3::router::names::validate_bucket_name(&req.name)
        .map_err(|_| ApiError::BadRequest(format!("invalid bucket name {:?}", req.name)))?;
    let owner = req
        .owner
        .or_else(|| app.config.root_access_key.clone())
        .ok_or_else(|| ApiError::BadRequest("owner: required (no root key is set)".into()))?;
    let id = app
        .bucket_ids
        .next()
        .await
        .map_err(|e| internal("allocate bucket id", &e))?;
    let record = BucketRecord {
        id,
        owner: owner.clone(),
        ctime_ms: now_ms(),
        settings: BTreeMap::from([("region".to_owned(), app.config.region.clone())]),
    };
    let is_root = app.config.root_access_key.as_deref() == Some(owner.as_str());
    let (name, stored) = (req.name.clone(), record.clone());
    let op = OpId::random();
    app.db
        .transact(move |tx, _| {
            if !is_root && access_keys::get(tx, &owner)?.is_none() {
                return Err(NsError::AccessKeyNotFound(owner.clone()));
            }
            buckets::create(tx, &name, &stored, op)?;
            let full = Permission {
                read: true,
                write: true,
                owner: true,
            };
            match access_keys::set_permission(tx, &owner, stored.id, full) {
                Ok(()) | Err(NsError::AccessKeyNotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| ns("create bucket", e))?;
    tracing::info!(bucket = %req.name, id, "admin API created bucket");
    Ok(json(
        StatusCode::CREATED,
        &BucketSummary::new(req.name, record),
    ))
}

/// `GET /v1/buckets/{name}`: the record and the object count and bytes, from a scan
/// of at most [`INFO_SCAN_LIMIT_OBJECTS`] objects (`complete: false` beyond).
pub(crate) async fn info(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let n = name.clone();
    let record = app
        .db
        .transact(move |tx, _| buckets::get(tx, &n))
        .await
        .map_err(|e| ns("read bucket", e))?
        .ok_or_else(|| ApiError::NotFound(format!("no bucket {name:?}")))?;
    let totals = scan_totals(&app, record.id, "", None, INFO_SCAN_LIMIT_OBJECTS).await?;
    #[derive(Serialize)]
    struct Answer {
        #[serde(flatten)]
        bucket: BucketSummary,
        settings: BTreeMap<String, String>,
        #[serde(flatten)]
        totals: Totals,
        complete: bool,
    }
    let settings = record.settings.clone();
    ok(&Answer {
        complete: totals.next_after.is_none(),
        bucket: BucketSummary::new(name, record),
        settings,
        totals,
    })
}

/// `DELETE /v1/buckets/{name}`: only an empty bucket (409 otherwise).
pub(crate) async fn delete(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let n = name.clone();
    app.db
        .transact(move |tx, _| buckets::delete_if_empty(tx, &n))
        .await
        .map_err(|e| ns("delete bucket", e))?;
    tracing::info!(bucket = %name, "admin API deleted bucket");
    #[derive(Serialize)]
    struct Answer {
        deleted: String,
    }
    ok(&Answer { deleted: name })
}
