//! S3 request authentication, as pure functions over a request's method, URI and
//! headers, with the current time passed in.
//!
//! Authentication happens in two steps, so that the gateway can look the access key up
//! in between:
//!
//! 1. [`parse`] reads the request's credentials (SigV4 in the `Authorization` header
//!    or in a presigned URL; SigV2 in the header or a presigned URL), checks the
//!    request date against the clock (15 minutes of skew by default) or the presigned
//!    URL's expiry, and builds the strings to sign. It returns `None` for an
//!    anonymous request (no credentials at all): the gateway answers 403
//!    `AccessDenied` unless the bucket is public.
//! 2. [`PendingAuth::verify`] takes the secret key of
//!    [`PendingAuth::access_key_id`], computes the signature and compares it in
//!    constant time. It returns a [`Verified`] request whose [`PayloadCheck`] tells the
//!    gateway what to do with the body:
//!    - [`PayloadCheck::Sha256`]: hash the body and call [`check_payload_sha256`]
//!      before committing anything (`XAmzContentSHA256Mismatch`);
//!    - [`PayloadCheck::Unsigned`]: nothing to check (`UNSIGNED-PAYLOAD`, presigned
//!      URLs, SigV2);
//!    - [`PayloadCheck::Chunked`]: the body is aws-chunked; push it through the
//!      [`ChunkedDecoder`], which checks chunk signatures, trailers, the checksum
//!      trailer and `x-amz-decoded-content-length`.
//!
//! The modules: `canonical` builds SigV4 canonical requests, `signing` derives
//! keys and strings to sign, `sigv4` and `presign` parse the two SigV4 forms,
//! `payload` the `x-amz-content-sha256` forms, `chunked` decodes aws-chunked bodies and
//! `sigv2` handles the legacy HMAC-SHA1 scheme. [`AuthError`] has one variant per S3
//! error code and converts into [`crate::error::S3Error`].
//!
//! Secrets never appear in errors or `Debug` output.

mod canonical;
mod chunked;
mod date;
mod error;
mod payload;
mod presign;
mod signing;
mod sigv2;
mod sigv4;

#[cfg(test)]
mod tests;

use std::fmt;

use http::{HeaderMap, Method, Uri};
use time::{Duration, OffsetDateTime};

pub use chunked::{ChunkedDecoder, Decoded, MAX_CHUNK_LINE_BYTES, MAX_TRAILERS};
pub use error::AuthError;
pub use payload::{ContentSha256, stored_content_encoding};
pub use signing::Scope;

/// The parts of an HTTP request that authentication reads.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request target as sent: its raw (still percent-encoded) path and query are
    /// what the client signed.
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// For a virtual-host-style request, the bucket named by the `Host` header. SigV2
    /// signs `/<bucket><path>`, so it needs it; SigV4 does not.
    pub virtual_host_bucket: Option<&'a str>,
}

impl<'a> From<&'a http::request::Parts> for RequestParts<'a> {
    /// A path-style (or bucket-less) request from the parts of an `http` request.
    fn from(parts: &'a http::request::Parts) -> Self {
        RequestParts::new(&parts.method, &parts.uri, &parts.headers)
    }
}

impl<'a> RequestParts<'a> {
    /// A path-style (or bucket-less) request.
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        RequestParts {
            method,
            uri,
            headers,
            virtual_host_bucket: None,
        }
    }

    /// Marks the request as virtual-host style for `bucket`.
    pub fn with_virtual_host_bucket(mut self, bucket: &'a str) -> Self {
        self.virtual_host_bucket = Some(bucket);
        self
    }
}

/// Authentication settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOptions {
    /// The region requests must be signed for; `None` accepts any region in the
    /// SigV4 credential scope.
    pub region: Option<String>,
    /// The largest difference allowed between the request's date and `now`
    /// (`RequestTimeTooSkewed` beyond it). Also how far in the future a presigned
    /// URL's `X-Amz-Date` may be.
    pub max_skew: Duration,
    /// Whether SigV2 (header and presigned) is accepted.
    pub allow_sigv2: bool,
}

impl Default for AuthOptions {
    /// Any region, 15 minutes of skew, SigV2 allowed.
    fn default() -> Self {
        AuthOptions {
            region: None,
            max_skew: Duration::minutes(15),
            allow_sigv2: true,
        }
    }
}

/// Which mechanism a request authenticated with (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthKind {
    /// SigV4 in the `Authorization` header.
    SigV4Header,
    /// SigV4 in the query (presigned URL).
    SigV4Presigned,
    /// SigV2 in the `Authorization` header.
    SigV2Header,
    /// SigV2 in the query (presigned URL).
    SigV2Presigned,
}

/// A parsed request whose signature is still to be checked against the secret key of
/// [`PendingAuth::access_key_id`].
#[derive(Debug, Clone)]
pub struct PendingAuth {
    access_key_id: String,
    inner: Pending,
}

#[derive(Debug, Clone)]
enum Pending {
    V4(sigv4::PendingV4),
    V2(sigv2::PendingV2),
}

impl PendingAuth {
    /// The access key id the request claims.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The mechanism used.
    pub fn kind(&self) -> AuthKind {
        match &self.inner {
            Pending::V4(p) if p.presigned => AuthKind::SigV4Presigned,
            Pending::V4(_) => AuthKind::SigV4Header,
            Pending::V2(p) if p.presigned => AuthKind::SigV2Presigned,
            Pending::V2(_) => AuthKind::SigV2Header,
        }
    }

