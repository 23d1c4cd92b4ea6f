//! Multipart upload handlers.
//!
//! Each part is its own ledger, written like a PUT body. Complete is one namespace
//! transaction that checks the part list (ascending numbers, matching ETags, every part
//! but the last at least 5 MiB) and turns it into the object's segment list: no bytes
//! are copied. The ETag is S3's multipart form, `md5(md5(part 1) ‖ …)-N`.

use axum::body::Body;
use folio_namespace::buckets::BucketRecord;
use folio_namespace::multipart::{self, Completion, PartRecord, UploadRecord};
use folio_namespace::objects::{self, WriteContext};
use folio_namespace::{NsError, OpId};
use folio_s3::checksum::{self, ChecksumAlgorithm, Md5};
use folio_s3::error::S3Error;
use folio_s3::router::{
    CompleteMultipartUploadRequest, CreateMultipartUploadRequest, ListMultipartUploadsRequest,
    ListPartsRequest, UploadPartCopyRequest, UploadPartRequest,
};
use folio_s3::xml;
use futures::StreamExt;
use http::{HeaderMap, Response, StatusCode, header};

use crate::access::Principal;
use crate::app::{App, empty, internal, owner, xml_response};
use crate::body::RequestBody;
use crate::download;
use crate::gc::take_orphan;
use crate::object::{
    self, millis, object_meta, put_condition, quoted, to_stored, to_stored_algorithm,
};
use crate::upload::{self, now_ms};

/// Every part but the last must be at least this large.
pub const MIN_PART_BYTES: u64 = 5 << 20;

/// CreateMultipartUpload.
pub(crate) async fn create(
    app: &App,
    principal: &Principal,
    bucket: &BucketRecord,
    r: CreateMultipartUploadRequest,
) -> Result<Response<Body>, S3Error> {
    let meta = object_meta(&r.headers);
    let checksum_algorithm = match &r.checksum_algorithm {
        Some(name) => Some(
            ChecksumAlgorithm::from_algorithm_value(name).ok_or_else(|| {
                S3Error::invalid_argument(format!("unknown checksum algorithm {name}"))
            })?,
        ),
        None => None,
    };
    let record = UploadRecord {
        initiated_ms: now_ms(),
        initiator: principal.id().to_owned(),
        content_type: meta.content_type,
        headers: meta.headers,
        user_metadata: meta.user_metadata,
        checksum_algorithm: checksum_algorithm.map(to_stored_algorithm),
    };
    let upload_id = multipart::new_upload_id();
    let (bucket_id, key, id) = (bucket.id, r.key.clone(), upload_id.clone());
    app.db
        .transact(move |tx, _| multipart::create(tx, bucket_id, &key, &id, &record))
        .await
        .map_err(|e| internal("create multipart upload", &e))?;
    let xml = xml::initiate_multipart_upload_result(&r.bucket, &r.key, &upload_id);
    let mut response = xml_response(StatusCode::OK, xml)?;
    if let Some(a) = checksum_algorithm
        && let Ok(v) = http::HeaderValue::from_str(a.as_str())
    {
        response.headers_mut().insert("x-amz-checksum-algorithm", v);
    }
    Ok(response)
}

async fn require_upload(
    app: &App,
    bucket_id: u64,
    key: &str,
    upload_id: &str,
) -> Result<UploadRecord, S3Error> {
    let (key, id) = (key.to_owned(), upload_id.to_owned());
    app.db
        .transact(move |tx, _| multipart::get(tx, bucket_id, &key, &id))
        .await
        .map_err(|e| internal("read multipart upload", &e))?
        .ok_or(S3Error::NoSuchUpload)
}

