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
use folio_namespace::list::{self, ListEntry, ListRequest};
use folio_s3::error::S3Error;
use folio_s3::router::{
    ListObjectVersionsRequest, ListObjectsRequest, ListObjectsV2Request, ListScope,
};
use folio_s3::xml;
use http::{Response, StatusCode};

use crate::app::{App, internal, owner, xml_response};

/// Reads one page of `scope` after `start_after`: the shared part of every listing
/// answer, and the key the next page starts after (`None`: this page is the last).
async fn read_listing(
    app: &App,
    bucket: &BucketRecord,
    scope: ListScope,
    start_after: Option<&str>,
) -> Result<(xml::Listing, Option<String>), S3Error> {
    let (bucket_id, prefix) = (bucket.id, scope.prefix.clone());
    let delimiter = scope.delimiter.clone().filter(|d| !d.is_empty());
    let start_after = start_after.filter(|s| !s.is_empty()).map(str::to_owned);
    let max = scope.max_keys as usize;
    let page = app
        .db
        .transact(move |tx, _| {
            list::list_page(
                tx,
                bucket_id,
                &ListRequest {
                    prefix: &prefix,
                    delimiter: delimiter.as_deref(),
                    start_after: start_after.as_deref(),
                    max_keys: max,
                },
            )
        })
        .await
        .map_err(|e| internal("list objects", &e))?;
    let mut objects = Vec::new();
    let mut common_prefixes = Vec::new();
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
            ListEntry::CommonPrefix(p) => common_prefixes.push(p),
        }
    }
    let listing = xml::Listing {
        scope,
        is_truncated: page.next_start_after.is_some(),
        objects,
        common_prefixes,
    };
    Ok((listing, page.next_start_after))
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
    let (mut listing, next) = read_listing(app, bucket, r.scope, start.as_deref()).await?;
    if r.fetch_owner {
        for object in &mut listing.objects {
            object.owner = Some(owner(&bucket.owner));
        }
    }
    let result = xml::ListObjectsV2Result {
        listing,
        continuation_token: r.continuation_token,
        next_continuation_token: next.map(|k| TOKEN.encode(k)),
        start_after: r.start_after,
    };
    xml_response(StatusCode::OK, result.to_xml())
}

/// ListObjects (version 1).
pub(crate) async fn list_objects_v1(
    app: &App,
    bucket: &BucketRecord,
    r: ListObjectsRequest,
) -> Result<Response<Body>, S3Error> {
    let (listing, next) = read_listing(app, bucket, r.scope, Some(&r.marker)).await?;
    // S3 returns NextMarker only when a delimiter was given.
    let delimited = listing
        .scope
        .delimiter
        .as_deref()
        .is_some_and(|d| !d.is_empty());
    let result = xml::ListObjectsV1Result {
        listing,
        marker: r.marker,
        next_marker: next.filter(|_| delimited),
    };
    xml_response(StatusCode::OK, result.to_xml())
}

/// ListObjectVersions: without versioning, every object is its one version, `null`.
pub(crate) async fn list_object_versions(
    app: &App,
    bucket: &BucketRecord,
    r: ListObjectVersionsRequest,
) -> Result<Response<Body>, S3Error> {
    let (listing, next) = read_listing(app, bucket, r.scope, Some(&r.key_marker)).await?;
    let result = xml::ListVersionsResult {
        listing,
        key_marker: r.key_marker,
        version_id_marker: r.version_id_marker.unwrap_or_default(),
        next_key_marker: next,
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
