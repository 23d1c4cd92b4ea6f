//! [`AuthError`]: why a request failed authentication, one variant per S3 error code.
//!
//! Reasons are for the client and the log; they never contain a secret, a signing key
//! or a computed signature.

use crate::error::S3Error;

/// An authentication failure. Each variant is one S3 error code ([`AuthError::s3_code`])
/// and converts into the matching [`S3Error`] variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 403 `AccessDenied`: e.g. "Request has expired", a missing date, or `x-amz-*`
    /// headers that were not signed.
    #[error("access denied: {reason}")]
    AccessDenied {
        /// The message for the client.
        reason: String,
    },
    /// 403 `SignatureDoesNotMatch`: the signature (of the request, of a chunk or of
    /// the trailers) is not the one the secret key gives.
    #[error("the request signature does not match")]
    SignatureDoesNotMatch,
    /// 403 `RequestTimeTooSkewed`: the request's date is more than the allowed skew
    /// (15 minutes by default) away from the server's clock.
    #[error("the request time is too far from the server time")]
    RequestTimeTooSkewed,
    /// 403 `InvalidAccessKeyId`: the access key id is unknown. The gateway returns it
    /// after looking the key up; parsing never does.
    #[error("the access key id does not exist")]
    InvalidAccessKeyId,
    /// 400 `AuthorizationHeaderMalformed`: the `Authorization` header cannot be
    /// parsed, or its credential scope is wrong (date, region, service).
    #[error("malformed Authorization header: {reason}")]
    AuthorizationHeaderMalformed {
        /// What is wrong with the header.
        reason: String,
    },
    /// 400 `AuthorizationQueryParametersError`: the presigned-URL parameters cannot
    /// be parsed or are out of range (e.g. `X-Amz-Expires` above 604800).
    #[error("malformed presigned query parameters: {reason}")]
    AuthorizationQueryParametersError {
        /// What is wrong with the parameters.
        reason: String,
    },
    /// 400 `XAmzContentSHA256Mismatch`: the body's SHA-256 is not the one declared in
    /// `x-amz-content-sha256`.
    #[error("the body does not match x-amz-content-sha256")]
    XAmzContentSHA256Mismatch,
    /// 400 `IncompleteBody`: the body ended early, an aws-chunked body is not framed
    /// correctly, or its decoded length differs from `x-amz-decoded-content-length`.
    #[error("incomplete or malformed body: {reason}")]
    IncompleteBody {
        /// What was wrong, for the log.
        reason: String,
    },
    /// 400 `InvalidArgument`: a header or parameter has an invalid value, e.g. an
    /// `x-amz-content-sha256` that is neither a known form nor hex SHA-256.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// Which argument is wrong and why.
        reason: String,
    },
    /// 400 `InvalidRequest`: e.g. two authentication mechanisms at once, a missing
    /// `x-amz-content-sha256`, or trailers that do not match `x-amz-trailer`.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What is wrong with the request.
        reason: String,
    },
    /// 400 `InvalidDigest`: a checksum trailer is not base64 of the right length.
    #[error("invalid digest: {reason}")]
    InvalidDigest {
        /// Which value is malformed.
        reason: String,
    },
    /// 400 `MissingSecurityHeader`: a header that this form of authentication
    /// requires is missing.
    #[error("missing required header {header}")]
    MissingSecurityHeader {
        /// The missing header's name.
        header: &'static str,
    },
    /// 400 `BadDigest`: a checksum trailer does not match the decoded body.
    #[error("the {algorithm} checksum does not match the body")]
    BadDigest {
        /// The algorithm, as in `x-amz-checksum-algorithm` (`CRC32`, ...).
        algorithm: &'static str,
    },
    /// 501 `NotImplemented`: a recognised but unsupported mechanism (SigV4a, event
    /// streams).
    #[error("not implemented: {feature}")]
    NotImplemented {
        /// The unsupported mechanism.
        feature: &'static str,
    },
}

