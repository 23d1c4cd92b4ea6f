//! The typed router: method, URI and headers → [`S3Op`], as a pure function.
//!
//! [`route`] finds the bucket (from the `Host` header under the configured root domain
//! for virtual-host style, else from the first path segment) and the key (the rest of
//! the path, percent-decoded exactly once and never normalised: `//`, `../`, spaces and
//! a literal `+` are kept). It then picks the operation from the method and the
//! sub-resources in the query, and parses that operation's parameters from the query
//! and headers into typed fields. Query parameters the operation does not use (such as
//! `x-id=` that SDKs add, or presigned `X-Amz-*`) are ignored.
//!
//! - [`op`]: [`S3Op`] and the per-operation request structs;
//! - [`headers`]: object headers and metadata, conditions, copy sources;
//! - [`range`]: the `Range` header;
//! - [`names`]: bucket name and key rules.

pub mod headers;
pub mod names;
pub mod op;
#[cfg(test)]
mod proptests;
mod query;
pub mod range;
mod subresource;
#[cfg(test)]
mod tests;

use http::{HeaderMap, Method, Uri};

use crate::error::S3Error;

pub use self::headers::{
    CopySource, MAX_USER_METADATA_BYTES, ObjectHeaders, ReadConditions, WriteConditions,
    etag_matches,
};
pub use self::names::{MAX_KEY_BYTES, check_key, validate_bucket_name};
pub use self::op::{
    CompleteMultipartUploadRequest, CopyObjectRequest, CreateMultipartUploadRequest, EncodingType,
    GetObjectRequest, ListBucketsRequest, ListMultipartUploadsRequest, ListObjectVersionsRequest,
    ListObjectsRequest, ListObjectsV2Request, ListPartsRequest, ListScope, MetadataDirective,
    PutObjectRequest, ResponseOverrides, S3Op, UploadPartCopyRequest, UploadPartRequest,
};
pub use self::range::ByteRange;

use self::query::Query;
use self::subresource::Lookup;

/// The highest part number S3 allows.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// The default (and maximum effective) number of entries in one list answer.
pub const DEFAULT_MAX_KEYS: u32 = 1000;

/// How the request named its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `/bucket/key`, or `/` for ListBuckets.
    Path,
    /// `bucket.<root_domain>/key`.
    VirtualHost,
}

/// A routed request: the operation and how the bucket was addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The operation, with bucket, key and typed parameters.
    pub op: S3Op,
    /// Path-style or virtual-host style.
    pub addressing: Addressing,
}

/// Routes a request.
///
/// `root_domain` enables virtual-host style: with `Some("s3.example.com")`, a `Host` of
/// `photos.s3.example.com[:port]` addresses bucket `photos`. Any other host (an IP
/// address, `localhost`, the root domain itself) means path style.
///
/// Errors: [`S3Error::InvalidURI`] for a path that is not UTF-8 once decoded,
/// [`S3Error::InvalidBucketName`] for CreateBucket of an invalid name,
/// [`S3Error::KeyTooLongError`], [`S3Error::InvalidArgument`] for malformed parameters,
/// [`S3Error::MethodNotAllowed`], and [`S3Error::NotImplemented`] for headers asking
/// for features folio lacks (SSE-C, object lock). Unsupported sub-resources are not an
/// error here: they route to [`S3Op::NotImplemented`].
pub fn route(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    root_domain: Option<&str>,
) -> Result<Route, S3Error> {
    let path = uri.path();
    let vhost_bucket = root_domain.and_then(|root| virtual_host_bucket(uri, headers, root));
    let (addressing, bucket_raw, key_raw) = match &vhost_bucket {
        Some(bucket) => (
            Addressing::VirtualHost,
            bucket.as_str(),
            path.strip_prefix('/').unwrap_or(path),
        ),
        None => {
            let rest = path.strip_prefix('/').unwrap_or(path);
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            (Addressing::Path, bucket, key)
        }
    };
    let bucket = headers::decode(bucket_raw)?;
    let key = headers::decode(key_raw)?;
    let query = Query::parse(uri.query())?;
    let op = if bucket.is_empty() {
        service_op(method, &query)?
    } else if key.is_empty() {
        bucket_op(method, bucket, &query, headers)?
    } else {
        names::check_key(&key)?;
        object_op(method, bucket, key, &query, headers)?
    };
    Ok(Route { op, addressing })
}

