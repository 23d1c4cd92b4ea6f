//! The router against the request examples of the AWS S3 API reference (one per
//! operation at least, in the manner of Garage's `test_aws_doc_examples`), plus
//! path-style, virtual-host and key-decoding cases.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Method, Uri};

use super::*;

const ROOT: &str = "s3.us-west-2.amazonaws.com";

/// Routes a request written as in the AWS documentation: `"METHOD /path?query"`, a
/// `Host` and extra headers.
fn req(line: &str, host: &str, extra: &[(&str, &str)]) -> Result<Route, S3Error> {
    let (method, target) = line.split_once(' ').expect("test request line");
    let method = Method::from_bytes(method.as_bytes()).expect("test method");
    let uri: Uri = target.parse().expect("test uri");
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::HOST,
        HeaderValue::from_str(host).expect("host"),
    );
    for (name, value) in extra {
        headers.append(
            http::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    route(&method, &uri, &headers, Some(ROOT))
}

/// A virtual-host request to `examplebucket`.
fn vhost(line: &str, extra: &[(&str, &str)]) -> S3Op {
    let route = req(line, "examplebucket.s3.us-west-2.amazonaws.com", extra).expect("routes");
    assert_eq!(route.addressing, Addressing::VirtualHost);
    route.op
}

/// A path-style request.
fn path(line: &str, extra: &[(&str, &str)]) -> Result<S3Op, S3Error> {
    req(line, "localhost:9000", extra).map(|r| {
        assert_eq!(r.addressing, Addressing::Path);
        r.op
    })
}

fn code(r: Result<S3Op, S3Error>) -> &'static str {
    match r {
        Ok(op) => panic!("expected an error, got {op:?}"),
        Err(e) => e.code(),
    }
}

// --- AWS API reference examples, one per operation ---

#[test]
fn list_buckets() {
    let op = req("GET /", ROOT, &[]).unwrap().op;
    assert_eq!(op, S3Op::ListBuckets(ListBucketsRequest::default()));
    assert_eq!(op.name(), "ListBuckets");
    assert_eq!(op.bucket(), None);
}

#[test]
fn create_bucket() {
    // PUT / HTTP/1.1, Host: amzn-s3-demo-bucket... (a reserved prefix now); AWS's
    // older example uses colorpictures.
    let op = req("PUT /", "colorpictures.s3.us-west-2.amazonaws.com", &[])
        .unwrap()
        .op;
    assert_eq!(
        op,
        S3Op::CreateBucket {
            bucket: "colorpictures".into()
        }
    );
}

#[test]
fn delete_bucket() {
    let op = req("DELETE /", "quotes.s3.us-west-2.amazonaws.com", &[])
        .unwrap()
        .op;
    assert_eq!(
        op,
        S3Op::DeleteBucket {
            bucket: "quotes".into()
        }
    );
    assert_eq!(op.name(), "DeleteBucket");
}

#[test]
fn head_bucket() {
    let op = vhost("HEAD /", &[]);
    assert_eq!(
        op,
        S3Op::HeadBucket {
            bucket: "examplebucket".into()
        }
    );
}

#[test]
fn get_bucket_location() {
    let op = vhost("GET /?location", &[]);
    assert_eq!(
        op,
        S3Op::GetBucketLocation {
            bucket: "examplebucket".into()
        }
    );
}

#[test]
fn get_bucket_versioning() {
    let op = vhost("GET /?versioning", &[]);
    assert_eq!(
        op,
        S3Op::GetBucketVersioning {
            bucket: "examplebucket".into()
        }
    );
}

#[test]
fn get_bucket_acl() {
    let op = vhost("GET /?acl", &[]);
    assert_eq!(
        op,
        S3Op::GetBucketAcl {
            bucket: "examplebucket".into()
        }
    );
}

