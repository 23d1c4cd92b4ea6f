//! [`S3Error`], the one error type at the S3 edge.
//!
//! Every failure a client can see is one variant. Its wire code ([`S3Error::code`]),
//! HTTP status ([`S3Error::status`]), message ([`S3Error::message`]) and XML body
//! ([`S3Error::to_xml`]) come from exhaustive matches with no catch-all arm, so a new
//! variant forces a decision about each. Internal failures become
//! [`S3Error::InternalError`], whose message is generic: the gateway logs the cause
//! where it handles it, and the client sees only the request id.
//!
//! Codes, statuses and messages follow the AWS S3 "Error responses" reference.

use std::fmt;

use http::{Method, StatusCode};

use crate::xml::escape;

/// An S3 error, as the client sees it: a code, a status and a message.
///
/// Variants with a free-text field carry the message the client should read; that text
/// must not contain internal details (paths, addresses, backend errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Error {
    /// 403: the request is not allowed. `reason` is the message, e.g. "Access Denied"
    /// or "Request has expired" (see [`S3Error::access_denied`]).
    AccessDenied {
        /// The message shown to the client.
        reason: String,
    },
    /// 403: the account cannot complete the action (e.g. a disabled access key).
    AccountProblem,
    /// 400: the `Authorization` header cannot be parsed, or names the wrong region.
    AuthorizationHeaderMalformed {
        /// What is wrong with the header.
        message: String,
    },
    /// 400: the presigned-URL query parameters cannot be parsed or are out of range.
    AuthorizationQueryParametersError {
        /// What is wrong with the parameters.
        message: String,
    },
    /// 400: the body does not match `Content-MD5` or an `x-amz-checksum-*` value.
    BadDigest,
    /// 409: the bucket name is taken by another owner.
    BucketAlreadyExists,
    /// 409: the caller already owns a bucket of this name.
    BucketAlreadyOwnedByYou,
    /// 409: a bucket that still holds objects (or uploads) cannot be deleted.
    BucketNotEmpty,
    /// 409: another conditional write to the same key committed first.
    ConditionalRequestConflict,
    /// 400: the body is larger than the maximum allowed object or part size.
    EntityTooLarge,
    /// 400: a multipart part other than the last is smaller than the minimum size.
    EntityTooSmall,
    /// 400: illegal location constraint for this endpoint (CreateBucket region mismatch).
    IllegalLocationConstraintException,
    /// 400: the body ended before `Content-Length` (or the decoded length) bytes.
    IncompleteBody,
    /// 500: an internal failure. The message is generic and leaks nothing.
    InternalError,
    /// 403: the access key id is unknown.
    InvalidAccessKeyId,
    /// 400: a parameter or header has an invalid value.
    InvalidArgument {
        /// Which argument is wrong and why.
        message: String,
    },
    /// 400: the bucket name is not a valid S3 bucket name.
    InvalidBucketName,
    /// 400: an aws-chunked body has a non-final chunk below the minimum size.
    InvalidChunkSizeError,
    /// 400: `Content-MD5` or a checksum header is not valid base64 of the right length.
    InvalidDigest,
    /// 400: the location constraint in CreateBucketConfiguration is not known.
    InvalidLocationConstraint,
    /// 400: a part listed in CompleteMultipartUpload is missing or its ETag differs.
    InvalidPart,
    /// 416: the `partNumber` of a GET or HEAD is not a part of the object.
    InvalidPartNumber,
    /// 400: the parts in CompleteMultipartUpload are not in ascending order.
    InvalidPartOrder,
    /// 416: the range cannot be satisfied for an object of `size` bytes. The gateway
    /// also sets `Content-Range` (see [`S3Error::content_range`]).
    InvalidRange {
        /// The object's size in bytes.
        size: u64,
    },
    /// 400: the request is not valid in a way no more specific code describes.
    InvalidRequest {
        /// What is wrong with the request.
        message: String,
    },
    /// 400: the storage class is not supported.
    InvalidStorageClass,
    /// 400: the URI cannot be parsed (e.g. bad percent-encoding).
    InvalidURI,
    /// 400: the object key is longer than 1024 bytes.
    KeyTooLongError,
    /// 400: the XML body is not well formed or does not match the schema.
    MalformedXML,
    /// 400: the request body (e.g. an XML document) is larger than allowed.
    MaxMessageLengthExceeded,
    /// 400: user metadata (`x-amz-meta-*`) exceeds 2 KB.
    MetadataTooLarge,
    /// 405: the method is not allowed against this resource.
    MethodNotAllowed,
    /// 411: `Content-Length` is required.
    MissingContentLength,
    /// 400: a required request body is empty.
    MissingRequestBodyError,
    /// 400: a required header is missing.
    MissingSecurityHeader,
    /// 404: the bucket does not exist.
    NoSuchBucket,
    /// 404: the key does not exist.
    NoSuchKey,
    /// 404: the multipart upload does not exist (never created, completed or aborted).
    NoSuchUpload,
    /// 404: the version id does not name a version of the key.
    NoSuchVersion,
    /// 501: the operation or a header implies functionality that is not implemented.
    NotImplemented {
        /// The operation or feature, e.g. "PutBucketLifecycleConfiguration".
        operation: &'static str,
    },
    /// 304: a GET or HEAD precondition says the client's copy is current. No body.
    NotModified,
    /// 409: a conflicting operation on the same resource is in progress.
    OperationAborted,
    /// 412: an `If-Match` / `If-Unmodified-Since` (or copy-source) condition failed.
    PreconditionFailed,
    /// 400: the request headers are larger than allowed.
    RequestHeaderSectionTooLarge,
    /// 403: the request time differs from the server's by more than 15 minutes.
    RequestTimeTooSkewed,
    /// 400: the client did not send the body within the timeout.
    RequestTimeout,
    /// 503: the service cannot handle the request now (a backend is unavailable).
    ServiceUnavailable,
    /// 403: the signature does not match the one computed by the server.
    SignatureDoesNotMatch,
    /// 503: too many requests; the client should back off.
    SlowDown,
    /// 400: the caller has reached the maximum number of buckets.
    TooManyBuckets,
    /// 400: the request carries a body that the operation does not accept.
    UnexpectedContent,
    /// 400: the body's SHA-256 does not match `x-amz-content-sha256`.
    XAmzContentSHA256Mismatch,
}

