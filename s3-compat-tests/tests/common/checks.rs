//! S3 API checks parameterised over the client: `s3_api` runs them with an
//! aws-sdk-s3 client over plain HTTP and `tls` with one over HTTPS (where the SDK
//! streams uploads as aws-chunked with a CRC trailer), so both transports are held to
//! the same assertions. Each check creates the buckets it uses (their names are
//! fixed: run each check once per server), and asserts every error by HTTP status and
//! S3 error code.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, EncodingType, MetadataDirective,
    ObjectIdentifier,
};

use super::{assert_error, pattern};

async fn create_bucket(s3: &Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
}

async fn put(s3: &Client, bucket: &str, key: &str, data: &[u8]) -> String {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"))
        .e_tag()
        .expect("etag")
        .to_owned()
}

/// The whole body of a GetObject answer.
pub async fn body(output: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    output
        .body
        .collect()
        .await
        .expect("read body")
        .into_bytes()
        .to_vec()
}

/// GetObject with Range on a 2.5 MiB object (three 1 MiB ledger entries, the last
/// partial): a range across an entry boundary, an open range, a suffix; an
/// unsatisfiable range is 416 InvalidRange; a syntactically invalid Range is ignored
/// (200 with the whole object), as S3 does.
pub async fn ranges(s3: &Client) {
    create_bucket(s3, "ranges").await;
    let payload = pattern(5 << 19, 7);
    put(s3, "ranges", "obj", &payload).await;
    for (range, first, last) in [
        ("bytes=1048570-1048590", 1048570usize, 1048590usize),
        ("bytes=2621000-", 2621000, payload.len() - 1),
        ("bytes=-10", payload.len() - 10, payload.len() - 1),
        ("bytes=0-0", 0, 0),
    ] {
        let got = s3
            .get_object()
            .bucket("ranges")
            .key("obj")
            .range(range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("range {range}: {e:?}"));
        assert_eq!(
            got.content_range(),
            Some(format!("bytes {first}-{last}/{}", payload.len()).as_str())
        );
        assert_eq!(got.content_length(), Some((last - first + 1) as i64));
        assert_eq!(body(got).await, payload[first..=last], "{range}");
    }
    let err = s3
        .get_object()
        .bucket("ranges")
        .key("obj")
        .range(format!("bytes={}-", payload.len()))
        .send()
        .await
        .expect_err("unsatisfiable");
    assert_error(&err, 416, "InvalidRange");
    for invalid in ["bytes=abc", "items=0-10", "bytes=10-5"] {
        let got = s3
            .get_object()
            .bucket("ranges")
            .key("obj")
            .range(invalid)
            .send()
            .await
            .unwrap_or_else(|e| panic!("invalid range {invalid} is ignored: {e:?}"));
        assert_eq!(got.content_range(), None, "{invalid}");
        assert_eq!(body(got).await, payload, "{invalid}: the whole object");
    }
}

/// CopyObject: a copy keeps the source's metadata (COPY directive) and survives the
/// source's deletion; REPLACE takes the request's metadata; a missing source key is
/// 404 NoSuchKey, a missing source bucket 404 NoSuchBucket, a missing destination
/// bucket 404 NoSuchBucket; copying an object onto itself without changes is 400
/// InvalidRequest, and with REPLACE it is allowed.
pub async fn copy(s3: &Client) {
    create_bucket(s3, "src").await;
    create_bucket(s3, "dst").await;
    s3.put_object()
        .bucket("src")
        .key("orig")
        .body(ByteStream::from_static(b"hello"))
        .content_type("text/plain")
        .metadata("a", "1")
        .send()
        .await
        .expect("put");
    let copied = s3
        .copy_object()
        .bucket("dst")
        .key("copy")
        .copy_source("src/orig")
        .send()
        .await
        .expect("copy");
    assert!(
        copied
            .copy_object_result()
            .and_then(|r| r.e_tag())
            .is_some()
    );
    let got = s3
        .get_object()
        .bucket("dst")
        .key("copy")
        .send()
        .await
        .expect("get copy");
    assert_eq!(
        got.metadata().and_then(|m| m.get("a")).map(String::as_str),
        Some("1")
    );
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(body(got).await, b"hello");

    s3.copy_object()
        .bucket("dst")
        .key("replaced")
        .copy_source("src/orig")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("b", "2")
        .content_type("application/x-new")
        .send()
        .await
        .expect("copy with REPLACE");
    let got = s3
        .get_object()
        .bucket("dst")
        .key("replaced")
        .send()
        .await
        .expect("get replaced");
    let meta = got.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("b").map(String::as_str), Some("2"), "{meta:?}");
    assert_eq!(meta.get("a"), None, "REPLACE drops the source's metadata");
    assert_eq!(got.content_type(), Some("application/x-new"));
    assert_eq!(body(got).await, b"hello");

    // The copy shares the source's ledger: deleting the source keeps the copy.
    s3.delete_object()
        .bucket("src")
        .key("orig")
        .send()
        .await
        .expect("delete source");
    let got = s3
        .get_object()
        .bucket("dst")
        .key("copy")
        .send()
        .await
        .expect("copy survives");
    assert_eq!(body(got).await, b"hello");

    let err = s3
        .copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("src/orig")
        .send()
        .await
        .expect_err("missing source key");
    assert_error(&err, 404, "NoSuchKey");
    let err = s3
        .copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("no-such-bucket/orig")
        .send()
        .await
        .expect_err("missing source bucket");
    assert_error(&err, 404, "NoSuchBucket");
    let err = s3
        .copy_object()
        .bucket("no-such-bucket")
        .key("x")
        .copy_source("dst/copy")
        .send()
        .await
        .expect_err("missing destination bucket");
    assert_error(&err, 404, "NoSuchBucket");

    let err = s3
        .copy_object()
        .bucket("dst")
        .key("copy")
        .copy_source("dst/copy")
        .send()
        .await
        .expect_err("copy onto itself without changes");
    assert_error(&err, 400, "InvalidRequest");
    s3.copy_object()
        .bucket("dst")
        .key("copy")
        .copy_source("dst/copy")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("a", "changed")
        .send()
        .await
        .expect("copy onto itself with REPLACE");
    let got = s3
        .get_object()
        .bucket("dst")
        .key("copy")
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.metadata().and_then(|m| m.get("a")).map(String::as_str),
        Some("changed")
    );
    assert_eq!(body(got).await, b"hello");
}