#[test]
fn list_objects_v1() {
    // GET /?prefix=N&marker=Ned&max-keys=40 HTTP/1.1
    let op = vhost("GET /?prefix=N&marker=Ned&max-keys=40", &[]);
    assert_eq!(
        op,
        S3Op::ListObjects(ListObjectsRequest {
            scope: ListScope {
                bucket: "examplebucket".into(),
                prefix: "N".into(),
                delimiter: None,
                max_keys: 40,
                encoding_type: None,
            },
            marker: "Ned".into(),
        })
    );
}

#[test]
fn list_objects_v2() {
    // GET /?list-type=2&prefix=E&start-after=ExampleGuide.pdf HTTP/1.1
    let op = vhost(
        "GET /?list-type=2&prefix=E&start-after=ExampleGuide.pdf",
        &[],
    );
    assert_eq!(
        op,
        S3Op::ListObjectsV2(ListObjectsV2Request {
            scope: ListScope {
                bucket: "examplebucket".into(),
                prefix: "E".into(),
                delimiter: None,
                max_keys: 1000,
                encoding_type: None,
            },
            continuation_token: None,
            start_after: Some("ExampleGuide.pdf".into()),
            fetch_owner: false,
        })
    );
    // GET /?list-type=2&prefix=photos/2006/&delimiter=/ HTTP/1.1
    let S3Op::ListObjectsV2(r) = vhost("GET /?list-type=2&prefix=photos/2006/&delimiter=/", &[])
    else {
        panic!("not ListObjectsV2")
    };
    assert_eq!(
        (r.scope.prefix.as_str(), r.scope.delimiter.as_deref()),
        ("photos/2006/", Some("/"))
    );
    // GET /?list-type=2&max-keys=3&prefix=E&start-after=ExampleGuide.pdf&
    //     continuation-token=1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&fetch-owner=true
    let S3Op::ListObjectsV2(r) = vhost(
        "GET /?list-type=2&continuation-token=1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=\
         &max-keys=3&encoding-type=url&fetch-owner=true",
        &[],
    ) else {
        panic!("not ListObjectsV2")
    };
    assert_eq!(
        r.continuation_token.as_deref(),
        Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
    );
    assert_eq!(r.scope.max_keys, 3);
    assert_eq!(r.scope.encoding_type, Some(EncodingType::Url));
    assert!(r.fetch_owner);
}

#[test]
fn list_object_versions() {
    // GET /?versions&key-marker=key2 HTTP/1.1
    let op = vhost("GET /?versions&key-marker=key2", &[]);
    assert_eq!(op.name(), "ListObjectVersions");
    let S3Op::ListObjectVersions(r) = op else {
        panic!("not ListObjectVersions")
    };
    assert_eq!(r.key_marker, "key2");
    assert_eq!(r.version_id_marker, None);
    // GET /?versions&key-marker=key3&version-id-marker=t46ZenlYTZBnj&max-keys=3
    let S3Op::ListObjectVersions(r) = vhost(
        "GET /?versions&key-marker=key3&version-id-marker=t46ZenlYTZBnj&max-keys=3",
        &[],
    ) else {
        panic!("not ListObjectVersions")
    };
    assert_eq!(r.version_id_marker.as_deref(), Some("t46ZenlYTZBnj"));
    assert_eq!(r.scope.max_keys, 3);
}

#[test]
fn list_multipart_uploads() {
    // GET /?uploads&max-uploads=3 HTTP/1.1
    let S3Op::ListMultipartUploads(r) = vhost("GET /?uploads&max-uploads=3", &[]) else {
        panic!("not ListMultipartUploads")
    };
    assert_eq!(r.scope.max_keys, 3);
    // GET /?uploads&delimiter=/&prefix=photos/2006/ HTTP/1.1
    let S3Op::ListMultipartUploads(r) = vhost(
        "GET /?uploads&delimiter=/&prefix=photos/2006/&key-marker=k&upload-id-marker=u",
        &[],
    ) else {
        panic!("not ListMultipartUploads")
    };
    assert_eq!(r.scope.delimiter.as_deref(), Some("/"));
    assert_eq!(r.scope.prefix, "photos/2006/");
    assert_eq!(r.key_marker, "k");
    assert_eq!(r.upload_id_marker.as_deref(), Some("u"));
}

