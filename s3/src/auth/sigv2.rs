//! SigV2: HMAC-SHA1 in `Authorization: AWS <key>:<signature>` or in a presigned URL
//! (`AWSAccessKeyId`, `Expires`, `Signature`). boto3 still presigns with it for
//! `us-east-1`.
//!
//! ```text
//! StringToSign = <METHOD>\n<Content-MD5>\n<Content-Type>\n<Date or Expires>\n
//!                <CanonicalizedAmzHeaders><CanonicalizedResource>
//! ```
//!
//! - The Date position holds the `Date` header and `x-amz-date` is signed among the
//!   amz headers (botocore, MinIO). Clients differ when `x-amz-date` is present: an
//!   empty Date position (the documentation's text) and the `x-amz-date` value in the
//!   Date position without it among the amz headers (the documentation's "Delete"
//!   example) are accepted too.
//! - CanonicalizedAmzHeaders: the `x-amz-*` headers, lower-case, sorted, values
//!   trimmed and joined with `,`, each `name:value\n`. For presigned URLs, query
//!   parameters named `x-amz-*`, `content-type` and `content-md5` stand in for the
//!   headers (botocore moves them into the URL).
//! - CanonicalizedResource: `/<bucket>` for a virtual-host request, the path as sent
//!   (still encoded), then the sub-resources of [`SUBRESOURCES`] present in the query,
//!   sorted, with their decoded values.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use time::OffsetDateTime;

use super::canonical::QueryParam;
use super::date;
use super::error::AuthError;
use super::signing::constant_time_eq;
use super::{AuthOptions, RequestParts};

/// The query parameters that are part of the SigV2 CanonicalizedResource: the union
/// of the lists of botocore, MinIO and the AWS documentation.
pub const SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "encryption",
    "inventory",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "retention",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// A SigV2 request whose signature is still to be checked.
#[derive(Clone)]
pub(crate) struct PendingV2 {
    /// Whether the credentials came in the query.
    pub presigned: bool,
    /// The strings to sign to try (see the module docs on `x-amz-date`).
    strings_to_sign: Vec<String>,
    /// The signature the client sent (20 bytes when well formed).
    signature: Vec<u8>,
}

impl fmt::Debug for PendingV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingV2")
            .field("presigned", &self.presigned)
            .field("strings_to_sign", &self.strings_to_sign)
            .finish_non_exhaustive()
    }
}

