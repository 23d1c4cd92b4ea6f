//! Authentication tested against the AWS documentation's examples, with the example
//! credentials `AKIAIOSFODNN7EXAMPLE` / `wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`.
//!
//! SigV4: "Examples: Signature Calculations" of the S3 API reference (GET Object with
//! a range, PUT Object, GET Bucket Lifecycle, Get Bucket (List Objects)), the presigned
//! URL example of "Authenticating Requests: Using Query Parameters", the chunked-upload
//! example (64 KiB + 1 KiB of `a`) and its trailing-header variant. SigV2: the
//! examples of "Signing and Authenticating REST Requests".

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::signing::{self, Scope, SigningKey};
use super::*;

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const EXAMPLE_TIME: OffsetDateTime = datetime!(2013-05-24 00:00:00 UTC);

struct Req {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    vhost_bucket: Option<&'static str>,
}

impl Req {
    fn new(method: &str, uri: &str, headers: &[(&str, &str)]) -> Self {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        Req {
            method: Method::from_bytes(method.as_bytes()).unwrap(),
            uri: uri.parse().unwrap(),
            headers: map,
            vhost_bucket: None,
        }
    }

    fn vhost(mut self, bucket: &'static str) -> Self {
        self.vhost_bucket = Some(bucket);
        self
    }

    fn set(&mut self, name: &'static str, value: &str) {
        self.headers
            .insert(name, HeaderValue::from_str(value).unwrap());
    }

    fn parts(&self) -> RequestParts<'_> {
        let parts = RequestParts::new(&self.method, &self.uri, &self.headers);
        match self.vhost_bucket {
            Some(b) => parts.with_virtual_host_bucket(b),
            None => parts,
        }
    }

    fn parse_at(&self, now: OffsetDateTime) -> Result<Option<PendingAuth>, AuthError> {
        parse(&self.parts(), now, &AuthOptions::default())
    }

    fn verify_at(&self, now: OffsetDateTime) -> Result<Verified, AuthError> {
        let pending = self.parse_at(now)?.expect("credentials");
        assert_eq!(pending.access_key_id(), AK);
        pending.verify(SECRET)
    }
}

fn v4_authorization(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders={signed_headers},Signature={signature}"
    )
}

/// "Example: GET Object": the first 10 bytes of test.txt.
fn get_object() -> Req {
    Req::new(
        "GET",
        "/test.txt",
        &[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
            (
                "authorization",
                &v4_authorization(
                    "host;range;x-amz-content-sha256;x-amz-date",
                    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
                ),
            ),
        ],
    )
}

/// "Example: PUT Object": "Welcome to Amazon S3." to `test$file.text`.
fn put_object() -> Req {
    Req::new(
        "PUT",
        "/test%24file.text",
        &[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            (
                "x-amz-content-sha256",
                "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
            ),
            (
                "authorization",
                &v4_authorization(
                    "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
                ),
            ),
        ],
    )
}

/// "Example: GET Bucket Lifecycle".
fn get_lifecycle() -> Req {
    Req::new(
        "GET",
        "/?lifecycle",
        &[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            (
                "authorization",
                &v4_authorization(
                    "host;x-amz-content-sha256;x-amz-date",
                    "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
                ),
            ),
        ],
    )
}

/// "Example: Get Bucket (List Objects)": two keys starting with J.
fn list_objects() -> Req {
    Req::new(
        "GET",
        "/?max-keys=2&prefix=J",
        &[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            (
                "authorization",
                &v4_authorization(
                    "host;x-amz-content-sha256;x-amz-date",
                    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
                ),
            ),
        ],
    )
}

/// The presigned GET of test.txt, valid for 86400 seconds.
fn presigned_get(query_tail: &str) -> Req {
    Req::new(
        "GET",
        &format!(
            "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AK}%2F20130524%2F\
             us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400\
             &X-Amz-SignedHeaders=host&X-Amz-Signature=\
             aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404{query_tail}"
        ),
        &[("host", "examplebucket.s3.amazonaws.com")],
    )
}

#[test]
fn aws_get_object_example_matches() {
    let verified = get_object().verify_at(EXAMPLE_TIME).unwrap();
    assert_eq!(verified.access_key_id, AK);
    let PayloadCheck::Sha256(digest) = verified.payload else {
        panic!("expected a signed payload hash");
    };
    assert_eq!(hex::encode(digest), EMPTY_SHA256);
}

#[test]
fn aws_put_object_example_matches_and_checks_the_body() {
    let verified = put_object().verify_at(EXAMPLE_TIME).unwrap();
    let PayloadCheck::Sha256(signed) = verified.payload else {
        panic!("expected a signed payload hash");
    };
    let body_sha = |body: &[u8]| -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(body).into()
    };
    assert_eq!(
        check_payload_sha256(&signed, &body_sha(b"Welcome to Amazon S3.")),
        Ok(())
    );
    assert_eq!(
        check_payload_sha256(&signed, &body_sha(b"Welcome to Amazon S4.")),
        Err(AuthError::XAmzContentSHA256Mismatch)
    );
}

#[test]
fn aws_put_object_example_matches_with_the_dollar_sent_raw() {
    // A client whose signer encoded `$` but whose HTTP stack sent it raw.
    let mut req = put_object();
    req.uri = "/test$file.text".parse().unwrap();
    assert!(req.verify_at(EXAMPLE_TIME).is_ok());
}

#[test]
fn aws_get_bucket_lifecycle_example_matches() {
    assert!(get_lifecycle().verify_at(EXAMPLE_TIME).is_ok());
}

