//! Typed request headers: object headers and metadata, conditions, copy sources.

use std::time::SystemTime;

use http::HeaderMap;
use http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_TYPE, EXPIRES,
    IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE,
};
use percent_encoding::percent_decode_str;

use crate::error::S3Error;

use super::names::check_key;

/// The most bytes of user metadata (names and values of `x-amz-meta-*`) S3 accepts.
pub const MAX_USER_METADATA_BYTES: usize = 2048;

/// Storage classes S3 defines; any other value gets InvalidStorageClass.
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
];

/// Headers stored with an object and returned on GET and HEAD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectHeaders {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Encoding`, without the transfer-only `aws-chunked` token (`None` if
    /// nothing else remains).
    pub content_encoding: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Expires`, as sent.
    pub expires: Option<String>,
    /// `x-amz-meta-*`: names lower-cased without the prefix, sorted by name; repeated
    /// headers joined with `,`. Total size at most [`MAX_USER_METADATA_BYTES`].
    pub user_metadata: Vec<(String, String)>,
    /// `x-amz-storage-class`, if given (one of the classes S3 defines).
    pub storage_class: Option<String>,
}

/// Conditions of a read (GetObject, HeadObject) or on a copy source
/// (`x-amz-copy-source-if-*`).
///
/// ETag lists are kept raw (see [`etag_matches`]); dates are parsed, and an unparsable
/// date is ignored, as RFC 9110 requires.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadConditions {
    /// `If-Match`.
    pub if_match: Option<String>,
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<SystemTime>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<SystemTime>,
}

impl ReadConditions {
    /// Whether no condition is present.
    pub fn is_empty(&self) -> bool {
        *self == ReadConditions::default()
    }
}

/// Conditions of a write: `If-None-Match: *` (create only) and `If-Match` (overwrite
/// only the given ETag).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteConditions {
    /// `If-Match`.
    pub if_match: Option<String>,
    /// `If-None-Match` (S3 accepts only `*`).
    pub if_none_match: Option<String>,
}

/// A decoded `x-amz-copy-source`: `[/]bucket/key[?versionId=v]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    /// The source bucket.
    pub bucket: String,
    /// The source key, percent-decoded once.
    pub key: String,
    /// `versionId`, if given.
    pub version_id: Option<String>,
}

/// Whether `etag` (quoted or not) satisfies an `If-Match` / `If-None-Match` header
/// value: `*`, or a comma-separated list of (optionally weak) quoted ETags.
pub fn etag_matches(header: &str, etag: &str) -> bool {
    let etag = etag.trim_matches('"');
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.trim_start_matches("W/").trim_matches('"') == etag
    })
}

/// The header's value as text, if present; repeated headers are joined with `,`.
/// Values are taken as UTF-8 (some clients send raw UTF-8 in metadata and
/// `Content-Disposition`); other bytes are [`S3Error::InvalidArgument`].
pub(crate) fn text(
    headers: &HeaderMap,
    name: impl http::header::AsHeaderName,
) -> Result<Option<String>, S3Error> {
    let mut out: Option<String> = None;
    for value in headers.get_all(name) {
        let value = std::str::from_utf8(value.as_bytes())
            .map_err(|_| S3Error::invalid_argument("Header values must be UTF-8 text"))?;
        match &mut out {
            Some(joined) => {
                joined.push(',');
                joined.push_str(value);
            }
            None => out = Some(value.to_owned()),
        }
    }
    Ok(out)
}

