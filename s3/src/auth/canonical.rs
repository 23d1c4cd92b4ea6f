//! The SigV4 canonical request for S3, and the query-string parsing it needs.
//!
//! ```text
//! <METHOD>\n<canonical URI>\n<canonical query>\n<canonical headers>\n\n<signed headers>\n<payload hash>
//! ```
//!
//! - The canonical URI is the path as the client sent it: S3 encodes it once and does
//!   not normalise it (`//`, `.` and `..` stay). [`canonical_uri_candidates`] also
//!   offers the path re-encoded from its decoded form, for clients that send
//!   characters raw (e.g. `$`) that their signer encoded.
//! - The canonical query has every parameter (for presigned URLs, all but
//!   `X-Amz-Signature`), names and values RFC 3986-encoded (space is `%20`, `+` is
//!   `%2B`), sorted by encoded name then encoded value; a parameter without `=` has an
//!   empty value.
//! - Canonical headers are the signed headers only, lower-case, each value trimmed
//!   with inner runs of spaces folded into one, repeated headers joined with `,`.

use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// As [`RFC3986`], but keeping `/` (for paths).
const RFC3986_PATH: &AsciiSet = &RFC3986.remove(b'/');

/// One query parameter, decoded (percent-decoding only: `+` stays `+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryParam {
    /// The decoded name.
    pub name: String,
    /// The decoded value; empty when the parameter had no `=`.
    pub value: String,
    /// Whether the parameter had an `=`.
    pub has_value: bool,
}

/// Splits a raw query string into decoded parameters, in order.
pub(crate) fn parse_query(raw: Option<&str>) -> Vec<QueryParam> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value, has_value) = match part.split_once('=') {
                Some((n, v)) => (n, v, true),
                None => (part, "", false),
            };
            QueryParam {
                name: decode(name),
                value: decode(value),
                has_value,
            }
        })
        .collect()
}

/// Percent-decodes, replacing invalid UTF-8 with U+FFFD (a signature over such bytes
/// then simply fails to match).
pub(crate) fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// RFC 3986 encoding of a query name or value.
pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// The canonical query string of `params`, leaving out parameters named in `exclude`.
pub(crate) fn canonical_query(params: &[QueryParam], exclude: &[&str]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|p| !exclude.contains(&p.name.as_str()))
        .map(|p| (encode(&p.name), encode(&p.value)))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The canonical URIs to try, best first: the raw path as sent, then (if different)
/// the path decoded and re-encoded once with RFC 3986 (keeping `/`).
pub(crate) fn canonical_uri_candidates(raw_path: &str) -> Vec<String> {
    let raw = if raw_path.is_empty() { "/" } else { raw_path };
    let mut out = vec![raw.to_owned()];
    let reencoded = utf8_percent_encode(&decode(raw), RFC3986_PATH).to_string();
    if reencoded != raw {
        out.push(reencoded);
    }
    out
}

/// Trims a header value and folds inner runs of spaces and tabs into one space.
fn fold_value(value: &[u8], out: &mut Vec<u8>) {
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        if b == b' ' || b == b'\t' {
            pending_space = started;
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.push(b);
        started = true;
    }
}

/// The canonical headers block (each `name:value\n`) of the signed headers, in the
/// order the client listed them. A signed `host` missing from the headers is taken
/// from `authority` (HTTP/2 requests carry it in the URI).
pub(crate) fn canonical_headers(
    headers: &HeaderMap,
    signed: &[String],
    authority: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for name in signed {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values = headers.get_all(name.as_str()).iter().peekable();
        if values.peek().is_none()
            && name == "host"
            && let Some(authority) = authority
        {
            fold_value(authority.as_bytes(), &mut out);
        }
        let mut first = true;
        for value in values {
            if !first {
                out.push(b',');
            }
            first = false;
            fold_value(value.as_bytes(), &mut out);
        }
        out.push(b'\n');
    }
    out
}

/// The canonical request.
pub(crate) fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &[u8],
    signed_headers: &str,
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        method.len() + canonical_uri.len() + canonical_query.len() + canonical_headers.len() + 200,
    );
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_headers);
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn query_is_sorted_and_rfc3986_encoded() {
        let params = parse_query(Some("prefix=J&max-keys=2"));
        assert_eq!(canonical_query(&params, &[]), "max-keys=2&prefix=J");
        let params = parse_query(Some("lifecycle"));
        assert_eq!(canonical_query(&params, &[]), "lifecycle=");
        let params = parse_query(Some("k=a%20b&k=a+b&j=%7e~*"));
        assert_eq!(canonical_query(&params, &[]), "j=~~%2A&k=a%20b&k=a%2Bb");
        let params = parse_query(Some("b=2&a=1&X-Amz-Signature=zz"));
        assert_eq!(canonical_query(&params, &["X-Amz-Signature"]), "a=1&b=2");
        assert_eq!(canonical_query(&parse_query(None), &[]), "");
    }

    #[test]
    fn uri_is_taken_as_sent_then_reencoded() {
        assert_eq!(canonical_uri_candidates(""), vec!["/"]);
        assert_eq!(
            canonical_uri_candidates("/test%24file.text"),
            vec!["/test%24file.text"]
        );
        // Not normalised.
        assert_eq!(canonical_uri_candidates("/b/a//../c"), vec!["/b/a//../c"]);
        // A raw `$` is offered re-encoded, as a signer would have encoded it.
        assert_eq!(
            canonical_uri_candidates("/test$file.text"),
            vec!["/test$file.text", "/test%24file.text"]
        );
        // Lower-case hex is offered upper-cased.
        assert_eq!(
            canonical_uri_candidates("/pr%c3%a9f"),
            vec!["/pr%c3%a9f", "/pr%C3%A9f"]
        );
    }

    #[test]
    fn header_values_are_trimmed_and_folded() {
        let mut headers = HeaderMap::new();
        headers.insert("range", HeaderValue::from_static("  bytes=0-9  "));
        headers.insert("x-amz-meta-a", HeaderValue::from_static("a   b \t c"));
        headers.append("x-amz-meta-b", HeaderValue::from_static("one"));
        headers.append("x-amz-meta-b", HeaderValue::from_static(" two "));
        let signed: Vec<String> = ["host", "range", "x-amz-meta-a", "x-amz-meta-b"]
            .map(String::from)
            .to_vec();
        let got = canonical_headers(&headers, &signed, Some("example.com"));
        assert_eq!(
            String::from_utf8_lossy(&got),
            "host:example.com\nrange:bytes=0-9\nx-amz-meta-a:a b c\nx-amz-meta-b:one,two\n"
        );
    }
}