#[test]
fn delete_objects() {
    // POST /?delete HTTP/1.1, Content-MD5, body <Delete>…
    let op = vhost(
        "POST /?delete",
        &[("content-md5", "p5/WA/oEr30qrEEl21PAqw==")],
    );
    assert_eq!(
        op,
        S3Op::DeleteObjects {
            bucket: "examplebucket".into()
        }
    );
}

#[test]
fn put_object() {
    // PUT /my-image.jpg HTTP/1.1, Content-Type: text/plain, x-amz-meta-author: Janet,
    // x-amz-storage-class: REDUCED_REDUNDANCY
    let op = vhost(
        "PUT /my-image.jpg",
        &[
            ("content-type", "text/plain"),
            ("content-md5", "xQE0diMbLRepdf3YB+FIEXAMPLE=="),
            ("x-amz-meta-author", "Janet"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("expect", "100-continue"),
        ],
    );
    let S3Op::PutObject(r) = op else {
        panic!("not PutObject")
    };
    assert_eq!(r.bucket, "examplebucket");
    assert_eq!(r.key, "my-image.jpg");
    assert_eq!(r.headers.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        r.headers.user_metadata,
        vec![("author".into(), "Janet".into())]
    );
    assert_eq!(
        r.headers.storage_class.as_deref(),
        Some("REDUCED_REDUNDANCY")
    );
    assert_eq!(r.conditions, WriteConditions::default());
}

#[test]
fn put_object_if_none_match_star() {
    let S3Op::PutObject(r) = vhost("PUT /k", &[("if-none-match", "*")]) else {
        panic!("not PutObject")
    };
    assert_eq!(r.conditions.if_none_match.as_deref(), Some("*"));
    let err = path("PUT /b/k", &[("if-none-match", "\"abc\"")]);
    assert_eq!(code(err), "NotImplemented");
}

#[test]
fn copy_object() {
    // PUT /my-second-image.jpg HTTP/1.1, x-amz-copy-source: /bucket/my-image.jpg
    let op = vhost(
        "PUT /my-second-image.jpg",
        &[("x-amz-copy-source", "/bucket/my-image.jpg")],
    );
    let S3Op::CopyObject(r) = op else {
        panic!("not CopyObject")
    };
    assert_eq!(
        r.source,
        CopySource {
            bucket: "bucket".into(),
            key: "my-image.jpg".into(),
            version_id: None
        }
    );
    assert_eq!(r.metadata_directive, MetadataDirective::Copy);
    // x-amz-copy-source: /bucket/my-image.jpg?versionId=3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY
    // x-amz-metadata-directive: REPLACE, with copy-source conditions.
    let op = vhost(
        "PUT /my-second-image.jpg",
        &[
            (
                "x-amz-copy-source",
                "/bucket/my-image.jpg?versionId=3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
            ),
            ("x-amz-metadata-directive", "REPLACE"),
            ("x-amz-meta-k", "v"),
            ("x-amz-copy-source-if-match", "\"etag\""),
            (
                "x-amz-copy-source-if-unmodified-since",
                "Wed, 21 Oct 2015 07:28:00 GMT",
            ),
        ],
    );
    let S3Op::CopyObject(r) = op else {
        panic!("not CopyObject")
    };
    assert_eq!(
        r.source.version_id.as_deref(),
        Some("3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
    );
    assert_eq!(r.metadata_directive, MetadataDirective::Replace);
    assert_eq!(r.headers.user_metadata, vec![("k".into(), "v".into())]);
    assert_eq!(r.source_conditions.if_match.as_deref(), Some("\"etag\""));
    assert_eq!(
        r.source_conditions.if_unmodified_since,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480))
    );
    let err = path(
        "PUT /b/k",
        &[
            ("x-amz-copy-source", "/b/x"),
            ("x-amz-metadata-directive", "MOVE"),
        ],
    );
    assert_eq!(code(err), "InvalidArgument");
}

