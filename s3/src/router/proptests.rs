//! Property tests of the router: keys survive encoding, nothing panics, ranges stay
//! inside the object.

use http::{HeaderMap, HeaderValue, Method, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;

use super::*;

/// What SDKs leave unencoded in a path: unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any key of at most 1024 bytes, percent-encoded once, routes back to itself.
    #[test]
    fn any_key_round_trips(key in "\\PC{1,200}") {
        prop_assume!(key.len() <= MAX_KEY_BYTES);
        let target = format!("/bucket/{}", utf8_percent_encode(&key, PATH));
        let uri: Uri = target.parse().unwrap();
        let op = route(&Method::GET, &uri, &HeaderMap::new(), None).unwrap().op;
        prop_assert_eq!(op.key(), Some(key.as_str()));
        prop_assert_eq!(op.bucket(), Some("bucket"));
    }

    /// Arbitrary paths, queries and headers never panic.
    #[test]
    fn never_panics(
        method in prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]),
        path in "(/[a-zA-Z0-9%+._~-]{0,12}){0,4}",
        query in "([a-zA-Z-]{1,12}(=[a-zA-Z0-9%+=-]{0,8})?&?){0,5}",
        range in "[a-z=0-9,-]{0,16}",
        copy in "[/a-z%?=0-9]{0,20}",
    ) {
        let target = if query.is_empty() { format!("/{path}") } else { format!("/{path}?{query}") };
        let Ok(uri) = target.parse::<Uri>() else { return Ok(()) };
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&range) {
            headers.insert(http::header::RANGE, v);
        }
        if !copy.is_empty()
            && let Ok(v) = HeaderValue::from_str(&copy)
        {
            headers.insert("x-amz-copy-source", v);
        }
        headers.insert(http::header::HOST, HeaderValue::from_static("b.s3.local:9000"));
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let _ = route(&method, &uri, &headers, Some("s3.local"));
    }

    /// A resolved range is non-empty and inside the object; an unresolvable one is
    /// InvalidRange with the size.
    #[test]
    fn ranges_resolve_inside_the_object(
        first in 0u64..2000, last in 0u64..2000, suffix in 0u64..2000, size in 0u64..1000,
    ) {
        for range in [
            ByteRange::FromTo { first: first.min(last), last: first.max(last) },
            ByteRange::From { first },
            ByteRange::Suffix { len: suffix },
        ] {
            match range.resolve(size) {
                Ok(r) => prop_assert!(r.start < r.end && r.end <= size, "{:?} {:?}", range, r),
                Err(e) => prop_assert_eq!(e, S3Error::InvalidRange { size }),
            }
        }
    }
}