impl AuthError {
    /// The S3 error code, as in the `<Code>` of the XML error body.
    pub fn s3_code(&self) -> &'static str {
        match self {
            AuthError::AccessDenied { .. } => "AccessDenied",
            AuthError::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            AuthError::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            AuthError::InvalidAccessKeyId => "InvalidAccessKeyId",
            AuthError::AuthorizationHeaderMalformed { .. } => "AuthorizationHeaderMalformed",
            AuthError::AuthorizationQueryParametersError { .. } => {
                "AuthorizationQueryParametersError"
            }
            AuthError::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            AuthError::IncompleteBody { .. } => "IncompleteBody",
            AuthError::InvalidArgument { .. } => "InvalidArgument",
            AuthError::InvalidRequest { .. } => "InvalidRequest",
            AuthError::InvalidDigest { .. } => "InvalidDigest",
            AuthError::MissingSecurityHeader { .. } => "MissingSecurityHeader",
            AuthError::BadDigest { .. } => "BadDigest",
            AuthError::NotImplemented { .. } => "NotImplemented",
        }
    }

    pub(crate) fn header_malformed(reason: impl Into<String>) -> Self {
        AuthError::AuthorizationHeaderMalformed {
            reason: reason.into(),
        }
    }

    pub(crate) fn query_malformed(reason: impl Into<String>) -> Self {
        AuthError::AuthorizationQueryParametersError {
            reason: reason.into(),
        }
    }

    pub(crate) fn access_denied(reason: impl Into<String>) -> Self {
        AuthError::AccessDenied {
            reason: reason.into(),
        }
    }

    pub(crate) fn incomplete(reason: impl Into<String>) -> Self {
        AuthError::IncompleteBody {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_request(reason: impl Into<String>) -> Self {
        AuthError::InvalidRequest {
            reason: reason.into(),
        }
    }
}

impl From<AuthError> for S3Error {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::AccessDenied { reason } => S3Error::AccessDenied { reason },
            AuthError::SignatureDoesNotMatch => S3Error::SignatureDoesNotMatch,
            AuthError::RequestTimeTooSkewed => S3Error::RequestTimeTooSkewed,
            AuthError::InvalidAccessKeyId => S3Error::InvalidAccessKeyId,
            AuthError::AuthorizationHeaderMalformed { reason } => {
                S3Error::AuthorizationHeaderMalformed { message: reason }
            }
            AuthError::AuthorizationQueryParametersError { reason } => {
                S3Error::AuthorizationQueryParametersError { message: reason }
            }
            AuthError::XAmzContentSHA256Mismatch => S3Error::XAmzContentSHA256Mismatch,
            // The framing detail is for the log; S3's IncompleteBody has a fixed message.
            AuthError::IncompleteBody { reason: _ } => S3Error::IncompleteBody,
            AuthError::InvalidArgument { reason } => S3Error::InvalidArgument { message: reason },
            AuthError::InvalidRequest { reason } => S3Error::InvalidRequest { message: reason },
            AuthError::InvalidDigest { reason: _ } => S3Error::InvalidDigest,
            AuthError::MissingSecurityHeader { header: _ } => S3Error::MissingSecurityHeader,
            AuthError::BadDigest { algorithm: _ } => S3Error::BadDigest,
            AuthError::NotImplemented { feature } => S3Error::NotImplemented { operation: feature },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_of_each() -> Vec<AuthError> {
        vec![
            AuthError::access_denied("Request has expired"),
            AuthError::SignatureDoesNotMatch,
            AuthError::RequestTimeTooSkewed,
            AuthError::InvalidAccessKeyId,
            AuthError::header_malformed("x"),
            AuthError::query_malformed("x"),
            AuthError::XAmzContentSHA256Mismatch,
            AuthError::incomplete("x"),
            AuthError::InvalidArgument { reason: "x".into() },
            AuthError::invalid_request("x"),
            AuthError::InvalidDigest { reason: "x".into() },
            AuthError::MissingSecurityHeader {
                header: "x-amz-content-sha256",
            },
            AuthError::BadDigest { algorithm: "CRC32" },
            AuthError::NotImplemented { feature: "SigV4a" },
        ]
    }

    /// Every variant becomes the S3 error with the same wire code.
    #[test]
    fn s3_codes_agree_with_s3_error() {
        for e in one_of_each() {
            let code = e.s3_code();
            assert_eq!(S3Error::from(e).code(), code);
        }
    }

    #[test]
    fn expiry_message_reaches_the_client() {
        let e = S3Error::from(AuthError::access_denied("Request has expired"));
        assert_eq!(e.message(), "Request has expired");
    }
}