fn ids(keys: &[&str]) -> Vec<ObjectIdentifier> {
    keys.iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().expect("id"))
        .collect()
}

/// DeleteObjects: missing keys are reported deleted; Quiet mode lists nothing but
/// errors; an empty `<Delete>` is 400 MalformedXML.
pub async fn delete_objects(s3: &Client) {
    create_bucket(s3, "batch").await;
    for k in ["a", "b", "c", "d"] {
        put(s3, "batch", k, b"x").await;
    }
    let out = s3
        .delete_objects()
        .bucket("batch")
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&["a", "never-existed"])))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, vec!["a", "never-existed"]);
    assert!(out.errors().is_empty(), "{:?}", out.errors());

    let out = s3
        .delete_objects()
        .bucket("batch")
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&["b", "c", "also-missing"])))
                .quiet(true)
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("quiet delete objects");
    assert!(out.deleted().is_empty(), "quiet: {:?}", out.deleted());
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    let left = s3
        .list_objects_v2()
        .bucket("batch")
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = left.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["d"]);

    let err = s3
        .delete_objects()
        .bucket("batch")
        .delete(
            Delete::builder()
                .set_objects(Some(Vec::new()))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect_err("no objects");
    assert_error(&err, 400, "MalformedXML");
    let err = s3
        .delete_objects()
        .bucket("no-such-bucket")
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&["d"])))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect_err("missing bucket");
    assert_error(&err, 404, "NoSuchBucket");
}