impl S3Error {
    /// `AccessDenied` with AWS's default message, "Access Denied".
    pub fn access_denied() -> Self {
        S3Error::AccessDenied {
            reason: "Access Denied".to_owned(),
        }
    }

    /// `InvalidArgument` with the given message.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        S3Error::InvalidArgument {
            message: message.into(),
        }
    }

    /// `InvalidRequest` with the given message.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        S3Error::InvalidRequest {
            message: message.into(),
        }
    }

    /// The S3 error code, e.g. `"NoSuchKey"`.
    pub fn code(&self) -> &'static str {
        match self {
            S3Error::AccessDenied { .. } => "AccessDenied",
            S3Error::AccountProblem => "AccountProblem",
            S3Error::AuthorizationHeaderMalformed { .. } => "AuthorizationHeaderMalformed",
            S3Error::AuthorizationQueryParametersError { .. } => {
                "AuthorizationQueryParametersError"
            }
            S3Error::BadDigest => "BadDigest",
            S3Error::BucketAlreadyExists => "BucketAlreadyExists",
            S3Error::BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            S3Error::BucketNotEmpty => "BucketNotEmpty",
            S3Error::ConditionalRequestConflict => "ConditionalRequestConflict",
            S3Error::EntityTooLarge => "EntityTooLarge",
            S3Error::EntityTooSmall => "EntityTooSmall",
            S3Error::IllegalLocationConstraintException => "IllegalLocationConstraintException",
            S3Error::IncompleteBody => "IncompleteBody",
            S3Error::InternalError => "InternalError",
            S3Error::InvalidAccessKeyId => "InvalidAccessKeyId",
            S3Error::InvalidArgument { .. } => "InvalidArgument",
            S3Error::InvalidBucketName => "InvalidBucketName",
            S3Error::InvalidChunkSizeError => "InvalidChunkSizeError",
            S3Error::InvalidDigest => "InvalidDigest",
            S3Error::InvalidLocationConstraint => "InvalidLocationConstraint",
            S3Error::InvalidPart => "InvalidPart",
            S3Error::InvalidPartNumber => "InvalidPartNumber",
            S3Error::InvalidPartOrder => "InvalidPartOrder",
            S3Error::InvalidRange { .. } => "InvalidRange",
            S3Error::InvalidRequest { .. } => "InvalidRequest",
            S3Error::InvalidStorageClass => "InvalidStorageClass",
            S3Error::InvalidURI => "InvalidURI",
            S3Error::KeyTooLongError => "KeyTooLongError",
            S3Error::MalformedXML => "MalformedXML",
            S3Error::MaxMessageLengthExceeded => "MaxMessageLengthExceeded",
            S3Error::MetadataTooLarge => "MetadataTooLarge",
            S3Error::MethodNotAllowed => "MethodNotAllowed",
            S3Error::MissingContentLength => "MissingContentLength",
            S3Error::MissingRequestBodyError => "MissingRequestBodyError",
            S3Error::MissingSecurityHeader => "MissingSecurityHeader",
            S3Error::NoSuchBucket => "NoSuchBucket",
            S3Error::NoSuchKey => "NoSuchKey",
            S3Error::NoSuchUpload => "NoSuchUpload",
            S3Error::NoSuchVersion => "NoSuchVersion",
            S3Error::NotImplemented { .. } => "NotImplemented",
            S3Error::NotModified => "NotModified",
            S3Error::OperationAborted => "OperationAborted",
            S3Error::PreconditionFailed => "PreconditionFailed",
            S3Error::RequestHeaderSectionTooLarge => "RequestHeaderSectionTooLarge",
            S3Error::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            S3Error::RequestTimeout => "RequestTimeout",
            S3Error::ServiceUnavailable => "ServiceUnavailable",
            S3Error::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            S3Error::SlowDown => "SlowDown",
            S3Error::TooManyBuckets => "TooManyBuckets",
            S3Error::UnexpectedContent => "UnexpectedContent",
            S3Error::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            S3Error::NotModified => StatusCode::NOT_MODIFIED,
            S3Error::AuthorizationHeaderMalformed { .. }
            | S3Error::AuthorizationQueryParametersError { .. }
            | S3Error::BadDigest
            | S3Error::EntityTooLarge
            | S3Error::EntityTooSmall
            | S3Error::IllegalLocationConstraintException
            | S3Error::IncompleteBody
            | S3Error::InvalidArgument { .. }
            | S3Error::InvalidBucketName
            | S3Error::InvalidChunkSizeError
            | S3Error::InvalidDigest
            | S3Error::InvalidLocationConstraint
            | S3Error::InvalidPart
            | S3Error::InvalidPartOrder
            | S3Error::InvalidRequest { .. }
            | S3Error::InvalidStorageClass
            | S3Error::InvalidURI
            | S3Error::KeyTooLongError
            | S3Error::MalformedXML
            | S3Error::MaxMessageLengthExceeded
            | S3Error::MetadataTooLarge
            | S3Error::MissingRequestBodyError
            | S3Error::MissingSecurityHeader
            | S3Error::RequestHeaderSectionTooLarge
            | S3Error::RequestTimeout
            | S3Error::TooManyBuckets
            | S3Error::UnexpectedContent
            | S3Error::XAmzContentSHA256Mismatch => StatusCode::BAD_REQUEST,
            S3Error::AccessDenied { .. }
            | S3Error::AccountProblem
            | S3Error::InvalidAccessKeyId
            | S3Error::RequestTimeTooSkewed
            | S3Error::SignatureDoesNotMatch => StatusCode::FORBIDDEN,
            S3Error::NoSuchBucket
            | S3Error::NoSuchKey
            | S3Error::NoSuchUpload
            | S3Error::NoSuchVersion => StatusCode::NOT_FOUND,
            S3Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            S3Error::BucketAlreadyExists
            | S3Error::BucketAlreadyOwnedByYou
            | S3Error::BucketNotEmpty
            | S3Error::ConditionalRequestConflict
            | S3Error::OperationAborted => StatusCode::CONFLICT,
            S3Error::MissingContentLength => StatusCode::LENGTH_REQUIRED,
            S3Error::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            S3Error::InvalidPartNumber | S3Error::InvalidRange { .. } => {
                StatusCode::RANGE_NOT_SATISFIABLE
            }
            S3Error::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            S3Error::NotImplemented { .. } => StatusCode::NOT_IMPLEMENTED,
            S3Error::ServiceUnavailable | S3Error::SlowDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The human-readable message of the `<Message>` element.
    pub fn message(&self) -> String {
        let fixed = match self {
            S3Error::AccessDenied { reason } => return reason.clone(),
            S3Error::AuthorizationHeaderMalformed { message }
            | S3Error::AuthorizationQueryParametersError { message }
            | S3Error::InvalidArgument { message }
            | S3Error::InvalidRequest { message } => return message.clone(),
            S3Error::NotImplemented { operation } => {
                return format!(
                    "A header or query you provided implies functionality that is not \
                     implemented: {operation}"
                );
            }
            S3Error::InvalidRange { size } => {
                return format!(
                    "The requested range is not satisfiable (object size {size} bytes)"
                );
            }
            S3Error::AccountProblem => {
                "There is a problem with your account that prevents the action from \
                 completing successfully."
            }
            S3Error::BadDigest => {
                "The Content-MD5 or checksum value that you specified did not match what \
                 the server received."
            }
            S3Error::BucketAlreadyExists => {
                "The requested bucket name is not available. The bucket namespace is shared \
                 by all users of the system. Select a different name and try again."
            }
            S3Error::BucketAlreadyOwnedByYou => {
                "The bucket that you tried to create already exists, and you own it."
            }
            S3Error::BucketNotEmpty => "The bucket that you tried to delete is not empty.",
            S3Error::ConditionalRequestConflict => {
                "A conflicting operation occurred. If using PutObject you can retry the \
                 request."
            }
            S3Error::EntityTooLarge => "Your proposed upload exceeds the maximum allowed size.",
            S3Error::EntityTooSmall => {
                "Your proposed upload is smaller than the minimum allowed object size."
            }
            S3Error::IllegalLocationConstraintException => {
                "The location constraint is incompatible with the region this request was \
                 sent to."
            }
            S3Error::IncompleteBody => {
                "You did not provide the number of bytes specified by the Content-Length \
                 HTTP header."
            }
            S3Error::InternalError => "We encountered an internal error. Please try again.",
            S3Error::InvalidAccessKeyId => {
                "The access key ID that you provided does not exist in our records."
            }
            S3Error::InvalidBucketName => "The specified bucket is not valid.",
            S3Error::InvalidChunkSizeError => {
                "Only the last chunk is allowed to have a size less than 8192 bytes."
            }
            S3Error::InvalidDigest => {
                "The Content-MD5 or checksum value that you specified is not valid."
            }
            S3Error::InvalidLocationConstraint => "The specified location constraint is not valid.",
            S3Error::InvalidPart => {
                "One or more of the specified parts could not be found. The part might not \
                 have been uploaded, or the specified ETag might not have matched the \
                 uploaded part's ETag."
            }
            S3Error::InvalidPartNumber => "The requested partnumber is not satisfiable.",
            S3Error::InvalidPartOrder => {
                "The list of parts was not in ascending order. The parts list must be \
                 specified in order by part number."
            }
            S3Error::InvalidStorageClass => "The storage class that you specified is not valid.",
            S3Error::InvalidURI => "Couldn't parse the specified URI.",
            S3Error::KeyTooLongError => "Your key is too long.",
            S3Error::MalformedXML => {
                "The XML that you provided was not well formed or did not validate against \
                 our published schema."
            }
            S3Error::MaxMessageLengthExceeded => "Your request was too large.",
            S3Error::MetadataTooLarge => {
                "Your metadata headers exceed the maximum allowed metadata size."
            }
            S3Error::MethodNotAllowed => {
                "The specified method is not allowed against this resource."
            }
            S3Error::MissingContentLength => "You must provide the Content-Length HTTP header.",
            S3Error::MissingRequestBodyError => "Request Body is empty.",
            S3Error::MissingSecurityHeader => "Your request is missing a required header.",
            S3Error::NoSuchBucket => "The specified bucket does not exist.",
            S3Error::NoSuchKey => "The specified key does not exist.",
            S3Error::NoSuchUpload => {
                "The specified multipart upload does not exist. The upload ID might be \
                 invalid, or the multipart upload might have been aborted or completed."
            }
            S3Error::NoSuchVersion => {
                "The version ID specified in the request does not match an existing version."
            }
            S3Error::NotModified => "Not Modified",
            S3Error::OperationAborted => {
                "A conflicting conditional operation is currently in progress against this \
                 resource. Try again."
            }
            S3Error::PreconditionFailed => {
                "At least one of the preconditions that you specified did not hold."
            }
            S3Error::RequestHeaderSectionTooLarge => {
                "Your request header section exceeds the maximum allowed size."
            }
            S3Error::RequestTimeTooSkewed => {
                "The difference between the request time and the server's time is too large."
            }
            S3Error::RequestTimeout => {
                "Your socket connection to the server was not read from or written to \
                 within the timeout period."
            }
            S3Error::ServiceUnavailable => "Service is unable to handle request.",
            S3Error::SignatureDoesNotMatch => {
                "The request signature we calculated does not match the signature you \
                 provided. Check your key and signing method."
            }
            S3Error::SlowDown => "Please reduce your request rate.",
            S3Error::TooManyBuckets => "You have attempted to create more buckets than allowed.",
            S3Error::UnexpectedContent => "This request does not support content.",
            S3Error::XAmzContentSHA256Mismatch => {
                "The provided 'x-amz-content-sha256' header does not match what was \
                 computed."
            }
        };
        fixed.to_owned()
    }

    /// Whether the response carries the XML body: never for `HEAD` (the client only
    /// sees the status), and never for [`S3Error::NotModified`] (a 304 has no body).
    pub fn has_body(&self, method: &Method) -> bool {
        *method != Method::HEAD && !matches!(self, S3Error::NotModified)
    }

    /// The `Content-Range` header value the response must carry: `bytes */size` for
    /// [`S3Error::InvalidRange`], `None` otherwise.
    pub fn content_range(&self) -> Option<String> {
        if let S3Error::InvalidRange { size } = self {
            Some(format!("bytes */{size}"))
        } else {
            None
        }
    }

    /// The XML error body:
    /// `<?xml …?><Error><Code/><Message/><Resource/><RequestId/></Error>`, every text
    /// escaped. `resource` is the request path (e.g. `/bucket/key`).
    pub fn to_xml(&self, resource: &str, request_id: &str) -> String {
        let message = self.message();
        let mut out = String::with_capacity(160 + message.len() + resource.len());
        out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        out.push_str("<Error><Code>");
        out.push_str(self.code());
        out.push_str("</Code><Message>");
        out.push_str(&escape(&message));
        out.push_str("</Message><Resource>");
        out.push_str(&escape(resource));
        out.push_str("</Resource><RequestId>");
        out.push_str(&escape(request_id));
        out.push_str("</RequestId></Error>");
        out
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for S3Error {}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every variant, with the code and status AWS documents for it.
    fn all() -> Vec<(S3Error, &'static str, u16)> {
        vec![
            (S3Error::access_denied(), "AccessDenied", 403),
            (S3Error::AccountProblem, "AccountProblem", 403),
            (
                S3Error::AuthorizationHeaderMalformed {
                    message: "m".into(),
                },
                "AuthorizationHeaderMalformed",
                400,
            ),
            (
                S3Error::AuthorizationQueryParametersError {
                    message: "m".into(),
                },
                "AuthorizationQueryParametersError",
                400,
            ),
            (S3Error::BadDigest, "BadDigest", 400),
            (S3Error::BucketAlreadyExists, "BucketAlreadyExists", 409),
            (
                S3Error::BucketAlreadyOwnedByYou,
                "BucketAlreadyOwnedByYou",
                409,
            ),
            (S3Error::BucketNotEmpty, "BucketNotEmpty", 409),
            (
                S3Error::ConditionalRequestConflict,
                "ConditionalRequestConflict",
                409,
            ),
            (S3Error::EntityTooLarge, "EntityTooLarge", 400),
            (S3Error::EntityTooSmall, "EntityTooSmall", 400),
            (
                S3Error::IllegalLocationConstraintException,
                "IllegalLocationConstraintException",
                400,
            ),
            (S3Error::IncompleteBody, "IncompleteBody", 400),
            (S3Error::InternalError, "InternalError", 500),
            (S3Error::InvalidAccessKeyId, "InvalidAccessKeyId", 403),
            (S3Error::invalid_argument("m"), "InvalidArgument", 400),
            (S3Error::InvalidBucketName, "InvalidBucketName", 400),
            (S3Error::InvalidChunkSizeError, "InvalidChunkSizeError", 400),
            (S3Error::InvalidDigest, "InvalidDigest", 400),
            (
                S3Error::InvalidLocationConstraint,
                "InvalidLocationConstraint",
                400,
            ),
            (S3Error::InvalidPart, "InvalidPart", 400),
            (S3Error::InvalidPartNumber, "InvalidPartNumber", 416),
            (S3Error::InvalidPartOrder, "InvalidPartOrder", 400),
            (S3Error::InvalidRange { size: 10 }, "InvalidRange", 416),
            (S3Error::invalid_request("m"), "InvalidRequest", 400),
            (S3Error::InvalidStorageClass, "InvalidStorageClass", 400),
            (S3Error::InvalidURI, "InvalidURI", 400),
            (S3Error::KeyTooLongError, "KeyTooLongError", 400),
            (S3Error::MalformedXML, "MalformedXML", 400),
            (
                S3Error::MaxMessageLengthExceeded,
                "MaxMessageLengthExceeded",
                400,
            ),
            (S3Error::MetadataTooLarge, "MetadataTooLarge", 400),
            (S3Error::MethodNotAllowed, "MethodNotAllowed", 405),
            (S3Error::MissingContentLength, "MissingContentLength", 411),
            (
                S3Error::MissingRequestBodyError,
                "MissingRequestBodyError",
                400,
            ),
            (S3Error::MissingSecurityHeader, "MissingSecurityHeader", 400),
            (S3Error::NoSuchBucket, "NoSuchBucket", 404),
            (S3Error::NoSuchKey, "NoSuchKey", 404),
            (S3Error::NoSuchUpload, "NoSuchUpload", 404),
            (S3Error::NoSuchVersion, "NoSuchVersion", 404),
            (
                S3Error::NotImplemented {
                    operation: "PutBucketLifecycleConfiguration",
                },
                "NotImplemented",
                501,
            ),
            (S3Error::NotModified, "NotModified", 304),
            (S3Error::OperationAborted, "OperationAborted", 409),
            (S3Error::PreconditionFailed, "PreconditionFailed", 412),
            (
                S3Error::RequestHeaderSectionTooLarge,
                "RequestHeaderSectionTooLarge",
                400,
            ),
            (S3Error::RequestTimeTooSkewed, "RequestTimeTooSkewed", 403),
            (S3Error::RequestTimeout, "RequestTimeout", 400),
            (S3Error::ServiceUnavailable, "ServiceUnavailable", 503),
            (S3Error::SignatureDoesNotMatch, "SignatureDoesNotMatch", 403),
            (S3Error::SlowDown, "SlowDown", 503),
            (S3Error::TooManyBuckets, "TooManyBuckets", 400),
            (S3Error::UnexpectedContent, "UnexpectedContent", 400),
            (
                S3Error::XAmzContentSHA256Mismatch,
                "XAmzContentSHA256Mismatch",
                400,
            ),
        ]
    }

    #[test]
    fn every_variant_has_its_aws_code_and_status() {
        for (err, code, status) in all() {
            assert_eq!(err.code(), code, "{err:?}");
            assert_eq!(err.status().as_u16(), status, "{err:?}");
            assert!(!err.message().is_empty(), "{err:?}");
            assert_eq!(err.to_string(), format!("{code}: {}", err.message()));
        }
    }

    #[test]
    fn codes_are_distinct() {
        let mut codes: Vec<_> = all().iter().map(|(e, _, _)| e.code()).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
    }

    #[test]
    fn xml_body_has_code_message_resource_and_request_id() {
        let xml = S3Error::NoSuchKey.to_xml("/b/k", "req-1");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message>\
             <Resource>/b/k</Resource><RequestId>req-1</RequestId></Error>"
        );
    }

    #[test]
    fn xml_body_escapes_every_text() {
        let err = S3Error::invalid_argument("x < y & \"z\" > 'w'");
        let xml = err.to_xml("/b/a<b>&c", "id&<>");
        assert!(xml.contains("<Message>x &lt; y &amp; &quot;z&quot; &gt; &apos;w&apos;</Message>"));
        assert!(xml.contains("<Resource>/b/a&lt;b&gt;&amp;c</Resource>"));
        assert!(xml.contains("<RequestId>id&amp;&lt;&gt;</RequestId>"));
    }

    #[test]
    fn xml_body_escapes_control_characters_in_the_resource() {
        let xml = S3Error::NoSuchKey.to_xml("/b/a\u{1}b\rc", "r");
        assert!(xml.contains("<Resource>/b/a&#x1;b&#xD;c</Resource>"));
    }

    #[test]
    fn access_denied_carries_its_reason() {
        let err = S3Error::AccessDenied {
            reason: "Request has expired".into(),
        };
        assert_eq!(err.message(), "Request has expired");
        assert!(
            err.to_xml("/", "r")
                .contains("<Message>Request has expired</Message>")
        );
        assert_eq!(S3Error::access_denied().message(), "Access Denied");
    }

    #[test]
    fn internal_error_leaks_nothing() {
        let xml = S3Error::InternalError.to_xml("/b/k", "req-9");
        assert!(xml.contains("<Message>We encountered an internal error. Please try again."));
        assert!(xml.contains("<RequestId>req-9</RequestId>"));
    }

    #[test]
    fn not_implemented_names_the_operation() {
        let err = S3Error::NotImplemented {
            operation: "GetBucketPolicy",
        };
        assert!(err.message().ends_with("GetBucketPolicy"));
    }

    #[test]
    fn invalid_range_sets_content_range() {
        let err = S3Error::InvalidRange { size: 1234 };
        assert_eq!(err.content_range().as_deref(), Some("bytes */1234"));
        assert_eq!(S3Error::NoSuchKey.content_range(), None);
    }

    #[test]
    fn head_and_not_modified_have_no_body() {
        assert!(!S3Error::NoSuchKey.has_body(&Method::HEAD));
        assert!(S3Error::NoSuchKey.has_body(&Method::GET));
        assert!(!S3Error::NotModified.has_body(&Method::GET));
        assert!(S3Error::PreconditionFailed.has_body(&Method::PUT));
    }
}