/// Records a part written to a ledger, replacing an earlier part of the same number.
async fn record_part(
    app: &App,
    bucket_id: u64,
    key: &str,
    upload_id: &str,
    part_number: u32,
    part: PartRecord,
    orphan: Option<folio_namespace::gc::GcItem>,
) -> Result<(), S3Error> {
    let (key, id) = (key.to_owned(), upload_id.to_owned());
    let due = now_ms() + millis(app.config.unlinked_grace);
    let result = app
        .db
        .transact(move |tx, _| {
            if let Some(orphan) = &orphan {
                take_orphan(tx, orphan)?;
            }
            multipart::put_part(tx, bucket_id, &key, &id, part_number, &part, due)
        })
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(NsError::UploadNotFound(_)) => Err(S3Error::NoSuchUpload),
        Err(e) => Err(internal("record part", &e)),
    }
}

/// UploadPart.
pub(crate) async fn upload_part(
    app: &App,
    bucket: &BucketRecord,
    r: UploadPartRequest,
    headers: &HeaderMap,
    body: RequestBody,
) -> Result<Response<Body>, S3Error> {
    require_upload(app, bucket.id, &r.key, &r.upload_id).await?;
    let stored = object::store_body(app, headers, body).await?;
    let etag = checksum::etag_hex(&stored.md5);
    let part = PartRecord {
        ledger_id: stored.written.segment.as_ref().map_or(0, |s| s.ledger_id),
        size_bytes: stored.written.size_bytes,
        entry_size_bytes: app.config.entry_size_bytes,
        etag: etag.clone(),
        checksums: stored.checksum.iter().map(to_stored).collect(),
        mtime_ms: now_ms(),
    };
    record_part(
        app,
        bucket.id,
        &r.key,
        &r.upload_id,
        r.part_number,
        part,
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

/// UploadPartCopy: the source range is copied into the part's own ledger (a part must
/// be one ledger, and a range of another ledger is not one).
pub(crate) async fn upload_part_copy(
    app: &App,
    src_bucket: &BucketRecord,
    dst_bucket: &BucketRecord,
    r: UploadPartCopyRequest,
) -> Result<Response<Body>, S3Error> {
    require_upload(app, dst_bucket.id, &r.key, &r.upload_id).await?;
    let source = object::record(app, src_bucket.id, &r.source.key).await?;
    object::check_read_conditions(&r.source_conditions, &source).map_err(|e| match e {
        S3Error::NotModified => S3Error::PreconditionFailed,
        other => other,
    })?;
    let range = match r.source_range {
        Some((first, last)) if last < source.size_bytes && first <= last => first..last + 1,
        Some(_) => {
            return Err(S3Error::InvalidRange {
                size: source.size_bytes,
            });
        }
        None => 0..source.size_bytes,
    };
    let bytes = download::stream_object(app.ledgers.clone(), source.segments.clone(), range)
        .map(|r| r.map_err(|e| internal("read copy source", &e)));
    let limits = object::upload_limits(app);
    let mut md5 = Md5::new();
    let written = upload::write_body(
        &app.ledgers,
        &app.db,
        limits,
        Box::pin(bytes),
        &mut |c: &[u8]| md5.update(c),
    )
    .await
    .map_err(object::upload_error)?;
    let etag = checksum::etag_hex(&md5.finish());
    let mtime_ms = now_ms();
    let part = PartRecord {
        ledger_id: written.segment.as_ref().map_or(0, |s| s.ledger_id),
        size_bytes: written.size_bytes,
        entry_size_bytes: app.config.entry_size_bytes,
        etag: etag.clone(),
        checksums: Vec::new(),
        mtime_ms,
    };
    record_part(
        app,
        dst_bucket.id,
        &r.key,
        &r.upload_id,
        r.part_number,
        part,
        written.orphan,
    )
    .await?;
    xml_response(
        StatusCode::OK,
        xml::copy_part_result(&quoted(&etag), mtime_ms, None),
    )
}

/// CompleteMultipartUpload.
pub(crate) async fn complete(
    app: &App,
    bucket: &BucketRecord,
    r: CompleteMultipartUploadRequest,
    body: RequestBody,
) -> Result<Response<Body>, S3Error> {
    let bytes = body.collect(xml::MAX_COMPLETE_BODY_BYTES).await?;
    let requested = xml::parse_complete_multipart_upload(&bytes)?;
    if requested.is_empty() {
        return Err(S3Error::MalformedXML);
    }
    let mut part_md5s = Vec::with_capacity(requested.len());
    let mut list = Vec::with_capacity(requested.len());
    let mut previous = 0;
    for p in &requested {
        if p.part_number <= previous {
            return Err(S3Error::InvalidPartOrder);
        }
        previous = p.part_number;
        let md5: [u8; 16] = hex::decode(p.etag.trim_matches('"'))
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(S3Error::InvalidPart)?;
        part_md5s.push(md5);
        list.push((p.part_number, p.etag.trim_matches('"').to_owned()));
    }
    let etag = checksum::multipart_etag(&part_md5s);
    let condition = put_condition(&r.conditions)?;
    let ctx = WriteContext {
        op: OpId::random(),
        gc_due_ms: now_ms() + millis(app.config.unlinked_grace),
    };
    let (bucket_id, key, upload_id) = (bucket.id, r.key.clone(), r.upload_id.clone());
    let mtime_ms = now_ms();
    let object_etag = etag.clone();
    let result = app
        .db
        .transact(move |tx, _| {
            // Every part but the last must reach the minimum size. A retry after an
            // unknown commit finds the upload gone; `complete` then returns the object.
            if multipart::get(tx, bucket_id, &key, &upload_id)?.is_some() {
                let (parts, _) = multipart::list_parts(tx, &upload_id, None, 10_000)?;
                let sizes: std::collections::BTreeMap<u32, u64> =
                    parts.into_iter().map(|(n, p)| (n, p.size_bytes)).collect();
                for (n, _) in &list[..list.len() - 1] {
                    if sizes.get(n).is_some_and(|s| *s < MIN_PART_BYTES) {
                        return Ok(Err(S3Error::EntityTooSmall));
                    }
                }
            }
            let completion = Completion {
                parts: &list,
                etag: object_etag.clone(),
                checksums: Vec::new(),
                mtime_ms,
                condition: condition.clone(),
            };
            multipart::complete(tx, bucket_id, &key, &upload_id, &completion, ctx).map(Ok)
        })
        .await;
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e),
        Err(NsError::UploadNotFound(_)) => {
            // A client's retry of a Complete that already succeeded (its answer was
            // lost) finds the upload gone. S3 answers it with the same result. The
            // object's ETag is the MD5 of exactly this list's part MD5s and count, so
            // a match means the key holds this list's object; anything else is
            // NoSuchUpload. Read-only: nothing is written or removed here.
            let (bucket_id, key) = (bucket.id, r.key.clone());
            let current = app
                .db
                .transact(move |tx, _| objects::get(tx, bucket_id, &key))
                .await
                .map_err(|e| internal("read object for a retried complete", &e))?;
            if !current.is_some_and(|o| objects::etag_eq(&o.etag, &etag)) {
                return Err(S3Error::NoSuchUpload);
            }
        }
        Err(NsError::InvalidPart { .. }) => return Err(S3Error::InvalidPart),
        Err(NsError::InvalidPartOrder) => return Err(S3Error::InvalidPartOrder),
        Err(NsError::PreconditionFailed) => return Err(S3Error::PreconditionFailed),
        Err(e) => return Err(internal("complete multipart upload", &e)),
    }
    let result = xml::CompleteMultipartUploadResult {
        location: format!("/{}/{}", r.bucket, r.key),
        bucket: r.bucket,
        key: r.key,
        etag: quoted(&etag),
        checksum: None,
    };
    xml_response(StatusCode::OK, result.to_xml())
}