#[test]
fn aws_list_objects_example_matches_in_any_query_order() {
    assert!(list_objects().verify_at(EXAMPLE_TIME).is_ok());
    let mut reordered = list_objects();
    reordered.uri = "/?prefix=J&max-keys=2".parse().unwrap();
    assert!(reordered.verify_at(EXAMPLE_TIME).is_ok());
}

#[test]
fn aws_presigned_url_example_matches_within_its_validity() {
    let req = presigned_get("");
    let pending = req
        .parse_at(EXAMPLE_TIME + Duration::hours(1))
        .unwrap()
        .unwrap();
    assert_eq!(pending.kind(), AuthKind::SigV4Presigned);
    assert_eq!(
        pending.scope().map(|s| s.region.as_str()),
        Some("us-east-1")
    );
    let verified = pending.verify(SECRET).unwrap();
    assert!(matches!(verified.payload, PayloadCheck::Unsigned));
    // Valid up to the last second of X-Amz-Date + X-Amz-Expires.
    assert!(
        req.verify_at(EXAMPLE_TIME + Duration::seconds(86400))
            .is_ok()
    );
}

#[test]
fn expired_presigned_url_is_access_denied() {
    let err = presigned_get("")
        .parse_at(EXAMPLE_TIME + Duration::seconds(86401))
        .unwrap_err();
    assert_eq!(err, AuthError::access_denied("Request has expired"));
    let s3 = crate::error::S3Error::from(err);
    assert_eq!(s3.code(), "AccessDenied");
    assert_eq!(s3.message(), "Request has expired");
}

#[test]
fn presigned_url_from_the_future_is_refused() {
    let err = presigned_get("")
        .parse_at(EXAMPLE_TIME - Duration::hours(1))
        .unwrap_err();
    assert_eq!(err.s3_code(), "AccessDenied");
}

#[test]
fn presigned_expiry_above_a_week_is_a_query_error() {
    let req = Req::new(
        "GET",
        &format!(
            "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AK}%2F20130524%2F\
             us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801\
             &X-Amz-SignedHeaders=host&X-Amz-Signature={}",
            "0".repeat(64)
        ),
        &[("host", "examplebucket.s3.amazonaws.com")],
    );
    let err = req.parse_at(EXAMPLE_TIME).unwrap_err();
    assert_eq!(err.s3_code(), "AuthorizationQueryParametersError");
}

#[test]
fn presigned_url_missing_a_parameter_is_a_query_error() {
    let req = Req::new(
        "GET",
        "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00",
        &[("host", "examplebucket.s3.amazonaws.com")],
    );
    let err = req.parse_at(EXAMPLE_TIME).unwrap_err();
    assert_eq!(err.s3_code(), "AuthorizationQueryParametersError");
}