#[test]
fn copy_source_is_url_decoded() {
    let S3Op::CopyObject(r) = vhost(
        "PUT /dst",
        &[("x-amz-copy-source", "src/photos%2F2024%2Fa%20b%2Bc.jpg")],
    ) else {
        panic!("not CopyObject")
    };
    assert_eq!(r.source.bucket, "src");
    assert_eq!(r.source.key, "photos/2024/a b+c.jpg");
}

#[test]
fn get_object() {
    // GET /my-image.jpg HTTP/1.1
    let op = vhost("GET /my-image.jpg", &[]);
    assert_eq!(
        op,
        S3Op::GetObject(GetObjectRequest {
            bucket: "examplebucket".into(),
            key: "my-image.jpg".into(),
            version_id: None,
            range: None,
            part_number: None,
            conditions: ReadConditions::default(),
            overrides: ResponseOverrides::default(),
            checksum_mode: false,
        })
    );
    // GET /example-object?response-content-type=text/plain&response-content-language=mi
    //     &response-expires=Thu%2C%2001%20Dec%201994%2016:00:00%20GMT
    //     &response-cache-control=No-cache&response-content-disposition=attachment%3B%20filename%3Dtesting.txt
    //     &response-content-encoding=x-gzip
    let S3Op::GetObject(r) = vhost(
        "GET /example-object?response-content-type=text/plain&response-content-language=mi\
         &response-expires=Thu%2C%2001%20Dec%201994%2016:00:00%20GMT\
         &response-cache-control=No-cache\
         &response-content-disposition=attachment%3B%20filename%3Dtesting.txt\
         &response-content-encoding=x-gzip",
        &[],
    ) else {
        panic!("not GetObject")
    };
    assert_eq!(
        r.overrides,
        ResponseOverrides {
            content_type: Some("text/plain".into()),
            content_language: Some("mi".into()),
            expires: Some("Thu, 01 Dec 1994 16:00:00 GMT".into()),
            cache_control: Some("No-cache".into()),
            content_disposition: Some("attachment; filename=testing.txt".into()),
            content_encoding: Some("x-gzip".into()),
        }
    );
}

#[test]
fn get_object_range_version_and_conditions() {
    // GET /example-object HTTP/1.1, Range: bytes=0-9
    let S3Op::GetObject(r) = vhost(
        "GET /example-object?versionId=3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        &[
            ("range", "bytes=0-9"),
            ("if-none-match", "\"abc\""),
            ("if-modified-since", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ("x-amz-checksum-mode", "ENABLED"),
        ],
    ) else {
        panic!("not GetObject")
    };
    assert_eq!(r.range, Some(ByteRange::FromTo { first: 0, last: 9 }));
    // '+' in a query value reads as a space, as S3 does; SDKs send %2B.
    assert_eq!(
        r.version_id.as_deref(),
        Some("3HL4kqtJlcpXroDTDmJ rmSpXd3dIbrHY")
    );
    assert_eq!(r.conditions.if_none_match.as_deref(), Some("\"abc\""));
    assert!(r.conditions.if_modified_since.is_some());
    assert!(r.checksum_mode);
    // An invalid Range header is ignored.
    let S3Op::GetObject(r) = vhost("GET /o", &[("range", "bytes=x-y")]) else {
        panic!("not GetObject")
    };
    assert_eq!(r.range, None);
}

#[test]
fn get_object_part_number() {
    let S3Op::GetObject(r) = vhost("GET /o?partNumber=3", &[]) else {
        panic!("not GetObject")
    };
    assert_eq!(r.part_number, Some(3));
    assert_eq!(code(path("GET /b/o?partNumber=0", &[])), "InvalidArgument");
    assert_eq!(
        code(path("GET /b/o?partNumber=10001", &[])),
        "InvalidArgument"
    );
    assert_eq!(
        code(path("GET /b/o?partNumber=1", &[("range", "bytes=0-1")])),
        "InvalidRequest"
    );
}