/// AbortMultipartUpload: the parts' ledgers go to GC.
pub(crate) async fn abort(
    app: &App,
    bucket: &BucketRecord,
    key: &str,
    upload_id: &str,
) -> Result<Response<Body>, S3Error> {
    let (bucket_id, key, id) = (bucket.id, key.to_owned(), upload_id.to_owned());
    let due = now_ms() + millis(app.config.unlinked_grace);
    match app
        .db
        .transact(move |tx, _| multipart::abort(tx, bucket_id, &key, &id, due))
        .await
    {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(NsError::UploadNotFound(_)) => Err(S3Error::NoSuchUpload),
        Err(e) => Err(internal("abort multipart upload", &e)),
    }
}

/// ListParts.
pub(crate) async fn list_parts(
    app: &App,
    bucket: &BucketRecord,
    r: ListPartsRequest,
) -> Result<Response<Body>, S3Error> {
    let upload = require_upload(app, bucket.id, &r.key, &r.upload_id).await?;
    let id = r.upload_id.clone();
    let after = (r.part_number_marker > 0).then_some(r.part_number_marker);
    let max = r.max_parts as usize;
    let (parts, more) = app
        .db
        .transact(move |tx, _| multipart::list_parts(tx, &id, after, max))
        .await
        .map_err(|e| internal("list parts", &e))?;
    let next_marker = parts.last().map(|(n, _)| *n).filter(|_| more);
    let result = xml::ListPartsResult {
        bucket: r.bucket,
        key: r.key,
        upload_id: r.upload_id,
        owner: owner(&upload.initiator),
        storage_class: None,
        part_number_marker: r.part_number_marker,
        next_part_number_marker: next_marker,
        max_parts: r.max_parts,
        is_truncated: more,
        checksum_algorithm: upload.checksum_algorithm.map(object::from_stored),
        parts: parts
            .into_iter()
            .map(|(n, p)| xml::PartEntry {
                part_number: n,
                last_modified_ms: p.mtime_ms,
                etag: quoted(&p.etag),
                size: p.size_bytes,
                checksum: None,
            })
            .collect(),
    };
    xml_response(StatusCode::OK, result.to_xml())
}

