//! Object handlers: PutObject, GetObject, HeadObject, DeleteObject, CopyObject.
//!
//! PUT streams the body into a new ledger (see [`crate::upload`]), verifies length,
//! Content-MD5, the signed SHA-256 and any `x-amz-checksum-*` once the body ends, then
//! commits the object record in one namespace transaction with its precondition, so a
//! request that fails at any point leaves no visible object. GET and HEAD read the
//! record once, evaluate conditional headers, and stream the bytes from the ledgers.

use std::collections::BTreeMap;

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use folio_namespace::buckets::BucketRecord;
use folio_namespace::objects::{
    self, Checksum as StoredChecksum, ChecksumAlgorithm as StoredAlgorithm, ObjectRecord,
    PutCondition, StandardHeaders, WriteContext,
};
use folio_namespace::{NsError, OpId};
use folio_s3::checksum::{self, Checksum, ChecksumAlgorithm, Md5};
use folio_s3::error::S3Error;
use folio_s3::router::{
    CopyObjectRequest, GetObjectRequest, MetadataDirective, ObjectHeaders, PutObjectRequest,
    ReadConditions, WriteConditions, etag_matches,
};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::app::{App, internal};
use crate::body::RequestBody;
use crate::download;
use crate::gc::take_orphan;
use crate::upload::{self, UploadError, UploadLimits, now_ms};

/// Metadata a PUT (or multipart create, or copy with REPLACE) stores.
pub(crate) struct NewObjectMeta {
    pub content_type: Option<String>,
    pub headers: StandardHeaders,
    pub user_metadata: BTreeMap<String, String>,
}

/// The stored form of the router's object headers (the router has checked the
/// metadata size and removed `aws-chunked` from Content-Encoding).
pub(crate) fn object_meta(h: &ObjectHeaders) -> NewObjectMeta {
    NewObjectMeta {
        content_type: h.content_type.clone(),
        headers: StandardHeaders {
            content_disposition: h.content_disposition.clone(),
            cache_control: h.cache_control.clone(),
            content_encoding: h.content_encoding.clone(),
            content_language: h.content_language.clone(),
            expires: h.expires.clone(),
        },
        user_metadata: h.user_metadata.iter().cloned().collect(),
    }
}

/// The precondition of a write from `If-None-Match: *` / `If-Match`.
pub(crate) fn put_condition(c: &WriteConditions) -> Result<PutCondition, S3Error> {
    if let Some(v) = &c.if_none_match {
        if v.trim() == "*" {
            return Ok(PutCondition::IfAbsent);
        }
        return Err(S3Error::NotImplemented {
            operation: "If-None-Match with an ETag on PUT",
        });
    }
    Ok(match &c.if_match {
        Some(etag) => PutCondition::IfEtagMatches(etag.trim().to_owned()),
        None => PutCondition::Always,
    })
}

/// The checksum the client asked for: its algorithm, and the expected value when it
/// came as a header (a trailer's value comes at the end of the body).
pub(crate) struct ChecksumRequest {
    algorithm: ChecksumAlgorithm,
    expected: Option<Checksum>,
    trailer: bool,
}

pub(crate) fn checksum_request(headers: &HeaderMap) -> Result<Option<ChecksumRequest>, S3Error> {
    for algorithm in ChecksumAlgorithm::ALL {
        if let Some(v) = headers.get(algorithm.header_name()) {
            let value = v.to_str().map_err(|_| S3Error::InvalidDigest)?;
            let expected =
                Checksum::from_base64(algorithm, value).map_err(|_| S3Error::InvalidDigest)?;
            return Ok(Some(ChecksumRequest {
                algorithm,
                expected: Some(expected),
                trailer: false,
            }));
        }
    }
    if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        let name = trailer.trim().to_ascii_lowercase();
        let algorithm = ChecksumAlgorithm::from_header_name(&name)
            .ok_or_else(|| S3Error::invalid_argument(format!("unsupported trailer {name}")))?;
        return Ok(Some(ChecksumRequest {
            algorithm,
            expected: None,
            trailer: true,
        }));
    }
    let named = headers
        .get("x-amz-checksum-algorithm")
        .or_else(|| headers.get("x-amz-sdk-checksum-algorithm"))
        .and_then(|v| v.to_str().ok());
    if let Some(name) = named {
        let algorithm = ChecksumAlgorithm::from_algorithm_value(name).ok_or_else(|| {
            S3Error::invalid_argument(format!("unknown checksum algorithm {name}"))
        })?;
        return Ok(Some(ChecksumRequest {
            algorithm,
            expected: None,
            trailer: false,
        }));
    }
    Ok(None)
}