#[test]
fn head_object() {
    // HEAD /my-image.jpg HTTP/1.1
    let op = vhost("HEAD /my-image.jpg", &[("if-match", "\"e\"")]);
    assert_eq!(op.name(), "HeadObject");
    let S3Op::HeadObject(r) = op else {
        panic!("not HeadObject")
    };
    assert_eq!(r.key, "my-image.jpg");
    assert_eq!(r.conditions.if_match.as_deref(), Some("\"e\""));
}

#[test]
fn delete_object() {
    // DELETE /my-second-image.jpg HTTP/1.1
    let op = vhost("DELETE /my-second-image.jpg", &[]);
    assert_eq!(
        op,
        S3Op::DeleteObject {
            bucket: "examplebucket".into(),
            key: "my-second-image.jpg".into(),
            version_id: None
        }
    );
    // DELETE /my-third-image.jpg?versionId=UIORUnfndfiufdisojhr398493jfdkjFJjkndnqUifhnw89493jJFJ
    let S3Op::DeleteObject { version_id, .. } = vhost(
        "DELETE /my-third-image.jpg?versionId=UIORUnfndfiufdisojhr398493jfdkjFJjkndnqUifhnw89493jJFJ",
        &[],
    ) else {
        panic!("not DeleteObject")
    };
    assert_eq!(
        version_id.as_deref(),
        Some("UIORUnfndfiufdisojhr398493jfdkjFJjkndnqUifhnw89493jJFJ")
    );
}

#[test]
fn get_object_acl() {
    // GET /my-image.jpg?acl HTTP/1.1
    let op = vhost("GET /my-image.jpg?acl", &[]);
    assert_eq!(
        op,
        S3Op::GetObjectAcl {
            bucket: "examplebucket".into(),
            key: "my-image.jpg".into(),
            version_id: None
        }
    );
}

#[test]
fn get_object_tagging() {
    // GET /example-object?tagging HTTP/1.1
    let op = vhost("GET /example-object?tagging&versionId=v1", &[]);
    assert_eq!(
        op,
        S3Op::GetObjectTagging {
            bucket: "examplebucket".into(),
            key: "example-object".into(),
            version_id: Some("v1".into()),
        }
    );
    assert!(op.is_read_only());
}

