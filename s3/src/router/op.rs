//! [`S3Op`]: one variant per S3 operation, with its typed parameters.

use super::headers::{CopySource, ObjectHeaders, ReadConditions, WriteConditions};
use super::range::ByteRange;

/// `encoding-type` of the list operations: the only value S3 defines is `url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingType {
    /// Keys, prefixes, delimiters and markers in the response are URL-encoded.
    Url,
}

/// `x-amz-metadata-directive` of CopyObject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetadataDirective {
    /// Keep the source's metadata and standard headers (the default).
    #[default]
    Copy,
    /// Take metadata and standard headers from this request.
    Replace,
}

/// One S3 operation with its bucket, key and parameters, as [`super::route`] parsed it.
///
/// Bucket and key are percent-decoded once and never normalised. Parameters are typed:
/// numbers are parsed and range-checked, defaults applied where S3 defines one, and
/// empty strings kept as given where S3 echoes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Op {
    /// `GET /`.
    ListBuckets(ListBucketsRequest),
    /// `PUT /bucket` (body: optional CreateBucketConfiguration).
    CreateBucket {
        /// The bucket name, validated.
        bucket: String,
    },
    /// `DELETE /bucket`.
    DeleteBucket {
        /// The bucket.
        bucket: String,
    },
    /// `HEAD /bucket`.
    HeadBucket {
        /// The bucket.
        bucket: String,
    },
    /// `GET /bucket?location`.
    GetBucketLocation {
        /// The bucket.
        bucket: String,
    },
    /// `GET /bucket?versioning`: the gateway answers "never enabled".
    GetBucketVersioning {
        /// The bucket.
        bucket: String,
    },
    /// `GET /bucket?acl`.
    GetBucketAcl {
        /// The bucket.
        bucket: String,
    },
    /// `GET /bucket` (ListObjects version 1).
    ListObjects(ListObjectsRequest),
    /// `GET /bucket?list-type=2`.
    ListObjectsV2(ListObjectsV2Request),
    /// `GET /bucket?versions`.
    ListObjectVersions(ListObjectVersionsRequest),
    /// `GET /bucket?uploads`.
    ListMultipartUploads(ListMultipartUploadsRequest),
    /// `POST /bucket?delete` (body: Delete).
    DeleteObjects {
        /// The bucket.
        bucket: String,
    },
    /// `PUT /bucket/key`.
    PutObject(PutObjectRequest),
    /// `PUT /bucket/key` with `x-amz-copy-source`.
    CopyObject(CopyObjectRequest),
    /// `GET /bucket/key`.
    GetObject(GetObjectRequest),
    /// `HEAD /bucket/key`: the same parameters as GetObject.
    HeadObject(GetObjectRequest),
    /// `DELETE /bucket/key`.
    DeleteObject {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// `versionId`, if given.
        version_id: Option<String>,
    },
    /// `GET /bucket/key?acl`.
    GetObjectAcl {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// `versionId`, if given.
        version_id: Option<String>,
    },
    /// `GET /bucket/key?tagging`. folio stores no tags, so the answer is an empty
    /// TagSet; tools that copy tags with an object (aws-cli `s3 cp` between keys) ask.
    GetObjectTagging {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// `versionId`, if given.
        version_id: Option<String>,
    },
    /// `POST /bucket/key?uploads`.
    CreateMultipartUpload(CreateMultipartUploadRequest),
    /// `PUT /bucket/key?partNumber=N&uploadId=U`.
    UploadPart(UploadPartRequest),
    /// `PUT /bucket/key?partNumber=N&uploadId=U` with `x-amz-copy-source`.
    UploadPartCopy(UploadPartCopyRequest),
    /// `POST /bucket/key?uploadId=U` (body: CompleteMultipartUpload).
    CompleteMultipartUpload(CompleteMultipartUploadRequest),
    /// `DELETE /bucket/key?uploadId=U`.
    AbortMultipartUpload {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// `uploadId`.
        upload_id: String,
    },
    /// `GET /bucket/key?uploadId=U`.
    ListParts(ListPartsRequest),
    /// An operation S3 defines and folio does not implement (a sub-resource such as
    /// `?policy` or `?tagging`, or a POST form upload). The gateway answers
    /// [`crate::error::S3Error::NotImplemented`] with `operation`.
    NotImplemented {
        /// The bucket, if the request names one.
        bucket: Option<String>,
        /// The key, if the request names one.
        key: Option<String>,
        /// The AWS operation name, e.g. `"PutBucketPolicy"`.
        operation: &'static str,
    },
}