/// A body written to a ledger and verified.
pub(crate) struct StoredBody {
    pub written: upload::Written,
    pub md5: [u8; 16],
    pub checksum: Option<Checksum>,
}

/// Streams `body` into a ledger and verifies it: declared length, Content-MD5, signed
/// SHA-256 and the requested checksum.
pub(crate) async fn store_body(
    app: &App,
    headers: &HeaderMap,
    mut body: RequestBody,
) -> Result<StoredBody, S3Error> {
    let content_md5 = match headers.get("content-md5") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(checksum::parse_content_md5)
                .ok_or(S3Error::InvalidDigest)?,
        ),
        None => None,
    };
    let wanted = checksum_request(headers)?;
    let mut md5 = Md5::new();
    let mut summer = wanted.as_ref().map(|w| w.algorithm.checksummer());
    let mut tally = body.tally();
    let limits = upload_limits(app);
    let stream = std::mem::replace(&mut body.stream, Box::pin(futures::stream::empty()));
    let metrics = app.metrics.clone();
    let mut observe = |chunk: &[u8]| {
        metrics.bytes_in(chunk.len() as u64);
        md5.update(chunk);
        tally.update(chunk);
        if let Some(s) = &mut summer {
            s.update(chunk);
        }
    };
    let written = upload::write_body(&app.ledgers, &app.db, limits, stream, &mut observe)
        .await
        .map_err(upload_error)?;
    let trailers = body.finish(tally)?;
    let md5 = md5.finish();
    if content_md5.is_some_and(|expected| expected != md5) {
        return Err(S3Error::BadDigest);
    }
    let checksum = match (wanted, summer) {
        (Some(w), Some(s)) => {
            let computed = s.finish();
            let expected = match (w.expected, w.trailer) {
                (Some(e), _) => Some(e),
                (None, true) => {
                    let name = w.algorithm.header_name();
                    let value = trailers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.as_str())
                        .ok_or(S3Error::IncompleteBody)?;
                    Some(
                        Checksum::from_base64(w.algorithm, value)
                            .map_err(|_| S3Error::InvalidDigest)?,
                    )
                }
                (None, false) => None,
            };
            if expected.is_some_and(|e| e != computed) {
                return Err(S3Error::BadDigest);
            }
            Some(computed)
        }
        _ => None,
    };
    Ok(StoredBody {
        written,
        md5,
        checksum,
    })
}

/// How uploads write ledgers, from the gateway's configuration.
pub(crate) fn upload_limits(app: &App) -> UploadLimits {
    UploadLimits {
        entry_size_bytes: app.config.entry_size_bytes,
        orphan_grace_ms: millis(app.config.orphan_grace),
        max_object_bytes: app.config.max_object_bytes,
    }
}

/// The S3 error of a failed upload.
pub(crate) fn upload_error(e: UploadError<S3Error>) -> S3Error {
    match e {
        UploadError::Body(e) => e,
        UploadError::TooLarge { .. } => S3Error::EntityTooLarge,
        UploadError::Ledger(e) => internal("write object ledger", &e),
        UploadError::Namespace(e) => internal("record orphan ledger", &e),
    }
}

/// PutObject.
pub(crate) async fn put(
    app: &App,
    bucket_id: u64,
    r: PutObjectRequest,
    headers: &HeaderMap,
    body: RequestBody,
) -> Result<Response<Body>, S3Error> {
    let meta = object_meta(&r.headers);
    let condition = put_condition(&r.conditions)?;
    precheck(app, bucket_id, &r.key, &condition).await?;
    let stored = store_body(app, headers, body).await?;
    let etag = checksum::etag_hex(&stored.md5);
    let record = ObjectRecord {
        size_bytes: stored.written.size_bytes,
        etag: etag.clone(),
        checksums: stored.checksum.iter().map(to_stored).collect(),
        content_type: meta.content_type,
        headers: meta.headers,
        user_metadata: meta.user_metadata,
        mtime_ms: now_ms(),
        segments: stored.written.segment.into_iter().collect(),
    };
    commit_object(
        app,
        bucket_id,
        &r.key,
        record,
        condition,
        stored.written.orphan,
    )
    .await?;
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::ETAG, quoted(&etag));
    if let Some(c) = &stored.checksum {
        response = response.header(c.algorithm().header_name(), c.to_base64());
    }
    response
        .body(Body::empty())
        .map_err(|e| internal("build response", &e))
}