#[test]
fn create_multipart_upload() {
    // POST /example-object?uploads HTTP/1.1
    let op = vhost(
        "POST /example-object?uploads",
        &[
            ("content-type", "video/mp4"),
            ("x-amz-checksum-algorithm", "crc32c"),
        ],
    );
    let S3Op::CreateMultipartUpload(r) = op else {
        panic!("not CreateMultipartUpload")
    };
    assert_eq!(r.key, "example-object");
    assert_eq!(r.headers.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(r.checksum_algorithm.as_deref(), Some("CRC32C"));
}

#[test]
fn upload_part() {
    // PUT /my-movie.m2ts?partNumber=1&uploadId=VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR
    let op = vhost(
        "PUT /my-movie.m2ts?partNumber=1\
         &uploadId=VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR",
        &[
            ("content-length", "10485760"),
            ("content-md5", "pUNXr/BjKK5G2UKvaRRrOA=="),
        ],
    );
    assert_eq!(
        op,
        S3Op::UploadPart(UploadPartRequest {
            bucket: "examplebucket".into(),
            key: "my-movie.m2ts".into(),
            upload_id: "VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR".into(),
            part_number: 1,
        })
    );
    assert_eq!(code(path("PUT /b/k?partNumber=1", &[])), "InvalidArgument");
    assert_eq!(code(path("PUT /b/k?uploadId=u", &[])), "InvalidArgument");
    assert_eq!(
        code(path("PUT /b/k?partNumber=x&uploadId=u", &[])),
        "InvalidArgument"
    );
    assert_eq!(
        code(path("PUT /b/k?partNumber=10001&uploadId=u", &[])),
        "InvalidArgument"
    );
}

#[test]
fn upload_part_copy() {
    // PUT /newobject?partNumber=2&uploadId=VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR
    // x-amz-copy-source: /source-bucket/sourceobject, x-amz-copy-source-range:bytes=500-6291456
    let op = vhost(
        "PUT /newobject?partNumber=2\
         &uploadId=VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR",
        &[
            ("x-amz-copy-source", "/source-bucket/sourceobject"),
            ("x-amz-copy-source-range", "bytes=500-6291456"),
        ],
    );
    let S3Op::UploadPartCopy(r) = op else {
        panic!("not UploadPartCopy")
    };
    assert_eq!(r.part_number, 2);
    assert_eq!(r.source.bucket, "source-bucket");
    assert_eq!(r.source.key, "sourceobject");
    assert_eq!(r.source_range, Some((500, 6_291_456)));
    let err = path(
        "PUT /b/k?partNumber=1&uploadId=u",
        &[
            ("x-amz-copy-source", "/s/o"),
            ("x-amz-copy-source-range", "bytes=5-"),
        ],
    );
    assert_eq!(code(err), "InvalidArgument");
}

#[test]
fn complete_multipart_upload() {
    // POST /example-object?uploadId=AAAsb2FkIElEIGZvciBlbHZpbmcncyWeeS1tb3ZpZS5tMnRzIRRwbG9hZA
    let op = vhost(
        "POST /example-object?uploadId=AAAsb2FkIElEIGZvciBlbHZpbmcncyWeeS1tb3ZpZS5tMnRzIRRwbG9hZA",
        &[],
    );
    assert_eq!(
        op,
        S3Op::CompleteMultipartUpload(CompleteMultipartUploadRequest {
            bucket: "examplebucket".into(),
            key: "example-object".into(),
            upload_id: "AAAsb2FkIElEIGZvciBlbHZpbmcncyWeeS1tb3ZpZS5tMnRzIRRwbG9hZA".into(),
            conditions: WriteConditions::default(),
        })
    );
}

#[test]
fn abort_multipart_upload() {
    // DELETE /example-object?uploadId=VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZ
    let op = vhost(
        "DELETE /example-object?uploadId=VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZ",
        &[],
    );
    assert_eq!(
        op,
        S3Op::AbortMultipartUpload {
            bucket: "examplebucket".into(),
            key: "example-object".into(),
            upload_id: "VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZ".into(),
        }
    );
}

#[test]
fn list_parts() {
    // GET /example-object?uploadId=XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA
    //     &max-parts=2&part-number-marker=1
    let op = vhost(
        "GET /example-object?uploadId=XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA\
         &max-parts=2&part-number-marker=1",
        &[],
    );
    assert_eq!(
        op,
        S3Op::ListParts(ListPartsRequest {
            bucket: "examplebucket".into(),
            key: "example-object".into(),
            upload_id: "XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA".into(),
            max_parts: 2,
            part_number_marker: 1,
        })
    );
}

// --- Unsupported sub-resources ---

#[test]
fn unsupported_sub_resources_route_to_not_implemented() {
    for (line, operation) in [
        ("GET /?policy", "GetBucketPolicy"),
        ("PUT /?policy", "PutBucketPolicy"),
        ("DELETE /?cors", "DeleteBucketCors"),
        ("PUT /?lifecycle", "PutBucketLifecycleConfiguration"),
        ("GET /?tagging", "GetBucketTagging"),
        ("PUT /?versioning", "PutBucketVersioning"),
        ("PUT /?acl", "PutBucketAcl"),
        ("GET /?encryption", "GetBucketEncryption"),
        ("GET /?object-lock", "GetObjectLockConfiguration"),
        ("GET /?website", "GetBucketWebsite"),
        ("GET /?logging", "GetBucketLogging"),
        ("GET /?notification", "GetBucketNotificationConfiguration"),
        ("GET /?ownershipControls", "GetBucketOwnershipControls"),
        ("GET /?publicAccessBlock", "GetPublicAccessBlock"),
        ("GET /?requestPayment", "GetBucketRequestPayment"),
        ("GET /?accelerate", "GetBucketAccelerateConfiguration"),
        ("GET /?replication", "GetBucketReplication"),
        (
            "GET /?intelligent-tiering",
            "GetBucketIntelligentTieringConfiguration",
        ),
        ("GET /?inventory&id=x", "GetBucketInventoryConfiguration"),
        ("GET /?metrics&id=x", "GetBucketMetricsConfiguration"),
        ("GET /?analytics&id=x", "GetBucketAnalyticsConfiguration"),
        ("POST /", "PostObject"),
        ("PUT /k?acl", "PutObjectAcl"),
        ("PUT /k?tagging", "PutObjectTagging"),
        ("DELETE /k?tagging", "DeleteObjectTagging"),
        ("GET /k?legal-hold", "GetObjectLegalHold"),
        ("PUT /k?retention", "PutObjectRetention"),
        ("GET /k?attributes", "GetObjectAttributes"),
        ("GET /k?torrent", "GetObjectTorrent"),
        ("POST /k?restore", "RestoreObject"),
        ("POST /k?select&select-type=2", "SelectObjectContent"),
    ] {
        let op = vhost(line, &[]);
        assert_eq!(op.name(), operation, "{line}");
        assert!(matches!(op, S3Op::NotImplemented { .. }), "{line}");
        assert_eq!(op.bucket(), Some("examplebucket"));
    }
}

#[test]
fn wrong_methods_are_method_not_allowed() {
    for line in [
        "PUT /",
        "DELETE /",
        "POST /b/k",
        "PATCH /b/k",
        "OPTIONS /b",
        "POST /b/k?torrent",
    ] {
        assert_eq!(code(path(line, &[])), "MethodNotAllowed", "{line}");
    }
}

#[test]
fn sse_c_and_object_lock_headers_are_not_implemented() {
    for header in [
        "x-amz-server-side-encryption-customer-algorithm",
        "x-amz-object-lock-mode",
    ] {
        assert_eq!(
            code(path("PUT /b/k", &[(header, "AES256")])),
            "NotImplemented"
        );
    }
    assert_eq!(
        code(path(
            "PUT /bucket",
            &[("x-amz-bucket-object-lock-enabled", "true")]
        )),
        "NotImplemented"
    );
}

// --- Addressing and key decoding ---

#[test]
fn path_style_splits_bucket_and_key() {
    let op = path("GET /bucket/dir/file.txt", &[]).unwrap();
    assert_eq!(
        (op.bucket(), op.key()),
        (Some("bucket"), Some("dir/file.txt"))
    );
    let op = path("GET /bucket/", &[]).unwrap();
    assert_eq!(op.name(), "ListObjects");
    assert_eq!(op.key(), None);
    // The root domain itself is path style too.
    let r = req("GET /bucket/k", ROOT, &[]).unwrap();
    assert_eq!(r.addressing, Addressing::Path);
    assert_eq!(r.op.bucket(), Some("bucket"));
}

#[test]
fn virtual_host_with_port_and_dots() {
    let r = req(
        "GET /k",
        "my.dotted.bucket.s3.us-west-2.amazonaws.com:9000",
        &[],
    )
    .unwrap();
    assert_eq!(r.addressing, Addressing::VirtualHost);
    assert_eq!(
        (r.op.bucket(), r.op.key()),
        (Some("my.dotted.bucket"), Some("k"))
    );
    // Host names are case-insensitive.
    let r = req("GET /", "EXAMPLEBUCKET.S3.US-WEST-2.AMAZONAWS.COM", &[]).unwrap();
    assert_eq!(r.op.bucket(), Some("examplebucket"));
    // Without a root domain, everything is path style.
    let uri: Uri = "/b/k".parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::HOST,
        HeaderValue::from_static("x.s3.us-west-2.amazonaws.com"),
    );
    let r = route(&Method::GET, &uri, &headers, None).unwrap();
    assert_eq!((r.op.bucket(), r.op.key()), (Some("b"), Some("k")));
    // An IP host never names a bucket.
    let r = req("GET /b/k", "127.0.0.1:9000", &[]).unwrap();
    assert_eq!(r.addressing, Addressing::Path);
}

