//! The S3 API through aws-sdk-s3 with its default settings, against a real
//! `folio standalone` process. Each test starts its own server. Every error is
//! asserted by HTTP status and S3 error code; the checks in `common::checks` run
//! over HTTPS too (`tls.rs`).

mod common;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::checks::{self, body};
use common::{
    assert_bodyless_error, assert_error, assert_raw_error, client, client_with, md5_hex, pattern,
    raw_from_reqwest,
};
use folio_s3_compat_tests::{ACCESS_KEY, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_lifecycle_and_errors() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("create");
    let err = s3
        .create_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect_err("exists");
    assert_error(&err, 409, "BucketAlreadyOwnedByYou");
    let err = s3
        .create_bucket()
        .bucket("Bad_Name")
        .send()
        .await
        .expect_err("invalid");
    assert_error(&err, 400, "InvalidBucketName");
    s3.head_bucket().bucket("alpha").send().await.expect("head");
    let err = s3
        .head_bucket()
        .bucket("nope")
        .send()
        .await
        .expect_err("missing");
    assert_error(&err, 404, "NotFound");
    let buckets = s3.list_buckets().send().await.expect("list");
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, vec!["alpha"]);
    let location = s3
        .get_bucket_location()
        .bucket("alpha")
        .send()
        .await
        .expect("location");
    // S3 reports us-east-1 as an empty LocationConstraint.
    assert_eq!(location.location_constraint().map(|c| c.as_str()), Some(""));

    s3.put_object()
        .bucket("alpha")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let err = s3
        .delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect_err("not empty");
    assert_error(&err, 409, "BucketNotEmpty");
    s3.delete_object()
        .bucket("alpha")
        .key("k")
        .send()
        .await
        .expect("delete object");
    s3.delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("delete bucket");
    let err = s3
        .delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect_err("gone");
    assert_error(&err, 404, "NoSuchBucket");
    let err = s3
        .get_bucket_location()
        .bucket("alpha")
        .send()
        .await
        .expect_err("gone");
    assert_error(&err, 404, "NoSuchBucket");
    let err = s3
        .get_object()
        .bucket("alpha")
        .key("k")
        .send()
        .await
        .expect_err("gone");
    assert_error(&err, 404, "NoSuchBucket");
    let err = s3
        .put_object()
        .bucket("alpha")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("gone");
    assert_error(&err, 404, "NoSuchBucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_head_delete_with_metadata_and_ranges() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("data")
        .send()
        .await
        .expect("create");
    // 2.5 MiB: three ledger entries of 1 MiB, the last partial.
    let payload = pattern(5 << 19, 7);
    let put = s3
        .put_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .body(ByteStream::from(payload.clone()))
        .content_type("application/x-test")
        .cache_control("no-cache")
        .metadata("Color", "blue")
        .send()
        .await
        .expect("put");
    let etag = put.e_tag().expect("etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");

    let got = s3
        .get_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .send()
        .await
        .expect("get");
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.cache_control(), Some("no-cache"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("blue")
    );
    assert_eq!(body(got).await, payload);

    let head = s3
        .head_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(payload.len() as i64));

    let err = s3
        .get_object()
        .bucket("data")
        .key("missing")
        .send()
        .await
        .expect_err("missing");
    assert_error(&err, 404, "NoSuchKey");
    s3.delete_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .send()
        .await
        .expect("delete");
    s3.delete_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .send()
        .await
        .expect("delete is idempotent");
    let err = s3
        .head_object()
        .bucket("data")
        .key("dir/a b+c.bin")
        .send()
        .await
        .expect_err("deleted");
    assert_bodyless_error(&err, 404);
    assert_error(&err, 404, "NotFound");

    // An empty object.
    s3.put_object()
        .bucket("data")
        .key("empty")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .expect("put empty");
    let got = s3
        .get_object()
        .bucket("data")
        .key("empty")
        .send()
        .await
        .expect("get empty");
    assert!(body(got).await.is_empty());

    checks::ranges(&s3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_with_prefix_delimiter_and_pages() {
    let server = Server::start();
    checks::listing(&client(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_part_copy_whole_and_ranged() {
    let server = Server::start();
    checks::upload_part_copy(&client(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_and_its_errors() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("mpu")
        .send()
        .await
        .expect("create");
    let upload = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("big")
        .content_type("video/mp4")
        .send()
        .await
        .expect("create upload");
    let id = upload.upload_id().expect("upload id").to_owned();
    let part1 = pattern(5 << 20, 1);
    let part2 = pattern(1 << 20, 2);
    let mut parts = Vec::new();
    for (n, data) in [(1, &part1), (2, &part2)] {
        let out = s3
            .upload_part()
            .bucket("mpu")
            .key("big")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("upload part");
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("etag"))
                .build(),
        );
    }
    let listed = s3
        .list_parts()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .expect("list parts");
    assert_eq!(listed.parts().len(), 2);
    let uploads = s3
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .expect("list uploads");
    assert_eq!(uploads.uploads().len(), 1);

    // Part numbers run from 1 to 10000; an unknown upload id is NoSuchUpload.
    for bad in [0, 10001] {
        let err = s3
            .upload_part()
            .bucket("mpu")
            .key("big")
            .upload_id(&id)
            .part_number(bad)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("part number out of range");
        assert_error(&err, 400, "InvalidArgument");
    }
    let err = s3
        .upload_part()
        .bucket("mpu")
        .key("big")
        .upload_id("no-such-upload-id")
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("unknown upload");
    assert_error(&err, 404, "NoSuchUpload");

    // An ETag that does not match the uploaded part: InvalidPart.
    let wrong_etag = CompletedMultipartUpload::builder()
        .parts(parts[0].clone())
        .parts(
            CompletedPart::builder()
                .part_number(2)
                .e_tag(format!("\"{}\"", md5_hex(b"not part 2")))
                .build(),
        )
        .build();
    let err = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(wrong_etag)
        .send()
        .await
        .expect_err("etag mismatch");
    assert_error(&err, 400, "InvalidPart");

    // Out of order: InvalidPartOrder.
    let reversed = CompletedMultipartUpload::builder()
        .set_parts(Some(parts.iter().rev().cloned().collect()))
        .build();
    let err = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(reversed)
        .send()
        .await
        .expect_err("order");
    assert_error(&err, 400, "InvalidPartOrder");

    let done = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts.clone()))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    // The multipart ETag: the MD5 of the concatenated binary part MD5s, then "-N".
    let mut md5s = Vec::new();
    for part in [&part1, &part2] {
        md5s.extend(hex::decode(md5_hex(part)).expect("hex"));
    }
    let expected = format!("\"{}-2\"", md5_hex(&md5s));
    assert_eq!(done.e_tag(), Some(expected.as_str()));
    // A retried Complete with the same list succeeds with the same ETag.
    let again = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts.clone()))
                .build(),
        )
        .send()
        .await
        .expect("a retried Complete is idempotent");
    assert_eq!(again.e_tag(), Some(expected.as_str()));
    // A different list for the completed upload is not a retry: NoSuchUpload.
    let err = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(parts[0].clone())
                .build(),
        )
        .send()
        .await
        .expect_err("another list after completion");
    assert_error(&err, 404, "NoSuchUpload");
    let got = s3
        .get_object()
        .bucket("mpu")
        .key("big")
        .send()
        .await
        .expect("get");
    assert_eq!(got.content_type(), Some("video/mp4"));
    let all = body(got).await;
    // A range across the boundary between the two parts.
    let (first, last) = (part1.len() - 10, part1.len() + 9);
    let ranged = s3
        .get_object()
        .bucket("mpu")
        .key("big")
        .range(format!("bytes={first}-{last}"))
        .send()
        .await
        .expect("range across parts");
    assert_eq!(
        ranged.content_range(),
        Some(format!("bytes {first}-{last}/{}", all.len()).as_str())
    );
    assert_eq!(body(ranged).await, all[first..=last]);
    assert_eq!(all.len(), part1.len() + part2.len());
    assert_eq!(&all[..part1.len()], &part1[..]);
    assert_eq!(&all[part1.len()..], &part2[..]);

    let err = s3
        .list_parts()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .expect_err("completed");
    assert_error(&err, 404, "NoSuchUpload");

    // A small first part: EntityTooSmall at Complete; then abort.
    let small = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("small")
        .send()
        .await
        .expect("create");
    let sid = small.upload_id().expect("id").to_owned();
    let mut small_parts = Vec::new();
    for n in 1..=2 {
        let out = s3
            .upload_part()
            .bucket("mpu")
            .key("small")
            .upload_id(&sid)
            .part_number(n)
            .body(ByteStream::from_static(b"tiny"))
            .send()
            .await
            .expect("part");
        small_parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("etag"))
                .build(),
        );
    }
    let err = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&sid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(small_parts))
                .build(),
        )
        .send()
        .await
        .expect_err("too small");
    assert_error(&err, 400, "EntityTooSmall");
    s3.abort_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&sid)
        .send()
        .await
        .expect("abort");
    let err = s3
        .abort_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&sid)
        .send()
        .await
        .expect_err("gone");
    assert_error(&err, 404, "NoSuchUpload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_object_directives_and_errors() {
    let server = Server::start();
    checks::copy(&client(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_objects_quiet_and_malformed() {
    let server = Server::start();
    checks::delete_objects(&client(&server)).await;
}

/// GET and HEAD with If-Match, If-None-Match, If-Modified-Since and
/// If-Unmodified-Since; PUT with If-None-Match: * and If-Match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_get_head_and_put() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("cond")
        .send()
        .await
        .expect("create");
    let put = s3
        .put_object()
        .bucket("cond")
        .key("k")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .expect("put");
    let etag = put.e_tag().expect("etag").to_owned();
    let head = s3
        .head_object()
        .bucket("cond")
        .key("k")
        .send()
        .await
        .expect("head");
    let modified = head.last_modified().expect("Last-Modified").secs();
    let at = DateTime::from_secs;

    // GET: If-None-Match matching is 304; If-Match not matching is 412.
    let err = s3
        .get_object()
        .bucket("cond")
        .key("k")
        .if_none_match(&etag)
        .send()
        .await
        .expect_err("304");
    assert_bodyless_error(&err, 304);
    let err = s3
        .get_object()
        .bucket("cond")
        .key("k")
        .if_match("\"0000\"")
        .send()
        .await
        .expect_err("412");
    assert_error(&err, 412, "PreconditionFailed");
    let got = s3
        .get_object()
        .bucket("cond")
        .key("k")
        .if_match(&etag)
        .if_none_match("\"0000\"")
        .send()
        .await
        .expect("both conditions hold");
    assert_eq!(body(got).await, b"hello");

    // GET with dates, compared at one-second resolution (no dates in the future:
    // servers differ on whether those are ignored).
    for (since, modified_since_ok) in [(modified - 3600, true), (modified, false)] {
        let result = s3
            .get_object()
            .bucket("cond")
            .key("k")
            .if_modified_since(at(since))
            .send()
            .await;
        match (modified_since_ok, result) {
            (true, Ok(got)) => assert_eq!(body(got).await, b"hello"),
            (false, Err(err)) => assert_bodyless_error(&err, 304),
            (expected, other) => {
                panic!("If-Modified-Since {since} (expected ok={expected}): {other:?}")
            }
        }
    }
    for (since, unmodified_since_ok) in [
        (modified - 3600, false),
        (modified, true),
        (modified + 3600, true),
    ] {
        let result = s3
            .get_object()
            .bucket("cond")
            .key("k")
            .if_unmodified_since(at(since))
            .send()
            .await;
        match (unmodified_since_ok, result) {
            (true, Ok(got)) => assert_eq!(body(got).await, b"hello"),
            (false, Err(err)) => assert_error(&err, 412, "PreconditionFailed"),
            (expected, other) => {
                panic!("If-Unmodified-Since {since} (expected ok={expected}): {other:?}")
            }
        }
    }

    // HEAD: the same conditions, answered without a body.
    let err = s3
        .head_object()
        .bucket("cond")
        .key("k")
        .if_match("\"0000\"")
        .send()
        .await
        .expect_err("412");
    assert_bodyless_error(&err, 412);
    let err = s3
        .head_object()
        .bucket("cond")
        .key("k")
        .if_none_match(&etag)
        .send()
        .await
        .expect_err("304");
    assert_bodyless_error(&err, 304);
    s3.head_object()
        .bucket("cond")
        .key("k")
        .if_match(&etag)
        .send()
        .await
        .expect("If-Match holds");
    let err = s3
        .head_object()
        .bucket("cond")
        .key("k")
        .if_modified_since(at(modified))
        .send()
        .await
        .expect_err("not modified");
    assert_bodyless_error(&err, 304);

    // PUT: If-None-Match: * refuses an existing key and takes an absent one.
    let err = s3
        .put_object()
        .bucket("cond")
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("exists");
    assert_error(&err, 412, "PreconditionFailed");
    s3.put_object()
        .bucket("cond")
        .key("fresh")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("absent key");

    // PUT with If-Match: overwrites when the ETag matches, 412 when it does not
    // (and the object is unchanged).
    let overwritten = s3
        .put_object()
        .bucket("cond")
        .key("k")
        .if_match(&etag)
        .body(ByteStream::from_static(b"second"))
        .send()
        .await
        .expect("If-Match overwrite");
    let new_etag = overwritten.e_tag().expect("etag").to_owned();
    assert_eq!(new_etag, format!("\"{}\"", md5_hex(b"second")));
    let err = s3
        .put_object()
        .bucket("cond")
        .key("k")
        .if_match(&etag)
        .body(ByteStream::from_static(b"third"))
        .send()
        .await
        .expect_err("stale If-Match");
    assert_error(&err, 412, "PreconditionFailed");
    let got = s3
        .get_object()
        .bucket("cond")
        .key("k")
        .send()
        .await
        .expect("get");
    assert_eq!(got.e_tag(), Some(new_etag.as_str()));
    assert_eq!(body(got).await, b"second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conditional_puts_have_one_winner() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("race")
        .send()
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            s3.put_object()
                .bucket("race")
                .key("lock")
                .if_none_match("*")
                .body(ByteStream::from(vec![i; 100]))
                .send()
                .await
                .is_ok()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.expect("task") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_required_and_checked() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("auth")
        .send()
        .await
        .expect("create");
    let wrong = client_with(&server, ACCESS_KEY, "not-the-secret");
    let err = wrong.list_buckets().send().await.expect_err("bad secret");
    assert_error(&err, 403, "SignatureDoesNotMatch");
    let unknown = client_with(&server, "NOSUCHKEY", "whatever-secret");
    let err = unknown
        .list_buckets()
        .send()
        .await
        .expect_err("unknown key");
    assert_error(&err, 403, "InvalidAccessKeyId");

    // Anonymous: 403 AccessDenied with an XML body.
    let response = reqwest::get(format!("{}/auth/x", server.endpoint()))
        .await
        .expect("anonymous GET");
    assert_raw_error(&raw_from_reqwest(response).await, 403, "AccessDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_get_and_put_with_plain_http() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use std::time::Duration;
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("pre")
        .send()
        .await
        .expect("create");
    let put = s3
        .put_object()
        .bucket("pre")
        .key("up")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).expect("config"))
        .await
        .expect("presign put");
    let http = reqwest::Client::new();
    let response = http
        .put(put.uri())
        .body("presigned body")
        .send()
        .await
        .expect("PUT");
    assert_eq!(
        response.status().as_u16(),
        200,
        "{:?}",
        response.text().await
    );
    let get = s3
        .get_object()
        .bucket("pre")
        .key("up")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).expect("config"))
        .await
        .expect("presign get");
    let response = http.get(get.uri()).send().await.expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("body"), "presigned body");
    // Tampering with the key breaks the signature.
    let tampered = get.uri().replace("/pre/up", "/pre/other");
    let response = http.get(tampered).send().await.expect("GET");
    assert_raw_error(
        &raw_from_reqwest(response).await,
        403,
        "SignatureDoesNotMatch",
    );
    // A URL signed an hour ago for a minute has expired: 403 AccessDenied.
    let expired = s3
        .get_object()
        .bucket("pre")
        .key("up")
        .presigned(
            PresigningConfig::builder()
                .start_time(std::time::SystemTime::now() - Duration::from_secs(3600))
                .expires_in(Duration::from_secs(60))
                .build()
                .expect("config"),
        )
        .await
        .expect("presign get");
    let response = http.get(expired.uri()).send().await.expect("GET");
    let response = raw_from_reqwest(response).await;
    assert_raw_error(&response, 403, "AccessDenied");
    assert!(response.text().contains("expired"), "{}", response.text());
}

