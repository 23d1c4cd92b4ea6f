//! SigV4 presigned URLs: the credentials in the query.
//!
//! ```text
//! ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=<key>%2F<date>%2F<region>%2Fs3%2Faws4_request
//!  &X-Amz-Date=<yyyymmddThhmmssZ>&X-Amz-Expires=<seconds ≤ 604800>
//!  &X-Amz-SignedHeaders=host&X-Amz-Signature=<64 hex>
//! ```
//!
//! The canonical query is every parameter but `X-Amz-Signature`; the payload hash is
//! `UNSIGNED-PAYLOAD` unless the query carries `X-Amz-Content-Sha256`. A URL is valid
//! from `X-Amz-Date` (less the allowed skew) to `X-Amz-Date + X-Amz-Expires`; after
//! that it gets 403 AccessDenied "Request has expired".

use time::{Duration, OffsetDateTime};

use super::canonical::QueryParam;
use super::date;
use super::error::AuthError;
use super::payload::ContentSha256;
use super::sigv4::{self, PendingV4, SignedParts};
use super::{AuthOptions, RequestParts};

/// The longest validity of a presigned URL: 7 days.
pub(crate) const MAX_EXPIRES_SECONDS: i64 = 604_800;

const REQUIRED: &str = "Query-string authentication version 4 requires the \
                        X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, \
                        X-Amz-SignedHeaders, and X-Amz-Expires parameters.";

/// The single value of query parameter `name`; repeated is an error.
fn single<'q>(query: &'q [QueryParam], name: &str) -> Result<Option<&'q str>, AuthError> {
    let mut found = None;
    for p in query.iter().filter(|p| p.name == name) {
        if found.replace(p.value.as_str()).is_some() {
            return Err(AuthError::query_malformed(format!(
                "the parameter {name} is repeated"
            )));
        }
    }
    Ok(found)
}

fn required<'q>(query: &'q [QueryParam], name: &str) -> Result<&'q str, AuthError> {
    single(query, name)?.ok_or_else(|| AuthError::query_malformed(REQUIRED))
}

/// Parses a presigned SigV4 request.
pub(crate) fn parse_query(
    req: &RequestParts<'_>,
    query: &[QueryParam],
    now: OffsetDateTime,
    opts: &AuthOptions,
) -> Result<(String, PendingV4), AuthError> {
    let malformed = |reason: String| AuthError::AuthorizationQueryParametersError { reason };
    let algorithm = required(query, "X-Amz-Algorithm")?;
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(malformed(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"".into(),
        ));
    }
    let credential = required(query, "X-Amz-Credential")?;
    let amz_date = required(query, "X-Amz-Date")?;
    let expires = required(query, "X-Amz-Expires")?;
    let signed_headers = required(query, "X-Amz-SignedHeaders")?;
    let signature = required(query, "X-Amz-Signature")?;

    let credential = sigv4::parse_credential(credential, opts, malformed)?;
    let signed_headers = sigv4::parse_signed_headers(signed_headers, malformed)?;
    let t = date::parse_amz_date(amz_date)
        .ok_or_else(|| malformed("X-Amz-Date must be in the ISO8601 Long Format".into()))?;
    if !amz_date.starts_with(&credential.scope.date) {
        return Err(malformed(format!(
            "Invalid credential date '{}'. Date is not the same as X-Amz-Date.",
            credential.scope.date
        )));
    }
    let expires_seconds: i64 = expires
        .parse()
        .map_err(|_| malformed("X-Amz-Expires should be a number".into()))?;
    if expires_seconds < 0 {
        return Err(malformed("X-Amz-Expires must be non-negative".into()));
    }
    if expires_seconds > MAX_EXPIRES_SECONDS {
        return Err(malformed(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800".into(),
        ));
    }
    if t.checked_sub(opts.max_skew)
        .is_some_and(|earliest| earliest > now)
    {
        return Err(AuthError::access_denied("Request is not valid yet"));
    }
    let expired = match t.checked_add(Duration::seconds(expires_seconds)) {
        Some(expiry) => now > expiry,
        None => false,
    };
    if expired {
        return Err(AuthError::access_denied("Request has expired"));
    }
    sigv4::check_amz_headers_signed(req, &signed_headers)?;

    let payload_hash = single(query, "X-Amz-Content-Sha256")?.unwrap_or("UNSIGNED-PAYLOAD");
    let payload = ContentSha256::parse(payload_hash)?;

    sigv4::pending(
        req,
        SignedParts {
            access_key_id: credential.access_key_id,
            scope: credential.scope,
            amz_date: amz_date.trim().to_owned(),
            signed_headers,
            query,
            query_exclude: &["X-Amz-Signature"],
            payload_hash: payload_hash.trim().to_owned(),
            payload,
            signature_hex: signature,
            presigned: true,
        },
    )
}