/// ListObjectsV2 (prefix, delimiter, pages of max-keys with continuation tokens,
/// start-after, encoding-type=url) and ListObjects v1 (marker; NextMarker only with a
/// delimiter), and ListObjectVersions with `null` versions.
pub async fn listing(s3: &Client) {
    create_bucket(s3, "list").await;
    let keys = ["a/1", "a/2", "a/b/3", "b/4", "c", "d"];
    for k in keys {
        put(s3, "list", k, b"1").await;
    }
    let top = s3
        .list_objects_v2()
        .bucket("list")
        .delimiter("/")
        .send()
        .await
        .expect("list");
    let prefixes: Vec<&str> = top
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    let objects: Vec<&str> = top.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(prefixes, vec!["a/", "b/"]);
    assert_eq!(objects, vec!["c", "d"]);
    assert_eq!(top.key_count(), Some(4));

    let under_a = s3
        .list_objects_v2()
        .bucket("list")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .expect("list a/");
    let objects: Vec<&str> = under_a.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(objects, vec!["a/1", "a/2"]);
    let prefixes: Vec<&str> = under_a
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, vec!["a/b/"]);

    // CommonPrefixes count toward MaxKeys.
    let page = s3
        .list_objects_v2()
        .bucket("list")
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .expect("list");
    let prefixes: Vec<&str> = page
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, vec!["a/", "b/"]);
    assert!(page.contents().is_empty());
    assert_eq!(page.key_count(), Some(2));
    assert_eq!(page.is_truncated(), Some(true));

    // Pages of two, following continuation tokens.
    let mut seen = Vec::new();
    let mut token = None;
    for _ in 0..10 {
        let page = s3
            .list_objects_v2()
            .bucket("list")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("page");
        assert_eq!(page.continuation_token(), token.as_deref(), "echoed");
        seen.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
    }
    assert_eq!(seen, keys);

    // start-after: strictly after the given key, echoed back.
    let after = s3
        .list_objects_v2()
        .bucket("list")
        .start_after("a/2")
        .send()
        .await
        .expect("start-after");
    let objects: Vec<&str> = after.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(objects, vec!["a/b/3", "b/4", "c", "d"]);
    assert_eq!(after.start_after(), Some("a/2"));

    // ListObjects v1: a marker; NextMarker only when a delimiter is given.
    let v1 = s3
        .list_objects()
        .bucket("list")
        .marker("b/4")
        .send()
        .await
        .expect("v1");
    let objects: Vec<&str> = v1.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(objects, vec!["c", "d"]);
    let page = s3
        .list_objects()
        .bucket("list")
        .max_keys(2)
        .send()
        .await
        .expect("v1 page without delimiter");
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!(
        page.next_marker(),
        None,
        "no NextMarker without a delimiter"
    );
    let page = s3
        .list_objects()
        .bucket("list")
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .expect("v1 page with delimiter");
    let prefixes: Vec<&str> = page
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, vec!["a/", "b/"]);
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!(page.next_marker(), Some("b/"));
    let rest = s3
        .list_objects()
        .bucket("list")
        .delimiter("/")
        .marker("b/")
        .send()
        .await
        .expect("v1 next page");
    let objects: Vec<&str> = rest.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(objects, vec!["c", "d"]);
    assert!(rest.common_prefixes().is_empty());
    assert_eq!(rest.is_truncated(), Some(false));

    let versions = s3
        .list_object_versions()
        .bucket("list")
        .send()
        .await
        .expect("versions");
    assert_eq!(versions.versions().len(), keys.len());
    assert!(
        versions
            .versions()
            .iter()
            .all(|v| v.version_id() == Some("null"))
    );

    // encoding-type=url: keys, prefixes and StartAfter come back URL-encoded (the SDK
    // does not decode them); `/` is left as is.
    put(s3, "list", "enc/a&b/é+1", b"1").await;
    let encoded = s3
        .list_objects_v2()
        .bucket("list")
        .prefix("enc/")
        .start_after("enc/0&")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .expect("encoding-type=url");
    let objects: Vec<&str> = encoded.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(objects, vec!["enc/a%26b/%C3%A9%2B1"]);
    assert_eq!(encoded.start_after(), Some("enc/0%26"));
    assert_eq!(encoded.encoding_type(), Some(&EncodingType::Url));
    let encoded = s3
        .list_objects_v2()
        .bucket("list")
        .prefix("enc/")
        .delimiter("/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .expect("encoding-type=url with a delimiter");
    let prefixes: Vec<&str> = encoded
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, vec!["enc/a%26b/"]);

    let err = s3
        .list_objects_v2()
        .bucket("no-such-bucket")
        .send()
        .await
        .expect_err("missing bucket");
    assert_error(&err, 404, "NoSuchBucket");
    let err = s3
        .list_objects()
        .bucket("no-such-bucket")
        .send()
        .await
        .expect_err("missing bucket");
    assert_error(&err, 404, "NoSuchBucket");
}

/// UploadPartCopy: a part copied from a whole object and one from a byte range
/// (x-amz-copy-source-range), completed into an object of both; an unsatisfiable
/// source range is 416 InvalidRange.
pub async fn upload_part_copy(s3: &Client) {
    create_bucket(s3, "upc").await;
    let source = pattern((5 << 20) + 1000, 3);
    put(s3, "upc", "source", &source).await;
    let upload = s3
        .create_multipart_upload()
        .bucket("upc")
        .key("assembled")
        .send()
        .await
        .expect("create upload");
    let id = upload.upload_id().expect("upload id").to_owned();
    let whole = s3
        .upload_part_copy()
        .bucket("upc")
        .key("assembled")
        .upload_id(&id)
        .part_number(1)
        .copy_source("upc/source")
        .send()
        .await
        .expect("upload part copy");
    let ranged = s3
        .upload_part_copy()
        .bucket("upc")
        .key("assembled")
        .upload_id(&id)
        .part_number(2)
        .copy_source("upc/source")
        .copy_source_range("bytes=100-1099")
        .send()
        .await
        .expect("upload part copy with a range");
    let etag = |out: &aws_sdk_s3::operation::upload_part_copy::UploadPartCopyOutput| {
        out.copy_part_result()
            .and_then(|r| r.e_tag())
            .expect("part etag")
            .to_owned()
    };
    let (etag1, etag2) = (etag(&whole), etag(&ranged));
    assert_eq!(
        etag2,
        format!("\"{}\"", super::md5_hex(&source[100..1100])),
        "a copied part's ETag is the MD5 of its bytes"
    );
    let err = s3
        .upload_part_copy()
        .bucket("upc")
        .key("assembled")
        .upload_id(&id)
        .part_number(3)
        .copy_source("upc/source")
        .copy_source_range(format!("bytes={}-{}", source.len(), source.len() + 10))
        .send()
        .await
        .expect_err("range beyond the source");
    assert_error(&err, 416, "InvalidRange");
    s3.complete_multipart_upload()
        .bucket("upc")
        .key("assembled")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(etag1).build())
                .parts(CompletedPart::builder().part_number(2).e_tag(etag2).build())
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let got = s3
        .get_object()
        .bucket("upc")
        .key("assembled")
        .send()
        .await
        .expect("get");
    let mut expected = source.clone();
    expected.extend_from_slice(&source[100..1100]);
    assert_eq!(body(got).await, expected);
}