/// Standard headers round-trip; key length and metadata size limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_headers_and_name_and_metadata_limits() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("attrs")
        .send()
        .await
        .expect("create");
    let expires = DateTime::from_secs(1_900_000_000);
    s3.put_object()
        .bucket("attrs")
        .key("doc")
        .body(ByteStream::from_static(b"compressed?"))
        .content_type("text/plain")
        .content_disposition("attachment; filename=\"report.txt\"")
        .content_encoding("gzip")
        .content_language("en")
        .cache_control("max-age=60")
        .expires(expires)
        .send()
        .await
        .expect("put with standard headers");
    let got = s3
        .get_object()
        .bucket("attrs")
        .key("doc")
        .send()
        .await
        .expect("get");
    let head = s3
        .head_object()
        .bucket("attrs")
        .key("doc")
        .send()
        .await
        .expect("head");
    let expires_text = "Sun, 17 Mar 2030 17:46:40 GMT";
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(
        got.content_disposition(),
        Some("attachment; filename=\"report.txt\"")
    );
    assert_eq!(got.content_encoding(), Some("gzip"));
    assert_eq!(got.content_language(), Some("en"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.expires_string(), Some(expires_text));
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename=\"report.txt\"")
    );
    assert_eq!(head.content_encoding(), Some("gzip"));
    assert_eq!(head.expires_string(), Some(expires_text));
    assert_eq!(body(got).await, b"compressed?");

    // Keys: 1024 bytes is the limit.
    let longest = "k".repeat(1024);
    s3.put_object()
        .bucket("attrs")
        .key(&longest)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("a 1024-byte key");
    let err = s3
        .put_object()
        .bucket("attrs")
        .key("k".repeat(1025))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("a 1025-byte key");
    assert_error(&err, 400, "KeyTooLongError");

    // User metadata: at most 2 KB in all.
    let err = s3
        .put_object()
        .bucket("attrs")
        .key("meta")
        .metadata("big", "v".repeat(2100))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("too much metadata");
    assert_error(&err, 400, "MetadataTooLarge");
    s3.put_object()
        .bucket("attrs")
        .key("meta")
        .metadata("small", "v".repeat(1000))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("metadata under the limit");
}

