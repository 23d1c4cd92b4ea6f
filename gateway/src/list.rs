//! Listing handlers: ListObjects (v1), ListObjectsV2 and ListObjectVersions.
//!
//! All three read one page with `folio_namespace::list::list_page`, which seeks past
//! the subtree of a common prefix instead of scanning it. V2's continuation token is
//! the base64 of the last name returned (opaque to clients); V1's marker and the
//! versions listing's key marker are the same position, in the clear.

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;
use folio_namespace::buckets::BucketRecord;
use folio_namespace::list::{self, ListEntry, ListPage, ListRequest};
use folio_s3::error::S3Error;
use folio_s3::router::{ListObjectVersionsRequest, ListObjectsRequest, ListObjectsV2Request};
use folio_s3::xml;
use http::{Response, StatusCode};

use crate::app::{App, internal, owner, xml_response};

async fn page(
    app: &App,
    bucket: &BucketRecord,
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<&str>,
    max_keys: u32,
) -> Result<ListPage, S3Error> {
    let (bucket_id, prefix) = (bucket.id, prefix.to_owned());
    let delimiter = delimiter.filter(|d| !d.is_empty()).map(str::to_owned);
    let start_after = start_after.filter(|s| !s.is_empty()).map(str::to_owned);
    let max_keys = max_keys as usize;
    app.db
        .transact(move |tx, _| {
            list::list_page(
                tx,
                bucket_id,
                &ListRequest {
                    prefix: &prefix,
                    delimiter: delimiter.as_deref(),
                    start_after: start_after.as_deref(),
                    max_keys,
                },
            )
        })
        .await
        .map_err(|e| internal("list objects", &e))
}

fn split(page: ListPage) -> (Vec<xml::ObjectEntry>, Vec<String>) {
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    for entry in page.entries {
        match entry {
            ListEntry::Object(o) => objects.push(xml::ObjectEntry {
                key: o.key,
                last_modified_ms: o.mtime_ms,
                etag: o.etag,
                size: o.size_bytes,
                storage_class: None,
                owner: None,
            }),
            ListEntry::CommonPrefix(p) => prefixes.push(p),
        }
    }
    (objects, prefixes)
}

/// ListObjectsV2.
pub(crate) async fn list_objects_v2(
    app: &App,
    bucket: &BucketRecord,
    r: ListObjectsV2Request,
) -> Result<Response<Body>, S3Error> {
    let start = match &r.continuation_token {
        Some(token) => Some(decode_token(token)?),
        None => r.start_after.clone(),
    };
    let page = page(
        app,
        bucket,
        &r.prefix,
        r.delimiter.as_deref(),
        start.as_deref(),
        r.max_keys,
    )
    .await?;
    let next = page.next_start_after.as_deref().map(|k| TOKEN.encode(k));
    let (contents, common_prefixes) = split(page);
    let contents = if r.fetch_owner {
        contents
            .into_iter()
            .map(|o| xml::ObjectEntry {
                owner: Some(owner(&bucket.owner)),
                ..o
            })
            .collect()
    } else {
        contents
    };
    let result = xml::ListObjectsV2Result {
        bucket: r.bucket,
        prefix: r.prefix,
        delimiter: r.delimiter,
        max_keys: r.max_keys,
        continuation_token: r.continuation_token,
        next_continuation_token: next.clone(),
        start_after: r.start_after,
        is_truncated: next.is_some(),
        contents,
        common_prefixes,
        encoding_type: r.encoding_type,
    };
    xml_response(StatusCode::OK, result.to_xml())
}

/// ListObjects (version 1).
pub(crate) async fn list_objects_v1(
    app: &App,
    bucket: &BucketRecord,
    r: ListObjectsRequest,
) -> Result<Response<Body>, S3Error> {
    let page = page(
        app,
        bucket,
        &r.prefix,
        r.delimiter.as_deref(),
        Some(&r.marker),
        r.max_keys,
    )
    .await?;
    let next = page.next_start_after.clone();
    let (contents, common_prefixes) = split(page);
    let result = xml::ListObjectsV1Result {
        bucket: r.bucket,
        prefix: r.prefix,
        delimiter: r.delimiter.clone(),
        marker: r.marker,
        max_keys: r.max_keys,
        is_truncated: next.is_some(),
        // S3 returns NextMarker only when a delimiter was given.
        next_marker: next.filter(|_| r.delimiter.as_deref().is_some_and(|d| !d.is_empty())),
        contents,
        common_prefixes,
        encoding_type: r.encoding_type,
    };
    xml_response(StatusCode::OK, result.to_xml())
}

/// ListObjectVersions: without versioning, every object is its one version, `null`.
pub(crate) async fn list_object_versions(
    app: &App,
    bucket: &BucketRecord,
    r: ListObjectVersionsRequest,
) -> Result<Response<Body>, S3Error> {
    let page = page(
        app,
        bucket,
        &r.prefix,
        r.delimiter.as_deref(),
        Some(&r.key_marker),
        r.max_keys,
    )
    .await?;
    let next = page.next_start_after.clone();
    let (versions, common_prefixes) = split(page);
    let result = xml::ListVersionsResult {
        bucket: r.bucket,
        prefix: r.prefix,
        key_marker: r.key_marker,
        version_id_marker: r.version_id_marker.unwrap_or_default(),
        delimiter: r.delimiter,
        max_keys: r.max_keys,
        is_truncated: next.is_some(),
        next_key_marker: next,
        versions,
        common_prefixes,
        encoding_type: r.encoding_type,
    };
    xml_response(StatusCode::OK, result.to_xml())
}

fn decode_token(token: &str) -> Result<String, S3Error> {
    TOKEN
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| S3Error::invalid_argument("The continuation token provided is incorrect"))
}