    /// The SigV4 credential scope (date and region); `None` for SigV2.
    pub fn scope(&self) -> Option<&Scope> {
        match &self.inner {
            Pending::V4(p) => Some(&p.scope),
            Pending::V2(_) => None,
        }
    }

    /// Checks the signature with the access key's secret. On success, the returned
    /// [`Verified::payload`] says how the body must be checked.
    pub fn verify(&self, secret_access_key: &str) -> Result<Verified, AuthError> {
        let payload = match &self.inner {
            Pending::V4(p) => p.verify(secret_access_key)?,
            Pending::V2(p) => {
                p.verify(secret_access_key)?;
                PayloadCheck::Unsigned
            }
        };
        Ok(Verified {
            access_key_id: self.access_key_id.clone(),
            payload,
        })
    }
}

/// An authenticated request.
#[derive(Debug)]
pub struct Verified {
    /// The access key whose secret signed the request.
    pub access_key_id: String,
    /// How the body must be checked.
    pub payload: PayloadCheck,
}

/// What the gateway must do with the body of an authenticated request.
#[derive(Debug)]
pub enum PayloadCheck {
    /// The signature covers this SHA-256 of the body: hash the body as it is read and
    /// call [`check_payload_sha256`] before committing anything.
    Sha256([u8; 32]),
    /// The body is not covered by the signature.
    Unsigned,
    /// The body is aws-chunked: feed it through this decoder, which verifies it (see
    /// [`ChunkedDecoder`]) and yields the object's bytes.
    Chunked(Box<ChunkedDecoder>),
}

/// Compares the SHA-256 of the body as read with the one that was signed.
pub fn check_payload_sha256(signed: &[u8; 32], actual: &[u8; 32]) -> Result<(), AuthError> {
    if signing::constant_time_eq(signed, actual) {
        Ok(())
    } else {
        Err(AuthError::XAmzContentSHA256Mismatch)
    }
}

/// Reads a request's credentials; `Ok(None)` means the request is anonymous.
///
/// Checks everything that does not need the secret key: the syntax of the
/// credentials, the region (if [`AuthOptions::region`] is set), the clock skew or the
/// presigned URL's validity window at `now`, that every `x-amz-*` header is signed,
/// and the `x-amz-content-sha256` form.
pub fn parse(
    req: &RequestParts<'_>,
    now: OffsetDateTime,
    opts: &AuthOptions,
) -> Result<Option<PendingAuth>, AuthError> {
    let query = canonical::parse_query(req.uri.query());
    let has_query = |name: &str| query.iter().any(|p| p.name == name);
    let authorization =
        match req.headers.get(http::header::AUTHORIZATION) {
            Some(value) => Some(value.to_str().map_err(|_| {
                AuthError::header_malformed("the Authorization header is not ASCII")
            })?),
            None => None,
        };
    let v4_query = has_query("X-Amz-Algorithm")
        || has_query("X-Amz-Credential")
        || has_query("X-Amz-Signature");
    let v2_query = has_query("AWSAccessKeyId") && has_query("Signature");
    let mechanisms =
        usize::from(authorization.is_some()) + usize::from(v4_query) + usize::from(v2_query);
    if mechanisms > 1 {
        return Err(AuthError::InvalidArgument {
            reason: "Only one auth mechanism allowed; only the X-Amz-Algorithm query \
                     parameter, Signature query string parameter or the Authorization \
                     header should be specified"
                .into(),
        });
    }

    let (access_key_id, inner) = if let Some(authorization) = authorization {
        if let Some(rest) = authorization.strip_prefix(signing::ALGORITHM) {
            let p = sigv4::parse_header(req, rest, now, opts)?;
            (p.0, Pending::V4(p.1))
        } else if let Some(rest) = authorization.strip_prefix("AWS ") {
            require_sigv2(opts)?;
            let p = sigv2::parse_header(req, rest, &query, now, opts)?;
            (p.0, Pending::V2(p.1))
        } else if authorization.starts_with("AWS4-ECDSA-P256-SHA256") {
            return Err(AuthError::NotImplemented {
                feature: "SigV4a (AWS4-ECDSA-P256-SHA256)",
            });
        } else {
            return Err(AuthError::InvalidArgument {
                reason: "Unsupported Authorization Type".into(),
            });
        }
    } else if v4_query {
        let p = presign::parse_query(req, &query, now, opts)?;
        (p.0, Pending::V4(p.1))
    } else if v2_query {
        require_sigv2(opts)?;
        let p = sigv2::parse_query(req, &query, now)?;
        (p.0, Pending::V2(p.1))
    } else {
        return Ok(None);
    };
    Ok(Some(PendingAuth {
        access_key_id,
        inner,
    }))
}

fn require_sigv2(opts: &AuthOptions) -> Result<(), AuthError> {
    if opts.allow_sigv2 {
        Ok(())
    } else {
        Err(AuthError::invalid_request(
            "The authorization mechanism you have provided is not supported. Please use \
             AWS4-HMAC-SHA256.",
        ))
    }
}

impl fmt::Display for AuthKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthKind::SigV4Header => "sigv4",
            AuthKind::SigV4Presigned => "sigv4-presigned",
            AuthKind::SigV2Header => "sigv2",
            AuthKind::SigV2Presigned => "sigv2-presigned",
        })
    }
}