/// Parameters of ListBuckets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListBucketsRequest {
    /// `prefix`: only buckets whose names start with it.
    pub prefix: Option<String>,
    /// `continuation-token`, from a previous truncated answer.
    pub continuation_token: Option<String>,
    /// `max-buckets`, if given (1..=10000).
    pub max_buckets: Option<u32>,
}

/// What every listing request names: the bucket, which keys, how they are grouped, how
/// many per page and how the answer encodes them. ListObjects (v1 and v2),
/// ListObjectVersions and ListMultipartUploads parse these the same way and echo them
/// the same way; each request adds its own markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListScope {
    /// The bucket.
    pub bucket: String,
    /// `prefix` (empty when absent).
    pub prefix: String,
    /// `delimiter`; an empty value counts as absent.
    pub delimiter: Option<String>,
    /// `max-keys` (`max-uploads` for ListMultipartUploads) as requested (default
    /// 1000); the gateway caps it at 1000.
    pub max_keys: u32,
    /// `encoding-type`.
    pub encoding_type: Option<EncodingType>,
}

/// Parameters of ListObjects (version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectsRequest {
    /// Bucket, prefix, delimiter, page size and encoding.
    pub scope: ListScope,
    /// `marker`: list keys after it (empty when absent).
    pub marker: String,
}

/// Parameters of ListObjectsV2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectsV2Request {
    /// Bucket, prefix, delimiter, page size and encoding.
    pub scope: ListScope,
    /// `continuation-token`, echoed in the answer.
    pub continuation_token: Option<String>,
    /// `start-after`, echoed in the answer.
    pub start_after: Option<String>,
    /// `fetch-owner` (default false).
    pub fetch_owner: bool,
}

/// Parameters of ListObjectVersions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectVersionsRequest {
    /// Bucket, prefix, delimiter, page size and encoding.
    pub scope: ListScope,
    /// `key-marker` (empty when absent).
    pub key_marker: String,
    /// `version-id-marker`, if given.
    pub version_id_marker: Option<String>,
}

/// Parameters of ListMultipartUploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMultipartUploadsRequest {
    /// Bucket, prefix, delimiter, page size and encoding.
    pub scope: ListScope,
    /// `key-marker` (empty when absent).
    pub key_marker: String,
    /// `upload-id-marker`, if given.
    pub upload_id_marker: Option<String>,
}

/// Parameters of PutObject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutObjectRequest {
    /// The bucket.
    pub bucket: String,
    /// The key (at most 1024 bytes).
    pub key: String,
    /// Standard headers and user metadata to store.
    pub headers: ObjectHeaders,
    /// `If-Match` / `If-None-Match` (conditional PUT).
    pub conditions: WriteConditions,
}

/// Parameters of CopyObject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyObjectRequest {
    /// The destination bucket.
    pub bucket: String,
    /// The destination key.
    pub key: String,
    /// `x-amz-copy-source`, decoded.
    pub source: CopySource,
    /// `x-amz-metadata-directive` (default COPY).
    pub metadata_directive: MetadataDirective,
    /// This request's headers and metadata, used when the directive is REPLACE
    /// (the storage class applies either way).
    pub headers: ObjectHeaders,
    /// `x-amz-copy-source-if-*`, checked against the source.
    pub source_conditions: ReadConditions,
    /// `If-Match` / `If-None-Match`, checked against the destination.
    pub conditions: WriteConditions,
}

/// `response-*` query parameters of GetObject, which override response headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseOverrides {
    /// `response-content-type`.
    pub content_type: Option<String>,
    /// `response-content-language`.
    pub content_language: Option<String>,
    /// `response-expires`.
    pub expires: Option<String>,
    /// `response-cache-control`.
    pub cache_control: Option<String>,
    /// `response-content-disposition`.
    pub content_disposition: Option<String>,
    /// `response-content-encoding`.
    pub content_encoding: Option<String>,
}

impl ResponseOverrides {
    /// Whether any override is present (S3 refuses them on anonymous requests).
    pub fn is_empty(&self) -> bool {
        *self == ResponseOverrides::default()
    }
}