#[test]
fn tampered_presigned_query_does_not_match() {
    let err = presigned_get("&versionId=1")
        .verify_at(EXAMPLE_TIME)
        .unwrap_err();
    assert_eq!(err, AuthError::SignatureDoesNotMatch);
    let mut other_key = presigned_get("");
    other_key.uri = other_key
        .uri
        .to_string()
        .replace("/test.txt", "/test2.txt")
        .parse()
        .unwrap();
    assert_eq!(
        other_key.verify_at(EXAMPLE_TIME).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
}

#[test]
fn tampered_header_query_path_or_method_does_not_match() {
    let mut range = get_object();
    range.set("range", "bytes=0-10");
    let mut query = list_objects();
    query.uri = "/?max-keys=3&prefix=J".parse().unwrap();
    let mut path = get_object();
    path.uri = "/test.txt2".parse().unwrap();
    let mut method = get_object();
    method.method = Method::DELETE;
    let mut body_hash = put_object();
    body_hash.set("x-amz-content-sha256", &"0".repeat(64));
    for req in [range, query, path, method, body_hash] {
        assert_eq!(
            req.verify_at(EXAMPLE_TIME).unwrap_err(),
            AuthError::SignatureDoesNotMatch
        );
    }
}

#[test]
fn wrong_secret_does_not_match() {
    let pending = get_object().parse_at(EXAMPLE_TIME).unwrap().unwrap();
    assert_eq!(
        pending
            .verify("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ")
            .unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
}

#[test]
fn clock_skew_beyond_15_minutes_is_refused() {
    let req = get_object();
    assert!(req.verify_at(EXAMPLE_TIME + Duration::minutes(15)).is_ok());
    assert!(req.verify_at(EXAMPLE_TIME - Duration::minutes(15)).is_ok());
    for now in [
        EXAMPLE_TIME + Duration::minutes(16),
        EXAMPLE_TIME - Duration::minutes(16),
    ] {
        assert_eq!(
            req.parse_at(now).unwrap_err(),
            AuthError::RequestTimeTooSkewed
        );
    }
}

#[test]
fn region_is_checked_when_configured() {
    let req = get_object();
    let eu = AuthOptions {
        region: Some("eu-west-1".into()),
        ..AuthOptions::default()
    };
    let err = parse(&req.parts(), EXAMPLE_TIME, &eu).unwrap_err();
    assert_eq!(err.s3_code(), "AuthorizationHeaderMalformed");
    let us = AuthOptions {
        region: Some("us-east-1".into()),
        ..AuthOptions::default()
    };
    assert!(parse(&req.parts(), EXAMPLE_TIME, &us).is_ok());
}

#[test]
fn anonymous_requests_have_no_credentials() {
    let req = Req::new("GET", "/bucket/key?list-type=2", &[("host", "localhost")]);
    assert!(req.parse_at(EXAMPLE_TIME).unwrap().is_none());
}

#[test]
fn two_mechanisms_at_once_are_refused() {
    let mut req = presigned_get("");
    req.set("authorization", &v4_authorization("host", &"0".repeat(64)));
    assert_eq!(
        req.parse_at(EXAMPLE_TIME).unwrap_err().s3_code(),
        "InvalidArgument"
    );
}

#[test]
fn unsigned_amz_headers_are_refused() {
    let mut req = get_object();
    req.set("x-amz-copy-source", "/other/key");
    assert_eq!(
        req.parse_at(EXAMPLE_TIME).unwrap_err().s3_code(),
        "AccessDenied"
    );
    // Checksum headers may be added unsigned.
    let mut req = get_object();
    req.set("x-amz-checksum-crc32", "AAAAAA==");
    assert!(req.verify_at(EXAMPLE_TIME).is_ok());
}

#[test]
fn malformed_authorization_headers_are_typed_errors() {
    let cases = [
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
        "AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/ec2/aws4_request,SignedHeaders=host,Signature=00",
        "AWS4-HMAC-SHA256 Credential=A/2013052/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=00",
        "AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/s3/aws4_request,SignedHeaders=range,Signature=00",
        "AWS4-HMAC-SHA256 Credential=A/20130525/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=00",
        "AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/s3/aws4_request,Credential=B,SignedHeaders=host,Signature=00",
        "AWS4-HMAC-SHA256Credential=A",
    ];
    for authorization in cases {
        let mut req = get_object();
        req.set("authorization", authorization);
        assert_eq!(
            req.parse_at(EXAMPLE_TIME).unwrap_err().s3_code(),
            "AuthorizationHeaderMalformed",
            "{authorization}"
        );
    }
    let mut req = get_object();
    req.set("authorization", "Bearer abc");
    assert_eq!(
        req.parse_at(EXAMPLE_TIME).unwrap_err().s3_code(),
        "InvalidArgument"
    );
    let mut req = get_object();
    req.headers.remove("x-amz-content-sha256");
    assert_eq!(
        req.parse_at(EXAMPLE_TIME).unwrap_err().s3_code(),
        "InvalidRequest"
    );
    let mut req = get_object();
    req.headers.remove("x-amz-date");
    assert_eq!(
        req.parse_at(EXAMPLE_TIME).unwrap_err().s3_code(),
        "AccessDenied"
    );
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let pending = put_object().parse_at(EXAMPLE_TIME).unwrap().unwrap();
    let verified = chunked_request().verify_at(EXAMPLE_TIME).unwrap();
    let debug = format!("{pending:?} {verified:?}");
    assert!(!debug.contains(SECRET));
    assert!(!debug.contains("EXAMPLEKEY"));
    let scope = Scope {
        date: "20130524".into(),
        region: "us-east-1".into(),
    };
    let key = SigningKey::derive(SECRET, &scope);
    assert!(!format!("{key:?}").contains(&hex::encode(key.sign(b""))[..8]));
}

// ---------------------------------------------------------------------------------
// aws-chunked
// ---------------------------------------------------------------------------------

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const CHUNK_SIGNATURES: [&str; 3] = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];
const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
const TRAILER_CHUNK_SIGNATURES: [&str; 3] = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
];
const TRAILER_SIGNATURE: &str = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";

/// The chunked-upload example: PUT of 66560 bytes in chunks of 65536 and 1024.
fn chunked_request() -> Req {
    Req::new(
        "PUT",
        "/examplebucket/chunkObject.txt",
        &[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
            (
                "authorization",
                &v4_authorization(
                    "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
                     x-amz-decoded-content-length;x-amz-storage-class",
                    SEED,
                ),
            ),
        ],
    )
}

/// The trailing-header example: the same object with a CRC32C trailer.
fn trailer_request() -> Req {
    Req::new(
        "PUT",
        "/examplebucket/chunkObject.txt",
        &[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            (
                "x-amz-content-sha256",
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            ),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-trailer", "x-amz-checksum-crc32c"),
            (
                "authorization",
                &v4_authorization(
                    "content-encoding;host;x-amz-content-sha256;x-amz-date;\
                     x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
                    TRAILER_SEED,
                ),
            ),
        ],
    )
}

fn signed_body(signatures: &[&str; 3], trailers: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (size, sig) in [
        (65536, signatures[0]),
        (1024, signatures[1]),
        (0, signatures[2]),
    ] {
        body.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
        if size > 0 {
            body.extend(std::iter::repeat_n(b'a', size));
            body.extend_from_slice(b"\r\n");
        }
    }
    body.extend_from_slice(trailers.as_bytes());
    body
}

fn example_body() -> Vec<u8> {
    signed_body(&CHUNK_SIGNATURES, "\r\n")
}

fn trailer_body() -> Vec<u8> {
    signed_body(
        &TRAILER_CHUNK_SIGNATURES,
        &format!(
            "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{TRAILER_SIGNATURE}\r\n\r\n"
        ),
    )
}

struct Outcome {
    data: Vec<u8>,
    trailers: Vec<(String, String)>,
}

fn drain(d: &mut ChunkedDecoder, out: &mut Outcome, ended: &mut bool) -> Result<(), AuthError> {
    while let Some(step) = d.next_decoded()? {
        match step {
            Decoded::Data(b) => {
                assert!(!b.is_empty());
                assert!(!*ended);
                out.data.extend_from_slice(&b);
            }
            Decoded::Trailers(t) => out.trailers = t,
            Decoded::End => *ended = true,
        }
    }
    Ok(())
}