/// The bucket named by the host, if it is `<bucket>.<root_domain>`.
fn virtual_host_bucket(uri: &Uri, headers: &HeaderMap, root_domain: &str) -> Option<String> {
    let host = match uri.host() {
        Some(host) => host,
        None => headers.get(http::header::HOST)?.to_str().ok()?,
    };
    let host = strip_port(host.trim())
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let root = root_domain.trim_end_matches('.').to_ascii_lowercase();
    let bucket = host.strip_suffix(&root)?.strip_suffix('.')?;
    (!bucket.is_empty()).then(|| bucket.to_owned())
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // An IPv6 literal is never a virtual host; keep it whole.
        return host;
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn service_op(method: &Method, query: &Query) -> Result<S3Op, S3Error> {
    if *method != Method::GET {
        return Err(S3Error::MethodNotAllowed);
    }
    Ok(S3Op::ListBuckets(ListBucketsRequest {
        prefix: query.string("prefix"),
        continuation_token: query.string("continuation-token"),
        max_buckets: query.optional_number("max-buckets", 1, 10_000)?,
    }))
}

/// A `max-keys`-style parameter: any non-negative 32-bit signed integer is accepted
/// (S3 caps the effective value at 1000 rather than refusing more).
fn max_count(query: &Query, name: &str) -> Result<u32, S3Error> {
    query.number(name, DEFAULT_MAX_KEYS, 0, i32::MAX as u32)
}

fn bucket_op(
    method: &Method,
    bucket: String,
    query: &Query,
    headers: &HeaderMap,
) -> Result<S3Op, S3Error> {
    let has = |name: &str| query.has(name);
    if *method == Method::GET {
        if has("location") {
            return Ok(S3Op::GetBucketLocation { bucket });
        }
        if has("versioning") {
            return Ok(S3Op::GetBucketVersioning { bucket });
        }
        if has("acl") {
            return Ok(S3Op::GetBucketAcl { bucket });
        }
    }
    if *method == Method::POST && has("delete") {
        return Ok(S3Op::DeleteObjects { bucket });
    }
    match subresource::lookup(method, false, has) {
        Lookup::Operation(operation) => {
            return Ok(S3Op::NotImplemented {
                bucket: Some(bucket),
                key: None,
                operation,
            });
        }
        Lookup::MethodNotAllowed => return Err(S3Error::MethodNotAllowed),
        Lookup::None => {}
    }
    if *method == Method::GET {
        list_op(bucket, query)
    } else if *method == Method::HEAD {
        Ok(S3Op::HeadBucket { bucket })
    } else if *method == Method::PUT {
        names::validate_bucket_name(&bucket)?;
        if text_is(headers, "x-amz-bucket-object-lock-enabled", "true") {
            return Err(S3Error::NotImplemented {
                operation: "Object Lock (x-amz-bucket-object-lock-enabled)",
            });
        }
        Ok(S3Op::CreateBucket { bucket })
    } else if *method == Method::DELETE {
        Ok(S3Op::DeleteBucket { bucket })
    } else if *method == Method::POST {
        // A browser form upload (multipart/form-data POST to the bucket).
        Ok(S3Op::NotImplemented {
            bucket: Some(bucket),
            key: None,
            operation: "PostObject",
        })
    } else {
        Err(S3Error::MethodNotAllowed)
    }
}

fn text_is(headers: &HeaderMap, name: &str, expected: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// The parameters every listing shares, its page size named `page_size`. The page size
/// is parsed first, so that of several bad parameters it is the one reported.
fn list_scope(bucket: String, query: &Query, page_size: &str) -> Result<ListScope, S3Error> {
    let max_keys = max_count(query, page_size)?;
    Ok(ListScope {
        bucket,
        prefix: query.string_or_empty("prefix"),
        delimiter: query.non_empty("delimiter"),
        max_keys,
        encoding_type: query.encoding_type()?,
    })
}

fn list_op(bucket: String, query: &Query) -> Result<S3Op, S3Error> {
    if query.has("versions") {
        return Ok(S3Op::ListObjectVersions(ListObjectVersionsRequest {
            scope: list_scope(bucket, query, "max-keys")?,
            key_marker: query.string_or_empty("key-marker"),
            version_id_marker: query.non_empty("version-id-marker"),
        }));
    }
    if query.has("uploads") {
        return Ok(S3Op::ListMultipartUploads(ListMultipartUploadsRequest {
            scope: list_scope(bucket, query, "max-uploads")?,
            key_marker: query.string_or_empty("key-marker"),
            upload_id_marker: query.non_empty("upload-id-marker"),
        }));
    }
    match query.get("list-type") {
        Some("2") => Ok(S3Op::ListObjectsV2(ListObjectsV2Request {
            scope: list_scope(bucket, query, "max-keys")?,
            continuation_token: query.string("continuation-token"),
            start_after: query.string("start-after"),
            fetch_owner: query.boolean("fetch-owner", false)?,
        })),
        Some(_) => Err(S3Error::invalid_argument("Invalid list type: expected 2")),
        None => Ok(S3Op::ListObjects(ListObjectsRequest {
            scope: list_scope(bucket, query, "max-keys")?,
            marker: query.string_or_empty("marker"),
        })),
    }
}

fn part_number(query: &Query) -> Result<u32, S3Error> {
    match query.get("partNumber") {
        Some(v) => query::parse_part_number(v),
        None => Err(S3Error::invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
        )),
    }
}

fn object_op(
    method: &Method,
    bucket: String,
    key: String,
    query: &Query,
    headers: &HeaderMap,
) -> Result<S3Op, S3Error> {
    let has = |name: &str| query.has(name);
    if *method == Method::GET && has("acl") {
        return Ok(S3Op::GetObjectAcl {
            bucket,
            key,
            version_id: query.non_empty("versionId"),
        });
    }
    if *method == Method::GET && has("tagging") {
        return Ok(S3Op::GetObjectTagging {
            bucket,
            key,
            version_id: query.non_empty("versionId"),
        });
    }
    match subresource::lookup(method, true, has) {
        Lookup::Operation(operation) => {
            return Ok(S3Op::NotImplemented {
                bucket: Some(bucket),
                key: Some(key),
                operation,
            });
        }
        Lookup::MethodNotAllowed => return Err(S3Error::MethodNotAllowed),
        Lookup::None => {}
    }
    headers::reject_unsupported(headers)?;
    if *method == Method::GET || *method == Method::HEAD {
        if *method == Method::GET && has("uploadId") {
            return Ok(S3Op::ListParts(ListPartsRequest {
                bucket,
                key,
                upload_id: query.required("uploadId")?,
                max_parts: max_count(query, "max-parts")?,
                part_number_marker: query.number("part-number-marker", 0, 0, i32::MAX as u32)?,
            }));
        }
        let request = get_object(bucket, key, query, headers)?;
        return Ok(if *method == Method::GET {
            S3Op::GetObject(request)
        } else {
            S3Op::HeadObject(request)
        });
    }
    if *method == Method::PUT {
        return put_op(bucket, key, query, headers);
    }
    if *method == Method::POST {
        if has("uploads") {
            return Ok(S3Op::CreateMultipartUpload(CreateMultipartUploadRequest {
                bucket,
                key,
                headers: headers::object_headers(headers)?,
                checksum_algorithm: headers::text(headers, "x-amz-checksum-algorithm")?
                    .map(|a| a.to_ascii_uppercase()),
            }));
        }
        if has("uploadId") {
            return Ok(S3Op::CompleteMultipartUpload(
                CompleteMultipartUploadRequest {
                    bucket,
                    key,
                    upload_id: query.required("uploadId")?,
                    conditions: headers::write_conditions(headers)?,
                },
            ));
        }
        return Err(S3Error::MethodNotAllowed);
    }
    if *method == Method::DELETE {
        if has("uploadId") {
            return Ok(S3Op::AbortMultipartUpload {
                bucket,
                key,
                upload_id: query.required("uploadId")?,
            });
        }
        return Ok(S3Op::DeleteObject {
            bucket,
            key,
            version_id: query.non_empty("versionId"),
        });
    }
    Err(S3Error::MethodNotAllowed)
}

fn get_object(
    bucket: String,
    key: String,
    query: &Query,
    headers: &HeaderMap,
) -> Result<GetObjectRequest, S3Error> {
    let part_number = match query.get("partNumber") {
        Some(v) => Some(query::parse_part_number(v)?),
        None => None,
    };
    let range = headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(ByteRange::parse);
    if part_number.is_some() && range.is_some() {
        return Err(S3Error::invalid_request(
            "Cannot specify both Range header and partNumber query parameter",
        ));
    }
    Ok(GetObjectRequest {
        bucket,
        key,
        version_id: query.non_empty("versionId"),
        range,
        part_number,
        conditions: headers::read_conditions(headers)?,
        overrides: ResponseOverrides {
            content_type: query.string("response-content-type"),
            content_language: query.string("response-content-language"),
            expires: query.string("response-expires"),
            cache_control: query.string("response-cache-control"),
            content_disposition: query.string("response-content-disposition"),
            content_encoding: query.string("response-content-encoding"),
        },
        checksum_mode: text_is(headers, "x-amz-checksum-mode", "ENABLED"),
    })
}

fn put_op(
    bucket: String,
    key: String,
    query: &Query,
    headers: &HeaderMap,
) -> Result<S3Op, S3Error> {
    let copy_source = headers::text(headers, "x-amz-copy-source")?
        .map(|v| headers::copy_source(&v))
        .transpose()?;
    if query.has("partNumber") || query.has("uploadId") {
        let upload_id = query.required("uploadId")?;
        let part_number = part_number(query)?;
        return Ok(match copy_source {
            Some(source) => S3Op::UploadPartCopy(UploadPartCopyRequest {
                bucket,
                key,
                upload_id,
                part_number,
                source,
                source_range: headers::text(headers, "x-amz-copy-source-range")?
                    .map(|v| headers::copy_source_range(&v))
                    .transpose()?,
                source_conditions: headers::copy_source_conditions(headers)?,
            }),
            None => S3Op::UploadPart(UploadPartRequest {
                bucket,
                key,
                upload_id,
                part_number,
            }),
        });
    }
    match copy_source {
        Some(source) => {
            let metadata_directive = match headers::text(headers, "x-amz-metadata-directive")?
                .as_deref()
                .map(str::trim)
            {
                None => MetadataDirective::Copy,
                Some(d) if d.eq_ignore_ascii_case("COPY") => MetadataDirective::Copy,
                Some(d) if d.eq_ignore_ascii_case("REPLACE") => MetadataDirective::Replace,
                Some(_) => {
                    return Err(S3Error::invalid_argument(
                        "Unknown metadata directive: expected COPY or REPLACE",
                    ));
                }
            };
            Ok(S3Op::CopyObject(CopyObjectRequest {
                bucket,
                key,
                source,
                metadata_directive,
                headers: headers::object_headers(headers)?,
                source_conditions: headers::copy_source_conditions(headers)?,
                conditions: headers::write_conditions(headers)?,
            }))
        }
        None => Ok(S3Op::PutObject(PutObjectRequest {
            bucket,
            key,
            headers: headers::object_headers(headers)?,
            conditions: headers::write_conditions(headers)?,
        })),
    }
}