/// Parameters of GetObject and HeadObject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetObjectRequest {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// `versionId`, if given.
    pub version_id: Option<String>,
    /// The `Range` header, if it is one satisfiable-looking range. A syntactically
    /// invalid header, or several ranges, is ignored (`None`: the whole object).
    pub range: Option<ByteRange>,
    /// `partNumber` (1..=10000), if given.
    pub part_number: Option<u32>,
    /// `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`.
    pub conditions: ReadConditions,
    /// `response-*` overrides.
    pub overrides: ResponseOverrides,
    /// `x-amz-checksum-mode: ENABLED`.
    pub checksum_mode: bool,
}

/// Parameters of CreateMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateMultipartUploadRequest {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// Standard headers and user metadata of the object to be.
    pub headers: ObjectHeaders,
    /// `x-amz-checksum-algorithm` (upper-cased), if given.
    pub checksum_algorithm: Option<String>,
}

/// Parameters of UploadPart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPartRequest {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// `uploadId`.
    pub upload_id: String,
    /// `partNumber`, 1..=10000.
    pub part_number: u32,
}

/// Parameters of UploadPartCopy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPartCopyRequest {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// `uploadId`.
    pub upload_id: String,
    /// `partNumber`, 1..=10000.
    pub part_number: u32,
    /// `x-amz-copy-source`, decoded.
    pub source: CopySource,
    /// `x-amz-copy-source-range: bytes=first-last` as `(first, last)`, inclusive.
    pub source_range: Option<(u64, u64)>,
    /// `x-amz-copy-source-if-*`, checked against the source.
    pub source_conditions: ReadConditions,
}

/// Parameters of CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteMultipartUploadRequest {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// `uploadId`.
    pub upload_id: String,
    /// `If-Match` / `If-None-Match` on the destination key.
    pub conditions: WriteConditions,
}

/// Parameters of ListParts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPartsRequest {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// `uploadId`.
    pub upload_id: String,
    /// `max-parts` as requested (default 1000); the gateway caps it at 1000.
    pub max_parts: u32,
    /// `part-number-marker`: list parts after it (default 0).
    pub part_number_marker: u32,
}