/// Pushes `body` cut at `cuts`, draining after each push, then ends the input.
fn decode(d: &mut ChunkedDecoder, body: &[u8], cuts: &[usize]) -> Result<Outcome, AuthError> {
    let mut out = Outcome {
        data: Vec::new(),
        trailers: Vec::new(),
    };
    let mut ended = false;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    cuts.sort_unstable();
    let mut start = 0;
    for cut in cuts.into_iter().chain([body.len()]) {
        d.push(Bytes::copy_from_slice(&body[start..cut]));
        start = cut;
        drain(d, &mut out, &mut ended)?;
        assert!(d.buffered_bytes() <= MAX_CHUNK_LINE_BYTES + 2);
    }
    d.end_input();
    drain(d, &mut out, &mut ended)?;
    assert!(ended, "the decoder ended its input without End or an error");
    Ok(out)
}

fn decoder_of(req: &Req) -> ChunkedDecoder {
    match req.verify_at(EXAMPLE_TIME).unwrap().payload {
        PayloadCheck::Chunked(d) => *d,
        other => panic!("expected a chunked payload, got {other:?}"),
    }
}

#[test]
fn aws_chunked_example_seed_and_chunk_signatures_match() {
    let body = example_body();
    assert_eq!(body.len(), 66824, "the example's Content-Length");
    let mut d = decoder_of(&chunked_request());
    assert!(d.is_signed());
    let out = decode(&mut d, &body, &[]).unwrap();
    assert_eq!(out.data, vec![b'a'; 66560]);
    assert!(out.trailers.is_empty());
    assert_eq!(d.decoded_bytes(), 66560);
}

#[test]
fn aws_chunked_example_decodes_byte_by_byte() {
    let body = example_body();
    let cuts: Vec<usize> = (0..body.len()).step_by(997).chain(65600..65800).collect();
    let mut d = decoder_of(&chunked_request());
    assert_eq!(decode(&mut d, &body, &cuts).unwrap().data.len(), 66560);
}

#[test]
fn aws_trailer_example_signatures_and_checksum_match() {
    let body = trailer_body();
    assert_eq!(body.len(), 66946);
    let mut d = decoder_of(&trailer_request());
    let out = decode(&mut d, &body, &[100, 65700]).unwrap();
    assert_eq!(out.data, vec![b'a'; 66560]);
    assert_eq!(
        out.trailers,
        vec![("x-amz-checksum-crc32c".to_owned(), "sOO8/Q==".to_owned())]
    );
    assert_eq!(
        d.checksum().map(|c| c.to_base64()).as_deref(),
        Some("sOO8/Q==")
    );
}

#[test]
fn tampered_chunk_data_does_not_match() {
    let mut body = example_body();
    body[66_000] = b'b'; // inside the 1 KiB chunk
    let mut d = decoder_of(&chunked_request());
    assert_eq!(
        decode(&mut d, &body, &[]).err(),
        Some(AuthError::SignatureDoesNotMatch)
    );
    // The error is sticky.
    assert_eq!(d.next_decoded(), Err(AuthError::SignatureDoesNotMatch));
}

#[test]
fn reordered_or_replayed_chunk_signature_does_not_match() {
    let body = signed_body(
        &[
            CHUNK_SIGNATURES[0],
            CHUNK_SIGNATURES[0],
            CHUNK_SIGNATURES[2],
        ],
        "\r\n",
    );
    let mut d = decoder_of(&chunked_request());
    assert_eq!(
        decode(&mut d, &body, &[]).err(),
        Some(AuthError::SignatureDoesNotMatch)
    );
}

#[test]
fn tampered_trailer_does_not_match() {
    let body = trailer_body();
    let text = String::from_utf8(body).unwrap();
    let tampered = text.replace("sOO8/Q==", "AAAAAA==");
    let mut d = decoder_of(&trailer_request());
    assert_eq!(
        decode(&mut d, tampered.as_bytes(), &[]).err(),
        Some(AuthError::SignatureDoesNotMatch)
    );
    let unsigned = text.replace(
        &format!("x-amz-trailer-signature:{TRAILER_SIGNATURE}\r\n"),
        "",
    );
    let mut d = decoder_of(&trailer_request());
    assert_eq!(
        decode(&mut d, unsigned.as_bytes(), &[]).err(),
        Some(AuthError::SignatureDoesNotMatch)
    );
}

#[test]
fn truncated_chunked_body_is_incomplete() {
    let body = example_body();
    for len in [0, 10, 40_000, 65_626, body.len() - 2] {
        let mut d = decoder_of(&chunked_request());
        let err = decode(&mut d, &body[..len], &[]).err().unwrap();
        assert_eq!(err.s3_code(), "IncompleteBody", "truncated at {len}");
    }
}