#[test]
fn keys_are_decoded_once_and_never_normalised() {
    for (target, key) in [
        ("/b/a//b", "a//b"),
        ("/b/../etc/passwd", "../etc/passwd"),
        ("/b/a/./b/", "a/./b/"),
        ("/b/a%20b", "a b"),
        ("/b/a+b", "a+b"),
        ("/b/a%2Bb", "a+b"),
        ("/b/a%252F", "a%2F"),
        ("/b/%E2%82%AC", "€"),
        ("/b//", "/"),
    ] {
        let op = path(&format!("GET {target}"), &[]).unwrap();
        assert_eq!(op.key(), Some(key), "{target}");
    }
    let op = vhost("GET //leading", &[]);
    assert_eq!(op.key(), Some("/leading"));
}

#[test]
fn invalid_utf8_in_the_path_is_invalid_uri() {
    assert_eq!(code(path("GET /b/%FF", &[])), "InvalidURI");
}

#[test]
fn long_keys_are_rejected() {
    let ok = format!("PUT /b/{}", "k".repeat(1024));
    assert!(path(&ok, &[]).is_ok());
    let long = format!("PUT /b/{}", "k".repeat(1025));
    assert_eq!(code(path(&long, &[])), "KeyTooLongError");
}

#[test]
fn create_bucket_validates_the_name() {
    assert_eq!(code(path("PUT /Bad_Bucket", &[])), "InvalidBucketName");
    assert_eq!(code(path("PUT /192.168.1.1", &[])), "InvalidBucketName");
    assert_eq!(code(path("PUT /ab", &[])), "InvalidBucketName");
    assert!(path("PUT /good-bucket", &[]).is_ok());
}