impl PendingV2 {
    /// Checks the signature with the secret key.
    pub(crate) fn verify(&self, secret_access_key: &str) -> Result<(), AuthError> {
        let mut matched = false;
        for sts in &self.strings_to_sign {
            let computed = hmac_sha1(secret_access_key.as_bytes(), sts.as_bytes());
            matched |= constant_time_eq(&computed, &self.signature);
        }
        if matched {
            Ok(())
        } else {
            Err(AuthError::SignatureDoesNotMatch)
        }
    }
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut mac = match Hmac::<Sha1>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Parses `Authorization: AWS <key>:<signature>`; `rest` follows `AWS `.
pub(crate) fn parse_header(
    req: &RequestParts<'_>,
    rest: &str,
    query: &[QueryParam],
    now: OffsetDateTime,
    opts: &AuthOptions,
) -> Result<(String, PendingV2), AuthError> {
    let Some((access_key_id, signature)) = rest.trim().rsplit_once(':') else {
        return Err(AuthError::header_malformed(
            "a SigV2 Authorization header is AWS <key>:<signature>",
        ));
    };
    if access_key_id.is_empty() {
        return Err(AuthError::header_malformed("the access key id is empty"));
    }
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let missing_date = || {
        AuthError::access_denied("AWS authentication requires a valid Date or x-amz-date header")
    };
    let amz_date = header("x-amz-date");
    let date_value = amz_date
        .or_else(|| header("date"))
        .ok_or_else(missing_date)?;
    let t = date::parse_http_date(date_value).ok_or_else(missing_date)?;
    date::check_skew(t, now, opts.max_skew)?;

    let amz_headers = amz_headers(req, &[]);
    let date_header = header("date").unwrap_or_default();
    // (Date position, CanonicalizedAmzHeaders) forms: the `Date` header (botocore,
    // MinIO; empty without one) with every amz header, then, with `x-amz-date`, an
    // empty Date position, and the documentation's example form.
    let mut forms = vec![(date_header.to_owned(), amz_headers.clone())];
    if let Some(amz_date) = amz_date {
        forms.push((String::new(), amz_headers));
        forms.push((amz_date.to_owned(), amz_headers_without_date(req)));
    }
    let mut strings_to_sign = Vec::new();
    for resource in canonical_resources(req, query) {
        for (date_position, amz) in &forms {
            let sts = format!(
                "{}\n{}\n{}\n{}\n{}{}",
                req.method.as_str(),
                header("content-md5").unwrap_or_default(),
                header("content-type").unwrap_or_default(),
                date_position,
                amz,
                resource
            );
            if !strings_to_sign.contains(&sts) {
                strings_to_sign.push(sts);
            }
        }
    }
    Ok((
        access_key_id.to_owned(),
        PendingV2 {
            presigned: false,
            strings_to_sign,
            signature: BASE64.decode(signature.trim()).unwrap_or_default(),
        },
    ))
}

/// Parses a presigned SigV2 request.
pub(crate) fn parse_query(
    req: &RequestParts<'_>,
    query: &[QueryParam],
    now: OffsetDateTime,
) -> Result<(String, PendingV2), AuthError> {
    let param = |name: &str| {
        query
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    };
    let access_key_id = param("AWSAccessKeyId").unwrap_or_default();
    let signature = param("Signature").unwrap_or_default();
    let Some(expires) = param("Expires") else {
        return Err(AuthError::access_denied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId \
             parameters",
        ));
    };
    let expires_at: i64 = expires
        .trim()
        .parse()
        .map_err(|_| AuthError::access_denied("Invalid date (should be seconds since epoch)"))?;
    if now.unix_timestamp() > expires_at {
        return Err(AuthError::access_denied("Request has expired"));
    }
    let header_or_query = |name: &str| {
        param(name)
            .or_else(|| req.headers.get(name).and_then(|v| v.to_str().ok()))
            .map(str::trim)
            .unwrap_or_default()
    };
    let amz_headers = amz_headers(req, query);
    let strings_to_sign = canonical_resources(req, query)
        .into_iter()
        .map(|resource| {
            format!(
                "{}\n{}\n{}\n{}\n{}{}",
                req.method.as_str(),
                header_or_query("content-md5"),
                header_or_query("content-type"),
                expires.trim(),
                amz_headers,
                resource
            )
        })
        .collect();
    Ok((
        access_key_id.to_owned(),
        PendingV2 {
            presigned: true,
            strings_to_sign,
            signature: BASE64.decode(signature.trim()).unwrap_or_default(),
        },
    ))
}

/// CanonicalizedAmzHeaders from the request's `x-amz-*` headers, and, for presigned
/// URLs, `x-amz-*` query parameters (which take precedence).
fn amz_headers(req: &RequestParts<'_>, query: &[QueryParam]) -> String {
    let mut map = amz_header_map(req);
    for p in query {
        let name = p.name.to_ascii_lowercase();
        if name.starts_with("x-amz-") {
            map.insert(name, p.value.trim().to_owned());
        }
    }
    render(&map)
}

fn amz_headers_without_date(req: &RequestParts<'_>) -> String {
    let mut map = amz_header_map(req);
    map.remove("x-amz-date");
    render(&map)
}

fn amz_header_map(req: &RequestParts<'_>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for name in req.headers.keys() {
        if !name.as_str().starts_with("x-amz-") {
            continue;
        }
        let values: Vec<String> = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| fold(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        map.insert(name.as_str().to_owned(), values.join(","));
    }
    map
}

/// Trims and unfolds (any whitespace run becomes one space).
fn fold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn render(map: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (name, value) in map {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out
}

/// The CanonicalizedResource: `/<bucket>` (virtual-host style) + the raw path + the
/// sorted sub-resources. A sub-resource sent as `name=` (empty value) is signed as
/// `name=` by botocore and as `name` by others: both forms are returned then.
fn canonical_resources(req: &RequestParts<'_>, query: &[QueryParam]) -> Vec<String> {
    let mut base = String::new();
    if let Some(bucket) = req.virtual_host_bucket {
        base.push('/');
        base.push_str(bucket);
    }
    let path = req.uri.path();
    base.push_str(if path.is_empty() { "/" } else { path });
    let mut subresources: Vec<&QueryParam> = query
        .iter()
        .filter(|p| SUBRESOURCES.contains(&p.name.as_str()))
        .collect();
    subresources.sort_by(|a, b| a.name.cmp(&b.name));
    let render = |keep_empty_values: bool| {
        let mut out = base.clone();
        for (i, p) in subresources.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(&p.name);
            if !p.value.is_empty() || (keep_empty_values && p.has_value) {
                out.push('=');
                out.push_str(&p.value);
            }
        }
        out
    };
    let bare = render(false);
    let literal = render(true);
    if bare == literal {
        vec![bare]
    } else {
        vec![literal, bare]
    }
}