fn date(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<SystemTime> {
    let value = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(value.trim()).ok()
}

/// Parses the standard headers, user metadata and storage class of an object write.
pub(crate) fn object_headers(headers: &HeaderMap) -> Result<ObjectHeaders, S3Error> {
    let content_encoding = text(headers, CONTENT_ENCODING)?.and_then(|v| {
        let kept: Vec<&str> = v
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
            .collect();
        (!kept.is_empty()).then(|| kept.join(","))
    });
    let storage_class = text(headers, "x-amz-storage-class")?;
    if let Some(class) = &storage_class
        && !STORAGE_CLASSES.contains(&class.as_str())
    {
        return Err(S3Error::InvalidStorageClass);
    }
    Ok(ObjectHeaders {
        content_type: text(headers, CONTENT_TYPE)?,
        content_disposition: text(headers, CONTENT_DISPOSITION)?,
        content_encoding,
        content_language: text(headers, CONTENT_LANGUAGE)?,
        cache_control: text(headers, CACHE_CONTROL)?,
        expires: text(headers, EXPIRES)?,
        user_metadata: user_metadata(headers)?,
        storage_class,
    })
}

fn user_metadata(headers: &HeaderMap) -> Result<Vec<(String, String)>, S3Error> {
    let mut out: Vec<(String, String)> = Vec::new();
    for name in headers.keys() {
        // Header names are lower-case in `http`.
        if let Some(meta) = name.as_str().strip_prefix("x-amz-meta-") {
            let value = text(headers, name)?.unwrap_or_default();
            out.push((meta.to_owned(), value));
        }
    }
    out.sort();
    let size: usize = out.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_USER_METADATA_BYTES {
        return Err(S3Error::MetadataTooLarge);
    }
    Ok(out)
}

/// Parses `If-Match`, `If-None-Match`, `If-Modified-Since` and `If-Unmodified-Since`.
pub(crate) fn read_conditions(headers: &HeaderMap) -> Result<ReadConditions, S3Error> {
    Ok(ReadConditions {
        if_match: text(headers, IF_MATCH)?,
        if_none_match: text(headers, IF_NONE_MATCH)?,
        if_modified_since: date(headers, IF_MODIFIED_SINCE),
        if_unmodified_since: date(headers, IF_UNMODIFIED_SINCE),
    })
}

/// Parses the `x-amz-copy-source-if-*` headers.
pub(crate) fn copy_source_conditions(headers: &HeaderMap) -> Result<ReadConditions, S3Error> {
    Ok(ReadConditions {
        if_match: text(headers, "x-amz-copy-source-if-match")?,
        if_none_match: text(headers, "x-amz-copy-source-if-none-match")?,
        if_modified_since: date(headers, "x-amz-copy-source-if-modified-since"),
        if_unmodified_since: date(headers, "x-amz-copy-source-if-unmodified-since"),
    })
}

/// Parses `If-Match` and `If-None-Match` of a write; `If-None-Match` must be `*`.
pub(crate) fn write_conditions(headers: &HeaderMap) -> Result<WriteConditions, S3Error> {
    let if_none_match = text(headers, IF_NONE_MATCH)?;
    if let Some(v) = &if_none_match
        && v.trim() != "*"
    {
        return Err(S3Error::NotImplemented {
            operation: "If-None-Match with an ETag on a write",
        });
    }
    Ok(WriteConditions {
        if_match: text(headers, IF_MATCH)?,
        if_none_match,
    })
}

/// Parses `x-amz-copy-source`: an optional leading `/`, the bucket, `/`, the
/// percent-encoded key, and an optional `?versionId=…`.
pub(crate) fn copy_source(value: &str) -> Result<CopySource, S3Error> {
    let invalid = || S3Error::invalid_argument("Invalid copy source: expected bucket/key");
    let (path, query) = match value.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (value, None),
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = path.split_once('/').ok_or_else(invalid)?;
    let bucket = decode(bucket)?;
    let key = decode(key)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    check_key(&key)?;
    let mut version_id = None;
    if let Some(query) = query {
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("versionId", v)) => version_id = Some(decode(v)?),
                _ => return Err(invalid()),
            }
        }
    }
    Ok(CopySource {
        bucket,
        key,
        version_id,
    })
}

/// Parses `x-amz-copy-source-range: bytes=first-last` (both bounds required).
pub(crate) fn copy_source_range(value: &str) -> Result<(u64, u64), S3Error> {
    let invalid = || {
        S3Error::invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last \
             where first and last are the zero-based offsets of the first and last bytes \
             to copy",
        )
    };
    let (first, last) = value
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if first > last {
        return Err(invalid());
    }
    Ok((first, last))
}

/// Percent-decodes once; the result must be UTF-8.
pub(crate) fn decode(s: &str) -> Result<String, S3Error> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| S3Error::InvalidURI)
}

