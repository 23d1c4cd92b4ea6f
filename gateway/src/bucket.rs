//! Bucket handlers: ListBuckets, CreateBucket, DeleteBucket, and DeleteObjects.

use std::collections::BTreeMap;

use axum::body::Body;
use folio_namespace::access_keys::{self, Permission};
use folio_namespace::buckets::{self, BucketRecord};
use folio_namespace::{NsError, OpId};
use folio_s3::checksum::{Md5, parse_content_md5};
use folio_s3::error::S3Error;
use folio_s3::xml;
use http::{Response, StatusCode, header};

use crate::access::{self, Principal};
use crate::app::{App, empty, internal, owner, xml_response};
use crate::body::RequestBody;
use crate::object;
use crate::upload::now_ms;

/// ListBuckets: the buckets the principal can see.
pub(crate) async fn list_buckets(
    app: &App,
    principal: &Principal,
) -> Result<Response<Body>, S3Error> {
    let all = app
        .db
        .transact(|tx, _| buckets::list(tx))
        .await
        .map_err(|e| internal("list buckets", &e))?;
    let visible: Vec<xml::BucketEntry> = all
        .into_iter()
        .filter(|(_, b)| {
            access::authorize(app, principal, b, false).is_ok()
                || access::authorize_owner(app, principal, b).is_ok()
        })
        .map(|(name, b)| xml::BucketEntry {
            name,
            creation_date_ms: b.ctime_ms,
            region: Some(app.config.region.clone()),
        })
        .collect();
    let result = xml::ListAllMyBucketsResult {
        owner: owner(principal.id()),
        buckets: visible,
        prefix: None,
        continuation_token: None,
    };
    xml_response(StatusCode::OK, result.to_xml())
}

/// CreateBucket. The creator's key becomes the bucket's owner.
pub(crate) async fn create(
    app: &App,
    principal: &Principal,
    name: &str,
    body: RequestBody,
) -> Result<Response<Body>, S3Error> {
    if !principal.may_create_buckets(app) {
        return Err(S3Error::access_denied());
    }
    let config = body.collect(xml::MAX_CREATE_BUCKET_BODY_BYTES).await?;
    if !config.is_empty() {
        let location = xml::parse_create_bucket_configuration(&config)?;
        if location
            .as_deref()
            .is_some_and(|l| !l.is_empty() && l != app.config.region)
        {
            return Err(S3Error::IllegalLocationConstraintException);
        }
    }
    let id = app
        .bucket_ids
        .next()
        .await
        .map_err(|e| internal("allocate bucket id", &e))?;
    let record = BucketRecord {
        id,
        owner: principal.id().to_owned(),
        ctime_ms: now_ms(),
        settings: BTreeMap::from([("region".to_owned(), app.config.region.clone())]),
    };
    let op = OpId::random();
    let (bucket, key_id) = (name.to_owned(), principal.id().to_owned());
    let result = app
        .db
        .transact(move |tx, _| {
            if let Some(existing) = buckets::get(tx, &bucket)? {
                return Ok(Some(existing.owner == key_id));
            }
            buckets::create(tx, &bucket, &record, op)?;
            let owner = Permission {
                read: true,
                write: true,
                owner: true,
            };
            // The root key may have no record of its own permissions; it needs none.
            match access_keys::set_permission(tx, &key_id, record.id, owner) {
                Ok(()) | Err(NsError::AccessKeyNotFound(_)) => {}
                Err(e) => return Err(e),
            }
            Ok::<_, NsError>(None)
        })
        .await
        .map_err(|e| internal("create bucket", &e))?;
    match result {
        None => Response::builder()
            .status(StatusCode::OK)
            .header(header::LOCATION, format!("/{name}"))
            .body(Body::empty())
            .map_err(|e| internal("build response", &e)),
        Some(true) => Err(S3Error::BucketAlreadyOwnedByYou),
        Some(false) => Err(S3Error::BucketAlreadyExists),
    }
}

/// DeleteBucket: only an empty bucket (no objects, no uploads in progress).
pub(crate) async fn delete(
    app: &App,
    principal: &Principal,
    name: &str,
    bucket: &BucketRecord,
) -> Result<Response<Body>, S3Error> {
    access::authorize_owner(app, principal, bucket)?;
    let n = name.to_owned();
    match app
        .db
        .transact(move |tx, _| buckets::delete_if_empty(tx, &n))
        .await
    {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(NsError::BucketNotEmpty(_)) => Err(S3Error::BucketNotEmpty),
        Err(NsError::BucketNotFound(_)) => Err(S3Error::NoSuchBucket),
        Err(e) => Err(internal("delete bucket", &e)),
    }
}

/// DeleteObjects: every key is deleted (a missing key counts as deleted, as in an
/// unversioned S3 bucket); quiet mode lists only errors.
pub(crate) async fn delete_objects(
    app: &App,
    bucket: &BucketRecord,
    headers: &http::HeaderMap,
    body: RequestBody,
) -> Result<Response<Body>, S3Error> {
    let content_md5 = headers.get("content-md5").map(|v| {
        v.to_str()
            .ok()
            .and_then(parse_content_md5)
            .ok_or(S3Error::InvalidDigest)
    });
    let bytes = body.collect(xml::MAX_DELETE_BODY_BYTES).await?;
    if let Some(expected) = content_md5 {
        let mut md5 = Md5::new();
        md5.update(&bytes);
        if md5.finish() != expected? {
            return Err(S3Error::BadDigest);
        }
    }
    let request = xml::parse_delete(&bytes)?;
    let mut outcomes = Vec::with_capacity(request.objects.len());
    for object in request.objects {
        let result = if object.version_id.as_deref().is_some_and(|v| v != "null") {
            Err(S3Error::NoSuchVersion)
        } else {
            object::delete_key(app, bucket.id, &object.key).await
        };
        outcomes.push(match result {
            Ok(()) => xml::DeleteOutcome::Deleted {
                key: object.key,
                version_id: object.version_id,
            },
            Err(error) => xml::DeleteOutcome::Error {
                key: object.key,
                version_id: object.version_id,
                error,
            },
        });
    }
    if request.quiet {
        outcomes.retain(|o| matches!(o, xml::DeleteOutcome::Error { .. }));
    }
    xml_response(StatusCode::OK, xml::delete_result(&outcomes))
}