impl S3Op {
    /// The AWS operation name, e.g. `"GetObject"`: a bounded metrics label.
    pub fn name(&self) -> &'static str {
        match self {
            S3Op::ListBuckets(_) => "ListBuckets",
            S3Op::CreateBucket { .. } => "CreateBucket",
            S3Op::DeleteBucket { .. } => "DeleteBucket",
            S3Op::HeadBucket { .. } => "HeadBucket",
            S3Op::GetBucketLocation { .. } => "GetBucketLocation",
            S3Op::GetBucketVersioning { .. } => "GetBucketVersioning",
            S3Op::GetBucketAcl { .. } => "GetBucketAcl",
            S3Op::ListObjects(_) => "ListObjects",
            S3Op::ListObjectsV2(_) => "ListObjectsV2",
            S3Op::ListObjectVersions(_) => "ListObjectVersions",
            S3Op::ListMultipartUploads(_) => "ListMultipartUploads",
            S3Op::DeleteObjects { .. } => "DeleteObjects",
            S3Op::PutObject(_) => "PutObject",
            S3Op::CopyObject(_) => "CopyObject",
            S3Op::GetObject(_) => "GetObject",
            S3Op::HeadObject(_) => "HeadObject",
            S3Op::DeleteObject { .. } => "DeleteObject",
            S3Op::GetObjectAcl { .. } => "GetObjectAcl",
            S3Op::GetObjectTagging { .. } => "GetObjectTagging",
            S3Op::CreateMultipartUpload(_) => "CreateMultipartUpload",
            S3Op::UploadPart(_) => "UploadPart",
            S3Op::UploadPartCopy(_) => "UploadPartCopy",
            S3Op::CompleteMultipartUpload(_) => "CompleteMultipartUpload",
            S3Op::AbortMultipartUpload { .. } => "AbortMultipartUpload",
            S3Op::ListParts(_) => "ListParts",
            S3Op::NotImplemented { operation, .. } => operation,
        }
    }

    /// The bucket the operation addresses (`None` for ListBuckets).
    pub fn bucket(&self) -> Option<&str> {
        match self {
            S3Op::ListBuckets(_) => None,
            S3Op::CreateBucket { bucket }
            | S3Op::DeleteBucket { bucket }
            | S3Op::HeadBucket { bucket }
            | S3Op::GetBucketLocation { bucket }
            | S3Op::GetBucketVersioning { bucket }
            | S3Op::GetBucketAcl { bucket }
            | S3Op::DeleteObjects { bucket }
            | S3Op::DeleteObject { bucket, .. }
            | S3Op::GetObjectAcl { bucket, .. }
            | S3Op::GetObjectTagging { bucket, .. }
            | S3Op::AbortMultipartUpload { bucket, .. } => Some(bucket),
            S3Op::ListObjects(r) => Some(&r.scope.bucket),
            S3Op::ListObjectsV2(r) => Some(&r.scope.bucket),
            S3Op::ListObjectVersions(r) => Some(&r.scope.bucket),
            S3Op::ListMultipartUploads(r) => Some(&r.scope.bucket),
            S3Op::PutObject(r) => Some(&r.bucket),
            S3Op::CopyObject(r) => Some(&r.bucket),
            S3Op::GetObject(r) | S3Op::HeadObject(r) => Some(&r.bucket),
            S3Op::CreateMultipartUpload(r) => Some(&r.bucket),
            S3Op::UploadPart(r) => Some(&r.bucket),
            S3Op::UploadPartCopy(r) => Some(&r.bucket),
            S3Op::CompleteMultipartUpload(r) => Some(&r.bucket),
            S3Op::ListParts(r) => Some(&r.bucket),
            S3Op::NotImplemented { bucket, .. } => bucket.as_deref(),
        }
    }

    /// The object key the operation addresses, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            S3Op::ListBuckets(_)
            | S3Op::CreateBucket { .. }
            | S3Op::DeleteBucket { .. }
            | S3Op::HeadBucket { .. }
            | S3Op::GetBucketLocation { .. }
            | S3Op::GetBucketVersioning { .. }
            | S3Op::GetBucketAcl { .. }
            | S3Op::ListObjects(_)
            | S3Op::ListObjectsV2(_)
            | S3Op::ListObjectVersions(_)
            | S3Op::ListMultipartUploads(_)
            | S3Op::DeleteObjects { .. } => None,
            S3Op::DeleteObject { key, .. }
            | S3Op::GetObjectAcl { key, .. }
            | S3Op::GetObjectTagging { key, .. }
            | S3Op::AbortMultipartUpload { key, .. } => Some(key),
            S3Op::PutObject(r) => Some(&r.key),
            S3Op::CopyObject(r) => Some(&r.key),
            S3Op::GetObject(r) | S3Op::HeadObject(r) => Some(&r.key),
            S3Op::CreateMultipartUpload(r) => Some(&r.key),
            S3Op::UploadPart(r) => Some(&r.key),
            S3Op::UploadPartCopy(r) => Some(&r.key),
            S3Op::CompleteMultipartUpload(r) => Some(&r.key),
            S3Op::ListParts(r) => Some(&r.key),
            S3Op::NotImplemented { key, .. } => key.as_deref(),
        }
    }

    /// Whether the operation only reads (for read vs write permissions).
    pub fn is_read_only(&self) -> bool {
        match self {
            S3Op::ListBuckets(_)
            | S3Op::HeadBucket { .. }
            | S3Op::GetBucketLocation { .. }
            | S3Op::GetBucketVersioning { .. }
            | S3Op::GetBucketAcl { .. }
            | S3Op::ListObjects(_)
            | S3Op::ListObjectsV2(_)
            | S3Op::ListObjectVersions(_)
            | S3Op::ListMultipartUploads(_)
            | S3Op::GetObject(_)
            | S3Op::HeadObject(_)
            | S3Op::GetObjectAcl { .. }
            | S3Op::GetObjectTagging { .. }
            | S3Op::ListParts(_) => true,
            S3Op::CreateBucket { .. }
            | S3Op::DeleteBucket { .. }
            | S3Op::DeleteObjects { .. }
            | S3Op::PutObject(_)
            | S3Op::CopyObject(_)
            | S3Op::DeleteObject { .. }
            | S3Op::CreateMultipartUpload(_)
            | S3Op::UploadPart(_)
            | S3Op::UploadPartCopy(_)
            | S3Op::CompleteMultipartUpload(_)
            | S3Op::AbortMultipartUpload { .. }
            | S3Op::NotImplemented { .. } => false,
        }
    }
}