/// Rejects headers asking for features folio does not have, rather than ignoring
/// them: customer-provided encryption keys and object lock.
pub(crate) fn reject_unsupported(headers: &HeaderMap) -> Result<(), S3Error> {
    let unsupported: &[(&str, &'static str)] = &[
        (
            "x-amz-server-side-encryption-customer-algorithm",
            "SSE-C (x-amz-server-side-encryption-customer-algorithm)",
        ),
        (
            "x-amz-copy-source-server-side-encryption-customer-algorithm",
            "SSE-C (x-amz-copy-source-server-side-encryption-customer-algorithm)",
        ),
        (
            "x-amz-object-lock-mode",
            "Object Lock (x-amz-object-lock-mode)",
        ),
        (
            "x-amz-object-lock-legal-hold",
            "Object Lock (x-amz-object-lock-legal-hold)",
        ),
    ];
    for (name, operation) in unsupported {
        if headers.contains_key(*name) {
            return Err(S3Error::NotImplemented { operation });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn etag_lists_match_quoted_unquoted_weak_and_star() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("abc", "\"abc\""));
        assert!(etag_matches("\"x\", W/\"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"anything\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }

    #[test]
    fn copy_source_is_decoded_once_with_optional_version() {
        let s = copy_source("/src%2Dbucket/a%20b/c%2525+d?versionId=null").unwrap();
        assert_eq!(s.bucket, "src-bucket");
        assert_eq!(s.key, "a b/c%25+d");
        assert_eq!(s.version_id.as_deref(), Some("null"));
        let s = copy_source("b/k//../x").unwrap();
        assert_eq!((s.bucket.as_str(), s.key.as_str()), ("b", "k//../x"));
        assert!(copy_source("nokey").is_err());
        assert!(copy_source("/b/").is_err());
        assert!(copy_source("/b/k?acl").is_err());
    }

    #[test]
    fn copy_source_range_needs_both_bounds_in_order() {
        assert_eq!(copy_source_range("bytes=0-9").unwrap(), (0, 9));
        assert!(copy_source_range("bytes=5-").is_err());
        assert!(copy_source_range("bytes=9-0").is_err());
        assert!(copy_source_range("0-9").is_err());
    }

    #[test]
    fn aws_chunked_is_not_a_stored_content_encoding() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("aws-chunked"));
        assert_eq!(object_headers(&h).unwrap().content_encoding, None);
        h.insert(
            CONTENT_ENCODING,
            HeaderValue::from_static("aws-chunked,gzip"),
        );
        assert_eq!(
            object_headers(&h).unwrap().content_encoding.as_deref(),
            Some("gzip")
        );
    }

    #[test]
    fn metadata_is_collected_and_capped() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-meta-b", HeaderValue::from_static("2"));
        h.append("x-amz-meta-a", HeaderValue::from_static("1"));
        h.append("x-amz-meta-a", HeaderValue::from_static("3"));
        let m = object_headers(&h).unwrap().user_metadata;
        assert_eq!(
            m,
            vec![("a".into(), "1,3".into()), ("b".into(), "2".into())]
        );
        let big = "v".repeat(MAX_USER_METADATA_BYTES);
        h.insert("x-amz-meta-c", HeaderValue::from_str(&big).unwrap());
        assert_eq!(object_headers(&h), Err(S3Error::MetadataTooLarge));
    }

    #[test]
    fn utf8_header_values_are_kept_and_other_bytes_rejected() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-meta-name",
            HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap(),
        );
        assert_eq!(
            object_headers(&h).unwrap().user_metadata,
            vec![("name".into(), "caf\u{e9}".into())]
        );
        h.insert("x-amz-meta-bad", HeaderValue::from_bytes(&[0xff]).unwrap());
        assert_eq!(
            object_headers(&h).map_err(|e| e.code()),
            Err("InvalidArgument")
        );
    }

    #[test]
    fn unknown_storage_class_is_rejected() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-storage-class", HeaderValue::from_static("STANDARD"));
        assert!(object_headers(&h).is_ok());
        h.insert("x-amz-storage-class", HeaderValue::from_static("FAST"));
        assert_eq!(object_headers(&h), Err(S3Error::InvalidStorageClass));
    }

    #[test]
    fn unparsable_dates_are_ignored() {
        let mut h = HeaderMap::new();
        h.insert(IF_MODIFIED_SINCE, HeaderValue::from_static("yesterday"));
        h.insert(
            IF_UNMODIFIED_SINCE,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        let c = read_conditions(&h).unwrap();
        assert_eq!(c.if_modified_since, None);
        assert_eq!(
            c.if_unmodified_since,
            Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_445_412_480))
        );
    }
}