/// Fails with PreconditionFailed before the body is read (and so before `100
/// Continue`) when a conditional PUT cannot succeed. The commit checks the condition
/// again, atomically; this only spares the client an upload that would be refused.
async fn precheck(
    app: &App,
    bucket_id: u64,
    key: &str,
    condition: &PutCondition,
) -> Result<(), S3Error> {
    if matches!(condition, PutCondition::Always) {
        return Ok(());
    }
    let k = key.to_owned();
    let current = app
        .db
        .transact(move |tx, _| objects::get(tx, bucket_id, &k))
        .await
        .map_err(|e| internal("read object record", &e))?;
    let holds = match (condition, &current) {
        (PutCondition::Always, _) => true,
        (PutCondition::IfAbsent, current) => current.is_none(),
        (PutCondition::IfEtagMatches(etag), Some(current)) => etag_matches(etag, &current.etag),
        (PutCondition::IfEtagMatches(_), None) => false,
    };
    if holds {
        Ok(())
    } else {
        Err(S3Error::PreconditionFailed)
    }
}

/// Writes `record` under `key` with its precondition, removing the orphan entry of its
/// ledger in the same transaction.
pub(crate) async fn commit_object(
    app: &App,
    bucket_id: u64,
    key: &str,
    record: ObjectRecord,
    condition: PutCondition,
    orphan: Option<folio_namespace::gc::GcItem>,
) -> Result<(), S3Error> {
    let ctx = WriteContext {
        op: OpId::random(),
        gc_due_ms: now_ms() + millis(app.config.unlinked_grace),
    };
    let key = key.to_owned();
    let result = app
        .db
        .transact(move |tx, _| {
            if let Some(orphan) = &orphan {
                take_orphan(tx, orphan)?;
            }
            objects::put(tx, bucket_id, &key, &record, &condition, ctx)
        })
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(NsError::PreconditionFailed) => Err(S3Error::PreconditionFailed),
        Err(e) => Err(internal("commit object", &e)),
    }
}

/// Reads an object's record.
pub(crate) async fn record(app: &App, bucket_id: u64, key: &str) -> Result<ObjectRecord, S3Error> {
    let k = key.to_owned();
    app.db
        .transact(move |tx, _| objects::get(tx, bucket_id, &k))
        .await
        .map_err(|e| internal("read object record", &e))?
        .ok_or(S3Error::NoSuchKey)
}

/// Fails with NoSuchKey unless the object exists.
pub(crate) async fn exists(app: &App, bucket_id: u64, key: &str) -> Result<(), S3Error> {
    record(app, bucket_id, key).await.map(|_| ())
}

/// GetObject and HeadObject.
pub(crate) async fn get(
    app: &App,
    bucket_id: u64,
    r: GetObjectRequest,
    head: bool,
) -> Result<Response<Body>, S3Error> {
    if r.version_id.as_deref().is_some_and(|v| v != "null") {
        return Err(S3Error::NoSuchVersion);
    }
    let record = record(app, bucket_id, &r.key).await?;
    check_read_conditions(&r.conditions, &record)?;
    let size = record.size_bytes;
    let (status, range) = match (&r.range, r.part_number) {
        (Some(range), _) => (StatusCode::PARTIAL_CONTENT, range.resolve(size)?),
        (None, Some(part)) => (StatusCode::PARTIAL_CONTENT, part_range(&record, part)?),
        (None, None) => (StatusCode::OK, 0..size),
    };
    // A checksum covers the whole object: a partial answer carries none.
    let whole = status == StatusCode::OK;
    let mut response = object_headers(Response::builder(), &record, r.checksum_mode && whole);
    if status == StatusCode::PARTIAL_CONTENT {
        let last = range.end.saturating_sub(1);
        response = response.header(
            header::CONTENT_RANGE,
            format!("bytes {}-{last}/{size}", range.start),
        );
    }
    let o = &r.overrides;
    for (name, value) in [
        (header::CONTENT_TYPE, &o.content_type),
        (header::CONTENT_LANGUAGE, &o.content_language),
        (header::EXPIRES, &o.expires),
        (header::CACHE_CONTROL, &o.cache_control),
        (header::CONTENT_DISPOSITION, &o.content_disposition),
        (header::CONTENT_ENCODING, &o.content_encoding),
    ] {
        if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok())
            && let Some(headers) = response.headers_mut()
        {
            headers.insert(name, v);
        }
    }
    let length = range.end - range.start;
    response = response
        .status(status)
        .header(header::CONTENT_LENGTH, length)
        .header(header::ACCEPT_RANGES, "bytes");
    let body = if head || length == 0 {
        Body::empty()
    } else {
        object_body(app, record, range)
    };
    response
        .body(body)
        .map_err(|e| internal("build response", &e))
}