/// ListMultipartUploads.
pub(crate) async fn list_uploads(
    app: &App,
    bucket: &BucketRecord,
    r: ListMultipartUploadsRequest,
) -> Result<Response<Body>, S3Error> {
    let (bucket_id, prefix) = (bucket.id, r.scope.prefix.clone());
    let marker =
        (!r.key_marker.is_empty()).then(|| (r.key_marker.clone(), r.upload_id_marker.clone()));
    let max = r.scope.max_keys as usize;
    let (uploads, more) = app
        .db
        .transact(move |tx, _| {
            let marker = marker.as_ref().map(|(k, u)| (k.as_str(), u.as_deref()));
            multipart::list_uploads(tx, bucket_id, &prefix, marker, max)
        })
        .await
        .map_err(|e| internal("list multipart uploads", &e))?;
    let last = uploads.last().map(|u| (u.key.clone(), u.upload_id.clone()));
    let result = xml::ListMultipartUploadsResult {
        bucket: r.scope.bucket,
        key_marker: r.key_marker,
        upload_id_marker: r.upload_id_marker.unwrap_or_default(),
        next_key_marker: last.as_ref().filter(|_| more).map(|l| l.0.clone()),
        next_upload_id_marker: last.filter(|_| more).map(|l| l.1),
        prefix: r.scope.prefix,
        delimiter: r.scope.delimiter,
        max_uploads: r.scope.max_keys,
        is_truncated: more,
        uploads: uploads
            .into_iter()
            .map(|u| xml::UploadEntry {
                key: u.key,
                upload_id: u.upload_id,
                owner: owner(&u.record.initiator),
                initiated_ms: u.record.initiated_ms,
                storage_class: None,
            })
            .collect(),
        common_prefixes: Vec::new(),
        encoding_type: r.scope.encoding_type,
    };
    xml_response(StatusCode::OK, result.to_xml())
}
