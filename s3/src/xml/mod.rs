//! S3 XML: response bodies written and request bodies parsed.
//!
//! Writers take plain structs (times as milliseconds since the Unix epoch) and return
//! the document as a `String`, with the S3 namespace on the root element, every text
//! escaped, ETags quoted and times in ISO 8601 with milliseconds. Parsers take the
//! request body, refuse bodies over a documented cap, and return typed structs or
//! [`crate::error::S3Error::MalformedXML`].
//!
//! - [`bucket`]: ListAllMyBucketsResult, LocationConstraint, VersioningConfiguration,
//!   AccessControlPolicy; CreateBucketConfiguration parsed;
//! - [`list`]: ListBucketResult (v1 and v2), ListVersionsResult;
//! - [`multipart`]: Initiate/Complete results, ListPartsResult,
//!   ListMultipartUploadsResult; CompleteMultipartUpload parsed;
//! - [`copy`]: CopyObjectResult, CopyPartResult;
//! - [`delete`]: Delete parsed, DeleteResult;
//! - [`time`]: ISO 8601 and RFC 7231 dates;
//! - [`escape()`]: XML text escaping, shared with the error body.

pub mod bucket;
pub mod copy;
pub mod delete;
mod escape;
pub mod list;
pub mod multipart;
mod parse;
#[cfg(test)]
mod proptests;
pub mod time;
mod write;

pub use self::bucket::{
    BucketEntry, ListAllMyBucketsResult, MAX_CREATE_BUCKET_BODY_BYTES, Owner,
    access_control_policy, empty_tagging, location_constraint, parse_create_bucket_configuration,
    versioning_configuration,
};
pub use self::copy::{copy_object_result, copy_part_result};
pub use self::delete::{
    DeleteOutcome, DeleteRequest, MAX_DELETE_BODY_BYTES, MAX_DELETE_OBJECTS, ObjectIdentifier,
    delete_result, parse_delete,
};
pub use self::escape::escape;
pub use self::list::{
    DEFAULT_STORAGE_CLASS, ListObjectsV1Result, ListObjectsV2Result, ListVersionsResult, Listing,
    ObjectEntry,
};
pub use self::multipart::{
    ChecksumValue, CompleteMultipartUploadResult, CompletedPart, ListMultipartUploadsResult,
    ListPartsResult, MAX_COMPLETE_BODY_BYTES, PartEntry, UploadEntry,
    initiate_multipart_upload_result, parse_complete_multipart_upload,
};
pub use self::time::{http_date, iso8601_ms};
pub use self::write::{S3_NAMESPACE, quote_etag};