/// Content-MD5 and x-amz-checksum-* are checked: a mismatch is 400 BadDigest and
/// stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_md5_and_checksum_mismatches_are_bad_digest() {
    use base64::Engine;
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("digest")
        .send()
        .await
        .expect("create");
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let data = b"the body";
    s3.put_object()
        .bucket("digest")
        .key("good")
        .content_md5(b64(&hex::decode(md5_hex(data)).expect("hex")))
        .body(ByteStream::from_static(data))
        .send()
        .await
        .expect("a matching Content-MD5");
    let err = s3
        .put_object()
        .bucket("digest")
        .key("bad-md5")
        .content_md5(b64(&hex::decode(md5_hex(b"other")).expect("hex")))
        .body(ByteStream::from_static(data))
        .send()
        .await
        .expect_err("a wrong Content-MD5");
    assert_error(&err, 400, "BadDigest");
    let err = s3
        .put_object()
        .bucket("digest")
        .key("bad-crc")
        .checksum_crc32(b64(&crc32fast::hash(b"other").to_be_bytes()))
        .body(ByteStream::from_static(data))
        .send()
        .await
        .expect_err("a wrong x-amz-checksum-crc32");
    assert_error(&err, 400, "BadDigest");
    let err = s3
        .put_object()
        .bucket("digest")
        .key("bad-sha256")
        .checksum_sha256(b64(&hex::decode(common::sha256_hex(b"other")).expect("hex")))
        .body(ByteStream::from_static(data))
        .send()
        .await
        .expect_err("a wrong x-amz-checksum-sha256");
    assert_error(&err, 400, "BadDigest");
    for key in ["bad-md5", "bad-crc", "bad-sha256"] {
        assert!(!common::exists(&s3, "digest", key).await, "{key} stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_health_and_metrics_need_the_token() {
    let server = Server::start();
    let s3 = client(&server);
    s3.create_bucket()
        .bucket("metrics")
        .send()
        .await
        .expect("create");
    s3.put_object()
        .bucket("metrics")
        .key("k")
        .body(ByteStream::from(vec![7u8; 1000]))
        .send()
        .await
        .expect("put");
    let got = s3
        .get_object()
        .bucket("metrics")
        .key("k")
        .send()
        .await
        .expect("get");
    assert_eq!(body(got).await.len(), 1000);

    let http = reqwest::Client::new();
    let admin = server.admin_endpoint();
    let health = http
        .get(format!("{admin}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 200);
    let denied = http
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(denied.status().as_u16(), 401);
    let wrong = http
        .get(format!("{admin}/metrics"))
        .bearer_auth("wrong-token")
        .send()
        .await
        .expect("metrics");
    assert_eq!(wrong.status().as_u16(), 401);
    let metrics = http
        .get(format!("{admin}/metrics"))
        .bearer_auth(folio_s3_compat_tests::ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains("folio_gateway_requests_total{op=\"PutObject\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("folio_gateway_requests_total{op=\"GetObject\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("folio_gateway_received_bytes_total 1000"),
        "{text}"
    );
    assert!(
        text.contains("folio_gateway_sent_bytes_total 1000"),
        "{text}"
    );
}