/// The byte range of part `part` (1-based) of a multipart object; a single-part
/// object has only part 1.
fn part_range(record: &ObjectRecord, part: u32) -> Result<std::ops::Range<u64>, S3Error> {
    let index = part.checked_sub(1).map(|i| i as usize);
    let mut start = 0;
    for (i, segment) in record.segments.iter().enumerate() {
        if Some(i) == index {
            return Ok(start..start + segment.length_bytes);
        }
        start += segment.length_bytes;
    }
    if part == 1 && record.segments.is_empty() {
        return Ok(0..0);
    }
    Err(S3Error::InvalidPartNumber)
}

fn object_body(app: &App, record: ObjectRecord, range: std::ops::Range<u64>) -> Body {
    let metrics = app.metrics.clone();
    let stream =
        download::stream_object(app.ledgers.clone(), record.segments, range).map(move |r| {
            if let Ok(chunk) = &r {
                metrics.bytes_out(chunk.len() as u64);
            }
            r.map_err(|e| {
                // The status line has gone out: all we can do is cut the body short, which
                // the client detects from Content-Length.
                tracing::error!(error = %e, "object read failed mid-stream");
                std::io::Error::other("object read failed")
            })
        });
    Body::from_stream(stream)
}

/// The headers GET and HEAD return for an object.
pub(crate) fn object_headers(
    mut response: http::response::Builder,
    record: &ObjectRecord,
    checksum_mode: bool,
) -> http::response::Builder {
    response = response
        .header(header::ETAG, quoted(&record.etag))
        .header(header::LAST_MODIFIED, http_date(record.mtime_ms))
        .header(
            header::CONTENT_TYPE,
            record
                .content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        );
    let h = &record.headers;
    for (name, value) in [
        (header::CONTENT_DISPOSITION, &h.content_disposition),
        (header::CACHE_CONTROL, &h.cache_control),
        (header::CONTENT_ENCODING, &h.content_encoding),
        (header::CONTENT_LANGUAGE, &h.content_language),
        (header::EXPIRES, &h.expires),
    ] {
        if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            response = response.header(name, v);
        }
    }
    for (k, v) in &record.user_metadata {
        if let Ok(v) = HeaderValue::from_str(v) {
            response = response.header(format!("x-amz-meta-{k}"), v);
        }
    }
    if checksum_mode {
        for c in &record.checksums {
            let alg = from_stored(c.algorithm);
            let mut value = BASE64.encode(&c.value);
            if let Some(parts) = c.parts {
                value = format!("{value}-{parts}");
            }
            response = response.header(alg.header_name(), value);
        }
    }
    let parts = record.segments.len();
    if record.etag.contains('-') && parts > 0 {
        response = response.header("x-amz-mp-parts-count", parts);
    }
    response
}

/// If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since (RFC 9110 §13.2.2
/// order), compared at one-second resolution.
pub(crate) fn check_read_conditions(
    c: &ReadConditions,
    record: &ObjectRecord,
) -> Result<(), S3Error> {
    let mtime_s = record.mtime_ms / 1000;
    if let Some(list) = &c.if_match {
        if !etag_matches(list, &record.etag) {
            return Err(S3Error::PreconditionFailed);
        }
    } else if let Some(since) = c.if_unmodified_since
        && mtime_s > unix_s(since)
    {
        return Err(S3Error::PreconditionFailed);
    }
    if let Some(list) = &c.if_none_match {
        if etag_matches(list, &record.etag) {
            return Err(S3Error::NotModified);
        }
    } else if let Some(since) = c.if_modified_since
        && mtime_s <= unix_s(since)
    {
        return Err(S3Error::NotModified);
    }
    Ok(())
}

/// DeleteObject: removing a missing key succeeds, as in an unversioned S3 bucket.
pub(crate) async fn delete(
    app: &App,
    bucket_id: u64,
    key: &str,
) -> Result<Response<Body>, S3Error> {
    delete_key(app, bucket_id, key).await?;
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .map_err(|e| internal("build response", &e))
}