#[test]
fn bad_list_parameters_are_invalid_argument() {
    for line in [
        "GET /b?max-keys=-1",
        "GET /b?max-keys=ten",
        "GET /b?list-type=2&max-keys=",
        "GET /b?list-type=3",
        "GET /b?encoding-type=base64",
        "GET /b?list-type=2&fetch-owner=yes",
        "GET /b?uploads&max-uploads=x",
        "GET /b/k?uploadId=u&max-parts=-2",
        "GET /b/k?uploadId=",
    ] {
        assert_eq!(code(path(line, &[])), "InvalidArgument", "{line}");
    }
    // More than 1000 is accepted; the gateway caps it.
    let S3Op::ListObjectsV2(r) = path("GET /b?list-type=2&max-keys=5000", &[]).unwrap() else {
        panic!("not ListObjectsV2")
    };
    assert_eq!(r.scope.max_keys, 5000);
}

#[test]
fn a_bad_page_size_is_reported_before_a_bad_encoding_type() {
    for (both, page_size) in [
        (
            "GET /b?max-keys=ten&encoding-type=base64",
            "GET /b?max-keys=ten",
        ),
        (
            "GET /b?list-type=2&max-keys=ten&encoding-type=base64",
            "GET /b?list-type=2&max-keys=ten",
        ),
        (
            "GET /b?versions&max-keys=ten&encoding-type=base64",
            "GET /b?versions&max-keys=ten",
        ),
        (
            "GET /b?uploads&max-uploads=ten&encoding-type=base64",
            "GET /b?uploads&max-uploads=ten",
        ),
    ] {
        assert_eq!(path(both, &[]), path(page_size, &[]), "{both}");
    }
}

#[test]
fn sdk_extra_query_parameters_are_ignored() {
    let op = path("GET /b/k?x-id=GetObject", &[]).unwrap();
    assert_eq!(op.name(), "GetObject");
    let op = path(
        "PUT /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=60&x-id=PutObject",
        &[],
    )
    .unwrap();
    assert_eq!(op.name(), "PutObject");
}

#[test]
fn read_only_classification() {
    assert!(path("GET /b/k", &[]).unwrap().is_read_only());
    assert!(path("GET /b", &[]).unwrap().is_read_only());
    assert!(!path("PUT /b/k", &[]).unwrap().is_read_only());
    assert!(!path("POST /b?delete", &[]).unwrap().is_read_only());
}