#[test]
fn decoded_length_is_enforced() {
    let mut req = chunked_request();
    req.set("x-amz-decoded-content-length", "66559");
    // The header is signed, so changing it breaks the seed signature...
    assert_eq!(
        req.verify_at(EXAMPLE_TIME).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
    // ...and an unsigned decoder checks it on its own.
    let body = unsigned_body(&[b"hello ", b"world"], "");
    for (declared, ok) in [(11, true), (10, false), (12, false)] {
        let mut d = ChunkedDecoder::unsigned(&[], Some(declared)).unwrap();
        let result = decode(&mut d, &body, &[]);
        assert_eq!(result.is_ok(), ok, "declared {declared}");
        if let Err(e) = result {
            assert_eq!(e.s3_code(), "IncompleteBody");
        }
    }
}

fn unsigned_body(chunks: &[&[u8]], trailers: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for chunk in chunks {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n");
    body.extend_from_slice(trailers.as_bytes());
    body.extend_from_slice(b"\r\n");
    body
}

/// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`, as the SDKs send by default over HTTPS.
fn unsigned_trailer_request() -> Req {
    // Signed with the example credentials by the test's own signer (below).
    let mut req = Req::new(
        "PUT",
        "/bucket/key",
        &[
            ("host", "localhost:9000"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "11"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
    );
    sign_v4(&mut req);
    req
}

/// Signs `req` (header SigV4, all its headers signed) the way an SDK would, from the
/// module's own canonical-request code: used for requests the AWS docs do not cover.
fn sign_v4(req: &mut Req) {
    let mut names: Vec<String> = req.headers.keys().map(|n| n.as_str().to_owned()).collect();
    names.sort();
    let query = canonical::canonical_query(&canonical::parse_query(req.uri.query()), &[]);
    let headers = canonical::canonical_headers(&req.headers, &names, None);
    let payload_hash = req.headers["x-amz-content-sha256"]
        .to_str()
        .unwrap()
        .to_owned();
    let creq = canonical::canonical_request(
        req.method.as_str(),
        req.uri.path(),
        &query,
        &headers,
        &names.join(";"),
        &payload_hash,
    );
    let scope = Scope {
        date: "20130524".into(),
        region: "us-east-1".into(),
    };
    let sts = signing::request_string_to_sign("20130524T000000Z", &scope, &creq);
    let signature = hex::encode(SigningKey::derive(SECRET, &scope).sign(sts.as_bytes()));
    req.set(
        "authorization",
        &v4_authorization(&names.join(";"), &signature),
    );
}

#[test]
fn unsigned_trailer_upload_checks_its_crc32() {
    let crc = {
        let mut c = crate::checksum::ChecksumAlgorithm::Crc32.checksummer();
        c.update(b"hello world");
        c.finish().to_base64()
    };
    let good = unsigned_body(
        &[b"hello ", b"world"],
        &format!("x-amz-checksum-crc32:{crc}\r\n"),
    );
    let mut d = decoder_of(&unsigned_trailer_request());
    assert!(!d.is_signed());
    let out = decode(&mut d, &good, &[3, 9, 20]).unwrap();
    assert_eq!(out.data, b"hello world");
    assert_eq!(d.checksum().map(|c| c.to_base64()), Some(crc.clone()));

    let bad = unsigned_body(&[b"hello ", b"world"], "x-amz-checksum-crc32:AAAAAA==\r\n");
    let mut d = decoder_of(&unsigned_trailer_request());
    assert_eq!(
        decode(&mut d, &bad, &[]).err(),
        Some(AuthError::BadDigest { algorithm: "CRC32" })
    );

    let malformed = unsigned_body(&[b"hello ", b"world"], "x-amz-checksum-crc32:AAAA\r\n");
    let mut d = decoder_of(&unsigned_trailer_request());
    assert_eq!(
        decode(&mut d, &malformed, &[]).err().map(|e| e.s3_code()),
        Some("InvalidDigest")
    );

    let missing = unsigned_body(&[b"hello ", b"world"], "");
    let mut d = decoder_of(&unsigned_trailer_request());
    assert_eq!(
        decode(&mut d, &missing, &[]).err().map(|e| e.s3_code()),
        Some("InvalidRequest")
    );

    let undeclared = unsigned_body(
        &[b"hello ", b"world"],
        &format!("x-amz-checksum-crc32:{crc}\r\nx-amz-checksum-sha1:AAAA\r\n"),
    );
    let mut d = decoder_of(&unsigned_trailer_request());
    assert_eq!(
        decode(&mut d, &undeclared, &[]).err().map(|e| e.s3_code()),
        Some("InvalidRequest")
    );
}

#[test]
fn body_ending_after_the_last_trailer_line_is_accepted() {
    let crc = "DUoRhQ=="; // CRC32 of "hello world"
    let mut body = unsigned_body(
        &[b"hello world"],
        &format!("x-amz-checksum-crc32:{crc}\r\n"),
    );
    body.truncate(body.len() - 2);
    let mut d = ChunkedDecoder::unsigned(&["x-amz-checksum-crc32".to_owned()], Some(11)).unwrap();
    assert_eq!(decode(&mut d, &body, &[]).unwrap().data, b"hello world");
}

#[test]
fn bad_framing_is_a_typed_error() {
    let cases: &[&[u8]] = &[
        b"zz\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello!\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXY0\r\n\r\n",
        b"\r\n",
        b"11111111111111111\r\n",
        b"0\r\n\r\nextra",
    ];
    for body in cases {
        let mut d = ChunkedDecoder::unsigned(&[], None).unwrap();
        let err = decode(&mut d, body, &[]).err();
        assert_eq!(
            err.map(|e| e.s3_code()),
            Some("IncompleteBody"),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let mut long_line = vec![b'1'; MAX_CHUNK_LINE_BYTES + 10];
    long_line.extend_from_slice(b"\r\n");
    let mut d = ChunkedDecoder::unsigned(&[], None).unwrap();
    assert_eq!(
        decode(&mut d, &long_line, &[]).err().map(|e| e.s3_code()),
        Some("IncompleteBody")
    );
    // Chunk extensions are ignored in unsigned bodies.
    let mut d = ChunkedDecoder::unsigned(&[], None).unwrap();
    assert_eq!(
        decode(&mut d, b"5;ext=1\r\nhello\r\n0\r\n\r\n", &[])
            .unwrap()
            .data,
        b"hello"
    );
}

#[test]
fn too_many_trailers_are_refused() {
    let names: Vec<String> = (0..40).map(|i| format!("x-t-{i}")).collect();
    let trailers: String = names.iter().map(|n| format!("{n}:v\r\n")).collect();
    let body = unsigned_body(&[b"x"], &trailers);
    let mut d = ChunkedDecoder::unsigned(&names, None).unwrap();
    assert_eq!(
        decode(&mut d, &body, &[]).err().map(|e| e.s3_code()),
        Some("InvalidRequest")
    );
}

/// Signs `data` as aws-chunked with the given chunk sizes, from `seed`.
fn sign_chunks(data: &[u8], sizes: &[usize], seed: &str) -> Vec<u8> {
    let scope = Scope {
        date: "20130524".into(),
        region: "us-east-1".into(),
    };
    let key = SigningKey::derive(SECRET, &scope);
    let mut previous = seed.to_owned();
    let mut body = Vec::new();
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut rest = data;
    for &size in sizes {
        let n = size.min(rest.len());
        if n == 0 {
            continue;
        }
        chunks.push(&rest[..n]);
        rest = &rest[n..];
    }
    if !rest.is_empty() {
        chunks.push(rest);
    }
    chunks.push(&[]);
    for chunk in chunks {
        use sha2::Digest as _;
        let digest: [u8; 32] = sha2::Sha256::digest(chunk).into();
        let sts = signing::chunk_string_to_sign(
            "20130524T000000Z",
            &scope.to_scope_string(),
            &previous,
            &digest,
        );
        let sig = hex::encode(key.sign(sts.as_bytes()));
        body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
        previous = sig;
    }
    body
}

fn signed_decoder(decoded_length: u64) -> ChunkedDecoder {
    let scope = Scope {
        date: "20130524".into(),
        region: "us-east-1".into(),
    };
    ChunkedDecoder::new(
        Some(chunked::ChunkSigning {
            key: SigningKey::derive(SECRET, &scope),
            amz_date: "20130524T000000Z".into(),
            scope: scope.to_scope_string(),
            seed_signature_hex: SEED.into(),
        }),
        false,
        &[],
        Some(decoded_length),
    )
    .unwrap()
}

#[test]
fn own_signer_reproduces_the_aws_chunk_signatures() {
    // Cross-checks the test signer used by the property tests below.
    assert_eq!(
        sign_chunks(&[b'a'; 66560], &[65536, 1024], SEED),
        example_body()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the chunk sizes and the split points of the input, the decoder yields
    /// the same data and accepts every signature.
    #[test]
    fn signed_decoding_is_independent_of_split_points(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        sizes in proptest::collection::vec(1usize..700, 1..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let body = sign_chunks(&data, &sizes, SEED);
        let mut d = signed_decoder(data.len() as u64);
        let out = decode(&mut d, &body, &cuts).unwrap();
        prop_assert_eq!(out.data, data);
    }

    #[test]
    fn unsigned_decoding_is_independent_of_split_points(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        size in 1usize..700,
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let chunks: Vec<&[u8]> = data.chunks(size).collect();
        let body = unsigned_body(&chunks, "");
        let mut d = ChunkedDecoder::unsigned(&[], Some(data.len() as u64)).unwrap();
        let out = decode(&mut d, &body, &cuts).unwrap();
        prop_assert_eq!(out.data, data);
    }

    /// Arbitrary bytes end in data, End or a typed error; never a panic.
    #[test]
    fn arbitrary_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        prefix in prop_oneof![Just(&b""[..]), Just(&b"5\r\n"[..]), Just(&b"0\r\n"[..])],
    ) {
        let mut input = prefix.to_vec();
        input.extend_from_slice(&body);
        for mut d in [
            ChunkedDecoder::unsigned(&["x-amz-checksum-crc32".to_owned()], None).unwrap(),
            signed_decoder(10),
        ] {
            let mut out = Outcome { data: Vec::new(), trailers: Vec::new() };
            let mut ended = false;
            for piece in input.chunks(1 + cuts.first().copied().unwrap_or(7) % 64) {
                d.push(Bytes::copy_from_slice(piece));
                if drain(&mut d, &mut out, &mut ended).is_err() {
                    break;
                }
            }
            d.end_input();
            let _ = drain(&mut d, &mut out, &mut ended);
        }
    }

    /// Arbitrary Authorization headers, dates and queries give typed errors, never a
    /// panic.
    #[test]
    fn arbitrary_credentials_never_panic(
        authorization in "(AWS4-HMAC-SHA256 |AWS )?[ -~]{0,200}",
        amz_date in "[0-9TZ]{0,20}",
        query in "[ -~]{0,200}",
        now in -1_000_000_000_000i64..1_000_000_000_000,
    ) {
        let now = OffsetDateTime::from_unix_timestamp(now / 4).unwrap_or(EXAMPLE_TIME);
        let mut req = Req::new("GET", "/", &[("host", "h")]);
        if let Ok(v) = HeaderValue::from_str(&authorization) {
            req.headers.insert("authorization", v);
        }
        if let Ok(v) = HeaderValue::from_str(&amz_date) {
            req.headers.insert("x-amz-date", v);
        }
        req.set("x-amz-content-sha256", EMPTY_SHA256);
        if let Ok(uri) = format!("/?{query}").parse() {
            req.uri = uri;
        }
        if let Ok(Some(p)) = req.parse_at(now) {
            let _ = p.verify(SECRET);
        }
        let presigned = format!(
            "/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={query}&X-Amz-Date={amz_date}\
             &X-Amz-Expires={query}&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
        );
        if let Ok(uri) = presigned.parse() {
            let req = Req { uri, ..Req::new("GET", "/", &[("host", "h")]) };
            if let Ok(Some(p)) = req.parse_at(now) {
                let _ = p.verify(SECRET);
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// SigV2
// ---------------------------------------------------------------------------------

/// The SigV2 examples' signatures were computed for the bucket `johnsmith` (later
/// editions of the page renamed it `awsexamplebucket1` but kept the signatures).
fn v2(method: &str, uri: &str, headers: &[(&str, &str)], signature: &str) -> Req {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    let authorization = format!("AWS {AK}:{signature}");
    all.push(("authorization", &authorization));
    Req::new(method, uri, &all)
}

fn v2_verify(req: &Req, now: OffsetDateTime) -> Result<Verified, AuthError> {
    let pending = req.parse_at(now)?.expect("credentials");
    assert_eq!(pending.kind(), AuthKind::SigV2Header);
    assert_eq!(pending.access_key_id(), AK);
    pending.verify(SECRET)
}

#[test]
fn aws_sigv2_examples_match() {
    let t = |s: &str| date::parse_http_date(s).unwrap();
    let cases = [
        // Object GET.
        (
            v2(
                "GET",
                "/photos/puppy.jpg",
                &[
                    ("host", "johnsmith.s3.amazonaws.com"),
                    ("date", "Tue, 27 Mar 2007 19:36:42 +0000"),
                ],
                "bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
            )
            .vhost("johnsmith"),
            t("Tue, 27 Mar 2007 19:36:42 +0000"),
        ),
        // Object PUT.
        (
            v2(
                "PUT",
                "/photos/puppy.jpg",
                &[
                    ("content-type", "image/jpeg"),
                    ("content-length", "94328"),
                    ("host", "johnsmith.s3.amazonaws.com"),
                    ("date", "Tue, 27 Mar 2007 21:15:45 +0000"),
                ],
                "MyyxeRY7whkBe+bq8fHCL/2kKUg=",
            )
            .vhost("johnsmith"),
            t("Tue, 27 Mar 2007 21:15:45 +0000"),
        ),
        // List: no sub-resource in the query.
        (
            v2(
                "GET",
                "/?prefix=photos&max-keys=50&marker=puppy",
                &[
                    ("user-agent", "Mozilla/5.0"),
                    ("host", "johnsmith.s3.amazonaws.com"),
                    ("date", "Tue, 27 Mar 2007 19:42:41 +0000"),
                ],
                "htDYFYduRNen8P9ZfE/s9SuKy0U=",
            )
            .vhost("johnsmith"),
            t("Tue, 27 Mar 2007 19:42:41 +0000"),
        ),
        // Fetch the ?acl sub-resource.
        (
            v2(
                "GET",
                "/?acl",
                &[
                    ("host", "johnsmith.s3.amazonaws.com"),
                    ("date", "Tue, 27 Mar 2007 19:44:46 +0000"),
                ],
                "c2WLPFtWHVgbEmeEG93a4cG37dM=",
            )
            .vhost("johnsmith"),
            t("Tue, 27 Mar 2007 19:44:46 +0000"),
        ),
        // Delete, path style, with x-amz-date.
        (
            v2(
                "DELETE",
                "/johnsmith/photos/puppy.jpg",
                &[
                    ("user-agent", "dotnet"),
                    ("host", "s3.amazonaws.com"),
                    ("date", "Tue, 27 Mar 2007 21:20:27 +0000"),
                    ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
                ],
                "lx3byBScXR6KzyMaifNkardMwNk=",
            ),
            t("Tue, 27 Mar 2007 21:20:26 +0000"),
        ),
        // Upload to a CNAME bucket, with repeated and mixed-case amz headers.
        (
            v2(
                "PUT",
                "/db-backup.dat.gz",
                &[
                    ("user-agent", "curl/7.15.5"),
                    ("host", "static.johnsmith.net:8080"),
                    ("date", "Tue, 27 Mar 2007 21:06:08 +0000"),
                    ("x-amz-acl", "public-read"),
                    ("content-type", "application/x-download"),
                    ("content-md5", "4gJE4saaMU4BqNR0kLY+lw=="),
                    ("X-Amz-Meta-ReviewedBy", "joe@johnsmith.net"),
                    ("X-Amz-Meta-ReviewedBy", "jane@johnsmith.net"),
                    ("X-Amz-Meta-FileChecksum", "0x02661779"),
                    ("X-Amz-Meta-ChecksumAlgorithm", "crc32"),
                    ("content-disposition", "attachment; filename=database.dat"),
                    ("content-encoding", "gzip"),
                    ("content-length", "5913339"),
                ],
                "ilyl83RwaSoYIEdixDQcA4OnAnc=",
            )
            .vhost("static.johnsmith.net"),
            t("Tue, 27 Mar 2007 21:06:08 +0000"),
        ),
        // List all my buckets.
        (
            v2(
                "GET",
                "/",
                &[
                    ("host", "s3.amazonaws.com"),
                    ("date", "Wed, 28 Mar 2007 01:29:59 +0000"),
                ],
                "qGdzdERIC03wnaRNKh6OqZehG9s=",
            ),
            t("Wed, 28 Mar 2007 01:29:59 +0000"),
        ),
        // Unicode keys: the path is signed as sent, percent-encoding and case kept.
        (
            v2(
                "GET",
                "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
                &[
                    ("host", "s3.amazonaws.com"),
                    ("date", "Wed, 28 Mar 2007 01:49:49 +0000"),
                ],
                "DNEZGsoieTZ92F3bUfSPQcbGmlM=",
            ),
            t("Wed, 28 Mar 2007 01:49:49 +0000"),
        ),
    ];
    for (i, (req, now)) in cases.iter().enumerate() {
        let verified = v2_verify(req, *now).unwrap_or_else(|e| panic!("example {i}: {e}"));
        assert!(matches!(verified.payload, PayloadCheck::Unsigned));
    }
    // Tampering with any signed part breaks them.
    let (mut req, now) = cases.into_iter().nth(5).unwrap();
    req.set("x-amz-acl", "private");
    assert_eq!(
        v2_verify(&req, now).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
}

#[test]
fn aws_sigv2_query_string_example_matches_until_it_expires() {
    let req = Req::new(
        "GET",
        &format!(
            "/photos/puppy.jpg?AWSAccessKeyId={AK}&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D\
             &Expires=1175139620"
        ),
        &[("host", "johnsmith.s3.amazonaws.com")],
    )
    .vhost("johnsmith");
    let before = OffsetDateTime::from_unix_timestamp(1_175_139_620).unwrap();
    let pending = req.parse_at(before).unwrap().unwrap();
    assert_eq!(pending.kind(), AuthKind::SigV2Presigned);
    assert!(pending.verify(SECRET).is_ok());
    let after = before + Duration::seconds(1);
    assert_eq!(
        req.parse_at(after).unwrap_err(),
        AuthError::access_denied("Request has expired")
    );
    let mut other = req;
    other.uri = other
        .uri
        .to_string()
        .replace("puppy", "kitten")
        .parse()
        .unwrap();
    assert_eq!(
        other
            .parse_at(before)
            .unwrap()
            .unwrap()
            .verify(SECRET)
            .unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
}

#[test]
fn sigv2_sub_resources_and_skew() {
    let req = v2(
        "GET",
        "/johnsmith/photos/puppy.jpg?versionId=v1&response-content-type=text/plain&foo=bar",
        &[
            ("host", "s3.amazonaws.com"),
            ("date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ],
        "",
    );
    let now = date::parse_http_date("Tue, 27 Mar 2007 19:36:42 +0000").unwrap();
    let pending = req.parse_at(now).unwrap().unwrap();
    let Pending::V2(p) = &pending.inner else {
        panic!("expected SigV2");
    };
    let debug = format!("{p:?}");
    assert!(
        debug.contains("/johnsmith/photos/puppy.jpg?response-content-type=text/plain&versionId=v1")
    );
    assert_eq!(
        req.parse_at(now + Duration::minutes(16)).unwrap_err(),
        AuthError::RequestTimeTooSkewed
    );
    let no_v2 = AuthOptions {
        allow_sigv2: false,
        ..AuthOptions::default()
    };
    assert_eq!(
        parse(&req.parts(), now, &no_v2).unwrap_err().s3_code(),
        "InvalidRequest"
    );
}

/// A presigned PUT as botocore builds it: `Content-Type` and `x-amz-*` headers move
/// into the query, and are signed from there. (Expected signature computed with
/// Python's `hmac` from botocore's string to sign.)
#[test]
fn botocore_style_presigned_sigv2_put_with_query_headers() {
    let req = Req::new(
        "PUT",
        &format!(
            "/mybucket/my%20key.txt?AWSAccessKeyId={AK}&Signature=buPHp6lJskqjPV4AlcLgr1JnKw8%3D\
             &Expires=1700000000&content-type=text%2Fplain&x-amz-acl=public-read"
        ),
        &[("host", "s3.amazonaws.com"), ("content-type", "text/plain")],
    );
    let now = OffsetDateTime::from_unix_timestamp(1_699_999_000).unwrap();
    assert!(req.parse_at(now).unwrap().unwrap().verify(SECRET).is_ok());
}

/// botocore signs the `Date` header even when `x-amz-date` is present, and an empty
/// sub-resource as `acl=`. (Expected signature computed with Python's `hmac`.)
#[test]
fn botocore_style_sigv2_header_with_both_dates() {
    let req = v2(
        "GET",
        "/mybucket/key?acl=",
        &[
            ("host", "s3.amazonaws.com"),
            ("date", "Tue, 27 Mar 2007 19:36:42 GMT"),
            ("x-amz-date", "Tue, 27 Mar 2007 19:36:43 GMT"),
        ],
        "RI+kIWCq6yWAGpKo1s28GgybltQ=",
    );
    let now = date::parse_http_date("Tue, 27 Mar 2007 19:40:00 GMT").unwrap();
    assert!(v2_verify(&req, now).is_ok());
}

/// Every one-byte change of the examples' credentials gives a typed result: never a
/// panic, and never a successful verification of a changed signature.
#[test]
fn one_byte_mutations_of_the_examples_never_panic() {
    let authorization = get_object().headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let sig_start = authorization.find("Signature=").unwrap() + "Signature=".len();
    for i in 0..authorization.len() {
        for replacement in [b' ', b',', b'=', b'/', b'0', b'Z', b';'] {
            let mut bytes = authorization.clone().into_bytes();
            if bytes[i] == replacement {
                continue;
            }
            bytes[i] = replacement;
            let mutated = String::from_utf8(bytes).unwrap();
            let mut req = get_object();
            req.set("authorization", &mutated);
            if let Ok(Some(p)) = req.parse_at(EXAMPLE_TIME) {
                let verified = p.verify(SECRET);
                if i >= sig_start {
                    assert!(verified.is_err(), "{mutated}");
                }
            }
        }
    }
    let uri = presigned_get("").uri.to_string();
    for i in 0..uri.len() {
        for replacement in ["&", "=", "%", "%2", "0", "Z"] {
            let mutated = format!("{}{replacement}{}", &uri[..i], &uri[i + 1..]);
            let Ok(uri) = mutated.parse() else { continue };
            let req = Req {
                uri,
                ..presigned_get("")
            };
            if let Ok(Some(p)) = req.parse_at(EXAMPLE_TIME) {
                let _ = p.verify(SECRET);
            }
        }
    }
}