/// Deletes one key; whether it existed does not matter to S3.
pub(crate) async fn delete_key(app: &App, bucket_id: u64, key: &str) -> Result<(), S3Error> {
    let due = now_ms() + millis(app.config.unlinked_grace);
    let key = key.to_owned();
    app.db
        .transact(move |tx, _| objects::delete(tx, bucket_id, &key, due))
        .await
        .map_err(|e| internal("delete object", &e))?;
    Ok(())
}

/// CopyObject: a new name linked to the source's ledgers, no bytes copied.
pub(crate) async fn copy(
    app: &App,
    src_bucket: &BucketRecord,
    dst_bucket: &BucketRecord,
    r: CopyObjectRequest,
) -> Result<Response<Body>, S3Error> {
    if r.source.version_id.as_deref().is_some_and(|v| v != "null") {
        return Err(S3Error::NoSuchVersion);
    }
    let replace = r.metadata_directive == MetadataDirective::Replace;
    let src = (src_bucket.id, r.source.key.clone());
    let dst = (dst_bucket.id, r.key.clone());
    if src == dst && !replace {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself \
             without changing the object's metadata, storage class, website redirect \
             location or encryption attributes.",
        ));
    }
    let meta = replace.then(|| object_meta(&r.headers));
    let condition = put_condition(&r.conditions)?;
    let source_conditions = r.source_conditions;
    let ctx = WriteContext {
        op: OpId::random(),
        gc_due_ms: now_ms() + millis(app.config.unlinked_grace),
    };
    let mtime_ms = now_ms();
    let result = app
        .db
        .transact(move |tx, _| {
            let source = objects::get(tx, src.0, &src.1)?.ok_or(NsError::ObjectNotFound)?;
            if let Err(e) = check_read_conditions(&source_conditions, &source) {
                return Ok(Err(e));
            }
            let meta = meta.as_ref();
            let record = objects::copy(
                tx,
                (src.0, &src.1),
                (dst.0, &dst.1),
                mtime_ms,
                &condition,
                ctx,
                |r| {
                    if let Some(m) = meta {
                        r.content_type = m.content_type.clone();
                        r.headers = m.headers.clone();
                        r.user_metadata = m.user_metadata.clone();
                    }
                },
            )?;
            Ok::<_, NsError>(Ok(record))
        })
        .await;
    let record = match result {
        Ok(Ok(record)) => record,
        // A copy source's "not modified" is a failed precondition of the copy.
        Ok(Err(S3Error::NotModified)) => return Err(S3Error::PreconditionFailed),
        Ok(Err(e)) => return Err(e),
        Err(NsError::ObjectNotFound) => return Err(S3Error::NoSuchKey),
        Err(NsError::PreconditionFailed) => return Err(S3Error::PreconditionFailed),
        Err(e) => return Err(internal("copy object", &e)),
    };
    let xml = folio_s3::xml::copy_object_result(&quoted(&record.etag), record.mtime_ms, None);
    crate::app::xml_response(StatusCode::OK, xml)
}

pub(crate) fn to_stored(c: &Checksum) -> StoredChecksum {
    StoredChecksum {
        algorithm: to_stored_algorithm(c.algorithm()),
        value: c.as_bytes().to_vec(),
        parts: None,
    }
}

pub(crate) fn to_stored_algorithm(a: ChecksumAlgorithm) -> StoredAlgorithm {
    match a {
        ChecksumAlgorithm::Crc32 => StoredAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c => StoredAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme => StoredAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1 => StoredAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256 => StoredAlgorithm::Sha256,
    }
}

pub(crate) fn from_stored(a: StoredAlgorithm) -> ChecksumAlgorithm {
    match a {
        StoredAlgorithm::Crc32 => ChecksumAlgorithm::Crc32,
        StoredAlgorithm::Crc32c => ChecksumAlgorithm::Crc32c,
        StoredAlgorithm::Crc64Nvme => ChecksumAlgorithm::Crc64Nvme,
        StoredAlgorithm::Sha1 => ChecksumAlgorithm::Sha1,
        StoredAlgorithm::Sha256 => ChecksumAlgorithm::Sha256,
    }
}

/// An ETag in its quoted header form.
pub(crate) fn quoted(etag: &str) -> String {
    format!("\"{}\"", etag.trim_matches('"'))
}

/// RFC 7231 date of a millisecond timestamp.
pub(crate) fn http_date(ms: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

fn unix_s(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
